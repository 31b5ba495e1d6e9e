"""Other latent geometries: the hyperspherical S-VAE, the Gumbel-Softmax categorical VAE and the IAF-VAE.

Each is checked on the property that defines it, and on what its registry entry reports; the entries pass
the shared harness in test_conformance.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from harness import batch, evaluate_entry

from zoo.models.gumbel_vae import GumbelSoftmaxVAE
from zoo.models.iaf_vae import IAFVAE
from zoo.models.svae import HypersphericalVAE
from zoo.objectives import compute_terms
from zoo.objectives.gumbel_softmax import GumbelSoftmaxELBO, relaxed_codes, temperature_schedule
from zoo.objectives.hyperspherical import vmf_rejection_log_ratio
from zoo.registry import load_registry
from zoo.run_spec import resolve
from zoo.von_mises_fisher import BatchedVonMisesFisher

tfd = tfp.distributions
SEED = tf.constant([5, 9])

# Small networks keep each evaluation to seconds on two cores.
TEST_OVERRIDES = {"svae": {"hidden_units": [64]}, "gumbel_vae": {"hidden_units": [64]},
                  "iaf_vae": {"hidden_units": [64], "flow_hidden_units": [32]}}


def test_entries_are_described():
    registry = load_registry()
    for name in TEST_OVERRIDES:
        assert len(registry.get(name).description) <= 100, name


@pytest.mark.parametrize("name", list(TEST_OVERRIDES))
def test_entry_reports_a_positive_rate_and_no_kl_per_dimension(name):
    metrics = evaluate_entry(resolve(load_registry().get(name), {"model": TEST_OVERRIDES[name]}))
    assert metrics["kl_per_dim"] is None  # no posterior of these factorises over the code's numbers
    assert metrics["rate"] > 0
    if name == "gumbel_vae":
        assert metrics["rate"] <= 30 * math.log(10)  # a KL to the uniform categorical is at most N log C
        assert metrics["objective"]["temperature"] == pytest.approx(0.5)  # evaluated at the end of the schedule
        assert np.isfinite(metrics["objective"]["relaxed_distortion"])


# ------------------------------------------------------------------------------------------ S-VAE


def test_vmf_rate_is_the_closed_form_kl_which_monte_carlo_confirms_and_codes_are_unit_vectors():
    images, labels = batch(4)
    model = HypersphericalVAE({"latent_dim": 5, "hidden_units": (32,)})
    posterior, prior = model.posterior(images), model.prior()
    assert isinstance(prior, tfd.SphericalUniform) and np.all(posterior.concentration.numpy() >= 1.0)
    terms = compute_terms(model, images, labels, seed=SEED, step=0)
    np.testing.assert_allclose(terms["rate"], tfd.kl_divergence(posterior, prior), rtol=1e-6)  # analytic, not MC
    # The correction of the gradient adds nothing to the loss's value.
    np.testing.assert_allclose(float(terms["loss"]), np.mean(terms["distortion"] + terms["rate"]), rtol=1e-6)
    # Concentrations from the model's and up to 1000: KL(q ‖ p) against the mean of log q − log p over n codes.
    for scale in (1.0, 10.0, 100.0, 1000.0):
        q = tfd.VonMisesFisher(posterior.mean_direction, posterior.concentration * scale)
        codes = q.sample(20000, seed=SEED)
        np.testing.assert_allclose(tf.norm(codes, axis=-1), 1.0, atol=1e-5)
        log_ratio = (q.log_prob(codes) - prior.log_prob(codes)).numpy().astype(np.float64)
        estimate, error = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(log_ratio))
        kl = tfd.kl_divergence(q, prior).numpy()
        # 4 standard errors (a false alarm with probability 6e-5 per comparison), plus float32 rounding.
        assert np.all(np.abs(kl - estimate) < 4 * error + 1e-4 * (1 + kl)), (scale, kl, estimate, error)
        assert np.all(kl > 0)


@pytest.mark.parametrize("sampler", [tfd.VonMisesFisher, BatchedVonMisesFisher], ids=["tfp", "batched"])
def test_rejection_correction_makes_the_concentration_gradient_unbiased(sampler):
    # d/dκ E_q[μᵀz] = A'(κ) with A(κ) = I_{m/2}(κ) / I_{m/2−1}(κ) and A' = 1 − A² − (m − 1) A / κ.
    m, n = 5, 100_000
    for kappa_value in (2.0, 10.0):
        mean_direction = tf.one_hot(tf.zeros([n], tf.int32), m)
        kappa = tf.fill([n], kappa_value)  # one copy per code: the gradient is per code
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(kappa)
            codes = sampler(mean_direction, kappa).sample(seed=SEED)
            f = codes[:, 0]
            log_ratio = vmf_rejection_log_ratio(mean_direction, kappa, codes)
            corrected = f + tf.stop_gradient(f) * (log_ratio - tf.stop_gradient(log_ratio))
            f_total, corrected_total = tf.reduce_sum(f), tf.reduce_sum(corrected)
        reparameterised = tape.gradient(f_total, kappa).numpy().astype(np.float64)
        full = tape.gradient(corrected_total, kappa).numpy().astype(np.float64)
        a = float(tfp.math.bessel_iv_ratio(m / 2, kappa_value))
        exact = 1 - a**2 - (m - 1) * a / kappa_value
        error = full.std() / math.sqrt(n)
        assert abs(full.mean() - exact) < 4 * error, (kappa_value, full.mean(), exact, error)
        # Without g_cor the estimate is off by many standard errors (TFP calls the sampler NOT_REPARAMETERIZED).
        assert abs(reparameterised.mean() - exact) > 4 * reparameterised.std() / math.sqrt(n)
    assert tfd.VonMisesFisher(tf.one_hot([0], 3), [1.0]).reparameterization_type == tfd.FULLY_REPARAMETERIZED


def test_vmf_gradients_reach_direction_and_concentration():
    images, labels = batch(8)
    model = HypersphericalVAE({"latent_dim": 10, "hidden_units": (32,)})
    with tf.GradientTape() as tape:
        loss = compute_terms(model, images, labels, seed=SEED, step=0, training=True)["loss"]
    kernel = model.posterior_head.kernel
    gradient = tape.gradient(loss, kernel).numpy()
    assert np.all(np.abs(gradient[:, :10]).max(0) > 0)  # every direction unit
    assert np.abs(gradient[:, 10]).max() > 0  # the concentration unit


# --------------------------------------------------------------------------------- Gumbel-Softmax

GUMBEL_SMALL = {"num_variables": 4, "num_categories": 5, "latent_dim": 20, "hidden_units": (32,)}


def test_temperature_follows_the_annealing_schedule():
    # τ₀ = 1, τ_min = 0.5, r = 1e-4, held for 1000 steps: τ = max(0.5, exp(−1e-4 · 1000 ⌊t / 1000⌋)).
    expected = {0: 1.0, 999: 1.0, 1000: math.exp(-0.1), 5500: math.exp(-0.5), 6999: math.exp(-0.6), 7000: 0.5,
                10**6: 0.5}
    for step, tau in expected.items():
        assert float(temperature_schedule(step, 1.0, 0.5, 1e-4, 1000)) == pytest.approx(tau, rel=1e-6), step
    assert float(temperature_schedule(300, 2.0, 0.1, 1e-3)) == pytest.approx(2 * math.exp(-0.3), rel=1e-6)
    model = GumbelSoftmaxVAE(GUMBEL_SMALL)
    images, labels = batch(4)
    assert float(compute_terms(model, images, labels, seed=SEED, step=5500)["temperature"]) == pytest.approx(
        math.exp(-0.5), rel=1e-6)
    assert float(compute_terms(model, images, labels, seed=SEED)["temperature"]) == 0.5  # after training


def test_gumbel_schedule_ends_at_the_first_step_at_the_temperature_floor():
    # The best checkpoint is chosen only after this step, so it must be the first step where τ = τ_min.
    for initial, minimum, rate, interval in [(1.0, 0.5, 1e-4, 1000), (2.0, 0.1, 1e-3, 1), (1.0, 0.3, 3e-5, 500)]:
        objective = GumbelSoftmaxELBO(temperature_initial=initial, temperature_min=minimum, anneal_rate=rate,
                                      anneal_interval=interval)
        end = objective.schedule_steps
        assert float(temperature_schedule(end, initial, minimum, rate, interval)) == pytest.approx(minimum)
        assert float(temperature_schedule(end - 1, initial, minimum, rate, interval)) > minimum * (1 + 1e-6)
    assert GumbelSoftmaxELBO(anneal_rate=1e-4, anneal_interval=1000).schedule_steps == 7000
    assert GumbelSoftmaxELBO(temperature_initial=0.5, temperature_min=0.5).schedule_steps == 0


def test_rate_is_the_categorical_kl_computed_by_hand_and_the_loss_decodes_relaxed_codes():
    images, labels = batch(8)
    model = GumbelSoftmaxVAE(GUMBEL_SMALL)
    logits = model.posterior_logits(images).numpy().astype(np.float64)
    q = np.exp(logits - logits.max(-1, keepdims=True))
    q /= q.sum(-1, keepdims=True)
    by_hand = (q * np.log(q * 5)).sum(axis=(1, 2))
    terms = compute_terms(model, images, labels, seed=SEED, step=2000)
    np.testing.assert_allclose(terms["rate"], by_hand, rtol=1e-5)
    assert np.all(by_hand > 0) and np.all(by_hand < 4 * math.log(5))
    # loss = mean(−log p(x | relaxed code at τ) + KL), with the relaxed code decoded by hand.
    tau = math.exp(-0.2)
    codes = relaxed_codes(tf.constant(logits, tf.float32), tau, SEED)
    relaxed = -model.likelihood(codes).log_prob(images).numpy()
    np.testing.assert_allclose(terms["relaxed_distortion"], relaxed, rtol=1e-5)
    assert float(terms["loss"]) == pytest.approx(np.mean(relaxed + by_hand), rel=1e-5)
    # The ELBO terms are the discrete model's: its posterior samples one-hot blocks.
    sample = model.posterior(images).sample(seed=SEED).numpy().reshape(8, 4, 5)
    assert set(np.unique(sample)) == {0.0, 1.0} and np.all(sample.sum(-1) == 1)


def test_codes_become_one_hot_samples_of_the_categorical_at_low_temperature():
    logits = np.array([2.0, 0.0, -1.0, 0.5, -2.0], np.float32)
    n = 40_000
    tiled = tf.constant(np.tile(logits, (n, 1, 1)))
    cold = relaxed_codes(tiled, 0.01, SEED).numpy()
    warm = relaxed_codes(tiled, 1.0, SEED).numpy()
    assert np.allclose(cold.sum(-1), 1.0, atol=1e-5)
    assert np.mean(cold.max(-1) > 0.99) > 0.95 and cold.max(-1).mean() > 0.98
    assert warm.max(-1).mean() < 0.9  # τ = 1 codes are far from one-hot
    # Gumbel-max: the winning class is distributed as softmax(logits).
    probabilities = np.exp(logits) / np.exp(logits).sum()
    frequencies = np.bincount(cold.argmax(-1), minlength=5) / n
    np.testing.assert_allclose(frequencies, probabilities, atol=4 * math.sqrt(0.25 / n))
    # Straight through: exactly one-hot codes, the relaxed codes' gradient.
    logits_tensor = tf.constant(np.tile(logits, (3, 1, 1)))
    with tf.GradientTape() as tape:
        tape.watch(logits_tensor)
        hard = relaxed_codes(logits_tensor, 1.0, SEED, straight_through=True)
        objective = tf.reduce_sum(hard * tf.range(5, dtype=tf.float32))
    assert set(np.unique(hard.numpy())) == {0.0, 1.0}
    assert float(tf.reduce_max(tf.abs(tape.gradient(objective, logits_tensor)))) > 0


# ---------------------------------------------------------------------------------------------- IAF

IAF_SMALL = {"latent_dim": 3, "hidden_units": (16,), "flow_hidden_units": (16, 16), "context_dim": 4}


def _iaf_by_hand(model, images, z0):
    """z_T and Σ_t Σ_i log σ_{t,i} by Algorithm 1 of Kingma et al., from the model's own networks."""
    head = model.posterior_head(model.encoder_net(images))
    d, c = model.config.latent_dim, model.config.context_dim
    loc, raw_scale, context = tf.split(head, [d, d, c], axis=-1)
    z, log_det = z0, tf.zeros(z0.shape[:1])
    for t, network in enumerate(model.flow_networks):
        if t:
            z = z[:, ::-1]
        m, s = network(z, context)
        gate = tf.sigmoid(s + model.config.gate_bias)
        z = gate * z + (1 - gate) * m
        log_det += tf.reduce_sum(tf.math.log(gate), axis=-1)
    return z, log_det, loc, tf.nn.softplus(raw_scale) + 1e-4


def test_iaf_log_determinant_matches_the_numerical_jacobian():
    images, _ = batch(4)
    z0 = tf.constant(np.random.default_rng(1).standard_normal((4, 3)), tf.float32)
    for steps in (1, 2):
        model = IAFVAE({**IAF_SMALL, "flow_steps": steps})
        flow = model.posterior(images).bijector
        with tf.GradientTape() as tape:
            tape.watch(z0)
            z = flow.forward(z0)
        jacobian = tape.batch_jacobian(z, z0).numpy().astype(np.float64)
        sign, log_abs_det = np.linalg.slogdet(jacobian)
        np.testing.assert_allclose(flow.forward_log_det_jacobian(z0, event_ndims=1), log_abs_det, atol=1e-5)
        assert np.all(log_abs_det < 0)  # σ < 1: every step contracts
        if steps == 1:  # autoregressive: z_i depends on z_{≤i} only, with ∂z_i/∂z_i = σ_i ∈ (0, 1)
            np.testing.assert_array_equal(np.triu(jacobian, 1), 0.0)
            assert np.all((np.diagonal(jacobian, axis1=1, axis2=2) > 0) & (np.diagonal(jacobian, axis1=1, axis2=2) < 1))
        else:  # the reversal of 3 numbers between the steps is one transposition
            np.testing.assert_array_equal(sign, -1.0)
        z_hand, log_det_hand, _, _ = _iaf_by_hand(model, images, z0)
        np.testing.assert_allclose(z, z_hand, atol=1e-6)
        np.testing.assert_allclose(log_abs_det, log_det_hand, atol=1e-5)


def test_iaf_log_prob_is_the_change_of_variables_formula():
    images, labels = batch(4)
    model = IAFVAE({**IAF_SMALL, "flow_steps": 2})
    z0 = tf.constant(np.random.default_rng(2).standard_normal((4, 3)), tf.float32)
    z, log_det, loc, scale = _iaf_by_hand(model, images, z0)
    base = -0.5 * (((z0 - loc) / scale) ** 2 + math.log(2 * math.pi)) - tf.math.log(scale)
    by_hand = tf.reduce_sum(base, -1) - log_det  # log q(z_T) = log N(z₀; μ₀, σ₀²) − Σ log σ
    posterior = model.posterior(images)
    # z from outside the distribution: TFP inverts the flow autoregressively, no cached sample.
    np.testing.assert_allclose(posterior.log_prob(z), by_hand, atol=1e-4)
    np.testing.assert_allclose(posterior.bijector.inverse(z), z0, atol=1e-4)
    # The rate of a sampled code is log q − log p at it.
    terms = compute_terms(model, images, labels, seed=SEED, step=0)
    codes = posterior.sample(seed=SEED)
    expected_rate = posterior.log_prob(codes) - model.prior().log_prob(codes)
    np.testing.assert_allclose(terms["rate"], expected_rate, rtol=1e-5, atol=1e-5)
