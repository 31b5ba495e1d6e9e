"""The k-sample importance-weighted bound as a training objective.

Burda, Grosse & Salakhutdinov 2015, eq. (8):
L_k = E[log (1/k) Σ_j p(x, z_j) / q(z_j|x)], z_1..z_k ~ q(z|x); L_1 is the ELBO and L_k rises with k.
"""

from __future__ import annotations

import math

import tensorflow as tf

from zoo.objectives.objective import ELBO_TERMS, Objective, ObjectiveInputs


class ImportanceWeightedBound(Objective):
    """loss = −mean L_k; also logs the bound itself as ``iw_bound`` and the ELBO of the same codes."""

    term_names = ("loss", *ELBO_TERMS, "iw_bound")

    def __init__(self, samples: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.samples = int(samples)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        codes = inputs.codes if inputs.samples > 1 else inputs.codes[None]
        log_likelihood = -inputs.distortion()
        log_likelihood = log_likelihood if inputs.samples > 1 else log_likelihood[None]
        log_weights = log_likelihood + inputs.prior.log_prob(codes) - inputs.posterior.log_prob(codes)
        bound = tf.reduce_logsumexp(log_weights, axis=0) - math.log(self.samples)
        distortion = -tf.reduce_mean(log_likelihood, axis=0)
        rate = inputs.mean_over_samples(inputs.rate())
        return {"loss": -tf.reduce_mean(bound), "elbo": -(distortion + rate), "distortion": distortion,
                "rate": rate, "iw_bound": bound}
