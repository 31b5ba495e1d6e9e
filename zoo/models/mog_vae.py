"""VAE with a learned mixture-of-Gaussians prior.

p(z) = Σ_k π_k N(z; μ_k, diag σ_k²), with the logits of π, the means μ_k and the scales σ_k
trained with the rest of the model by the ELBO. This is the "mixture of Gaussians prior" that
Tomczak & Welling 2018 (arXiv:1705.07120, §2.2, eq. (8)) write with equal weights 1/K; the
weights are learned here, as in the Gaussian-mixture prior of Jiang et al. 2017 (VaDE,
arXiv:1611.05148). TFP has no KL to a mixture: the rate is the one-sample
log q(z|x) − log p(z).
"""

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.gaussian_mixture import DiagonalGaussianMixture
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig

tfd = tfp.distributions

# Keeps every component's density bounded, so no component can collapse onto a single code.
MIN_PRIOR_SCALE = 1e-3
# softplus(x) + MIN_PRIOR_SCALE = 1 at this x: components start with unit scales.
_UNIT_SCALE = math.log(math.expm1(1.0 - MIN_PRIOR_SCALE))


@dataclasses.dataclass(frozen=True)
class MixturePriorVAEConfig(VAEConfig):
    prior_components: int = bounded_field(10, minimum=1, help="mixture components K of the prior")
    analytic_kl: bool = False  # no closed-form KL to a mixture: the rate is log q − log p at the code


@keras.saving.register_keras_serializable(package="zoo")
class MixturePriorVAE(VAE):
    """Diagonal-Gaussian posterior; p(z) = Σ_k π_k N(μ_k, diag σ_k²) with π, μ, σ learned."""

    config_class = MixturePriorVAEConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        k, d = self.config.prior_components, self.config.latent_dim
        self.prior_logits = self.add_weight(name="prior_logits", shape=(k,), initializer="zeros", dtype="float32")
        # Means spread like N(0, I) samples, so the components start apart (equal means would get equal gradients).
        self.prior_locs = self.add_weight(name="prior_locs", shape=(k, d),
                                          initializer=keras.initializers.RandomNormal(stddev=1.0), dtype="float32")
        self.prior_raw_scales = self.add_weight(name="prior_raw_scales", shape=(k, d),
                                                initializer=keras.initializers.Constant(_UNIT_SCALE), dtype="float32")

    def prior_scales(self) -> tf.Tensor:
        """σ_k, [K, latent_dim]."""
        return tf.nn.softplus(self.prior_raw_scales) + MIN_PRIOR_SCALE

    def prior(self, labels=None):
        """Σ_k π_k N(μ_k, diag σ_k²)."""
        components = tfd.Independent(tfd.Normal(loc=self.prior_locs, scale=self.prior_scales()),
                                     reinterpreted_batch_ndims=1)
        return DiagonalGaussianMixture(tfd.Categorical(logits=self.prior_logits), components)
