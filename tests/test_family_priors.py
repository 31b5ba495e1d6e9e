"""Learned priors: the VampPrior, a learned Gaussian mixture and the conditional prior p(z|y) of a CVAE.

Each prior is checked against a hand computation of what its paper defines it to be; their registry
entries pass the shared harness in test_conformance.py.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from harness import batch, evaluate_entry
from scipy.special import logsumexp, softmax

from zoo.models.cvae_prior import ConditionalPriorVAE
from zoo.models.mog_vae import MixturePriorVAE
from zoo.models.vamp import VampPriorVAE
from zoo.objectives import compute_terms
from zoo.registry import load_registry
from zoo.run_spec import resolve
from zoo.training.training_model import TrainingModel

tfd = tfp.distributions
SMALL = dict(latent_dim=4, hidden_units=(32,))
SEED = tf.constant([5, 9])

# Small networks keep each evaluation to seconds; test_conformance.py runs the entries at their own sizes.
TEST_SIZES = {"vamp": {"num_pseudo_inputs": 20}, "mog_vae": {"prior_components": 5},
              "cvae_prior": {"prior_hidden_units": [16]}}


def log_normal_diag(z, loc, scale):
    """Σ_d log N(z_d; loc_d, scale_d²), numpy, broadcasting over leading axes."""
    return np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale) - 0.5 * math.log(2 * math.pi), axis=-1)


def test_entries_are_described_and_tunable():
    from zoo.tuning.space import parse_search_space

    registry = load_registry()
    for name in TEST_SIZES:
        entry = registry.get(name)
        assert entry.paper and 0 < len(entry.description) <= 100, (name, len(entry.description))
        # Every choice and both ends of every range make a valid config.
        params = {param.name: param for param in parse_search_space(entry)}
        assert set(params) == set(entry.search_space)
    hidden = registry.get("cvae_prior").search_space["prior_hidden_units"]["values"]
    assert [params["prior_hidden_units"].decode(v) for v in params["prior_hidden_units"].values] == hidden


@pytest.mark.parametrize("name", list(TEST_SIZES))
def test_entry_reports_the_elbo_terms_and_kl_per_dimension_only_in_closed_form(name):
    spec = resolve(load_registry().get(name), {"model": {**SMALL, **TEST_SIZES[name]}})
    metrics = evaluate_entry(spec)
    assert metrics["elbo"] == pytest.approx(-(metrics["distortion"] + metrics["rate"]), rel=1e-5)
    if name == "cvae_prior":
        # Factorised q and p(z|y): the per-dimension KLs add up to the analytic rate.
        assert sum(metrics["kl_per_dim"]) == pytest.approx(metrics["rate"], rel=1e-4)
    else:
        assert metrics["kl_per_dim"] is None  # no closed-form KL to a mixture, per dimension or otherwise


# ------------------------------------------------------------------ VampPrior


def test_vamp_prior_is_the_mean_of_the_posteriors_at_the_pseudo_inputs():
    keras.utils.set_random_seed(1)
    model = VampPriorVAE({**SMALL, "num_pseudo_inputs": 20})
    pseudo = model.pseudo_inputs().numpy()
    assert pseudo.shape == (20, 28, 28, 1)
    # The authors' initialisation: sigmoid of N(−0.05, 0.01²).
    assert abs(pseudo.mean() - 1 / (1 + math.exp(0.05))) < 1e-3 and 0.001 < pseudo.std() < 0.005
    prior = model.prior()
    assert isinstance(prior, tfd.MixtureSameFamily) and tuple(prior.event_shape) == (4,)
    images, _ = batch(3)
    codes = np.concatenate([model.posterior(images).sample(seed=SEED).numpy(),
                            np.random.default_rng(2).normal(0.0, 2.0, (3, 4)).astype("float32")])
    # q(z|u_k) one pseudo-input at a time, then log (1/K) Σ_k by hand.
    per_component = []
    for k in range(20):
        q = model.posterior(pseudo[k:k + 1])
        per_component.append(log_normal_diag(codes, q.mean().numpy()[0], q.stddev().numpy()[0]))
    expected = logsumexp(np.stack(per_component), axis=0) - math.log(20)
    np.testing.assert_allclose(prior.log_prob(codes).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_vamp_prior_at_one_pseudo_input_equal_to_the_image_costs_no_rate():
    model = VampPriorVAE({**SMALL, "num_pseudo_inputs": 1})
    grey = np.random.default_rng(3).uniform(0.05, 0.95, (1, 28, 28, 1)).astype("float32")
    model.pseudo_input_logits.assign(np.log(grey / (1 - grey)))
    posterior = model.posterior(grey)
    codes = posterior.sample(7, seed=SEED)
    # p(z) = q(z|u_1) = q(z|x): log q − log p vanishes at every code.
    np.testing.assert_allclose(model.rate(posterior, codes).numpy(), 0.0, atol=1e-4)


def test_vamp_rate_is_monte_carlo_and_its_gradient_reaches_pseudo_inputs_and_encoder():
    model = VampPriorVAE({**SMALL, "num_pseudo_inputs": 20})
    images, labels = batch(16)
    terms = compute_terms(model, images, labels, seed=SEED)
    posterior = model.posterior(images)
    codes = posterior.sample(seed=SEED)
    np.testing.assert_allclose(terms["rate"], posterior.log_prob(codes) - model.prior().log_prob(codes),
                               rtol=1e-5, atol=1e-4)
    with tf.GradientTape() as tape:
        log_prior = tf.reduce_sum(model.prior().log_prob(tf.stop_gradient(codes)))
    variables = [model.pseudo_input_logits, *model.encoder_net.trainable_variables,
                 *model.posterior_head.trainable_variables]
    gradients = tape.gradient(log_prior, variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)


def test_vamp_prior_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = VampPriorVAE({**SMALL, "num_pseudo_inputs": 8})
        log_prior = model.prior().log_prob(tf.zeros([2, 4]))
        assert log_prior.dtype == tf.float32 and np.all(np.isfinite(log_prior.numpy()))
    finally:
        keras.mixed_precision.set_global_policy("float32")


# ------------------------------------------------------- learned mixture prior


def test_mixture_prior_log_density_and_weight_gradient_match_hand_computations():
    model = MixturePriorVAE({**SMALL, "prior_components": 3})
    rng = np.random.default_rng(4)
    logits = rng.normal(size=3).astype("float32")
    locs = rng.normal(size=(3, 4)).astype("float32")
    raw = rng.normal(size=(3, 4)).astype("float32")
    model.prior_logits.assign(logits)
    model.prior_locs.assign(locs)
    model.prior_raw_scales.assign(raw)
    scales = np.log1p(np.exp(raw)) + 1e-3
    codes = rng.normal(0.0, 1.5, (5, 4)).astype("float32")
    joint = np.log(softmax(logits))[None] + log_normal_diag(codes[:, None], locs[None], scales[None])  # [5, K]
    expected = logsumexp(joint, axis=1)
    with tf.GradientTape() as tape:
        log_prior = model.prior().log_prob(codes)
        total = tf.reduce_sum(log_prior)
    np.testing.assert_allclose(log_prior.numpy(), expected, rtol=1e-5)
    # d/dlogit_k Σ_i log p(z_i) = Σ_i (responsibility_ik − π_k).
    responsibilities = softmax(joint, axis=1)
    expected_gradient = (responsibilities - softmax(logits)[None]).sum(axis=0)
    np.testing.assert_allclose(tape.gradient(total, model.prior_logits).numpy(), expected_gradient, atol=1e-5)


def test_one_unit_component_is_the_standard_normal_prior():
    model = MixturePriorVAE({**SMALL, "prior_components": 1})
    model.prior_locs.assign(tf.zeros([1, 4]))
    codes = np.random.default_rng(5).normal(size=(6, 4)).astype("float32")
    standard = tfd.MultivariateNormalDiag(tf.zeros(4), tf.ones(4)).log_prob(codes)
    np.testing.assert_allclose(model.prior().log_prob(codes), standard, rtol=1e-5)


def test_mixture_weights_means_and_scales_receive_gradients_and_move_in_training():
    model = MixturePriorVAE({**SMALL, "prior_components": 5})
    prior_variables = [model.prior_logits, model.prior_locs, model.prior_raw_scales]
    images, labels = batch(32)
    with tf.GradientTape() as tape:
        loss = compute_terms(model, images, labels, seed=SEED, step=0)["loss"]
    gradients = tape.gradient(loss, prior_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)
    before = [v.numpy().copy() for v in prior_variables]
    trained = TrainingModel(model, dataset_size=32)
    trained.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=10, epochs=1, verbose=0,
                shuffle=False)
    for variable, old in zip(prior_variables, before):
        assert float(np.max(np.abs(variable.numpy() - old))) > 1e-4, variable.path
    weights = softmax(model.prior_logits.numpy())
    assert weights.max() - weights.min() > 1e-4  # no longer the uniform initial weights


# ---------------------------------------------------- conditional prior p(z|y)


def test_conditional_prior_is_the_prior_network_of_the_label_and_differs_per_label():
    model = ConditionalPriorVAE({**SMALL, "prior_hidden_units": (16,)})
    labels = np.arange(10, dtype="int32")
    prior = model.prior(labels)
    assert tuple(prior.batch_shape) == (10,) and tuple(prior.event_shape) == (4,)
    (w0, b0), (w1, b1) = (layer.get_weights() for layer in model.prior_net)
    hidden = np.maximum(np.eye(10) @ w0 + b0, 0.0)
    loc, raw = np.split(hidden @ w1 + b1, 2, axis=-1)
    scale = np.log1p(np.exp(raw + math.log(math.expm1(1.0 - 1e-4)))) + 1e-4
    np.testing.assert_allclose(prior.mean().numpy(), loc, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prior.stddev().numpy(), scale, rtol=1e-5)
    # Every pair of labels has its own Gaussian ...
    gaps = np.abs(loc[:, None] - loc[None]).max(-1) + np.abs(scale[:, None] - scale[None]).max(-1)
    assert gaps[~np.eye(10, dtype=bool)].min() > 1e-3
    # ... the same label always the same one ...
    np.testing.assert_allclose(model.prior(np.array([3, 3])).mean().numpy(), loc[[3, 3]], rtol=1e-6)
    # ... and a class's samples decode codes drawn from its own prior.
    wanted = [1, 1, 7, 7]
    codes = model.prior(tf.constant(wanted)).sample(seed=tf.constant([3, 0]))
    np.testing.assert_allclose(model.sample(4, labels=wanted, seed=3), model.decode(codes, tf.constant(wanted)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="needs class labels"):
        model.prior(None)


def test_conditional_prior_rate_is_the_analytic_kl_and_matches_monte_carlo():
    model = ConditionalPriorVAE({**SMALL, "prior_hidden_units": (16,)})
    # Spread the class priors, so the KL has something to measure.
    head = model.prior_net[-1]
    head.bias.assign(np.random.default_rng(6).normal(0.0, 1.0, head.bias.shape).astype("float32"))
    images, labels = batch(16)
    terms = compute_terms(model, images, labels, seed=SEED)
    posterior, prior = model.posterior(images, labels), model.prior(labels)
    mq, sq = posterior.mean().numpy(), posterior.stddev().numpy()
    mp, sp = prior.mean().numpy(), prior.stddev().numpy()
    closed_form = np.sum(np.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5, axis=-1)
    np.testing.assert_allclose(terms["rate"], closed_form, rtol=1e-5)
    assert closed_form.min() > 0.5
    # Monte Carlo: mean of log q − log p over 20000 codes per example, within 4 standard errors.
    codes = posterior.sample(20000, seed=SEED)
    log_ratio = (posterior.log_prob(codes) - prior.log_prob(codes)).numpy()
    estimate, error = log_ratio.mean(axis=0), log_ratio.std(axis=0) / math.sqrt(20000)
    assert np.all(np.abs(estimate - closed_form) < 4 * error + 1e-3), (estimate, closed_form, error)
