"""Model classes. Registry entries name them by import path; nothing registers by import side effect."""

from zoo.models.autoencoder import Autoencoder
from zoo.models.beta_vae import BetaVAE, BetaVAEConfig
from zoo.models.conditional_vae import ConditionalVAE
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig

__all__ = ["Autoencoder", "BetaVAE", "BetaVAEConfig", "ConditionalVAE", "VAE", "VAEConfig"]
