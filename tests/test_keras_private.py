"""Keras's private API that zoo uses (zoo/training/keras_private.py) is still there, as zoo uses it.

Fails loudly after a Keras upgrade that renames or reshapes one of them; see the module for why each is used.
"""

from __future__ import annotations

import inspect

import keras

from zoo.models import VAE, VAEConfig
from zoo.training import keras_private
from zoo.training.training_model import TrainingModel


def test_every_private_name_exists():
    model = TrainingModel(VAE(VAEConfig(latent_dim=2, hidden_units=(8,))))
    for owner, name in keras_private.USED:
        assert hasattr(owner, name) or hasattr(model, name), f"keras.{owner.__name__}.{name} is gone"


def test_symbolic_build_hook_keeps_its_signature():
    # The override in PrebuiltModel must match what Keras's TF trainer calls.
    keras_hook = inspect.signature(keras.Model._maybe_symbolic_build)
    assert list(keras_hook.parameters) == ["self", "iterator", "data_batch"]
    assert keras_private.PrebuiltModel._maybe_symbolic_build is not keras.Model._maybe_symbolic_build


def test_jit_switch_and_step_reset_take_effect():
    model = TrainingModel(VAE(VAEConfig(latent_dim=2, hidden_units=(8,))))
    keras_private.set_jit_compile(model, True)
    assert model.jit_compile is True
    keras_private.set_jit_compile(model, False)
    assert model.jit_compile is False
    model.train_function = object()
    keras_private.reset_step_functions(model)
    assert model.train_function is None and model.test_function is None
    layers = keras_private.layers_of(model)
    assert model.zoo_model in layers and model.zoo_model.encoder_net in layers
