"""zoo.networks.BatchNormalization: Keras's batch normalisation, computed by TensorFlow's fused kernel in a plain step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo.networks.conv as conv
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.networks.batch_normalization import BatchNormalization as FusedBatchNormalization
from zoo.training.keras_private import layers_of
from zoo.training.train_config import TrainConfig
from zoo.training.trainer import configure_fit
from zoo.training.training_model import TrainingModel


def twins(momentum=0.9):
    """A Keras batch normalisation and a fused one with the same (non-trivial) weights."""
    keras_bn = keras.layers.BatchNormalization(momentum=momentum)
    fused_bn = FusedBatchNormalization(momentum=momentum)
    rng = np.random.default_rng(0)
    for layer in (keras_bn, fused_bn):
        layer.build((None, 5, 6, 3))
    weights = [rng.normal(1.0, 0.3, 3), rng.normal(0.0, 0.5, 3), rng.normal(0.0, 1.0, 3), rng.uniform(0.5, 2, 3)]
    for layer in (keras_bn, fused_bn):
        layer.set_weights([w.astype("float32") for w in weights])
    return keras_bn, fused_bn


def features(dtype="float32"):
    rng = np.random.default_rng(1)
    return tf.constant(rng.normal(2.0, 3.0, (4, 5, 6, 3)), dtype)


def graph_ops(function, *args) -> set[str]:
    return {op.type for op in tf.function(function).get_concrete_function(*args).graph.get_operations()}


def test_training_pass_equals_keras_outputs_gradients_and_moving_statistics():
    keras_bn, fused_bn = twins()
    x = features()
    initial_variance = keras_bn.get_weights()[3]
    cotangent = tf.constant(np.sin(np.arange(x.shape.num_elements())).reshape(x.shape), "float32")
    results = []
    for layer in (keras_bn, fused_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * cotangent)
        results.append([layer(x, training=False), *tape.gradient(loss, [x, layer.gamma, layer.beta]),
                        layer.moving_mean, layer.moving_variance])
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-5, atol=2e-5)
    # The moving variance follows the biased batch variance, as Keras's does; the kernel returns the unbiased one
    # (here 120 values per channel: 0.8 % larger, far outside the tolerance).
    biased = np.var(np.asarray(x).reshape(-1, 3), axis=0)
    np.testing.assert_allclose(results[1][5], 0.9 * initial_variance + 0.1 * biased, rtol=1e-5)
    assert not np.allclose(results[1][5], 0.9 * initial_variance + 0.1 * biased * 120 / 119, rtol=1e-5)


def test_a_plain_step_runs_the_fused_kernel_and_an_xla_step_keras_ops():
    _, fused_bn = twins()
    x = features()

    def step(inputs):
        return fused_bn(inputs, training=True)

    assert "FusedBatchNormV3" in graph_ops(step, x)
    fused_bn.fused_kernel = False
    ops = graph_ops(step, x)
    assert "FusedBatchNormV3" not in ops and "Mean" in ops


def test_keras_ops_path_and_inference_are_keras_bit_for_bit():
    keras_bn, fused_bn = twins()
    fused_bn.fused_kernel = False
    x = features()
    np.testing.assert_array_equal(fused_bn(x, training=True), keras_bn(x, training=True))
    np.testing.assert_array_equal(fused_bn.moving_variance, keras_bn.moving_variance)
    np.testing.assert_array_equal(fused_bn(x, training=False), keras_bn(x, training=False))


def test_float16_inputs_are_normalised_in_float32_as_keras_does():
    keras_bn, fused_bn = twins()
    x = features("float16")
    np.testing.assert_allclose(np.asarray(fused_bn(x, training=True), "float32"),
                               np.asarray(keras_bn(x, training=True), "float32"), atol=2e-3)


def test_conv_weights_saved_with_keras_batch_normalization_load_into_the_fused_layers(tmp_path, monkeypatch):
    config = VAEConfig(latent_dim=2, architecture="conv", conv_filters=(4, 8), conv_strides=(2, 2))
    keras.utils.set_random_seed(0)
    with monkeypatch.context() as patch:
        patch.setattr(conv, "BatchNormalization", keras.layers.BatchNormalization)
        before = VAE(config)
        before(np.zeros((1, 28, 28, 1), "float32"))
    assert not any(isinstance(layer, FusedBatchNormalization) for layer in layers_of(before))
    for variable in before.weights:  # moving statistics away from their initial values
        variable.assign(np.random.default_rng(2).normal(size=variable.shape).astype("float32") ** 2)
    before.save_weights(tmp_path / "keras_bn.weights.h5")
    after = VAE(config)
    after(np.zeros((1, 28, 28, 1), "float32"))
    assert any(isinstance(layer, FusedBatchNormalization) for layer in layers_of(after))
    after.load_weights(tmp_path / "keras_bn.weights.h5")
    for ours, theirs in zip(after.weights, before.weights):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("train, fused", [({}, False), ({"deterministic": False}, True),
                                          ({"deterministic": False, "jit_compile": "on"}, False)])
def test_configure_fit_gives_the_fused_kernel_to_plain_steps_only(train, fused):
    model = TrainingModel(VAE(VAEConfig(latent_dim=2, architecture="conv")))
    configure_fit(model, TrainConfig(**train), steps=8)
    assert model.jit_compile is (not fused)
    norms = [layer for layer in layers_of(model) if isinstance(layer, FusedBatchNormalization)]
    assert norms and all(layer.fused_kernel is fused for layer in norms)
