"""Batch-level objectives of the family (DIP-VAE-I/II, WAE-MMD, InfoVAE, annealed β-VAE): each estimator means
what it says and each reduces to the VAE where its paper says it does. Their registry entries pass the shared
harness in test_conformance.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from harness import batch, twin

from zoo.models import BetaVAE
from zoo.models.dip_vae import DIPVAE
from zoo.models.info_vae import InfoVAE
from zoo.models.wae_mmd import WAEMMD
from zoo.objectives import compute_terms
from zoo.objectives.dip import dip_covariance, dip_penalty
from zoo.objectives.wae_mmd import PYTHAE_SCALES, imq_kernel, mmd
from zoo.registry import load_registry
from zoo.run_spec import resolve

tfd = tfp.distributions
SMALL = {"latent_dim": 4, "hidden_units": (32,)}
SEED = tf.constant([5, 9])


def numpy_dip_penalty(means, variances, kind, lambda_od, lambda_d):
    covariance = np.cov(means, rowvar=False, bias=True)  # the batch's 1/M covariance, as disentanglement_lib
    if kind == "ii":
        covariance = covariance + np.diag(variances.mean(axis=0))
    off_diagonal = covariance - np.diag(np.diag(covariance))
    return lambda_od * np.sum(off_diagonal ** 2) + lambda_d * np.sum((np.diag(covariance) - 1.0) ** 2)


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_penalty_is_the_covariance_penalty_of_numpy(kind):
    rng = np.random.default_rng(1)
    # Correlated means and unequal scales, so every entry of the penalty matters.
    means = (rng.standard_normal((200, 3)) @ np.array([[1.0, 0.6, 0.0], [0.0, 0.8, 0.3], [0.0, 0.0, 0.4]]))
    scales = rng.uniform(0.2, 1.5, (200, 3))
    posterior = tfd.Independent(tfd.Normal(means.astype("float32"), scales.astype("float32")), 1)
    expected = numpy_dip_penalty(means, scales ** 2, kind, lambda_od=3.0, lambda_d=7.0)
    got = float(dip_penalty(dip_covariance(posterior, kind), 3.0, 7.0))
    assert got == pytest.approx(expected, rel=1e-5)

    # Through the model: the loss is the ELBO loss plus that penalty of its own posterior on the batch.
    images, labels = batch()
    model = DIPVAE({**SMALL, "dip_type": kind, "lambda_od": 3.0, "lambda_d": 7.0})
    posterior = model.posterior(images, labels)
    expected = numpy_dip_penalty(posterior.mean().numpy().astype("float64"),
                                 posterior.variance().numpy().astype("float64"), kind, 3.0, 7.0)
    terms = compute_terms(model, images, labels, seed=SEED)
    assert float(terms["dip_penalty"]) == pytest.approx(expected, rel=1e-4)
    elbo_loss = -float(tf.reduce_mean(terms["elbo"]))
    assert float(terms["loss"]) == pytest.approx(elbo_loss + expected, rel=1e-5)


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_dip_vae_with_zero_weights_is_the_vae(kind):
    images, labels = batch()
    plain, variant = twin(DIPVAE, SMALL, dip_type=kind, lambda_od=0.0, lambda_d=0.0)
    a = compute_terms(plain, images, labels, seed=SEED, step=10)
    b = compute_terms(variant, images, labels, seed=SEED, step=10)
    assert float(b["loss"]) == float(a["loss"])
    np.testing.assert_array_equal(b["elbo"], a["elbo"])
    assert float(b["dip_penalty"]) == 0.0


def test_mmd_is_near_zero_for_prior_codes_and_positive_for_shifted_ones():
    rng = np.random.default_rng(2)
    prior = rng.standard_normal((1000, 8)).astype("float32")
    same = rng.standard_normal((1000, 8)).astype("float32")
    assert abs(float(mmd(same, prior))) < 0.01
    assert float(mmd(same + 0.5, prior)) > 0.1
    assert float(mmd(0.3 * same, prior)) > 0.1  # a collapsed aggregate posterior too


def test_mmd_is_the_u_statistic_of_a_numpy_double_loop():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)) + 0.3  # n ≠ m
    bandwidth, dims = 0.7, 3

    def k(a, b):
        return sum(c / (c + np.sum((a - b) ** 2)) for c in (s * 2 * dims * bandwidth ** 2 for s in PYTHAE_SCALES))

    n, m = len(x), len(y)
    within_x = sum(k(x[i], x[j]) for i, j in itertools.product(range(n), range(n)) if i != j) / (n * (n - 1))
    within_y = sum(k(y[i], y[j]) for i, j in itertools.product(range(m), range(m)) if i != j) / (m * (m - 1))
    cross = sum(k(x[i], y[j]) for i, j in itertools.product(range(n), range(m))) / (n * m)
    got = float(mmd(tf.constant(x, tf.float32), tf.constant(y, tf.float32), bandwidth, PYTHAE_SCALES))
    assert got == pytest.approx(within_x + within_y - 2 * cross, rel=1e-5, abs=1e-6)
    kernel = imq_kernel(tf.constant(x, tf.float32), tf.constant(y, tf.float32), bandwidth).numpy()
    np.testing.assert_allclose(kernel, [[k(a, b) for b in y] for a in x], rtol=1e-5)


def test_wae_loss_is_distortion_plus_weighted_mmd_and_reports_the_elbo():
    images, labels = batch()
    model = WAEMMD({**SMALL, "mmd_weight": 10.0})
    terms = compute_terms(model, images, labels, seed=SEED)
    expected = float(tf.reduce_mean(terms["distortion"])) + 10.0 * float(terms["mmd"])
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(terms["elbo"], -(terms["distortion"] + terms["rate"]), rtol=1e-6)
    assert float(tf.reduce_min(terms["rate"])) > 0.0  # the Gaussian encoder's KL, reported though not trained on
    # The prior samples come from the batch's seed: the same seed, the same estimate.
    assert float(compute_terms(model, images, labels, seed=SEED)["mmd"]) == float(terms["mmd"])


def test_info_vae_with_alpha_zero_and_lambda_one_is_the_vae():
    images, labels = batch()
    plain, variant = twin(InfoVAE, SMALL, alpha=0.0, lambda_mmd=1.0)
    a = compute_terms(plain, images, labels, seed=SEED, step=10)
    b = compute_terms(variant, images, labels, seed=SEED, step=10)
    assert float(b["loss"]) == float(a["loss"])
    assert float(b["mmd"]) != 0.0  # the term is there, weighted by α + λ − 1 = 0
    # Elsewhere: distortion + (1 − α) rate + (α + λ − 1) MMD², the MMD² of the same seed.
    other = InfoVAE({**SMALL, "alpha": 0.5, "lambda_mmd": 2.0})
    other.set_weights(variant.get_weights())
    c = compute_terms(other, images, labels, seed=SEED, step=10)
    assert float(c["mmd"]) == float(b["mmd"])
    expected = float(tf.reduce_mean(c["distortion"])) + 0.5 * float(tf.reduce_mean(c["rate"])) + 1.5 * float(c["mmd"])
    assert float(c["loss"]) == pytest.approx(expected, rel=1e-6)


def test_annealed_vae_is_a_preset_of_beta_vae():
    spec = resolve(load_registry().get("annealed_vae"))
    assert spec.model_class() is BetaVAE
    config = spec.model_config(spec.data.expected_image_shape, spec.data.expected_num_classes)
    objective = spec.model_class()(config).objective
    assert (objective.beta, objective.capacity_max, objective.capacity_steps) == (30.0, 25.0, 10000)
    assert float(objective.capacity(tf.constant(5000.0))) == pytest.approx(12.5)

