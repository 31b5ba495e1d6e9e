"""DIP-VAE: the ELBO plus a penalty driving the covariance of the codes towards the identity.

Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations" (arXiv:1711.00848), eq. (6) (DIP-VAE-I) and eq. (7) (DIP-VAE-II):

    loss = distortion + rate + λ_od Σ_{i≠j} [Cov]_ij² + λ_d Σ_i ([Cov]_ii − 1)²

- ``kind="i"``:  Cov = Cov_p(x)[μ(x)], the covariance over the batch of the posterior means;
- ``kind="ii"``: Cov = E_p(x)[Σ(x)] + Cov_p(x)[μ(x)], the covariance of the aggregate posterior q(z).

As in disentanglement_lib (methods/unsupervised/vae.py: ``compute_covariance_z_mean``,
``regularize_diag_off_diag_dip``, ``DIPVAE.regularizer``) Cov_p(x)[μ] is the batch's 1/M covariance
E[μμᵀ] − E[μ]E[μ]ᵀ (computed here from centred means, the same quantity), E[Σ(x)] the batch mean of
diag(σ²(x)), and the penalty is one scalar per batch added to the mean ELBO loss. The KL warm-up weight
multiplies the rate only. The weighted penalty is logged as ``dip_penalty``.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

from zoo.errors import ZooError
from zoo.objectives.elbo import ELBO
from zoo.objectives.objective import ELBO_TERMS, ObjectiveInputs

tfd = tfp.distributions

DIP_KINDS = ("i", "ii")


def dip_covariance(posterior: tfd.Distribution, kind: str = "i") -> tf.Tensor:
    """The [D, D] matrix DIP-VAE-I (Cov of the means) or DIP-VAE-II (that plus the mean posterior covariance)
    regularises, over the batch of ``posterior``."""
    means = posterior.mean()
    centred = means - tf.reduce_mean(means, axis=0, keepdims=True)
    count = tf.cast(tf.shape(means)[0], means.dtype)
    covariance = tf.matmul(centred, centred, transpose_a=True) / count
    if kind == "i":
        return covariance
    try:
        encoder = tf.reduce_mean(posterior.covariance(), axis=0)
    except NotImplementedError:  # tfd.Independent: a diagonal covariance, given by its variance
        encoder = tf.linalg.diag(tf.reduce_mean(posterior.variance(), axis=0))
    return covariance + encoder


def dip_penalty(covariance: tf.Tensor, lambda_od: float, lambda_d: float) -> tf.Tensor:
    """λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)²."""
    diagonal = tf.linalg.diag_part(covariance)
    off_diagonal = covariance - tf.linalg.diag(diagonal)
    return lambda_od * tf.reduce_sum(tf.square(off_diagonal)) + lambda_d * tf.reduce_sum(tf.square(diagonal - 1.0))


class DIPELBO(ELBO):
    """The ELBO loss plus the DIP penalty on the batch (DIP-VAE-I or -II by ``kind``)."""

    term_names = ("loss", *ELBO_TERMS, "dip_penalty")

    def __init__(self, kind: str = "i", lambda_od: float = 10.0, lambda_d: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in DIP_KINDS:
            raise ZooError(f"DIP-VAE kind {kind!r}: choose i or ii")
        self.kind, self.lambda_od, self.lambda_d = kind, float(lambda_od), float(lambda_d)

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        terms = super().terms(inputs)
        penalty = dip_penalty(dip_covariance(inputs.posterior, self.kind), self.lambda_od, self.lambda_d)
        terms["loss"] = terms["loss"] + penalty
        terms["dip_penalty"] = penalty
        return terms
