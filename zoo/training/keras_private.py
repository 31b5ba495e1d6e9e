"""Every use of Keras's private API in zoo, in one place.

tests/test_keras_private.py checks that each name still exists with the signature used here, so a
Keras upgrade that moves one fails there, loudly, instead of changing training behaviour silently.
"""

from __future__ import annotations

import keras

# (owner, attribute): what zoo reads, sets or overrides.
USED = (
    (keras.Model, "_maybe_symbolic_build"),  # overridden by PrebuiltModel
    (keras.Model, "_flatten_layers"),  # every layer of a model, nested ones included
    (keras.Model, "_jit_compile"),  # XLA for the train step even under TF deterministic ops
    (keras.Model, "train_function"),  # reset so that the next fit rebuilds it with new settings
    (keras.Model, "test_function"),
)


class PrebuiltModel(keras.Model):
    """A model whose variables all exist before ``fit``: Keras's symbolic build is skipped.

    Under a distribution strategy Keras's TF trainer pulls one batch off the training iterator to
    build the model (that batch is then never trained on) and, under MultiWorkerMirroredStrategy,
    fails reducing it ("Attempt to convert a value (PerReplica...)"). Only optimisers may still
    need their slots.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        with self.distribute_strategy.scope():
            for optimizer in self.all_optimizers():
                if not optimizer.built:
                    optimizer.build(self.variables_of(optimizer))

    def all_optimizers(self) -> list:
        raise NotImplementedError

    def variables_of(self, optimizer) -> list:
        raise NotImplementedError


def layers_of(model: keras.Model) -> list:
    """Every layer of ``model``, nested ones included."""
    return list(model._flatten_layers())


def set_jit_compile(model: keras.Model, enabled: bool) -> None:
    """Sets XLA compilation of ``model``'s step without Keras's refusal under TF deterministic ops."""
    model._jit_compile = bool(enabled)


def reset_step_functions(model: keras.Model) -> None:
    """Makes the next ``fit``/``evaluate`` rebuild the compiled step with the model's current settings."""
    model.train_function = model.test_function = None
