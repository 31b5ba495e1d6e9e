"""FactorVAE: the ELBO plus γ · TC, with TC estimated by a discriminator trained alongside.

Kim & Mnih 2018, "Disentangling by Factorising", eq. (2), Algorithm 1; the discriminator (6 layers
of 1000 LeakyReLU units, Adam 1e-4 with β1 = 0.5, β2 = 0.9) as in the paper's appendix. γ = 0 is
the VAE. The discriminator has its own optimiser, declared by the objective (zoo.objectives.adversarial_tc).
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import AdversarialTC


@dataclasses.dataclass(frozen=True)
class FactorVAEConfig(VAEConfig):
    gamma: float = bounded_field(35.0, minimum=0.0, help="weight of the total correlation (0: the VAE)")
    discriminator_units: tuple[int, ...] = bounded_field((1000,) * 6, minimum=1, help="discriminator widths")
    discriminator_learning_rate: float = bounded_field(1e-4, minimum=0.0, exclusive_minimum=True)


@keras.saving.register_keras_serializable(package="zoo")
class FactorVAE(VAE):
    """Diagonal-Gaussian posterior, N(0, I) prior; loss = distortion + rate + γ · TC(discriminator)."""

    config_class = FactorVAEConfig

    def make_objective(self):
        config = self.config
        return AdversarialTC(config.latent_dim, gamma=config.gamma, units=config.discriminator_units,
                             learning_rate=config.discriminator_learning_rate, name="objective")
