"""The Gumbel-Softmax estimator of a categorical VAE's ELBO, with an annealed temperature.

Jang, Gu & Poole 2017, "Categorical Reparameterization with Gumbel-Softmax" (ICLR 2017, arXiv:1611.01144),
eq. (2): a relaxed sample of a C-class categorical with logits l is y = softmax((l + g) / τ), g ~ Gumbel(0, 1)
(Maddison, Mnih & Teh 2017, the Concrete distribution, arXiv:1611.00712); as τ → 0 it becomes the one-hot
argmax(l + g), a sample of Categorical(softmax(l)). Section 4.3 anneals τ = max(0.5, exp(−r t)), updated
every N steps (r and N tuned per task); here τ(t) = max(τ_min, τ₀ exp(−r N ⌊t / N⌋)), a pure function of the
optimiser step t.

The model is the discrete one (zoo.models.GumbelSoftmaxVAE): q(y|x) and p(y) are one-hot categoricals.
Its ELBO terms here are those of that model — distortion −log p(x|y) at a one-hot sample of q, rate the
exact KL(q(y|x) ‖ U) = Σ_i Σ_c q_ic log(q_ic C) — and the loss is Jang et al.'s estimator of it: the
distortion at a relaxed code at τ(t) (``relaxed_distortion``), plus the categorical KL. With
``straight_through`` the decoder sees argmax one-hot codes and the gradient of the relaxed ones
(Jang et al., section 2.2).
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from zoo.errors import ZooError
from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ELBO_TERMS, ObjectiveInputs

tfd = tfp.distributions


def temperature_schedule(step, initial: float, minimum: float, rate: float, interval: int = 1) -> tf.Tensor:
    """τ at optimiser step t: max(τ_min, τ₀ exp(−r · N⌊t / N⌋)), held for N = ``interval`` steps at a time."""
    step = tf.cast(step, tf.float32)
    held = tf.floor(step / float(interval)) * float(interval)
    return tf.maximum(tf.constant(minimum, tf.float32), initial * tf.exp(-rate * held))


def relaxed_codes(logits: tf.Tensor, temperature, seed, straight_through: bool = False) -> tf.Tensor:
    """Gumbel-Softmax codes softmax((l + g) / τ) of logits [..., N, C], flattened to [..., N·C]."""
    codes = tfd.RelaxedOneHotCategorical(temperature, logits=logits).sample(seed=seed)
    if straight_through:
        hard = tf.one_hot(tf.argmax(codes, axis=-1), logits.shape[-1], dtype=codes.dtype)
        codes = codes + tf.stop_gradient(hard - codes)
    return tf.reshape(codes, tf.concat([tf.shape(logits)[:-2], [logits.shape[-2] * logits.shape[-1]]], axis=0))


def categorical_kl_to_uniform(logits: tf.Tensor) -> tf.Tensor:
    """KL(Π_i Cat(softmax(l_i)) ‖ Π_i U{1..C}) = Σ_i Σ_c q_ic log(q_ic C) for logits [..., N, C], shape [...]."""
    log_q = tf.nn.log_softmax(logits, axis=-1)
    return tf.reduce_sum(tf.exp(log_q) * (log_q + tf.math.log(float(logits.shape[-1]))), axis=[-2, -1])


class GumbelSoftmaxELBO(ELBO):
    """loss = mean(relaxed distortion at τ(t) + w · β · KL(q(y|x) ‖ U)); needs ``logits`` [batch, N, C] in the extras."""

    term_names = ("loss", *ELBO_TERMS, "relaxed_distortion", "temperature")

    def __init__(self, temperature_initial: float = 1.0, temperature_min: float = 0.5, anneal_rate: float = 1e-4,
                 anneal_interval: int = 1000, straight_through: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.temperature_initial, self.temperature_min = float(temperature_initial), float(temperature_min)
        self.anneal_rate, self.anneal_interval = float(anneal_rate), int(anneal_interval)
        self.straight_through = bool(straight_through)

    @property
    def schedule_steps(self) -> int:
        """The first step at which τ has reached τ_min (and any capacity ramp has ended)."""
        annealed = 0
        if self.temperature_initial > self.temperature_min and self.anneal_rate > 0:
            holds = math.ceil(math.log(self.temperature_initial / self.temperature_min)
                              / (self.anneal_rate * self.anneal_interval))
            annealed = holds * self.anneal_interval
        return max(super().schedule_steps, annealed)

    def temperature(self, step) -> tf.Tensor:
        return temperature_schedule(step, self.temperature_initial, self.temperature_min, self.anneal_rate,
                                    self.anneal_interval)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        if "logits" not in inputs.posterior_extras or inputs.samples != 1:
            raise ZooError("the Gumbel-Softmax objective needs one code per image and a model whose posterior "
                           "reports 'logits' [batch, variables, categories] (e.g. zoo.models.GumbelSoftmaxVAE)")
        logits = inputs.posterior_extras["logits"]
        temperature = self.temperature(inputs.step)
        codes = relaxed_codes(logits, temperature, inputs.seed, self.straight_through)
        # A second decoder pass; the first (inputs.likelihood, at a one-hot sample) gives the model's distortion.
        likelihood = inputs.model.likelihood(codes, inputs.labels, training=inputs.training)
        relaxed_distortion = -likelihood.log_prob(inputs.images)
        distortion, rate = inputs.distortion(), inputs.rate()
        # The exact KL whatever the model's rate estimator: a Monte Carlo rate at one-hot codes has no useful gradient.
        loss = tf.reduce_mean(relaxed_distortion + self.regularizer(categorical_kl_to_uniform(logits), inputs))
        return {"loss": loss, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate,
                "relaxed_distortion": relaxed_distortion, "temperature": temperature}
