"""DiagonalGaussianMixture: TFP's mixture density through one matrix product, to float64 precision."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from scipy.special import logsumexp

from zoo.gaussian_mixture import DiagonalGaussianMixture

tfd = tfp.distributions


def exact_log_density(points, logits, loc, scale):
    """float64 by the definition: logsumexp_k log π_k + Σ_d log N(z_d; μ_kd, σ_kd)."""
    points, loc, scale = (np.asarray(a, np.float64) for a in (points, loc, scale))
    log_weights = logits - logsumexp(logits)
    per_dim = -0.5 * ((points[..., None, :] - loc) / scale) ** 2 - np.log(scale) - 0.5 * np.log(2 * np.pi)
    return logsumexp(log_weights + per_dim.sum(-1), axis=-1)


def mixture(cls, logits, loc, scale):
    return cls(tfd.Categorical(logits=logits), tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1))


def test_density_matches_the_definition_near_narrow_components_where_float32_expansion_would_not():
    rng = np.random.default_rng(0)
    k, d = 50, 16
    logits = rng.normal(size=k).astype("float32")
    loc = rng.normal(0.0, 3.0, (k, d)).astype("float32")
    scale = np.exp(rng.uniform(np.log(0.005), np.log(2.0), (k, d))).astype("float32")  # as narrow as 0.005
    near = loc[rng.integers(0, k, 300)] + scale[rng.integers(0, k, 300)] * rng.normal(size=(300, d))
    points = np.concatenate([near, rng.normal(0.0, 3.0, (300, d))]).astype("float32").reshape(3, 200, d)
    expected = exact_log_density(points, logits.astype(np.float64), loc, scale)
    fast = mixture(DiagonalGaussianMixture, logits, loc, scale).log_prob(points)
    assert fast.shape == (3, 200) and fast.dtype == tf.float32
    # float32 output: relative rounding of the result only (values reach ~1e5 nats far from every component).
    np.testing.assert_allclose(fast.numpy(), expected, rtol=2e-7, atol=1e-4)
    # The naive float32 expansion misses by far more on the same points: the reason for float64.
    precision = 1.0 / scale.astype(np.float32) ** 2
    flat = points.reshape(-1, d)
    naive = (np.square(flat) @ (-0.5 * precision).T + flat @ (loc * precision).T
             - 0.5 * (loc * loc * precision).sum(-1) - np.log(scale).sum(-1) - 0.5 * d * np.log(2 * np.pi)
             + (logits - logsumexp(logits))).astype(np.float32)
    naive = logsumexp(naive, axis=-1).reshape(3, 200)
    assert np.abs(naive - expected)[:, :100].max() > 10 * np.abs(fast.numpy() - expected)[:, :100].max()


def test_gradients_equal_tfps_mixture():
    rng = np.random.default_rng(1)
    logits = tf.Variable(rng.normal(size=7).astype("float32"))
    loc = tf.Variable(rng.normal(size=(7, 5)).astype("float32"))
    scale = tf.Variable(np.exp(rng.normal(-1.0, 0.5, (7, 5))).astype("float32"))
    points = tf.constant(rng.normal(size=(11, 5)).astype("float32"))
    grads = []
    for cls in (DiagonalGaussianMixture, tfd.MixtureSameFamily):
        with tf.GradientTape() as tape:
            tape.watch(points)
            total = tf.reduce_sum(mixture(cls, logits, loc, scale).log_prob(points))
        grads.append(tape.gradient(total, [logits, loc, scale, points]))
    for fast, reference in zip(*grads):
        np.testing.assert_allclose(fast.numpy(), reference.numpy(), rtol=1e-4, atol=1e-5)


def test_other_shapes_take_tfps_route_and_sampling_is_tfps():
    rng = np.random.default_rng(2)
    # A batch of mixtures (batch shape [2]) is outside the product route: TFP's density, same numbers.
    logits = rng.normal(size=(2, 3)).astype("float32")
    loc, scale = rng.normal(size=(2, 3, 4)).astype("float32"), np.full((2, 3, 4), 0.7, "float32")
    points = rng.normal(size=(5, 2, 4)).astype("float32")
    batched = mixture(DiagonalGaussianMixture, logits, loc, scale)
    assert batched._diagonal_parameters() is None
    np.testing.assert_allclose(batched.log_prob(points), mixture(tfd.MixtureSameFamily, logits, loc, scale)
                               .log_prob(points), rtol=1e-6)
    single = mixture(DiagonalGaussianMixture, logits[0], loc[0], scale[0])
    reference = mixture(tfd.MixtureSameFamily, logits[0], loc[0], scale[0])
    seed = tf.constant([3, 4])
    np.testing.assert_array_equal(single.sample(6, seed=seed), reference.sample(6, seed=seed))
