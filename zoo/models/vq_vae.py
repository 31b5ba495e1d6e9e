"""VQ-VAE: a discrete posterior over a learned codebook.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning". The encoder
output z_e (latent_dim numbers) is cut into latent_dim / embedding_dim positions; each is replaced
by its nearest of K codebook vectors, z_q. q(z|x) is the point mass at z_q (gradients copied
straight through to z_e); p(z) is uniform over the K codes at every position, so the rate is
(positions · log K) nats. Samples decode independent uniform code choices: the paper fits an
autoregressive prior over codes afterwards, which zoo does not, so VQ-VAE samples are poor by design.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.errors import ZooError
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import VectorQuantization

tfd, tfb = tfp.distributions, tfp.bijectors


@dataclasses.dataclass(frozen=True)
class VQVAEConfig(VAEConfig):
    num_embeddings: int = bounded_field(256, minimum=2, help="codebook size K")
    embedding_dim: int = bounded_field(4, minimum=1, help="numbers per code position (divides latent_dim)")
    commitment_cost: float = bounded_field(0.25, minimum=0.0, help="β of the commitment loss")
    analytic_kl: bool = False  # the rate is log q − log p at the code: positions · log K

    def validate(self) -> None:
        super().validate()
        if self.latent_dim % self.embedding_dim:
            raise ZooError(f"model fields: latent_dim {self.latent_dim} must be a multiple of embedding_dim "
                           f"{self.embedding_dim}")


@keras.saving.register_keras_serializable(package="zoo")
class VQVAE(VAE):
    """Deterministic posterior at the nearest codebook vectors; uniform categorical prior over codes."""

    config_class = VQVAEConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        limit = 1.0 / self.config.num_embeddings
        self.codebook = self.add_weight(name="codebook", shape=(self.config.num_embeddings, self.config.embedding_dim),
                                        initializer=keras.initializers.RandomUniform(-limit, limit), dtype="float32")

    @property
    def positions(self) -> int:
        return self.config.latent_dim // self.config.embedding_dim

    def make_posterior_head(self):
        return keras.layers.Dense(self.config.latent_dim, dtype="float32", name="posterior_head")

    def make_objective(self):
        return VectorQuantization(commitment_cost=self.config.commitment_cost, name="objective")

    def posterior_and_extras(self, images, labels=None, training=False):
        encoded = self.posterior_head(self.condition(self.encoder_net(images, training=training), labels))
        vectors = tf.reshape(encoded, [-1, self.config.embedding_dim])
        distances = (tf.reduce_sum(vectors**2, axis=1, keepdims=True) - 2.0 * vectors @ tf.transpose(self.codebook)
                     + tf.reduce_sum(self.codebook**2, axis=1)[None])
        indices = tf.argmin(distances, axis=1)
        quantized = tf.reshape(tf.gather(self.codebook, indices), tf.shape(encoded))
        # Exactly z_q in value (z_e − z_e is 0), the gradient of z_e in the backward pass: the straight-through
        # estimator. z_e + sg(z_q − z_e) would differ from z_q by rounding and miss the prior's point masses.
        straight_through = tf.stop_gradient(quantized) + (encoded - tf.stop_gradient(encoded))
        posterior = tfd.Independent(tfd.Deterministic(loc=straight_through), 1)
        indices = tf.reshape(indices, [-1, self.positions])
        return posterior, {"encoder_output": encoded, "quantized": quantized, "indices": indices}

    def posterior(self, images, labels=None, training=False):
        return self.posterior_and_extras(images, labels, training=training)[0]

    def prior(self, labels=None):
        """Uniform over the K codebook vectors at each position, as a distribution over [latent_dim]."""
        k, positions = self.config.num_embeddings, self.positions
        codes = tfd.Independent(tfd.Deterministic(loc=tf.tile(self.codebook[None], [positions, 1, 1])), 1)
        per_position = tfd.MixtureSameFamily(tfd.Categorical(logits=tf.zeros([positions, k])), codes)
        return tfd.TransformedDistribution(
            tfd.Independent(per_position, 1),
            tfb.Reshape(event_shape_out=[self.config.latent_dim], event_shape_in=[positions, self.config.embedding_dim]))
