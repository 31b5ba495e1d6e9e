"""Training speed of the conv VAE with each batch-normalisation kernel, and with XLA.

    ZOO_DATA_DIR=... python benchmarks/perf/batch_norm.py --rounds 7 [--size 28] [--out PATH]

One process, one model (the throughput benchmark's conv net: Conv-BN-LeakyReLU blocks with 32/64/64/64 filters,
strides 1/2/2/1, latent 32, Bernoulli pixels, batch 128, Adam), three training steps traced from it:

- ``keras ops``: a plain ``tf.function`` step in which batch normalisation runs Keras 3's separate ops
  (zoo.networks.BatchNormalization with ``fused_kernel = False``, the same ops as keras.layers.BatchNormalization);
- ``fused kernel``: the same step with TensorFlow's fused kernel (``fused_kernel = True``, what `zoo train`
  runs on a CPU);
- ``XLA``: the step compiled with ``jit_compile=True`` (batch normalisation by Keras's ops, fused by XLA).

The steps take turns, ``--steps`` steps each per round, so they share the machine's load; the report gives the
median images per second of each and the ratios of the medians. Process-wide settings are `zoo train`'s: TF
deterministic ops, TF ops one at a time, oneDNN kernels; ``--gradients-in-order`` adds gradient contributions in
a fixed order (zoo.training.gradient_sums: no AddN, Grappler's arithmetic optimiser off), as `zoo train` does in a
deterministic plain step, for all three steps. Writes OUT.json and OUT.md (default
benchmarks/results/perf/batch_norm).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402
import zoo  # noqa: E402,F401  (first, as in `zoo train`: TensorFlow's CPU defaults, oneDNN on)
from zoo.training.devices import serialise_ops  # noqa: E402

SERIALISED = serialise_ops()  # before any TF op, as `zoo train` does for a deterministic run

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.models.vae import VAE  # noqa: E402
from zoo.models.vae_config import VAEConfig  # noqa: E402
from zoo.networks.batch_normalization import BatchNormalization  # noqa: E402
from zoo.objectives import compute_terms  # noqa: E402
from zoo.training.keras_private import layers_of  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent / "results" / "perf"
MODES = ("keras ops", "fused kernel", "XLA")


def make_steps(size: int, batch: int):
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(architecture="conv", latent_dim=32, image_shape=(size, size, 1)))
    images = tf.constant((np.random.default_rng(0).random((batch, size, size, 1)) > 0.7).astype("float32"))
    model((images[:2], None))
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    norms = [layer for layer in layers_of(model) if isinstance(layer, BatchNormalization)]

    def step(seed):
        with tf.GradientTape() as tape:
            loss = compute_terms(model, images, None, seed=seed, step=0, training=True, dataset_size=batch)["loss"]
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    steps = {}
    for mode in MODES:
        for layer in norms:  # read when the step is traced
            layer.fused_kernel = mode == "fused kernel"
        function = tf.function(step, jit_compile=mode == "XLA")
        for warm_up in range(2):
            function(tf.constant([0, warm_up]))
        steps[mode] = function
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=16, help="steps per timed segment")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=28, help="image side (MNIST: 28)")
    parser.add_argument("--gradients-in-order", action="store_true",
                        help="add gradient contributions in a fixed order, as a deterministic plain zoo step does")
    parser.add_argument("--out", type=Path, default=RESULTS / "batch_norm", help="writes OUT.json and OUT.md")
    args = parser.parse_args()
    if args.gradients_in_order:
        from zoo.training.gradient_sums import add_gradients_in_order

        add_gradients_in_order()  # before the steps are traced
    load_before = os.getloadavg()
    steps = make_steps(args.size, args.batch)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode, function in steps.items():
            start = time.perf_counter()
            for index in range(args.steps):
                loss = function(tf.constant([round_ + 1, index]))
            float(loss)  # waits for the last step
            rates[mode].append(args.steps * args.batch / (time.perf_counter() - start))
    median = {mode: float(np.median(values)) for mode, values in rates.items()}
    report = {"command": " ".join(["python", *sys.argv]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "processor": cpu_name()},
              "load_average": {"before": load_before, "after": os.getloadavg()},
              "ops_one_at_a_time": SERIALISED, "gradients_added_in_order": args.gradients_in_order,
              "size": args.size, "batch": args.batch, "steps": args.steps,
              "images_per_s": rates, "median_images_per_s": median}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Conv VAE training step by batch-normalisation kernel", "",
             f"Command: `{report['command']}`  ",
             f"Date: {report['date']}  ",
             f"Machine: {report['machine']['processor']}, {report['machine']['cores']} cores; load average "
             f"{load_before[0]:.1f} before, {report['load_average']['after'][0]:.1f} after", "",
             f"Batch {args.batch}, {args.size}×{args.size} images, {args.steps} steps a segment, {args.rounds} "
             "alternating rounds; images per second. Gradient contributions "
             + ("added in a fixed order (zoo.training.gradient_sums)." if args.gradients_in_order
                else "summed by TF's AddN."), "",
             "| step | median images/s | rounds | ÷ keras ops |", "|---|---:|---|---:|"]
    for mode in MODES:
        lines.append(f"| {mode} | {median[mode]:,.0f} | {', '.join(f'{v:,.0f}' for v in rates[mode])} | "
                     f"{median[mode] / median['keras ops']:.2f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
