"""Conditional VAE with a learned conditional prior p(z|y).

Sohn, Lee & Yan 2015, "Learning Structured Output Representation using Deep Conditional
Generative Models" (NeurIPS), eq. (4): log p(x|y) ≥ E_q(z|x,y)[log p(x|z,y)] − KL(q(z|x,y) ‖ p(z|y)),
written in zoo's roles: the image x is the paper's output, the label y its input. Recognition
q(z|x,y), prior p(z|y) and generation p(x|z,y) networks: the prior network maps the one-hot
label to a diagonal Gaussian (with ``prior_hidden_units: []`` a per-class location and scale).
Both Gaussians are diagonal, so the rate is the analytic KL; samples of class y decode codes
drawn from p(z|y). The paper's GSNN and hybrid training objectives are not implemented.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.models.conditional_vae import ConditionalVAE
from zoo.models.vae import MIN_POSTERIOR_SCALE
from zoo.models.vae_config import VAEConfig

tfd = tfp.distributions

# softplus(x + _UNIT_SCALE) + MIN_POSTERIOR_SCALE = 1 at x = 0: the prior starts near N(0, I), the cvae's.
_UNIT_SCALE = math.log(math.expm1(1.0 - MIN_POSTERIOR_SCALE))


@dataclasses.dataclass(frozen=True)
class ConditionalPriorVAEConfig(VAEConfig):
    prior_hidden_units: tuple[int, ...] = bounded_field(
        (64,), minimum=1, help="hidden widths of the prior network p(z|y) ([]: a learned location and scale per class)")


@keras.saving.register_keras_serializable(package="zoo")
class ConditionalPriorVAE(ConditionalVAE):
    """q(z|x, y), p(x|z, y) with y one-hot, and p(z|y) = N(μ(y), diag σ(y)²) from a small prior network."""

    config_class = ConditionalPriorVAEConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.prior_net = [keras.layers.Dense(units, activation="relu", dtype="float32", name=f"prior_hidden_{index}")
                          for index, units in enumerate(self.config.prior_hidden_units)]
        self.prior_net.append(keras.layers.Dense(2 * self.config.latent_dim, dtype="float32", name="prior_head"))
        # Built now: the eager build pass runs posterior and likelihood only, and checkpoints must find these weights.
        width = self.config.num_classes
        for layer in self.prior_net:
            layer.build((None, width))
            width = layer.units

    def prior(self, labels=None):
        """p(z|y): one diagonal Gaussian per label, batch shape [batch]."""
        if labels is None:
            raise ValueError("ConditionalPriorVAE needs class labels: its prior is p(z|y)")
        features = tf.one_hot(tf.cast(labels, tf.int32), self.config.num_classes, dtype=tf.float32)
        for layer in self.prior_net:
            features = layer(features)
        loc, raw_scale = tf.split(features, 2, axis=-1)
        scale = tf.nn.softplus(raw_scale + _UNIT_SCALE) + MIN_POSTERIOR_SCALE
        return tfd.Independent(tfd.Normal(loc=loc, scale=scale), reinterpreted_batch_ndims=1)
