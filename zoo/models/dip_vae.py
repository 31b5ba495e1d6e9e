"""DIP-VAE-I and DIP-VAE-II: the VAE plus a penalty pushing the covariance of the codes towards I.

Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations" (arXiv:1711.00848), eq. (6) (``dip_type: i``, Cov of the posterior means) and
eq. (7) (``dip_type: ii``, Cov of q(z)):
loss = distortion + rate + λ_od Σ_{i≠j} Cov_ij² + λ_d Σ_i (Cov_ii − 1)² (zoo.objectives.dip).
Defaults are DIP-VAE-I's: λ_od = 10 (in disentanglement_lib's sweep 1 … 50) and λ_d = 10 · λ_od, its
factor for DIP-VAE-I (config/unsupervised_study_v1/sweep.py; λ_d = λ_od for II). λ_od = λ_d = 0 is the VAE.
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field, choice_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives.dip import DIP_KINDS, DIPELBO


@dataclasses.dataclass(frozen=True)
class DIPVAEConfig(VAEConfig):
    dip_type: str = choice_field("i", DIP_KINDS, help="i: Cov of the posterior means; ii: Cov of q(z)")
    lambda_od: float = bounded_field(10.0, minimum=0.0, help="weight of the squared off-diagonal entries of Cov")
    lambda_d: float = bounded_field(100.0, minimum=0.0, help="weight of the squared distance of Cov_ii from 1")


@keras.saving.register_keras_serializable(package="zoo")
class DIPVAE(VAE):
    """Diagonal-Gaussian posterior, N(0, I) prior; the ELBO plus the DIP-VAE-I or -II covariance penalty."""

    config_class = DIPVAEConfig

    def make_objective(self):
        config = self.config
        return DIPELBO(config.dip_type, lambda_od=config.lambda_od, lambda_d=config.lambda_d, name="objective")
