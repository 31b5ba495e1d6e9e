"""The objective seam: what a variant's loss sees of one batch, and the base class of objectives.

An objective turns one batch into named loss terms. The training step (zoo/training) and the
evaluator (zoo/evaluation) both call ``compute_terms``, which runs the model's distribution hooks
once — q(z|x[,y]), p(z[|y]), k codes per image when the objective asks for them, p(x|z[,y]) — and
hands the result to ``Objective.terms`` as an ``ObjectiveInputs``. Every term an objective returns
is logged (progress line, metrics.csv, TensorBoard) and evaluated; ``loss`` is what the model's
optimiser minimises, and ``<group>_loss`` what a declared second optimiser minimises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# Terms every objective of a density model reports: the β = 1 ELBO and its two parts, per example.
ELBO_TERMS = ("elbo", "distortion", "rate")


@dataclasses.dataclass
class ObjectiveInputs:
    """Everything a variant of the literature needs from one batch.

    ``codes`` has shape [batch, latent] or, when the objective asks for ``samples`` > 1,
    [samples, batch, latent]; ``likelihood`` is p(x|z) for exactly those codes.
    ``step`` is the number of optimiser steps taken before this batch (a float tensor), so
    schedules are pure functions of it; ``kl_weight`` is the KL warm-up weight at that step.
    """

    model: Any
    images: tf.Tensor
    labels: tf.Tensor | None
    posterior: tfd.Distribution
    prior: tfd.Distribution
    codes: tf.Tensor
    likelihood: tfd.Distribution
    posterior_extras: Mapping[str, tf.Tensor]
    samples: int
    dataset_size: int
    step: tf.Tensor
    kl_weight: tf.Tensor
    seed: tf.Tensor
    training: bool

    @property
    def config(self):
        return self.model.config

    def distortion(self) -> tf.Tensor:
        """−log p(x|z) per code: shape [batch] or [samples, batch]."""
        return -self.likelihood.log_prob(self.images)

    def rate(self) -> tf.Tensor:
        """KL(q(z|x) ‖ p(z)) per example: analytic where TFP has it (shape [batch]), else Monte Carlo per code."""
        return self.model.rate(self.posterior, self.codes, self.labels, prior=self.prior)

    def mean_over_samples(self, value: tf.Tensor) -> tf.Tensor:
        """Averages a per-code quantity over the sample axis, giving one value per example."""
        return tf.reduce_mean(value, axis=0) if self.samples > 1 and value.shape.rank == 2 else value


@dataclasses.dataclass(frozen=True)
class OptimizerGroup:
    """Variables that a second optimiser trains on the term ``<name>_loss`` (e.g. a discriminator)."""

    name: str
    variables: list
    learning_rate: float
    beta_1: float = 0.9
    beta_2: float = 0.999


class Objective(keras.layers.Layer):
    """Base of every objective. Subclasses set ``term_names`` and implement ``terms``.

    An objective is a layer of its model, so weights it owns (a discriminator) are saved with
    the model and restored on resume; ``optimizer_groups`` declares which of them a separate
    optimiser trains. The model's own optimiser trains every other trainable variable.
    """

    # Codes per image that ``compute_terms`` draws (the k of a k-sample bound).
    samples: int = 1
    # Names of the terms ``terms`` returns, "loss" first; fixed, so trackers exist before training.
    term_names: tuple[str, ...] = ("loss", *ELBO_TERMS)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True  # an objective creates its weights (if any) in __init__; Keras never calls it

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        raise NotImplementedError

    def optimizer_groups(self) -> list[OptimizerGroup]:
        return []

    @property
    def schedule_steps(self) -> int:
        """Optimiser steps after which the loss no longer depends on the step (0: never did). Until then the
        model is not yet the one its objective asks for (AnnealedVAE's capacity is still rising), so the best
        checkpoint is chosen only among epochs that end at or after this step."""
        return 0


def kl_warmup_weight(step: tf.Tensor, warmup_steps: int) -> tf.Tensor:
    """Linear KL warm-up: min(1, step / warmup_steps), 1 without warm-up."""
    if warmup_steps <= 0:
        return tf.ones_like(step)
    return tf.minimum(1.0, step / float(warmup_steps))


def compute_terms(model, images, labels, *, seed, step=None, dataset_size: int | None = None,
                  warmup_steps: int = 0, training: bool = False) -> dict[str, tf.Tensor]:
    """Runs ``model``'s hooks on one batch and returns its objective's terms.

    ``step`` None means "after training" (warm-up and schedules at their end); ``dataset_size``
    None means the batch is the whole data set.
    """
    objective = model.objective
    if step is None:
        step = tf.constant(float(2**31 - 1))
        warmup_steps = 0
    step = tf.cast(step, tf.float32)
    posterior, extras = model.posterior_and_extras(images, labels, training=training)
    shape = (objective.samples,) if objective.samples > 1 else ()
    codes = posterior.sample(shape, seed=seed)
    inputs = ObjectiveInputs(
        model=model, images=images, labels=labels, posterior=posterior, prior=model.prior(labels), codes=codes,
        likelihood=model.likelihood(codes, labels, training=training), posterior_extras=extras,
        samples=objective.samples, dataset_size=int(dataset_size or images.shape[0] or 1), step=step,
        kl_weight=kl_warmup_weight(step, warmup_steps), seed=seed, training=training)
    return objective.terms(inputs)
