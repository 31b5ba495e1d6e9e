"""Each variant of the seam reduces to the VAE where its paper says it does, and its estimator means what it says."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from harness import batch, twin

from zoo.models import IWAE, VAE, VQVAE, BetaTCVAE, FactorVAE, VAEConfig
from zoo.objectives import compute_terms, permute_dims, total_correlation
from zoo.training.training_model import TrainingModel

tfd = tfp.distributions
SMALL = dict(latent_dim=4, hidden_units=(32,))
SEED = tf.constant([5, 9])


def test_beta_tc_vae_with_beta_one_is_the_vae():
    images, labels = batch()
    plain, variant = twin(BetaTCVAE, SMALL, beta=1.0)
    a = compute_terms(plain, images, labels, seed=SEED, step=10)
    b = compute_terms(variant, images, labels, seed=SEED, step=10, dataset_size=60000)
    assert float(b["loss"]) == float(a["loss"])
    assert float(b["total_correlation"]) != 0.0  # the term is there, weighted by β − 1 = 0
    beta = compute_terms(BetaTCVAE({**SMALL, "beta": 6.0}), images, labels, seed=SEED, dataset_size=60000)
    tc = float(beta["total_correlation"])
    elbo_loss = -float(tf.reduce_mean(beta["elbo"]))
    assert float(beta["loss"]) == pytest.approx(elbo_loss + 5.0 * tc, rel=1e-5)


def test_factor_vae_with_gamma_zero_is_the_vae():
    images, labels = batch()
    plain, variant = twin(FactorVAE, SMALL, gamma=0.0, discriminator_units=(16, 16))
    a = compute_terms(plain, images, labels, seed=SEED, step=3)
    b = compute_terms(variant, images, labels, seed=SEED, step=3)
    assert float(b["loss"]) == float(a["loss"])
    assert {"total_correlation", "discriminator_loss", "discriminator_accuracy"} <= set(b)


def test_iwae_with_one_sample_is_the_monte_carlo_elbo_and_the_bound_rises_with_k():
    images, labels = batch(256)
    plain, variant = twin(IWAE, SMALL, iw_train_samples=1, analytic_kl=False)
    plain_mc = VAE(VAEConfig(**SMALL, analytic_kl=False))
    plain_mc.set_weights(plain.get_weights())
    assert float(compute_terms(plain, images, labels, seed=SEED)["loss"]) != float(compute_terms(plain_mc, images, labels, seed=SEED)["loss"])
    a = compute_terms(plain_mc, images, labels, seed=SEED)
    b = compute_terms(variant, images, labels, seed=SEED)
    np.testing.assert_allclose(float(b["loss"]), float(a["loss"]), rtol=1e-6)
    np.testing.assert_allclose(b["iw_bound"], a["elbo"], rtol=1e-5)
    bounds = []
    for k in (1, 5, 50):
        model = IWAE({**SMALL, "iw_train_samples": k})
        model.set_weights(variant.get_weights())
        bounds.append(float(tf.reduce_mean(compute_terms(model, images, labels, seed=SEED)["iw_bound"])))
    assert bounds[0] < bounds[1] < bounds[2], bounds


def _aggregate(means, scale):
    posterior = tfd.Independent(tfd.Normal(loc=means, scale=scale * tf.ones_like(means)), 1)
    return posterior, posterior.sample(seed=tf.constant([1, 2]))


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_total_correlation_is_near_zero_for_a_factorised_aggregate_and_positive_for_a_correlated_one(estimator):
    rng = np.random.default_rng(0)
    batch_size, dims = 1000, 3
    independent = rng.standard_normal((batch_size, dims)).astype("float32")
    shared = np.repeat(rng.standard_normal((batch_size, 1)), dims, axis=1).astype("float32")
    # mws scores log q(z) and each log q(z_d) with the same −log(N·M): when the batch covers the aggregate,
    # its TC exceeds the true one by (D − 1) log N (zoo.objectives.total_correlation).
    offset = (dims - 1) * math.log(batch_size) if estimator == "mws" else 0.0
    factorised = float(tf.reduce_mean(total_correlation(*_aggregate(independent, 0.5), batch_size, estimator)))
    correlated = float(tf.reduce_mean(total_correlation(*_aggregate(shared, 0.5), batch_size, estimator)))
    assert abs(factorised - offset) < 0.05, factorised
    assert correlated - offset > 1.0, correlated


def test_permuting_dimensions_shuffles_each_column_independently():
    codes = tf.reshape(tf.range(40, dtype=tf.float32), [10, 4])
    permuted = permute_dims(codes, tf.constant([3, 4])).numpy()
    for column in range(4):
        assert sorted(permuted[:, column]) == sorted(codes.numpy()[:, column])  # a permutation of that column
    assert not np.array_equal(permuted, codes.numpy())
    rows = {tuple(row) for row in codes.numpy()}
    assert sum(tuple(row) in rows for row in permuted) < 10  # rows are broken up, not reordered
    np.testing.assert_array_equal(permuted, permute_dims(codes, tf.constant([3, 4])).numpy())  # seeded


def test_factor_vae_trains_its_discriminator_with_its_own_optimiser():
    images, labels = batch(64)
    model = FactorVAE({**SMALL, "discriminator_units": (32, 32)})
    trained = TrainingModel(model, dataset_size=64)
    discriminator = {id(v) for layer in model.objective.discriminator for v in layer.trainable_variables}
    assert discriminator and not discriminator & {id(v) for v in trained.model_variables()}
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    trained.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=5, epochs=1, verbose=0)
    assert [int(opt.iterations.numpy()) for opt in trained.all_optimizers()] == [5, 5]
    assert all(not np.array_equal(before[v.path], v.numpy()) for v in model.trainable_variables)


def test_vq_vae_codes_are_codebook_vectors_and_the_rate_is_log_k_per_position():
    images, labels = batch(16)
    model = VQVAE({**SMALL, "latent_dim": 8, "embedding_dim": 2, "num_embeddings": 16})
    posterior, extras = model.posterior_and_extras(images, labels)
    codes = posterior.sample(seed=SEED).numpy().reshape(-1, 2)
    codebook = model.codebook.numpy()
    nearest = np.argmin(((codes[:, None] - codebook[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(codes, codebook[nearest], atol=1e-6)
    np.testing.assert_array_equal(extras["indices"].numpy().reshape(-1), nearest)
    terms = compute_terms(model, images, labels, seed=SEED)
    np.testing.assert_allclose(terms["rate"], 4 * math.log(16), rtol=1e-6)
    samples = model.prior().sample(5, seed=SEED).numpy().reshape(-1, 2)
    assert np.min(np.abs(samples[:, None] - codebook[None]).sum(-1), axis=1).max() == 0.0  # prior codes too
    # Straight through: the reconstruction's gradient reaches the encoder despite the argmin.
    with tf.GradientTape() as tape:
        loss = compute_terms(model, images, labels, seed=SEED, step=0)["loss"]
    gradients = tape.gradient(loss, model.encoder_net.trainable_variables + [model.codebook])
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)
