"""The evidence lower bound and its β-weighted and capacity-controlled forms.

Kingma & Welling 2014, eq. (3): ELBO = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)) = −(distortion + rate).
Higgins et al. 2017, eq. (4): loss = distortion + β · rate.
Burgess et al. 2018, eq. (8): loss = distortion + γ · |rate − C|, C ramped linearly from 0 to
``capacity_max`` nats over ``capacity_steps`` optimiser steps (γ is ``beta`` here). The absolute value
is taken of the batch's mean rate, as disentanglement_lib's ``AnnealedVAE.regularizer`` does. Held per
image, |rate_i − C| is zero for a posterior that ignores x and gives every image the same KL, and with
γ = 1000 on MNIST that is where training ended (0 of 10 active units after 30 epochs; 4 with the batch mean).
The KL warm-up weight multiplies the rate term in every form.
"""

from __future__ import annotations

import tensorflow as tf

from zoo.objectives.objective import Objective, ObjectiveInputs


class ELBO(Objective):
    """loss = mean(distortion) + w · β · mean(rate), or with a capacity: mean(distortion) + w · β · |mean(rate) − C|."""

    def __init__(self, beta: float = 1.0, capacity_max: float = 0.0, capacity_steps: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.beta, self.capacity_max, self.capacity_steps = float(beta), float(capacity_max), int(capacity_steps)

    @property
    def schedule_steps(self) -> int:
        return self.capacity_steps if self.capacity_max > 0 else 0

    def capacity(self, step: tf.Tensor) -> tf.Tensor:
        """C at ``step``: 0 → capacity_max over capacity_steps steps, then constant."""
        return self.capacity_max * tf.minimum(1.0, step / float(self.capacity_steps))

    def regularizer(self, rate: tf.Tensor, inputs: ObjectiveInputs) -> tf.Tensor:
        """What the loss adds for the rate: per example, or with a capacity one value for the whole batch."""
        weight = inputs.kl_weight * self.beta
        if self.capacity_max <= 0:
            return weight * rate
        return weight * tf.abs(tf.reduce_mean(rate) - self.capacity(inputs.step))

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        distortion = inputs.mean_over_samples(inputs.distortion())
        rate = inputs.mean_over_samples(inputs.rate())
        loss = tf.reduce_mean(distortion + self.regularizer(rate, inputs))
        return {"loss": loss, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate}
