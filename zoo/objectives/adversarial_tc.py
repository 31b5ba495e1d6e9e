"""FactorVAE: the ELBO plus γ · TC, the total correlation estimated by a discriminator.

Kim & Mnih 2018, "Disentangling by Factorising", eq. (2) and Algorithm 1. A discriminator D tells
codes z ~ q(z) from codes whose dimensions were permuted independently across the batch (samples
of Π_d q(z_d)); with D's logit ℓ(z) = log D(z)/(1 − D(z)), TC ≈ mean ℓ(z). The VAE's optimiser
minimises distortion + rate + γ · mean ℓ(z); a second optimiser (Adam, β1 = 0.5, β2 = 0.9 as in the
paper) trains D on ``discriminator_loss``, the cross-entropy of real (1) against permuted (0) codes.
Here both come from the same batch (as in pythae), the permutation drawn from the step's seed.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ELBO_TERMS, ObjectiveInputs, OptimizerGroup


def permute_dims(codes: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Each latent dimension shuffled independently across the batch (Kim & Mnih, Algorithm 1)."""
    keys = tf.random.stateless_uniform(tf.shape(codes), seed=seed)
    order = tf.transpose(tf.argsort(keys, axis=0))  # [latent, batch]: one permutation per dimension
    return tf.transpose(tf.gather(tf.transpose(codes), order, batch_dims=1))


class AdversarialTC(ELBO):
    """ELBO + γ · TC with a discriminator of its own (trained by the ``discriminator`` optimiser group)."""

    term_names = ("loss", *ELBO_TERMS, "total_correlation", "discriminator_loss", "discriminator_accuracy")

    def __init__(self, latent_dim: int, gamma: float = 35.0, units=(1000,) * 6, learning_rate: float = 1e-4,
                 **kwargs):
        super().__init__(**kwargs)
        self.gamma, self.discriminator_learning_rate = float(gamma), float(learning_rate)
        self.discriminator = [keras.layers.Dense(width, name=f"discriminator_{i}") for i, width in enumerate(units)]
        self.discriminator.append(keras.layers.Dense(1, dtype="float32", name="discriminator_logit"))
        shape = (None, latent_dim)
        for layer in self.discriminator:
            layer.build(shape)
            shape = (None, layer.units)

    def logit(self, codes: tf.Tensor) -> tf.Tensor:
        """ℓ(z) = log D(z) / (1 − D(z)), shape [batch]."""
        features = codes
        for layer in self.discriminator[:-1]:
            features = tf.nn.leaky_relu(layer(features), alpha=0.2)
        return tf.squeeze(self.discriminator[-1](features), axis=-1)

    def optimizer_groups(self) -> list[OptimizerGroup]:
        variables = [v for layer in self.discriminator for v in layer.trainable_variables]
        return [OptimizerGroup("discriminator", variables, self.discriminator_learning_rate, beta_1=0.5, beta_2=0.9)]

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        terms = super().terms(inputs)
        real = self.logit(inputs.codes)
        permuted = self.logit(permute_dims(tf.stop_gradient(inputs.codes), inputs.seed + [7, 0]))
        tc = tf.reduce_mean(real)
        terms["loss"] = terms["loss"] + self.gamma * tc
        terms["total_correlation"] = tc
        terms["discriminator_loss"] = 0.5 * tf.reduce_mean(tf.nn.softplus(-real) + tf.nn.softplus(permuted))
        hits = tf.concat([tf.cast(real > 0, tf.float32), tf.cast(permuted <= 0, tf.float32)], axis=0)
        terms["discriminator_accuracy"] = tf.reduce_mean(hits)
        return terms
