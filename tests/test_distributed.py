"""MultiWorkerMirroredStrategy: two worker processes on loopback give the single-process result.

Both runs train zoo's Autoencoder (no sampling noise, no BatchNorm, so the only differences are
float32 summation order in the cross-worker all-reduce) for a few SGD steps on the same batches
with the same global batch and seed; the final weights must agree within ``ATOL``/``RTOL``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

GLOBAL_BATCH, STEPS = 32, 4
ATOL, RTOL = 1e-5, 1e-4  # float32 all-reduce of two partial gradient sums vs one full-batch sum


def _worker(mode: str, out: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    from zoo.models.autoencoder import Autoencoder

    keras.config.disable_traceback_filtering()

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if mode == "multi" else tf.distribute.get_strategy()
    rng = np.random.default_rng(0)
    x = (rng.random((GLOBAL_BATCH * STEPS, 28, 28, 1)) < 0.3).astype(np.float32)
    y = np.zeros(len(x), np.int32)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = Autoencoder({"latent_dim": 4, "hidden_units": [32]}, name="ae")
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    initial = [np.asarray(v) for v in model.get_weights()]
    model.fit(data, epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False)
    final = [np.asarray(v) for v in model.get_weights()]
    np.savez(out, **{f"initial_{i}": v for i, v in enumerate(initial)}, **{f"final_{i}": v for i, v in enumerate(final)})


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _spawn(mode, out, tf_config=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, __file__, mode, str(out)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _load(path, which="final"):
    with np.load(path) as saved:
        return [saved[f"{which}_{i}"] for i in range(len(saved.files) // 2)]


@pytest.mark.slow
def test_two_workers_match_single_process(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    procs = [_spawn("multi", tmp_path / f"worker{i}.npz",
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(2)]
    single = _spawn("single", tmp_path / "single.npz")
    for proc in [*procs, single]:
        output, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, output[-3000:]
    reference = _load(tmp_path / "single.npz")
    for i in range(2):
        weights = _load(tmp_path / f"worker{i}.npz")
        assert len(weights) == len(reference)
        for got, want in zip(weights, reference):
            np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
    # Training moved the weights, so the comparison is not between two untouched initialisations.
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, _load(tmp_path / "single.npz", "initial")))
    assert moved > 100 * ATOL


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
