"""β-TC-VAE: the ELBO with its total-correlation term weighted by β.

Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in Variational
Autoencoders", eq. (4) with α = γ = 1; TC estimated on the minibatch with the training-set size N
(zoo.objectives.total_correlation). β = 1 is the VAE.
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field, choice_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import BetaTC


@dataclasses.dataclass(frozen=True)
class BetaTCVAEConfig(VAEConfig):
    beta: float = bounded_field(6.0, minimum=0.0, help="weight of the total correlation (1: the VAE)")
    tc_estimator: str = choice_field("mws", ("mws", "mss"),
                                     help="minibatch-weighted (mws) or minibatch-stratified (mss) sampling")


@keras.saving.register_keras_serializable(package="zoo")
class BetaTCVAE(VAE):
    """Diagonal-Gaussian posterior, N(0, I) prior; loss = distortion + rate + (β − 1) · TC."""

    config_class = BetaTCVAEConfig

    def make_objective(self):
        return BetaTC(beta=self.config.beta, estimator=self.config.tc_estimator, name="objective")
