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


def serialise_ops() -> bool:
    """Runs TensorFlow's ops one at a time (inter-op parallelism 1); returns whether they run so.

    Ops running side by side share the intra-op thread pool, and then CPU kernels split their work differently
    from run to run: the plain (non-XLA) training step of a conv net is then not bit-reproducible on a busy
    machine, and with this it is (benchmarks/conv_determinism.py). TensorFlow fixes the setting when its runtime
    starts, so this works only before the process's first TF op; later it reports the setting in force.
    """
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime has started
        pass
    return ops_run_one_at_a_time()


def serialise_ops_if_deterministic(train_cfg) -> None:
    """``serialise_ops`` for a deterministic run (``TrainConfig``) on one CPU, so ``configure_fit`` can give a conv
    net the faster plain step; ``zoo train`` and ``zoo tune`` call it before the process's first TF op (later,
    nothing changes and conv nets keep the XLA step)."""
    if train_cfg.deterministic and train_cfg.strategy in ("auto", "default") and not visible_gpus():
        serialise_ops()


def ops_run_one_at_a_time() -> bool:
    """Whether TensorFlow runs its ops one at a time in this process (inter-op parallelism 1)."""
    return tf.config.threading.get_inter_op_parallelism_threads() == 1


def onednn_enabled() -> bool | None:
    """Whether TensorFlow's oneDNN CPU kernels are on in this process (zoo/__init__.py); None if TF cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TF's own answer; no public API exposes it
    except ImportError:
        return None
    check = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return None if check is None else bool(check())


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process owns the run folder: task "chief", or worker 0 when the cluster has no chief.

    Always true outside a multi-worker cluster (no ``cluster_resolver`` or an empty cluster spec).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0 and "chief" not in cluster


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and bool(resolver.cluster_spec().as_dict())


def all_workers_sum(strategy: tf.distribute.Strategy, values: list[float]) -> list[float]:
    """Sums ``values`` over the workers of the cluster (a collective: every worker must call it, in the same
    order). Each worker's replicas all contribute, so the total is divided by the replicas per worker."""
    local = tf.constant(values, tf.float32)
    per_replica = strategy.run(lambda: tf.identity(local))
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    replicas_per_worker = max(1, len(strategy.extended.worker_devices))
    return [float(v) / replicas_per_worker for v in total.numpy()]


def apply_precision(name: str) -> str:
    """Sets the global Keras dtype policy; ``auto`` is mixed_float16 on a GPU, float32 on a CPU."""
    if name == "auto":
        name = "mixed_float16" if visible_gpus() else "float32"
    keras.mixed_precision.set_global_policy(name)
    return name


def describe_devices() -> list[str]:
    return [f"{device.device_type}:{device.name}" for device in tf.config.list_physical_devices()]
