"""WAE-MMD: reconstruction plus λ · MMD between the batch's codes and as many prior samples.

Tolstikhin, Bousquet, Gelly & Schölkopf 2018, "Wasserstein Auto-Encoders" (arXiv:1711.01558),
eq. (4) with D_Z = MMD_k, estimated as in their Algorithm 2 by the unbiased U-statistic

    MMD² ≈ 1/(n(n−1)) Σ_{i≠j} k(z_i, z_j) + 1/(m(m−1)) Σ_{i≠j} k(z̃_i, z̃_j)
           − 2/(nm) Σ_{i,j} k(z_i, z̃_j),

z_i the batch's codes, z̃_j ~ p(z) (m = n); it can be slightly negative. Kernel: the inverse
multiquadratics k(x, y) = C / (C + ‖x − y‖²), C = 2 · D · σ² (σ² the prior's variance, 1 for N(0, I)),
summed over C ∈ {s · C : s in ``scales``}, as in pythae (src/pythae/models/wae_mmd/wae_mmd_model.py,
``imq_kernel``: scales 0.1, 0.2, 0.5, 1, 2, 5, 10 by default) and the authors' code.

Differences from pythae's WAE_MMD: the paper and pythae use a deterministic encoder; zoo keeps the
Gaussian encoder and matches its samples z ~ q(z|x) (Theorem 1 of the paper allows random encoders),
so the ELBO terms stay defined and are reported. The reconstruction cost is the distortion −log p(x|z)
(Bernoulli, nats), not pythae's summed squared error; its λ (``reg_weight`` 3e-2) therefore does not
carry over. No warm-up weight applies (there is no rate in the loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from zoo.objectives.objective import ELBO_TERMS, Objective, ObjectiveInputs

# pythae's WAE_MMD_Config / INFOVAE_MMD_Config default multi-scale IMQ.
PYTHAE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
# Folded into the batch's seed so prior samples are independent of the posterior noise of any step.
_PRIOR_SEED_SALT = 0x4D4D44


def squared_distances(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """‖x_i − y_j‖², shape [n, m], by the Gram expansion (memory O(nm), not O(nmD))."""
    xx = tf.reduce_sum(tf.square(x), axis=-1)[:, None]
    yy = tf.reduce_sum(tf.square(y), axis=-1)[None, :]
    return tf.maximum(xx + yy - 2.0 * tf.matmul(x, y, transpose_b=True), 0.0)


def imq_kernel(x: tf.Tensor, y: tf.Tensor, bandwidth: float = 1.0,
               scales: Sequence[float] = PYTHAE_SCALES) -> tf.Tensor:
    """Σ_s C_s / (C_s + ‖x_i − y_j‖²), C_s = s · 2 · D · σ², shape [n, m]."""
    base = 2.0 * float(x.shape[-1]) * float(bandwidth) ** 2
    distances = squared_distances(x, y)
    return tf.add_n([scale * base / (scale * base + distances) for scale in scales])


def mmd(codes: tf.Tensor, prior_codes: tf.Tensor, bandwidth: float = 1.0,
        scales: Sequence[float] = PYTHAE_SCALES) -> tf.Tensor:
    """The unbiased U-statistic estimate of MMD²(q, p) from codes [n, D] ~ q and prior_codes [m, D] ~ p."""
    n = tf.cast(tf.shape(codes)[0], codes.dtype)
    m = tf.cast(tf.shape(prior_codes)[0], codes.dtype)

    def within(kernel, count):  # the diagonal k(z_i, z_i) is left out
        return (tf.reduce_sum(kernel) - tf.linalg.trace(kernel)) / tf.maximum(count * (count - 1.0), 1.0)

    cross = tf.reduce_sum(imq_kernel(codes, prior_codes, bandwidth, scales)) / (n * m)
    return (within(imq_kernel(codes, codes, bandwidth, scales), n)
            + within(imq_kernel(prior_codes, prior_codes, bandwidth, scales), m) - 2.0 * cross)


def prior_samples(inputs: ObjectiveInputs) -> tf.Tensor:
    """As many samples of p(z[|y]) as the batch has codes, from the batch's seed."""
    seed = tf.random.experimental.stateless_fold_in(inputs.seed, _PRIOR_SEED_SALT)
    # A label-conditional prior already has one entry per example.
    shape = (tf.shape(inputs.codes)[0],) if inputs.prior.batch_shape.rank == 0 else ()
    return inputs.prior.sample(shape, seed=seed)


def batch_mmd(inputs: ObjectiveInputs, bandwidth: float = 1.0, scales: Sequence[float] = PYTHAE_SCALES) -> tf.Tensor:
    """MMD² between the batch's codes z ~ q(z|x) and as many prior samples."""
    return mmd(inputs.codes, prior_samples(inputs), bandwidth, scales)


class WassersteinMMD(Objective):
    """loss = mean(distortion) + λ · MMD²(codes, prior samples); logs ``mmd``, reports the ELBO terms."""

    term_names = ("loss", *ELBO_TERMS, "mmd")

    def __init__(self, weight: float = 10.0, bandwidth: float = 1.0, scales: Sequence[float] = PYTHAE_SCALES,
                 **kwargs):
        super().__init__(**kwargs)
        self.weight, self.bandwidth, self.scales = float(weight), float(bandwidth), tuple(map(float, scales))

    def terms(self, inputs: ObjectiveInputs) -> dict[str, tf.Tensor]:
        distortion, rate = inputs.distortion(), inputs.rate()
        value = batch_mmd(inputs, self.bandwidth, self.scales)
        loss = tf.reduce_mean(distortion) + self.weight * value
        return {"loss": loss, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate, "mmd": value}
