"""β-TC-VAE: the ELBO with the total correlation of the aggregate posterior weighted by β.

Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in VAEs", eq. (4) with
α = γ = 1: loss = distortion + rate + (β − 1) · TC, TC = KL(q(z) ‖ Π_d q(z_d)).
q(z) and q(z_d) are estimated on the minibatch (their appendix C): z_i is scored under every
posterior q(z|x_j) of the batch, and N is the training-set size.

- ``mws`` (minibatch-weighted sampling, C.1): log q(z_i) ≈ logsumexp_j log q(z_i|x_j) − log(N·M).
  Its TC exceeds the true value by about (D − 1) · log N when the batch covers the aggregate
  posterior (a constant, so gradients are unaffected), as in Chen et al.'s and pythae's code.
- ``mss`` (stratified, after their C.2): x_i's own posterior has weight 1/N and the other M − 1
  share the remaining (N − 1)/N, so the weights of each z_i sum to 1; close to unbiased when the
  batch covers the aggregate posterior (tests/test_variants.py).
"""

from __future__ import annotations


import tensorflow as tf
import tensorflow_probability as tfp

from zoo.errors import ZooError
from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ELBO_TERMS, ObjectiveInputs

tfd = tfp.distributions


def pairwise_log_density(posterior: tfd.Distribution, codes: tf.Tensor) -> tf.Tensor:
    """log q(z_i,d | x_j) for every pair, shape [M (codes i), M (posteriors j), D]."""
    if not isinstance(posterior, tfd.Independent):
        raise ZooError(f"the total-correlation estimate needs a factorised posterior (tfd.Independent), "
                       f"got {type(posterior).__name__}")
    return posterior.distribution.log_prob(codes[:, None, :])


def total_correlation(posterior: tfd.Distribution, codes: tf.Tensor, dataset_size: int,
                      estimator: str = "mws") -> tf.Tensor:
    """The minibatch estimate of TC, one value per code [M]; its mean is the batch's estimate."""
    log_q = pairwise_log_density(posterior, codes)
    batch = tf.cast(tf.shape(codes)[0], log_q.dtype)
    size = tf.cast(dataset_size, log_q.dtype)
    if estimator == "mws":
        weights = -tf.math.log(size * batch) * tf.ones_like(log_q[..., 0])
    else:
        off_diagonal = tf.math.log(tf.maximum(size - 1.0, 1e-12)) - tf.math.log(size * tf.maximum(batch - 1.0, 1.0))
        weights = tf.linalg.set_diag(off_diagonal * tf.ones_like(log_q[..., 0]),
                                     -tf.math.log(size) * tf.ones_like(log_q[:, 0, 0]))
    log_joint = tf.reduce_logsumexp(weights + tf.reduce_sum(log_q, axis=-1), axis=1)
    log_marginals = tf.reduce_sum(tf.reduce_logsumexp(weights[..., None] + log_q, axis=1), axis=-1)
    return log_joint - log_marginals


class BetaTC(ELBO):
    """The ELBO minus (β − 1) · TC; logs ``total_correlation`` (nats, mean over the batch)."""

    term_names = ("loss", *ELBO_TERMS, "total_correlation")

    def __init__(self, beta: float = 6.0, estimator: str = "mws", **kwargs):
        super().__init__(**kwargs)
        self.tc_beta, self.estimator = float(beta), estimator
        if estimator not in ("mws", "mss"):
            raise ZooError(f"total-correlation estimator {estimator!r}: choose mws or mss")

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        terms = super().terms(inputs)
        tc = tf.reduce_mean(total_correlation(inputs.posterior, inputs.codes, inputs.dataset_size, self.estimator))
        terms["loss"] = terms["loss"] + (self.tc_beta - 1.0) * inputs.kl_weight * tc
        terms["total_correlation"] = tc
        return terms
