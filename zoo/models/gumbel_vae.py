"""Categorical VAE trained with the Gumbel-Softmax estimator and an annealed temperature.

Jang, Gu & Poole 2017, "Categorical Reparameterization with Gumbel-Softmax" (ICLR 2017,
arXiv:1611.01144), eqs. (1)–(2) and section 4.3; the relaxation is also Maddison, Mnih & Teh 2017's
Concrete distribution (arXiv:1611.00712). The latent is N categorical variables of C classes each,
a code of latent_dim = N·C numbers (one one-hot block per variable):

- q(y|x) = Π_i Cat(y_i; softmax(l_i(x))), p(y) = Π_i U{1..C}: the model is the discrete one, so
  ``posterior``/``prior`` are one-hot categoricals flattened to [N·C] and the evaluator's ELBO and IWAE
  bound are bounds on its log p(x); the rate is the exact KL Σ_i Σ_c q_ic log(q_ic C), the KL term of
  Jang et al. (Maddison et al. score relaxed codes with relaxed densities instead; not done here).
- Training (zoo.objectives.gumbel_softmax) decodes the relaxed code softmax((l + g)/τ) at the temperature
  τ(t) = max(τ_min, τ₀ exp(−r N⌊t/N⌋)) of the optimiser step t, a pure function of the step computed by
  the objective from the logits the posterior reports; the model never sees the step.

Defaults follow Jang et al. for MNIST: 30 variables × 10 classes and the 784-512-256 MLP of the authors'
notebook, τ₀ = 1, τ_min = 0.5, r = 1e-4 updated every N = 1000 steps (from the paper's grids
r ∈ {1e-5, 1e-4}, N ∈ {500, 1000}; the notebook uses r = 3e-5).

Codes for reconstructions are E_q[y] = softmax(l) per variable (``posterior.mean()``).
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.config import bounded_field
from zoo.errors import ZooError
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.objectives.gumbel_softmax import GumbelSoftmaxELBO

tfd, tfb = tfp.distributions, tfp.bijectors


@dataclasses.dataclass(frozen=True)
class GumbelSoftmaxVAEConfig(VAEConfig):
    latent_dim: int = bounded_field(300, minimum=2, help="num_variables × num_categories")
    hidden_units: tuple[int, ...] = bounded_field((512, 256), minimum=1, help="MLP widths, input side first")
    num_variables: int = bounded_field(30, minimum=1, help="N: categorical latent variables")
    num_categories: int = bounded_field(10, minimum=2, help="C: classes of each variable")
    temperature_initial: float = bounded_field(1.0, minimum=0.0, exclusive_minimum=True, help="τ₀")
    temperature_min: float = bounded_field(0.5, minimum=0.0, exclusive_minimum=True, help="τ_min, the floor of τ")
    anneal_rate: float = bounded_field(1e-4, minimum=0.0, help="r in τ = max(τ_min, τ₀ exp(−r t))")
    anneal_interval: int = bounded_field(1000, minimum=1, help="τ is updated every this many optimiser steps")
    straight_through: bool = dataclasses.field(
        default=False, metadata={"help": "decode one-hot argmax codes, differentiate the relaxed ones"})

    def validate(self) -> None:
        super().validate()
        if self.latent_dim != self.num_variables * self.num_categories:
            raise ZooError(f"model fields: latent_dim {self.latent_dim} must equal num_variables × num_categories "
                           f"= {self.num_variables * self.num_categories}")
        if self.temperature_min > self.temperature_initial:
            raise ZooError(f"model fields: temperature_min {self.temperature_min} exceeds temperature_initial "
                           f"{self.temperature_initial}")


def flat_one_hot_categorical(logits: tf.Tensor) -> tfd.Distribution:
    """Independent one-hot categoricals of logits [..., N, C], as one distribution over flat codes [N·C]."""
    n, c = logits.shape[-2], logits.shape[-1]
    return tfd.TransformedDistribution(
        tfd.Independent(tfd.OneHotCategorical(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=1),
        tfb.Reshape(event_shape_out=(n * c,), event_shape_in=(n, c)))


@keras.saving.register_keras_serializable(package="zoo")
class GumbelSoftmaxVAE(VAE):
    """N × C one-hot categorical latents, uniform prior, exact categorical KL; trained through relaxed codes."""

    config_class = GumbelSoftmaxVAEConfig

    def make_posterior_head(self):
        return keras.layers.Dense(self.config.latent_dim, dtype="float32", name="posterior_head")

    def make_objective(self):
        config = self.config
        return GumbelSoftmaxELBO(temperature_initial=config.temperature_initial,
                                 temperature_min=config.temperature_min, anneal_rate=config.anneal_rate,
                                 anneal_interval=config.anneal_interval, straight_through=config.straight_through,
                                 name="objective")

    def posterior_logits(self, images, labels=None, training=False) -> tf.Tensor:
        """l(x): logits [batch, N, C]."""
        features = self.condition(self.encoder_net(images, training=training), labels)
        return tf.reshape(self.posterior_head(features), [-1, self.config.num_variables, self.config.num_categories])

    def posterior_and_extras(self, images, labels=None, training=False):
        logits = self.posterior_logits(images, labels, training=training)
        return flat_one_hot_categorical(logits), {"logits": logits}

    def posterior(self, images, labels=None, training=False) -> tfd.Distribution:
        return self.posterior_and_extras(images, labels, training=training)[0]

    def prior(self, labels=None) -> tfd.Distribution:
        return flat_one_hot_categorical(tf.zeros([self.config.num_variables, self.config.num_categories]))
