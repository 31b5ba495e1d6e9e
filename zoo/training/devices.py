"""Device placement: distribution strategy and numeric precision.

On a machine without GPUs both resolve to the CPU defaults; with one GPU TF
places the model on it by itself; with several, ``auto`` mirrors across them.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from zoo.errors import ZooError


def visible_gpus() -> list[str]:
    return [device.name for device in tf.config.list_physical_devices("GPU")]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``auto``: mirrored over 2+ local GPUs, else the default; ``multi-worker`` reads ``TF_CONFIG``."""
    gpus = visible_gpus()
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi-worker":
        import os

        if "TF_CONFIG" not in os.environ:
            raise ZooError("--strategy multi-worker needs TF_CONFIG describing the cluster and this worker's task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ZooError(f"unknown strategy '{name}'; choose auto, default, mirrored or multi-worker")


def apply_precision(name: str) -> str:
    """Sets the global Keras dtype policy; ``auto`` is mixed_float16 on a GPU, float32 on a CPU."""
    if name == "auto":
        name = "mixed_float16" if visible_gpus() else "float32"
    keras.mixed_precision.set_global_policy(name)
    return name


def describe_devices() -> list[str]:
    return [f"{device.device_type}:{device.name}" for device in tf.config.list_physical_devices()]
