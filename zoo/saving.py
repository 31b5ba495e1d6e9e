"""Loading what zoo saves: a model file (``model.keras``) or a training checkpoint, in Keras safe mode."""

from __future__ import annotations

import importlib
import os
import zipfile

import keras

from zoo.errors import ZooError


def _import_class_module(path, class_path: str | None) -> None:
    import zoo.models  # noqa: F401  (registers the zoo classes for deserialisation)
    import zoo.training.training_model  # noqa: F401

    if class_path:
        try:
            importlib.import_module(class_path.partition(":")[0])
        except ImportError as error:
            raise ZooError(f"cannot load {path}: its model class {class_path} does not import ({error}); "
                           "install the package that provides it") from None


def load_keras_file(path, class_path: str | None = None):
    """Whatever zoo object ``path`` holds: a zoo model or a ``TrainingModel`` checkpoint.

    ``class_path`` ("module:Class", from the run config) imports a plugin's module
    first so that its class is registered for deserialisation.
    """
    from zoo.models.vae import VAE
    from zoo.training.training_model import TrainingModel

    _import_class_module(path, class_path)
    if not zipfile.is_zipfile(path):
        what = "missing" if not os.path.exists(path) else "not a .keras archive (truncated or corrupt)"
        raise ZooError(f"cannot load model file {path}: it is {what}; re-run `zoo train` to recreate it")
    try:
        loaded = keras.models.load_model(path, safe_mode=True)
    except ValueError as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if "safe_mode" in message or "arbitrary code" in message:
            raise ZooError(f"refusing to load {path}: it contains Python code (e.g. a Lambda layer) that Keras "
                           "safe mode will not run; zoo only loads the models it saves") from None
        raise ZooError(f"cannot load model file {path}: {message[:300]}") from None
    except (OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        message = " ".join(str(error).split())[:300] or type(error).__name__
        raise ZooError(f"cannot load model file {path}: it is corrupt or not a zoo model ({message})") from None
    if not isinstance(loaded, (VAE, TrainingModel)):
        raise ZooError(f"{path} holds a {type(loaded).__name__}, not a zoo model; zoo only loads the models it saves")
    return loaded


def load_model(path, class_path: str | None = None):
    """The zoo model in ``path``: a ``model.keras`` or the model inside a training checkpoint."""
    loaded = load_keras_file(path, class_path)
    return getattr(loaded, "zoo_model", loaded)


def load_training_model(path, class_path: str | None = None):
    """The ``TrainingModel`` of a checkpoint, optimiser state included, to resume training."""
    loaded = load_keras_file(path, class_path)
    if not hasattr(loaded, "zoo_model"):
        raise ZooError(f"{path} holds a model without its training state; use --overwrite to train again")
    return loaded
