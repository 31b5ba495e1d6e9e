"""A von Mises–Fisher distribution whose sampler XLA can compile, drawn exactly as TFP's.

``tfd.VonMisesFisher`` draws w = μᵀz (for m ≠ 3) by Wood's (1994) rejection sampler, one proposal per code
per round of a ``tf.while_loop`` whose gradient has no fixed size, so a training step that samples it cannot
be XLA-compiled; the S-VAE then trained at about half the speed of a Gaussian VAE of the same size
(benchmarks/perf/variants.py). ``BatchedVonMisesFisher`` draws the same distribution with three changes that
keep every value exact:

- the accepted ε ~ Beta((m − 1)/2, (m − 1)/2) is found without gradient, ``proposals`` at a time per code
  (the first accepted of them is taken, which is the sequential sampler's law), in a loop that runs a second
  round only when some code had none accepted;
- ε is drawn as χ²_{m−1} / (χ²_{m−1} + χ²'_{m−1}), sums of squared normals, which is Beta((m − 1)/2, (m − 1)/2);
- w = h(ε, κ) = (1 − (1 + b)ε) / (1 − (1 − b)ε) is computed from the accepted ε outside the loop, so the
  gradient reaches κ through h with ε held fixed: TFP's reparameterisation gradient g_rep, and what
  ``zoo.objectives.hyperspherical``'s correction term g_cor assumes.

For m = 3 TFP's inversion sampler is used unchanged (no loop). Everything else (density, mode, mean, entropy,
the KL to the uniform prior) is TFP's.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions
samplers = tfp.random


def _normal(shape, seed, dtype=tf.float32):
    return tf.random.stateless_normal(shape, seed=samplers.sanitize_seed(seed), dtype=dtype)


def _uniform(shape, seed, dtype=tf.float32):
    return tf.random.stateless_uniform(shape, seed=samplers.sanitize_seed(seed), dtype=dtype)


PROPOSALS = 4  # per code and round: Wood's test accepts 70-100 % of proposals, another round is needed < 1 % of the time


def wood_b(concentration: tf.Tensor, dim: float) -> tf.Tensor:
    """Wood's b for w = μᵀz in S^{dim}, written as TFP writes it (no cancellation at large κ)."""
    return dim / (2.0 * concentration + tf.sqrt(4.0 * concentration**2 + dim**2))


def wood_h(epsilon: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """w = h(ε, κ) of Wood's proposal."""
    return (1.0 - (1.0 + b) * epsilon) / (1.0 - (1.0 - b) * epsilon)


def accepted_epsilon(shape, concentration: tf.Tensor, dim: int, seed, proposals: int = PROPOSALS) -> tf.Tensor:
    """ε of the first accepted proposal of Wood's sampler for each code of ``shape`` ([n, *batch]); no gradient."""
    kappa = tf.stop_gradient(tf.broadcast_to(concentration, shape))
    dtype = kappa.dtype
    b = wood_b(kappa, float(dim))
    x0 = (1.0 - b) / (1.0 + b)
    c = kappa * x0 + dim * tf.math.log1p(-x0**2)
    proposal_shape = tf.concat([[proposals], tf.shape(kappa)], axis=0)
    # The earliest accepted proposal (0 if none): weights P, P − 1, ..., 1 make its score the unique maximum,
    # where argmax over ties would not say which one it returns.
    rank = tf.reshape(tf.range(proposals, 0, -1), tf.concat([[proposals], tf.ones_like(tf.shape(kappa))], 0))

    def body(epsilon, pending, seed):
        normal_seed, uniform_seed, next_seed = samplers.split_seed(seed, n=3)
        squares = tf.square(_normal(tf.concat([[2, dim], proposal_shape], axis=0), seed=normal_seed, dtype=dtype))
        chi2 = tf.reduce_sum(squares, axis=1)  # [2, proposals, *shape]: two independent χ²_dim
        candidate = chi2[0] / (chi2[0] + chi2[1])
        w = wood_h(candidate, b)
        uniform = _uniform(proposal_shape, seed=uniform_seed, dtype=dtype)
        accept = kappa * w + dim * tf.math.log1p(-x0 * w) - c >= tf.math.log1p(-uniform)
        first = tf.argmax(tf.cast(accept, tf.int32) * rank, axis=0)
        chosen = tf.reduce_sum(candidate * tf.one_hot(first, proposals, axis=0, dtype=dtype), axis=0)
        newly = pending & tf.reduce_any(accept, axis=0)
        return tf.where(newly, chosen, epsilon), pending & ~newly, next_seed

    epsilon, _, _ = tf.while_loop(lambda epsilon, pending, seed: tf.reduce_any(pending), body,
                                  (tf.zeros_like(kappa), tf.ones(tf.shape(kappa), tf.bool), seed))
    return tf.stop_gradient(epsilon)


class BatchedVonMisesFisher(tfd.VonMisesFisher):
    """``tfd.VonMisesFisher`` with the XLA-compilable sampler of this module (for event sizes other than 3)."""

    def _sample_n(self, n, seed=None):
        event_dim = tf.compat.dimension_value(self.event_shape[0])
        if event_dim is None or event_dim == 3:
            return super()._sample_n(n, seed=seed)
        dim0_seed, otherdims_seed = samplers.split_seed(seed, salt="von_mises_fisher")
        mean_direction = tf.convert_to_tensor(self.mean_direction)
        concentration = tf.convert_to_tensor(self.concentration)
        shape = tf.concat([[n], self.batch_shape_tensor()], axis=0)
        epsilon = accepted_epsilon(shape, concentration, event_dim - 1, dim0_seed)
        w = wood_h(epsilon, wood_b(concentration, float(event_dim - 1)))[..., tf.newaxis]
        directions = tf.math.l2_normalize(
            _normal(tf.concat([shape, [event_dim - 1]], axis=0), seed=otherdims_seed, dtype=self.dtype),
            axis=-1)
        samples = tf.math.l2_normalize(tf.concat([w, tf.sqrt(tf.maximum(1.0 - w**2, 0.0)) * directions], axis=-1),
                                       axis=-1)
        return self._rotate(samples, mean_direction=mean_direction)
