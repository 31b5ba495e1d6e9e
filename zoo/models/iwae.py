"""IWAE: the VAE trained on the k-sample importance-weighted bound.

Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", eq. (8); the paper's MNIST
results use k = 5 and k = 50. With k = 1 the objective is the one-sample (Monte Carlo) ELBO.
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives import ImportanceWeightedBound


@dataclasses.dataclass(frozen=True)
class IWAEConfig(VAEConfig):
    iw_train_samples: int = bounded_field(5, minimum=1, help="importance samples k of the training bound")


@keras.saving.register_keras_serializable(package="zoo")
class IWAE(VAE):
    """Diagonal-Gaussian posterior and N(0, I) prior; trained on L_k instead of the ELBO."""

    config_class = IWAEConfig

    def make_objective(self):
        return ImportanceWeightedBound(samples=self.config.iw_train_samples, name="objective")
