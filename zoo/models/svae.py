"""S-VAE: the hyperspherical VAE, a von Mises–Fisher posterior under the uniform prior on the sphere.

Davidson, Falorsi, De Cao, Kipf & Tomczak 2018, "Hyperspherical Variational Auto-Encoders", UAI 2018
(arXiv:1804.00891), section 3. Codes lie on S^{m−1} ⊂ R^m, m = latent_dim:

- q(z|x) = vMF(z; μ, κ) = C_m(κ) exp(κ μᵀz), C_m(κ) = κ^{m/2−1} / ((2π)^{m/2} I_{m/2−1}(κ)), with μ the
  L2-normalised head output and κ = softplus(·) + 1 (one unit; the +1 of the authors' reference code
  keeps κ away from the collapse at 0);
- p(z) = U(S^{m−1}), density Γ(m/2) / (2π^{m/2});
- the rate is the closed form KL(vMF(μ, κ) ‖ U(S^{m−1})) = κ I_{m/2}(κ)/I_{m/2−1}(κ) + log C_m(κ)
  + log(2π^{m/2}/Γ(m/2)), which TFP registers for (VonMisesFisher, SphericalUniform).

Sampling (the paper's Algorithm 1): w = μᵀz by Wood's rejection sampler (by inversion for m = 3), a uniform
direction orthogonal to e₁, and a Householder reflection taking e₁ to μ. Gradients reach μ through the
reflection and κ through w = h(ε, κ) (g_rep); for m ≠ 3 the objective adds the rejection sampler's correction
g_cor (zoo.objectives.hyperspherical). The posterior is zoo.von_mises_fisher.BatchedVonMisesFisher: TFP's
distribution with a sampler of the same law that XLA compiles (TFP's own loop has a gradient XLA cannot), so
the training step is XLA-compiled like the Gaussian VAE's.

Codes for reconstructions and latent statistics are the mean directions μ (points on the sphere, where
the decoder is trained), not the vMF mean A_m(κ) μ, which lies inside the ball.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives.hyperspherical import HypersphericalELBO
from zoo.von_mises_fisher import BatchedVonMisesFisher

tfd = tfp.distributions


@dataclasses.dataclass(frozen=True)
class HypersphericalVAEConfig(VAEConfig):
    latent_dim: int = bounded_field(10, minimum=2, help="m: codes lie on the unit sphere S^(m-1) in R^m")
    rejection_correction: bool = dataclasses.field(
        default=True, metadata={"help": "add the rejection sampler's gradient term g_cor (m != 3)"})


class UniformSphere(tfd.SphericalUniform):
    """U(S^{m−1}) with its coordinates' variance 1/m (TFP has only the covariance), as zoo's latent figures read it."""

    def _variance(self):
        shape = tf.concat([self.batch_shape_tensor(), [self.dimension]], axis=0)
        return tf.fill(shape, tf.cast(1.0 / self.dimension, self.dtype))


@keras.saving.register_keras_serializable(package="zoo")
class HypersphericalVAE(VAE):
    """vMF(μ(x), κ(x)) posterior on S^{m−1}, uniform prior on the sphere, analytic KL."""

    config_class = HypersphericalVAEConfig

    def make_posterior_head(self):
        return keras.layers.Dense(self.config.latent_dim + 1, dtype="float32", name="posterior_head")

    def make_objective(self):
        return HypersphericalELBO(rejection_correction=self.config.rejection_correction, name="objective")

    def posterior(self, images, labels=None, training=False) -> tfd.Distribution:
        features = self.condition(self.encoder_net(images, training=training), labels)
        raw_direction, raw_concentration = tf.split(self.posterior_head(features), [self.config.latent_dim, 1], axis=-1)
        concentration = tf.nn.softplus(raw_concentration[..., 0]) + 1.0
        return BatchedVonMisesFisher(tf.math.l2_normalize(raw_direction, axis=-1), concentration)

    def prior(self, labels=None) -> tfd.Distribution:
        return UniformSphere(dimension=self.config.latent_dim)

    def encode(self, images, labels=None) -> tf.Tensor:
        """Mean directions μ(x), on the sphere."""
        return self.posterior(images, labels).mode()

    def call(self, inputs, training=False):
        images, labels = inputs if isinstance(inputs, (tuple, list)) else (inputs, None)
        codes = self.posterior(images, labels, training=training).mode()
        return self.likelihood(codes, labels, training=training).mean()
