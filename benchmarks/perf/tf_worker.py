"""TF side of benchmarks/perf/throughput.py: zoo (model.fit as `zoo train` runs it) and a hand-written loop.

Protocol (stdin/stdout, one line each): the orchestrator writes "zoo" or "hand", the worker trains
STEPS steps and prints JSON {"who", "images_per_s"}; "quit" ends it. Both contenders are built and
warmed up (traced) before "ready" is printed.
"""
from __future__ import annotations

import json
import os
os.environ.setdefault("ZOO_DATA_DIR", "/work/shared/datasets")
import sys
import time

import keras
import tensorflow as tf

from zoo.data import load_dataset, train_dataset
from zoo.data.datasets import DataConfig
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.training.callbacks import DivergenceGuard

arch, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
LATENT = 32
data = load_dataset(DataConfig(name="mnist"))
keras.utils.set_random_seed(0)


def pipeline():  # the zoo pipeline, exactly as zoo/training/trainer.py builds it (dynamic binarisation)
    return train_dataset(data.train, batch_size=batch, seed=0, start_epoch=0, epochs=10_000, binarization="dynamic")


# ---------------------------------------------------------------- zoo: the model.fit path of the trainer
config = VAEConfig(latent_dim=LATENT, architecture=arch)
zoo_model = VAE(config, name="vae")
zoo_model.compile(optimizer=keras.optimizers.Adam(1e-3))
import queue
import threading

# One model.fit call runs for the whole benchmark, as in `zoo train` (one fit over all epochs): fit's
# per-call set-up and the iterator start are paid once, not per segment. A callback placed after the
# trainer's DivergenceGuard (which reads the logs, so every step has finished) pauses fit at each segment
# boundary until the orchestrator asks for the next zoo segment.
_go, _done = queue.Queue(), queue.Queue()


class SegmentClock(keras.callbacks.Callback):
    def __init__(self, steps):
        super().__init__()
        self.steps, self.started = steps, None

    def on_train_batch_begin(self, batch, logs=None):
        if batch % self.steps == 0:
            if self.started is not None:
                _done.put(time.perf_counter() - self.started)
            _go.get()
            self.started = time.perf_counter()


def _fit_forever():
    zoo_model.fit(pipeline(), epochs=1, steps_per_epoch=10**8, callbacks=[DivergenceGuard(), SegmentClock(steps)],
                  verbose=0, shuffle=False)


threading.Thread(target=_fit_forever, daemon=True).start()


def run_zoo(n):
    assert n == steps
    _go.put(1)
    return _done.get()


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


@tf.function
def hand_step(x):
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


def run_hand(n):
    t = time.perf_counter()
    for _ in range(n):
        x, _y = next(hand_iter)
        loss = hand_step(x)
    float(loss)  # wait for the last step
    return time.perf_counter() - t


# Variant for profiling: the same model with steps_per_execution (ZOO_BENCH_VARIANTS=1).
import os
variants = {}
if os.environ.get("ZOO_BENCH_VARIANTS"):
    for spe, jit in ((6, False), (6, True)):
        m = VAE(config, name=f"vae_spe{spe}")
        m.compile(optimizer=keras.optimizers.Adam(1e-3), steps_per_execution=spe, jit_compile=jit)
        ds = pipeline()
        def run_variant(n, m=m, ds=ds):
            t = time.perf_counter()
            m.fit(ds, epochs=1, steps_per_epoch=n, callbacks=[DivergenceGuard()], verbose=0, shuffle=False)
            return time.perf_counter() - t
        variants[f"zoo_spe{spe}" + ("_xla" if jit else "")] = run_variant
    m2 = VAE(config, name="vae_nocb")
    m2.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds2 = pipeline()
    def run_nocb(n):
        t = time.perf_counter()
        m2.fit(ds2, epochs=1, steps_per_epoch=n, verbose=0, shuffle=False)
        return time.perf_counter() - t
    variants["zoo_nocb"] = run_nocb
    for f in variants.values():
        f(16)
run_zoo(steps)  # warm-up: tracing
run_hand(5)
print("ready", flush=True)
for line in sys.stdin:
    who = line.strip()
    if who == "quit":
        sys.stdout.flush()
        os._exit(0)
    seconds = {"zoo": run_zoo, "hand": run_hand, **variants}[who](steps)
    print(json.dumps({"who": who, "images_per_s": steps * batch / seconds, "seconds": seconds}), flush=True)
