"""Model-level behaviour beyond the shared harness: β and capacity, conditioning, precision, config."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.errors import ZooError
from zoo.models import VAE, BetaVAE, BetaVAEConfig, ConditionalVAE, VAEConfig
from zoo.objectives import compute_terms
from zoo.training.training_model import TrainingModel

SMALL = dict(latent_dim=3, hidden_units=(16,))


def batch(count=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((count, 28, 28, 1)) > 0.7).astype("float32"), rng.integers(0, 10, count).astype("int32")


def test_beta_vae_changes_only_the_objective():
    assert {name for name in vars(BetaVAE) if callable(vars(BetaVAE)[name]) and not name.startswith("__")
            and not isinstance(vars(BetaVAE)[name], type)} == {"make_objective"}
    images, labels = batch()
    plain = VAE(VAEConfig(**SMALL))
    beta = BetaVAE(BetaVAEConfig(beta=4.0, **SMALL))
    beta.set_weights(plain.get_weights())
    seed = tf.constant([1, 2])
    a = compute_terms(plain, images, labels, seed=seed)
    b = compute_terms(beta, images, labels, seed=seed)
    # Same ELBO terms; the loss adds 3 more rates.
    np.testing.assert_allclose(a["elbo"], b["elbo"], rtol=1e-6)
    # float32 losses of ~500 nats: the difference carries ~1e-4 absolute rounding.
    np.testing.assert_allclose(b["loss"] - a["loss"], 3.0 * np.mean(a["rate"]), atol=1e-3)


def test_capacity_schedule_ramps_c_linearly():
    model = BetaVAE(BetaVAEConfig(beta=2.0, capacity_max=10.0, capacity_steps=100, **SMALL))
    images, labels = batch()
    seed = tf.constant([1, 2])
    for step, capacity in ((0, 0.0), (50, 5.0), (1000, 10.0)):
        terms = compute_terms(model, images, labels, seed=seed, step=step)
        expected = np.mean(terms["distortion"].numpy()) + 2.0 * np.abs(np.mean(terms["rate"].numpy()) - capacity)
        assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5), step


def test_capacity_constrains_the_batch_mean_rate_not_each_images_rate():
    """disentanglement_lib's γ·|mean KL − C|: at the step where C equals the batch's mean rate the penalty
    vanishes although the images' rates differ (the per-image form would add γ·mean|rate_i − C| > 0)."""
    images, labels = batch()
    seed = tf.constant([1, 2])
    probe = BetaVAE(BetaVAEConfig(beta=1000.0, capacity_max=10.0, capacity_steps=100, **SMALL))
    rates = compute_terms(probe, images, labels, seed=seed, step=0)["rate"].numpy()
    assert np.ptp(rates) > 1e-3  # the images' rates differ, so the two forms would disagree
    capacity_max = float(np.mean(rates)) * 2.0  # C reaches the mean rate half-way through the ramp
    model = BetaVAE(BetaVAEConfig(beta=1000.0, capacity_max=capacity_max, capacity_steps=100, **SMALL))
    compute_terms(model, images, labels, seed=seed, step=0)  # builds the weights before they are copied
    model.set_weights(probe.get_weights())
    terms = compute_terms(model, images, labels, seed=seed, step=50)
    assert float(terms["loss"]) == pytest.approx(float(np.mean(terms["distortion"].numpy())), abs=1e-2)
    per_image_penalty = 1000.0 * np.mean(np.abs(rates - np.mean(rates)))
    assert per_image_penalty > 0.1


def test_conditional_decoder_uses_the_label():
    model = ConditionalVAE(VAEConfig(**SMALL))
    codes = tf.zeros((2, 3))
    three, seven = model.decode(codes, tf.constant([3, 3])), model.decode(codes, tf.constant([3, 7]))
    np.testing.assert_allclose(three[0], three[1])
    assert not np.allclose(three[1], seven[1])


def test_conditional_model_refuses_unlabelled_data():
    with pytest.raises(ZooError, match="needs a labelled dataset"):
        ConditionalVAE(VAEConfig(num_classes=0, **SMALL))


def test_mixed_precision_keeps_distributions_in_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = VAE(VAEConfig(**SMALL))
        trained = TrainingModel(model, dataset_size=32)
        assert isinstance(trained.optimizer, keras.optimizers.LossScaleOptimizer)
        images, labels = batch(32)
        logs = trained.fit(tf.data.Dataset.from_tensors((images, labels)).repeat(), steps_per_epoch=3, epochs=1,
                         verbose=0, shuffle=False).history
        assert np.isfinite(logs["loss"][-1])
        posterior = model.posterior(images)
        assert posterior.dtype == tf.float32 and model.likelihood(posterior.mean()).dtype == tf.float32
        assert model.encoder_net.hidden[0].compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "conv", "conv_strides": (2, 2)}, "must have the same length"),
        ({"architecture": "conv", "image_shape": (30, 30, 1)}, "image size 30 is not supported"),
        ({"image_shape": (28, 28)}, "expected \\[height, width, channels\\]"),
        ({"likelihood": "poisson"}, "'poisson' is not one of bernoulli, continuous_bernoulli, gaussian"),
        ({"hidden_units": (0,)}, "hidden_units.*out of range"),
    ],
)
def test_invalid_model_configs(changes, message):
    with pytest.raises(ZooError, match=message):
        VAEConfig(**changes)


def test_config_round_trips_through_dicts():
    config = BetaVAEConfig(beta=0.5, capacity_max=25.0, hidden_units=(32, 16), latent_dim=5)
    assert BetaVAEConfig.from_dict(config.to_dict()) == config
    model = BetaVAE(config)
    assert BetaVAE.from_config(model.get_config()).config == config


def test_fused_bernoulli_log_density_equals_tfps_with_the_same_gradient():
    import tensorflow_probability as tfp

    from zoo.likelihoods import LogitBernoulli

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(scale=4.0, size=(64, 784)).astype("float32"))
    pixels = tf.constant((rng.random((64, 784)) < 0.3).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(logits)
        fused = LogitBernoulli(logits=logits, dtype=tf.float32).log_prob(pixels)
        generic = tfp.distributions.Bernoulli(logits=logits, dtype=tf.float32).log_prob(pixels)
    np.testing.assert_allclose(fused.numpy(), generic.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(fused, logits).numpy(), tape.gradient(generic, logits).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert float(tf.reduce_min(fused)) < -1.0  # not a trivial all-zero comparison
