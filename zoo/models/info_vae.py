"""InfoVAE (MMD-VAE): the VAE with a reweighted rate plus an MMD between q(z) and p(z).

Zhao, Song & Ermon 2019, "InfoVAE: Balancing Learning and Inference in Variational Autoencoders"
(arXiv:1706.02262), eq. (6) (v3) with D = MMD: loss = distortion + (1 − α) · rate + (α + λ − 1) · MMD²
(zoo.objectives.info_vae). Defaults are those of pythae's INFOVAE_MMD_Config code (α = 0, λ = 1e-3, IMQ
kernel, bandwidth 1, scales 0.1 … 10; its docstring says α = 0.5, λ = 3e-2). They weight the MMD² by
α + λ − 1 = −0.999, i.e. reward it. α = 0, λ = 1 is the VAE; α = 1, λ = 1 drops the rate, leaving
distortion + MMD² (the "MMD-VAE").
"""

from __future__ import annotations

import dataclasses

import keras

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.wae_mmd import MMDKernelConfig
from zoo.objectives.info_vae import InfoMMD


@dataclasses.dataclass(frozen=True)
class InfoVAEConfig(MMDKernelConfig):
    alpha: float = bounded_field(0.0, maximum=1.0, help="α: the rate is weighted by 1 − α")
    lambda_mmd: float = bounded_field(1e-3, minimum=0.0, help="λ: the MMD² is weighted by α + λ − 1")


@keras.saving.register_keras_serializable(package="zoo")
class InfoVAE(VAE):
    """Diagonal-Gaussian posterior, N(0, I) prior; loss = distortion + (1 − α) · rate + (α + λ − 1) · MMD²."""

    config_class = InfoVAEConfig

    def make_objective(self):
        config = self.config
        return InfoMMD(config.alpha, config.lambda_mmd, bandwidth=config.kernel_bandwidth,
                       scales=config.kernel_scales, name="objective")
