"""TF side of benchmarks/perf/throughput.py: zoo (model.fit as `zoo train` runs it) and a hand-written loop.

Protocol (stdin/stdout, one line each): the orchestrator writes "zoo", "hand" or "hand_xla", the worker
trains STEPS steps (the zoo: the nearest multiple of its steps per graph call) and prints JSON
{"who", "images_per_s", "seconds", "steps"}; "quit" ends it. Both contenders are built and
warmed up (traced) before "ready" is printed. "matmul" times a large float32 tf.matmul instead and prints
{"who": "matmul_tf", "gflops", ...}, the matrix-product peak the FLOP fractions are taken against.
"execution" prints each zoo contender's execution mode, as `zoo train` records it in the manifest.

With ZOO_BENCH_TF_SUMS=1 the worker leaves TensorFlow's own gradient sums (AddN, Grappler's arithmetic
optimiser) in place of the fixed-order sums a deterministic plain step sets up for the whole process
(zoo.training.gradient_sums): what a hand-written step gets in a process of its own.
"""
from __future__ import annotations

import json
import os
import sys
import time

import zoo  # noqa: F401  (first, as in `zoo train`: it sets TensorFlow's CPU defaults before TF is imported)
import keras
import tensorflow as tf

from zoo.data import load_dataset, train_dataset
from zoo.data.datasets import DataConfig
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.data.pipeline import steps_per_epoch
from zoo.training.callbacks import DivergenceGuard
from zoo.training.train_config import TrainConfig
from zoo.training.trainer import configure_determinism, configure_fit
from zoo.training.training_model import TrainingModel
from zoo.training import trainer
from zoo.training.devices import serialise_ops

# As `zoo train` sets up a deterministic run on one CPU, before the first TF op: TF ops one at a time (with it,
# configure_fit gives the conv net the plain step instead of XLA). The whole worker runs so, hand-written too.
assert serialise_ops(), "TF started before serialise_ops"

arch, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LATENT = 32
data = load_dataset(DataConfig(name="mnist"))
keras.utils.set_random_seed(0)


def pipeline():  # the zoo pipeline, exactly as zoo/training/trainer.py builds it (dynamic binarisation)
    return train_dataset(data.train, batch_size=batch, seed=0, start_epoch=0, epochs=10_000, binarization="dynamic")


# ---------------------------------------------------------------- zoo: the model.fit path of the trainer
# As `zoo train` sets it up: TF deterministic ops, the trainer's compile and execution settings (steps per graph
# call, XLA, see zoo.training.trainer.configure_fit), and its per-step callbacks.
configure_determinism(0, TrainConfig().deterministic)
if os.environ.get("ZOO_BENCH_TF_SUMS"):
    trainer.add_gradients_in_order = lambda: False  # configure_fit then leaves TF's sums (process-wide)
EPOCH_STEPS = steps_per_epoch(data.train, batch)
import threading

from segment_clock import SegmentClock  # beside this file (after zoo: see its docstring)


def zoo_contender(label: str, train_cfg: TrainConfig):
    """A zoo model set up as the trainer sets it up for ``train_cfg``; returns (run(n) -> seconds, steps).

    One model.fit call runs for the whole benchmark, as in `zoo train` (one fit over all epochs): fit's
    per-call set-up and the iterator start are paid once, not per segment. The clock is placed after the
    trainer's DivergenceGuard (which reads the logs, so every step has finished).
    """
    model = TrainingModel(VAE(VAEConfig(latent_dim=LATENT, architecture=arch), name="vae"), learning_rate=1e-3,
                          dataset_size=len(data.train.x))
    executions[label] = configure_fit(model, train_cfg, EPOCH_STEPS)
    # Keras runs whole graph calls, so a zoo segment is the multiple of steps_per_execution nearest to STEPS.
    segment = model.steps_per_execution * max(1, round(steps / model.steps_per_execution))
    clock = SegmentClock(segment)
    threading.Thread(target=lambda: model.fit(pipeline(), epochs=10_000, steps_per_epoch=EPOCH_STEPS,
                                              callbacks=[DivergenceGuard(), clock], verbose=0, shuffle=False),
                     daemon=True).start()

    return lambda n: clock.run(), segment


# "zoo" is the default TrainConfig. ZOO_BENCH_ZOO lists the zoo contenders of this worker (default "zoo"); the
# orchestrator runs "zoo_nojit" / "zoo_jit" (train.jit_compile=off / on) in a worker of their own, as a plain
# deterministic step sets process-wide switches (zoo.training.gradient_sums) that would reach the other contenders.
executions = {}
all_configs = {"zoo": TrainConfig(), "zoo_nojit": TrainConfig(jit_compile="off"),
               "zoo_jit": TrainConfig(jit_compile="on")}
configs = {label: all_configs[label] for label in os.environ.get("ZOO_BENCH_ZOO", "zoo").split(",")}
zoo_runs = {label: zoo_contender(label, cfg) for label, cfg in configs.items()}


# ---------------------------------------------------------------- hand-written: minimal tf.function step
def hand_networks():
    L = keras.layers
    if arch == "mlp":
        enc = keras.Sequential([L.Flatten(), L.Dense(512, activation="relu"), L.Dense(512, activation="relu"),
                                L.Dense(2 * LATENT)])
        dec = keras.Sequential([L.Dense(512, activation="relu"), L.Dense(512, activation="relu"), L.Dense(784),
                                L.Reshape((28, 28, 1))])
    else:
        def block(cls, f, s):
            return [cls(f, 3, strides=s, padding="same", use_bias=False), L.BatchNormalization(),
                    L.LeakyReLU(negative_slope=0.2)]
        enc = keras.Sequential([*block(L.Conv2D, 32, 1), *block(L.Conv2D, 64, 2), *block(L.Conv2D, 64, 2),
                                *block(L.Conv2D, 64, 1), L.Flatten(), L.Dense(2 * LATENT)])
        dec = keras.Sequential([L.Dense(7 * 7 * 64), L.Reshape((7, 7, 64)), *block(L.Conv2DTranspose, 64, 1),
                                *block(L.Conv2DTranspose, 64, 2), *block(L.Conv2DTranspose, 32, 2),
                                L.Conv2DTranspose(1, 3, strides=1, padding="same")])
    enc.build((None, 28, 28, 1))
    dec.build((None, LATENT))
    return enc, dec


enc, dec = hand_networks()
opt = keras.optimizers.Adam(1e-3)
variables = enc.trainable_variables + dec.trainable_variables
opt.build(variables)


def hand_step_fn(x):
    with tf.GradientTape() as tape:
        loc, raw = tf.split(enc(x, training=True), 2, axis=-1)
        scale = tf.nn.softplus(raw) + 1e-4
        z = loc + scale * tf.random.normal(tf.shape(loc))
        logits = dec(z, training=True)
        distortion = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), [1, 2, 3])
        rate = tf.reduce_sum(0.5 * (loc ** 2 + scale ** 2 - 1.0) - tf.math.log(scale), -1)
        loss = tf.reduce_mean(distortion + rate)
    opt.apply(tape.gradient(loss, variables), variables)
    return loss


hand_iter = iter(pipeline())


def hand_runner(step):
    def run(n):
        t = time.perf_counter()
        for _ in range(n):
            x, _y = next(hand_iter)
            loss = step(x)
        float(loss)  # wait for the last step
        return time.perf_counter() - t
    return run


# The reference contender, a minimal tf.function step as a user would write it, and the same step XLA-compiled: the zoo
# compiles with XLA on CPU, so the second is the like-for-like limit.
run_hand = hand_runner(tf.function(hand_step_fn))
run_hand_xla = hand_runner(tf.function(hand_step_fn, jit_compile=True))


def matmul_gflops(n=2048, seconds=1.0):
    """Best float32 n×n tf.matmul rate (2·n³ FLOPs each) over ~``seconds`` of repeats: the machine's matrix-product
    peak as this process's TensorFlow sees it (oneDNN, its default intra-op thread pool)."""
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    tf.matmul(a, b).numpy()  # warm-up
    best, reps, start = 0.0, 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        tf.matmul(a, b).numpy()  # .numpy() waits for the product (a view of the CPU buffer, no copy)
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t) / 1e9)
        reps += 1
    return {"gflops": best, "n": n, "reps": reps, "threads": tf.config.threading.get_intra_op_parallelism_threads()}


for run, _ in zoo_runs.values():
    run(steps)  # warm-up: tracing
run_hand(5)
run_hand_xla(5)
print("ready", flush=True)
for line in sys.stdin:
    who = line.strip()
    if who == "quit":
        sys.stdout.flush()
        os._exit(0)
    if who == "execution":
        print(json.dumps({"who": "execution", **executions}), flush=True)
        continue
    if who == "matmul":
        print(json.dumps({"who": "matmul_tf", **matmul_gflops()}), flush=True)
        continue
    runners = {"hand": (run_hand, steps), "hand_xla": (run_hand_xla, steps), **zoo_runs}
    run, done = runners[who]
    seconds = run(steps)
    print(json.dumps({"who": who, "images_per_s": done * batch / seconds, "seconds": seconds, "steps": done}),
          flush=True)
