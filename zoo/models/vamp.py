"""VAE with a VampPrior: the prior is the posterior's mixture at K learned pseudo-inputs.

Tomczak & Welling 2018, "VAE with a VampPrior" (AISTATS, arXiv:1705.07120), §2.2, eq. (9):
p_λ(z) = (1/K) Σ_k q_φ(z | u_k), the pseudo-inputs u_k trained with the rest of the model; it
approximates the aggregated posterior (1/N) Σ_n q_φ(z | x_n), the prior that maximises the ELBO.
The components are computed through the encoder at every call, so the rate's gradient reaches
both the pseudo-inputs and the encoder. TFP has no KL to a mixture: the rate is the one-sample
log q(z|x) − log p(z), as in the paper.

Pseudo-inputs are u_k = sigmoid(w_k), w_k ~ N(−0.05, 0.01²) (so u_k ≈ 0.49), as in the authors'
code for binary and grey images (jmtomczak/vae_vampprior, models/Model.py); the paper's other
option, initialising from random training images, needs data that ``__init__`` does not see.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.gaussian_mixture import DiagonalGaussianMixture
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig

tfd = tfp.distributions

# The authors' initialisation of the pre-sigmoid pseudo-inputs (their --pseudoinputs_mean/_std).
PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD = -0.05, 0.01


@dataclasses.dataclass(frozen=True)
class VampPriorVAEConfig(VAEConfig):
    num_pseudo_inputs: int = bounded_field(500, minimum=1, help="pseudo-inputs K, the prior's mixture components")
    analytic_kl: bool = False  # no closed-form KL to a mixture: the rate is log q − log p at the code


@keras.saving.register_keras_serializable(package="zoo")
class VampPriorVAE(VAE):
    """Diagonal-Gaussian posterior; p(z) = (1/K) Σ_k q(z | u_k) with learned pseudo-inputs u_k."""

    config_class = VampPriorVAEConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.pseudo_input_logits = self.add_weight(
            name="pseudo_input_logits", shape=(self.config.num_pseudo_inputs, *self.config.image_shape),
            initializer=keras.initializers.RandomNormal(PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD), dtype="float32")

    def pseudo_inputs(self) -> tf.Tensor:
        """u_k, [K, height, width, channels], in (0, 1) like the images."""
        return tf.sigmoid(self.pseudo_input_logits)

    def prior(self, labels=None):
        """(1/K) Σ_k q(z | u_k): equal weights over the posteriors at the pseudo-inputs."""
        # Inference mode: a conv encoder's batch norm uses its moving statistics, not the pseudo-inputs' own.
        components = self.posterior(self.pseudo_inputs())
        weights = tfd.Categorical(logits=tf.zeros([self.config.num_pseudo_inputs]))
        return DiagonalGaussianMixture(weights, components)
