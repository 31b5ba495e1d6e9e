"""The variational autoencoder: networks plus the distribution hooks every variant shares.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. (3)/(10):
ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)) = −(distortion + rate).

A model is architecture and distributions only; what it is trained on is its objective
(``make_objective``, zoo/objectives) and how it is trained belongs to zoo/training. A variant
overrides the hooks it changes:

- ``posterior(x, y)``  → q(z|x[,y]), a ``tfd`` distribution with event shape [latent_dim]
- ``prior(y)``         → p(z[|y]), a ``tfd`` distribution
- ``likelihood(z, y)`` → p(x|z[,y]), a ``tfd`` distribution over images; z may carry leading sample axes
- ``condition(h, y)``  → how labels enter the encoder features and the decoder input
- ``make_objective()`` → the ``zoo.objectives.Objective`` that turns a batch into loss terms

Weights of a hook (a learned prior, a codebook) are created in ``__init__`` after
``super().__init__``; the model builds itself once the subclass's ``__init__`` has returned.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.likelihoods import make_likelihood
from zoo.models.vae_config import VAEConfig
from zoo.networks import build_networks
from zoo.objectives import ELBO, Objective

tfd = tfp.distributions

# Keeps posterior scales away from zero so log q(z|x) stays finite in the IWAE bound.
MIN_POSTERIOR_SCALE = 1e-4


class _BuiltAfterInit(type(keras.Model)):
    """Builds every weight once the most derived ``__init__`` has returned, so a subclass may add weights in its
    own ``__init__`` and checkpoints still load without a data pass."""

    def __call__(cls, *args, **kwargs):
        model = super().__call__(*args, **kwargs)
        if isinstance(model, VAE) and not model.built:
            model._build_eagerly()
        return model


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model, metaclass=_BuiltAfterInit):
    """Diagonal-Gaussian posterior, N(0, I) prior, configurable likelihood, the ELBO as objective.

    Args:
        config: a ``VAEConfig`` (or a dict of its fields) for this class.

    Example:

        model = VAE(VAEConfig(latent_dim=2))
        q = model.posterior(images)          # q(z|x)
        p_x = model.likelihood(q.sample())   # p(x|z)

    Reference: Kingma & Welling 2014, arXiv:1312.6114.
    """

    config_class = VAEConfig
    # Whether the model defines a density (ELBO, IWAE); the plain AE does not.
    is_generative = True

    def __init__(self, config: VAEConfig | dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(config, self.config_class):
            config = self.config_class.from_dict(config or {}, where=f"{type(self).__name__} config")
        self.config = config
        self.encoder_net, self.decoder_net = build_networks(config)
        self.posterior_head = self.make_posterior_head()
        self.likelihood_head = make_likelihood(config.likelihood, config.image_shape[-1])
        self.objective = self.make_objective()
        if not isinstance(self.objective, Objective):
            raise TypeError(f"{type(self).__name__}.make_objective() must return a zoo.objectives.Objective")

    # ----------------------------------------------------------------- hooks
    def make_posterior_head(self) -> keras.layers.Layer:
        """Maps encoder features to the posterior's parameters (location and raw scale)."""
        return keras.layers.Dense(2 * self.config.latent_dim, dtype="float32", name="posterior_head")

    def make_objective(self) -> Objective:
        """The objective this model is trained on: the ELBO."""
        return ELBO(name="objective")

    def condition(self, features: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        """How labels enter the encoder features and the decoder input; unconditional by default."""
        return features

    def posterior(self, images, labels=None, training=False) -> tfd.Distribution:
        """q(z|x): a diagonal Gaussian."""
        features = self.condition(self.encoder_net(images, training=training), labels)
        loc, raw_scale = tf.split(self.posterior_head(features), 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)

    def posterior_and_extras(self, images, labels=None, training=False):
        """q(z|x) and named tensors of the encoding that an objective may need (VQ-VAE: z_e and z_q)."""
        return self.posterior(images, labels, training=training), {}

    def prior(self, labels=None) -> tfd.Distribution:
        """p(z): the standard normal N(0, I)."""
        zeros = tf.zeros([self.config.latent_dim])
        return tfd.Independent(tfd.Normal(loc=zeros, scale=tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def likelihood(self, codes, labels=None, training=False) -> tfd.Distribution:
        """p(x|z): the configured observation model; codes [..., batch, latent] give batch shape [..., batch]."""
        codes = tf.convert_to_tensor(codes, dtype_hint=tf.float32)
        if codes.shape.rank is not None and codes.shape.rank <= 2:
            return self.likelihood_head(self.decoder_net(self.condition(codes, labels), training=training))
        # Several codes per image: the networks see one flat batch, the distribution the leading axes.
        leading = tf.shape(codes)[:-1]
        flat_codes = tf.reshape(codes, [-1, codes.shape[-1]])
        flat_labels = None if labels is None else tf.reshape(tf.broadcast_to(labels, leading), [-1])
        params = self.decoder_net(self.condition(flat_codes, flat_labels), training=training)
        return self.likelihood_head(tf.reshape(params, tf.concat([leading, tf.shape(params)[1:]], axis=0)))

    # --------------------------------------------------------- ELBO template
    def rate(self, posterior: tfd.Distribution, codes: tf.Tensor, labels=None, prior=None) -> tf.Tensor:
        """KL(q(z|x) ‖ p(z)) per example: analytic where TFP registers it, else Monte Carlo per code."""
        prior = self.prior(labels) if prior is None else prior
        if self.config.analytic_kl:
            try:
                return tfd.kl_divergence(posterior, prior)
            except NotImplementedError:
                pass
        return posterior.log_prob(codes) - prior.log_prob(codes)

    def kl_per_dimension(self, posterior: tfd.Distribution, labels=None) -> tf.Tensor:
        """Analytic KL per latent dimension, shape [batch, latent_dim], for factorised q and p."""
        prior = self.prior(labels)
        if not (isinstance(posterior, tfd.Independent) and isinstance(prior, tfd.Independent)):
            raise NotImplementedError(f"{type(self).__name__}: KL per dimension needs factorised q(z|x) and p(z)")
        try:
            return tfd.kl_divergence(posterior.distribution, prior.distribution)
        except NotImplementedError:
            raise NotImplementedError(f"{type(self).__name__}: TFP has no closed-form KL per dimension") from None

    def elbo_terms(self, images, labels, seed, training=False) -> dict[str, tf.Tensor]:
        """One-sample distortion, rate and ELBO per example (whatever the training objective is)."""
        posterior = self.posterior(images, labels, training=training)
        codes = posterior.sample(seed=seed)
        distortion = -self.likelihood(codes, labels, training=training).log_prob(images)
        rate = self.rate(posterior, codes, labels)
        return {"elbo": -(distortion + rate), "distortion": distortion, "rate": rate}

    # --------------------------------------------------------------- Keras
    def call(self, inputs, training=False):
        """Reconstructs images: the mean of p(x|z) at the posterior mean of z."""
        images, labels = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        codes = self.posterior(images, labels, training=training).mean()
        return self.likelihood(codes, labels, training=training).mean()

    def _build_eagerly(self) -> None:
        # Creating every weight now lets checkpoints load without a data pass.
        images = tf.zeros((1, *self.config.image_shape))
        labels = tf.zeros((1,), dtype=tf.int32)
        self((images, labels))

    def get_config(self):
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # ------------------------------------------------------- conveniences
    @property
    def is_conditional(self) -> bool:
        """Whether labels enter the model, i.e. the ``condition`` hook is overridden."""
        return type(self).condition is not VAE.condition

    def encode(self, images, labels=None) -> tf.Tensor:
        """Posterior means: the codes used for latent scatter plots."""
        return self.posterior(images, labels).mean()

    def decode(self, codes, labels=None) -> tf.Tensor:
        """The mean image of p(x|z) for each code."""
        return self.likelihood(codes, labels).mean()

    def sample(self, count: int, labels=None, seed: int = 0) -> np.ndarray:
        """Mean images decoded from ``count`` prior samples (labels: one per sample, for conditional models)."""
        if labels is not None:
            labels = tf.convert_to_tensor(labels, dtype=tf.int32)
        prior = self.prior(labels)
        # An unconditional prior has no batch shape; a label-conditional one has one entry per label.
        shape = (count,) if prior.batch_shape.rank == 0 else ()
        codes = prior.sample(shape, seed=tf.constant([seed, 0]))
        return self.decode(codes, labels).numpy()

    def finalize(self, train_images: tf.data.Dataset) -> None:
        """Called once after training with the (unshuffled) training data; VAEs need nothing."""
