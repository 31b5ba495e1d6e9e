"""The variational autoencoder and the ELBO template every variant shares.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. (3)/(10):
ELBO(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)) = −(distortion + rate).

A variant overrides one hook:

- ``posterior(x, y)``  → q(z|x[,y]), a ``tfd`` distribution with event shape [latent_dim]
- ``prior(y)``         → p(z[|y]), a ``tfd`` distribution
- ``likelihood(z, y)`` → p(x|z[,y]), a ``tfd`` distribution over images
- ``regularizer(rate)`` → what the loss adds for the rate (β-VAE: β × rate)
- ``condition(h, y)``  → how labels enter the encoder features and the decoder input
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.likelihoods import make_likelihood
from zoo.models.vae_config import VAEConfig
from zoo.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

tfd = tfp.distributions

# Keeps posterior scales away from zero so log q(z|x) stays finite in the IWAE bound.
MIN_POSTERIOR_SCALE = 1e-4


def _build_networks(config: VAEConfig):
    if config.architecture == "conv":
        encoder = ConvEncoder(config.conv_filters, config.conv_strides, config.kernel_size, name="encoder")
        decoder = ConvDecoder(config.image_shape, config.conv_filters, config.conv_strides, config.kernel_size,
                              name="decoder")
    else:
        encoder = MLPEncoder(config.hidden_units, name="encoder")
        decoder = MLPDecoder(config.image_shape, tuple(reversed(config.hidden_units)), name="decoder")
    return encoder, decoder


@keras.saving.register_keras_serializable(package="zoo")
class VAE(keras.Model):
    """Diagonal-Gaussian posterior, N(0, I) prior, configurable likelihood.

    Args:
        config: a ``VAEConfig`` (or a dict of its fields) for this class.

    Example:
        >>> model = VAE(VAEConfig(latent_dim=2))
        >>> q = model.posterior(images)          # q(z|x)
        >>> p_x = model.likelihood(q.sample())   # p(x|z)

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
        self.encoder_net, self.decoder_net = _build_networks(config)
        self.posterior_head = self.make_posterior_head()
        self.likelihood_head = make_likelihood(config.likelihood, config.image_shape[-1])
        # Rate weight driven by the KL warm-up schedule; 1 outside warm-up. The training step sets it from the
        # optimiser's step count, so it ramps per step even when several steps run per graph call.
        self.kl_weight = self.add_weight(name="kl_weight", shape=(), initializer="ones", trainable=False,
                                         dtype="float32", autocast=False, aggregation="only_first_replica")
        self.kl_warmup_steps = self.add_weight(name="kl_warmup_steps", shape=(), initializer="zeros",
                                               trainable=False, dtype="float32", autocast=False,
                                               aggregation="only_first_replica")
        # 1-based optimiser step of the first non-finite loss (0: none yet), read by the divergence guard between
        # graph calls so it can name the exact step.
        self.first_nonfinite_step = self.add_weight(name="first_nonfinite_step", shape=(), initializer="zeros",
                                                    trainable=False, dtype="int64",
                                                    aggregation="only_first_replica")
        self.noise_seed = 0
        self.create_prior_state()
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "elbo", "distortion", "rate")}
        self._build_eagerly()

    # ----------------------------------------------------------------- hooks
    def make_posterior_head(self) -> keras.layers.Layer:
        """Maps encoder features to the posterior's parameters (location and raw scale)."""
        return keras.layers.Dense(2 * self.config.latent_dim, dtype="float32", name="posterior_head")

    def create_prior_state(self) -> None:
        """Creates weights the prior needs (a learned or fitted prior); N(0, I) needs none."""

    def condition(self, features: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        """How labels enter the encoder features and the decoder input; unconditional by default."""
        return features

    def posterior(self, images, labels=None, training=False) -> tfd.Distribution:
        """q(z|x): a diagonal Gaussian."""
        features = self.condition(self.encoder_net(images, training=training), labels)
        loc, raw_scale = tf.split(self.posterior_head(features), 2, axis=-1)
        scale = tf.nn.softplus(raw_scale) + MIN_POSTERIOR_SCALE
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)

    def prior(self, labels=None) -> tfd.Distribution:
        """p(z): the standard normal N(0, I)."""
        zeros = tf.zeros([self.config.latent_dim])
        return tfd.Independent(tfd.Normal(loc=zeros, scale=tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def likelihood(self, codes, labels=None, training=False) -> tfd.Distribution:
        """p(x|z): the configured observation model over images."""
        params = self.decoder_net(self.condition(codes, labels), training=training)
        return self.likelihood_head(params)

    def regularizer(self, rate: tf.Tensor) -> tf.Tensor:
        """The loss term that the rate contributes, per example."""
        return self.kl_weight * rate

    # --------------------------------------------------------- ELBO template
    def rate(self, posterior: tfd.Distribution, codes: tf.Tensor, labels=None) -> tf.Tensor:
        """KL(q(z|x) ‖ p(z)) per example: analytic where TFP registers it, else one-sample Monte Carlo."""
        prior = self.prior(labels)
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
        return tfd.kl_divergence(posterior.distribution, prior.distribution)

    def loss_terms(self, images, labels, seed, training=False) -> dict[str, tf.Tensor]:
        """Per-example distortion, rate, regularised rate and ELBO, and the scalar training loss."""
        posterior = self.posterior(images, labels, training=training)
        codes = posterior.sample(seed=seed)
        distortion = -self.likelihood(codes, labels, training=training).log_prob(images)
        rate = self.rate(posterior, codes, labels)
        loss = tf.reduce_mean(distortion + self.regularizer(rate))
        return {"loss": loss, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate}

    # --------------------------------------------------------------- Keras
    def train_step(self, data):
        images, labels = data
        iterations = self.optimizer.iterations
        seed = tf.stack([tf.constant(self.noise_seed, tf.int32), tf.cast(iterations, tf.int32)])
        warmup = self.kl_warmup_steps
        self.kl_weight.assign(tf.where(warmup > 0, tf.minimum(1.0, tf.cast(iterations, tf.float32) /
                                                              tf.maximum(warmup, 1.0)), self.kl_weight))
        with tf.GradientTape() as tape:
            terms = self.loss_terms(images, labels, seed, training=True)
            # Keras sums gradients across replicas, so each replica contributes its share.
            loss = terms["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        first_bad = self.first_nonfinite_step
        first_bad.assign(tf.where((first_bad > 0) | tf.math.is_finite(terms["loss"]), first_bad,
                                  tf.cast(iterations, tf.int64)))  # apply() has counted this step
        return self._record(terms)

    def test_step(self, data):
        images, labels = data
        # A fixed noise seed makes validation numbers a deterministic function of the weights.
        seed = tf.constant([self.noise_seed + 1, 0], dtype=tf.int32)
        return self._record(self.loss_terms(images, labels, seed, training=False))

    def _record(self, terms):
        for name, tracker in self.trackers.items():
            tracker.update_state(terms[name])
        results = {name: tracker.result() for name, tracker in self.trackers.items()}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces the logs of each worker with MEAN over axis 0, which a scalar does not have.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        """Reconstructs images: the mean of p(x|z) at the posterior mean of z."""
        images, labels = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        codes = self.posterior(images, labels, training=training).mean()
        return self.likelihood(codes, labels, training=training).mean()

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a distribution strategy Keras's TF trainer pulls one batch off the training iterator to build the
        # model (that batch is then never trained on) and, under MultiWorkerMirroredStrategy, fails reducing it
        # ("Attempt to convert a value (PerReplica...)"). Every zoo model is built in __init__; only the optimizer
        # may still need its slots.
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

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
