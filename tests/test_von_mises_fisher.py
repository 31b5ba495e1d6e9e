"""zoo.von_mises_fisher.BatchedVonMisesFisher: the same law as TFP's vMF sampler (w = μᵀz against the closed-form
mean A_m(κ), against TFP's own draws, and one code's second moment), seeded draws that repeat, and a training step
XLA compiles, gradient included (TFP's loop does not compile)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.models.svae import HypersphericalVAE
from zoo.objectives import compute_terms
from zoo.training.keras_private import layers_of
from zoo.von_mises_fisher import BatchedVonMisesFisher, accepted_epsilon

tfd = tfp.distributions
SEED = tf.constant([3, 11])
N = 40_000


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.sort(np.concatenate([a, b]))
    return float(np.abs(np.searchsorted(np.sort(a), grid, side="right") / len(a)
                        - np.searchsorted(np.sort(b), grid, side="right") / len(b)).max())


@pytest.mark.parametrize("m", [2, 5, 10, 32])
@pytest.mark.parametrize("kappa", [0.3, 4.0, 40.0, 800.0])
def test_w_has_the_vmf_law(m, kappa):
    mu = tf.math.l2_normalize(tf.range(1.0, m + 1.0))
    codes = BatchedVonMisesFisher(mu, tf.constant(kappa)).sample(N, seed=SEED)
    np.testing.assert_allclose(tf.norm(codes, axis=-1), 1.0, atol=1e-5)
    w = tf.linalg.matvec(codes, mu).numpy().astype(np.float64)
    # E[μᵀz] = A_m(κ) = I_{m/2}(κ) / I_{m/2−1}(κ); 5 standard errors.
    mean = float(tfp.math.bessel_iv_ratio(m / 2.0, tf.constant(kappa, tf.float64)))
    assert abs(w.mean() - mean) < 5 * w.std() / math.sqrt(N) + 1e-6, (w.mean(), mean)
    reference = tf.linalg.matvec(tfd.VonMisesFisher(mu, tf.constant(kappa)).sample(N, seed=[7, 1]), mu).numpy()
    # Two-sample Kolmogorov–Smirnov at the 0.1 % level: c(α) √(2 / N) with c = 1.95.
    assert ks_statistic(w, reference) < 1.95 * math.sqrt(2.0 / N)
    # The part orthogonal to μ is uniform in direction: its mean vanishes.
    orthogonal = codes.numpy() - w[:, None] * mu.numpy()
    assert np.abs(orthogonal.mean(0)).max() < 5 * math.sqrt(max(1 - mean**2, 1e-6) / N) + 1e-4


def test_several_codes_with_their_own_concentrations_and_seeded_repeats():
    mu = tf.math.l2_normalize(tf.random.stateless_normal([3, 6], seed=[1, 2]), axis=-1)
    kappa = tf.constant([0.5, 20.0, 300.0])
    q = BatchedVonMisesFisher(mu, kappa)
    codes = q.sample(N, seed=SEED)
    assert codes.shape == (N, 3, 6)
    w = tf.reduce_sum(codes * mu, axis=-1).numpy().astype(np.float64)
    expected = tfp.math.bessel_iv_ratio(3.0, tf.cast(kappa, tf.float64)).numpy()
    np.testing.assert_array_less(np.abs(w.mean(0) - expected), 5 * w.std(0) / math.sqrt(N) + 1e-6)
    np.testing.assert_array_equal(q.sample(5, seed=SEED), q.sample(5, seed=SEED))
    assert not np.array_equal(q.sample(5, seed=SEED), q.sample(5, seed=[4, 4]))
    # Density, mode and KL are TFP's.
    np.testing.assert_allclose(q.log_prob(codes[:10]), tfd.VonMisesFisher(mu, kappa).log_prob(codes[:10]), rtol=1e-6)
    np.testing.assert_allclose(tfd.kl_divergence(q, tfd.SphericalUniform(6)),
                               tfd.kl_divergence(tfd.VonMisesFisher(mu, kappa), tfd.SphericalUniform(6)), rtol=1e-6)


def test_accepted_epsilon_is_beta_distributed_in_the_kappa_to_zero_limit():
    # As κ → 0 Wood's test accepts every proposal, so ε ~ Beta(a, a) with a = (m − 1)/2: mean 1/2, variance
    # 1 / (4 (2a + 1)).
    m = 9
    epsilon = accepted_epsilon(tf.constant([N]), tf.constant(1e-4), m - 1, SEED).numpy().astype(np.float64)
    a = (m - 1) / 2
    assert abs(epsilon.mean() - 0.5) < 5 * epsilon.std() / math.sqrt(N)
    assert abs(epsilon.var() - 1 / (4 * (2 * a + 1))) < 0.05 / (4 * (2 * a + 1))


def test_an_svae_step_compiles_with_xla_and_the_model_asks_for_it():
    model = HypersphericalVAE({"latent_dim": 10, "hidden_units": (32,)})
    images = tf.cast(tf.random.stateless_uniform([16, 28, 28, 1], seed=[1, 1]) > 0.5, tf.float32)
    model(images)
    assert all(layer.supports_jit for layer in layers_of(model))

    @tf.function(jit_compile=True)
    def gradient(seed):
        with tf.GradientTape() as tape:  # the model's objective: ELBO plus the rejection correction g_cor
            loss = compute_terms(model, images, None, seed=seed, step=0, training=True)["loss"]
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = gradient(SEED)
    assert np.isfinite(float(loss)) and all(g is not None and np.all(np.isfinite(g)) for g in grads)
    # TFP's sampler is what XLA refused.
    with pytest.raises(Exception):
        tf.function(jit_compile=True)(
            lambda k: tf.gradients(tf.reduce_sum(tfd.VonMisesFisher(tf.one_hot([0], 10), k).sample(seed=SEED)), k)
        )(tf.constant([2.0]))
