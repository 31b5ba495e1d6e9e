"""Model classes. Registry entries name them by import path; nothing registers by import side effect."""

from zoo.models.autoencoder import Autoencoder
from zoo.models.beta_tc_vae import BetaTCVAE, BetaTCVAEConfig
from zoo.models.beta_vae import BetaVAE, BetaVAEConfig
from zoo.models.conditional_vae import ConditionalVAE
from zoo.models.cvae_prior import ConditionalPriorVAE, ConditionalPriorVAEConfig
from zoo.models.dip_vae import DIPVAE, DIPVAEConfig
from zoo.models.factor_vae import FactorVAE, FactorVAEConfig
from zoo.models.gumbel_vae import GumbelSoftmaxVAE, GumbelSoftmaxVAEConfig
from zoo.models.iaf_vae import IAFVAE, IAFVAEConfig
from zoo.models.info_vae import InfoVAE, InfoVAEConfig
from zoo.models.iwae import IWAE, IWAEConfig
from zoo.models.mog_vae import MixturePriorVAE, MixturePriorVAEConfig
from zoo.models.vamp import VampPriorVAE, VampPriorVAEConfig
from zoo.models.svae import HypersphericalVAE, HypersphericalVAEConfig
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.models.vq_vae import VQVAE, VQVAEConfig
from zoo.models.wae_mmd import WAEMMD, WAEMMDConfig

__all__ = ["Autoencoder", "BetaTCVAE", "BetaTCVAEConfig", "BetaVAE", "BetaVAEConfig", "ConditionalPriorVAE",
           "ConditionalPriorVAEConfig", "ConditionalVAE", "DIPVAE", "DIPVAEConfig", "FactorVAE", "FactorVAEConfig", "GumbelSoftmaxVAE", "GumbelSoftmaxVAEConfig", "HypersphericalVAE",
           "HypersphericalVAEConfig", "IAFVAE", "IAFVAEConfig", "IWAE",
           "IWAEConfig", "InfoVAE", "InfoVAEConfig", "MixturePriorVAE", "MixturePriorVAEConfig", "VAE", "VAEConfig",
           "VQVAE", "VQVAEConfig", "VampPriorVAE", "VampPriorVAEConfig", "WAEMMD", "WAEMMDConfig"]
