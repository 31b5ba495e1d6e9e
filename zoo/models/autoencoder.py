"""The deterministic autoencoder, expressed in the VAE's vocabulary.

q(z|x) is a point mass (``tfd.Deterministic``) at the encoder output and there is
no rate term, so the loss is the distortion −log p(x|z) alone. After training,
``finalize`` fits a full-covariance Gaussian to the training codes and uses it as
p(z), so AE samples can be set beside VAE samples, as in the reference notebooks
(which show the gaps this prior puts probability mass on).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.models.vae import VAE

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="zoo")
class Autoencoder(VAE):
    """Deterministic encoder and decoder; Gaussian prior fitted to codes after training."""

    is_generative = False

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        latent = self.config.latent_dim
        # Stored as weights so the fitted prior travels with the saved model; N(0, I) until fitted.
        self.prior_loc = self.add_weight(name="prior_loc", shape=(latent,), initializer="zeros", trainable=False)
        self.prior_scale_tril = self.add_weight(
            name="prior_scale_tril", shape=(latent, latent), initializer="identity", trainable=False
        )

    def make_posterior_head(self):
        return keras.layers.Dense(self.config.latent_dim, dtype="float32", name="posterior_head")

    def posterior(self, images, labels=None, training=False):
        features = self.condition(self.encoder_net(images, training=training), labels)
        return tfd.Independent(tfd.Deterministic(loc=self.posterior_head(features)), reinterpreted_batch_ndims=1)

    def prior(self, labels=None):
        return tfd.MultivariateNormalTriL(loc=self.prior_loc, scale_tril=self.prior_scale_tril)

    def rate(self, posterior, codes, labels=None, prior=None):
        # An autoencoder has no rate term.
        return tf.zeros(tf.shape(codes)[:-1])

    def kl_per_dimension(self, posterior, labels=None):
        raise NotImplementedError("an autoencoder has no KL term")

    def finalize(self, train_data):
        codes = np.concatenate([self.encode(images, labels).numpy() for images, labels in train_data])
        mean = codes.mean(axis=0)
        covariance = np.cov(codes, rowvar=False).reshape(self.config.latent_dim, self.config.latent_dim)
        jitter = 1e-6 * np.trace(covariance) / self.config.latent_dim + 1e-9
        self.prior_loc.assign(mean.astype("float32"))
        self.prior_scale_tril.assign(np.linalg.cholesky(covariance + jitter * np.eye(len(mean))).astype("float32"))
