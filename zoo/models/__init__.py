"""Model classes. Registry entries name them by import path; nothing registers by import side effect."""

from zoo.models.autoencoder import Autoencoder
from zoo.models.beta_tc_vae import BetaTCVAE, BetaTCVAEConfig
from zoo.models.beta_vae import BetaVAE, BetaVAEConfig
from zoo.models.conditional_vae import ConditionalVAE
from zoo.models.factor_vae import FactorVAE, FactorVAEConfig
from zoo.models.iwae import IWAE, IWAEConfig
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.models.vq_vae import VQVAE, VQVAEConfig

__all__ = ["Autoencoder", "BetaTCVAE", "BetaTCVAEConfig", "BetaVAE", "BetaVAEConfig", "ConditionalVAE", "FactorVAE",
           "FactorVAEConfig", "IWAE", "IWAEConfig", "VAE", "VAEConfig", "VQVAE", "VQVAEConfig"]
