"""β-VAE: the VAE with a weighted rate, optionally with a controlled capacity.

Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a Constrained
Variational Framework", eq. (4): loss = distortion + β · rate.
Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. (8):
loss = distortion + γ · |rate − C|, with the capacity C ramped linearly from 0 to
``capacity_max`` nats over ``capacity_steps`` optimiser steps (γ is ``beta`` here).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig


@dataclasses.dataclass(frozen=True)
class BetaVAEConfig(VAEConfig):
    beta: float = bounded_field(4.0, minimum=0.0, help="weight of the rate term")
    capacity_max: float = bounded_field(0.0, minimum=0.0, help="target KL in nats (0: no capacity schedule)")
    capacity_steps: int = bounded_field(10000, minimum=1, help="optimiser steps over which C ramps to capacity_max")


@keras.saving.register_keras_serializable(package="zoo")
class BetaVAE(VAE):
    """A VAE whose regulariser is β · rate, or γ · |rate − C| with a capacity schedule."""

    config_class = BetaVAEConfig

    def regularizer(self, rate):
        beta = self.kl_weight * self.config.beta
        if self.config.capacity_max <= 0:
            return beta * rate
        # Steps as seen by the optimiser, so resumed runs continue the same ramp.
        progress = tf.cast(self.optimizer.iterations, rate.dtype) / self.config.capacity_steps if self.optimizer else 1.0
        capacity = self.config.capacity_max * tf.minimum(1.0, progress)
        return beta * tf.abs(rate - capacity)
