"""β-VAE: the VAE trained on a β-weighted rate, optionally with a controlled capacity.

Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a Constrained Variational
Framework", eq. (4): loss = distortion + β · rate.
Burgess et al. 2018, "Understanding disentangling in β-VAE", eq. (8): loss = distortion + γ · |rate − C|,
C ramped linearly from 0 to ``capacity_max`` nats over ``capacity_steps`` optimiser steps (γ is ``beta``).
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import ELBO


@dataclasses.dataclass(frozen=True)
class BetaVAEConfig(VAEConfig):
    beta: float = bounded_field(4.0, minimum=0.0, help="weight of the rate term")
    capacity_max: float = bounded_field(0.0, minimum=0.0, help="target KL in nats (0: no capacity schedule)")
    capacity_steps: int = bounded_field(10000, minimum=1, help="optimiser steps over which C ramps to capacity_max")


@keras.saving.register_keras_serializable(package="zoo")
class BetaVAE(VAE):
    """A VAE whose objective is distortion + β · rate, or + γ · |rate − C| with a capacity schedule."""

    config_class = BetaVAEConfig

    def make_objective(self):
        config = self.config
        return ELBO(beta=config.beta, capacity_max=config.capacity_max, capacity_steps=config.capacity_steps,
                    name="objective")
