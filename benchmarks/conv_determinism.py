"""Is one training step of the 128-px Cartoon Set conv VAE bit-reproducible on CPU, with and without XLA?

    ZOO_DATA_DIR=... python benchmarks/conv_determinism.py --size 128 --batch 128 --repeats 3

Builds conv_vae_cartoon's architecture (five stride-2 Conv-BN-LeakyReLU blocks, latent 200, continuous
Bernoulli) for SIZE x SIZE RGB, with TF deterministic ops on, and computes the gradient of the same loss on the
same batch (fixed noise seed) REPEATS + 1 times, as a plain tf.function and as an XLA-compiled one. Reports the
largest absolute difference between the first gradient and each repeat. The differences of the plain step come
from thread scheduling, so they show on a busy machine: ``--busy N`` runs N busy-looping processes meanwhile.
TF ops run one at a time, as `zoo train` runs them (zoo.training.devices.serialise_ops); ``--parallel-ops``
leaves TF's default, where the plain step is not reproducible. Gradient contributions are added in a fixed
order, as `zoo train` adds them in a deterministic plain step (zoo.training.gradient_sums); ``--tf-sums`` leaves
TF's AddN, whose order follows thread timing. Writes OUT.{json,md}, by default
benchmarks/results/conv_determinism.{json,md}.

``--processes N`` asks the question across processes instead, as a killed-and-rerun training run does: N fresh
Python processes each build the model from the same seed and compute the gradient once; the report gives
each process's SHA-256 of the plain and of the XLA gradient, and whether they all agree.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import zoo  # noqa: E402,F401  (first, as in `zoo train`: TensorFlow's CPU defaults, oneDNN on)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from zoo.models.vae import VAE  # noqa: E402
from zoo.objectives import compute_terms  # noqa: E402
from zoo.registry import load_registry  # noqa: E402
from zoo.training.devices import serialise_ops  # noqa: E402
from zoo.training.gradient_sums import add_gradients_in_order  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def max_differences(model, images, labels, jit: bool, repeats: int) -> list[float]:
    @tf.function(jit_compile=jit)
    def gradients():
        with tf.GradientTape() as tape:
            loss = compute_terms(model, images, labels, seed=tf.constant([0, 0]), step=0, training=True,
                                 dataset_size=int(images.shape[0]))["loss"]
        return tape.gradient(loss, model.trainable_variables)

    first = [g.numpy() for g in gradients()]
    return [max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(first, gradients())) for _ in range(repeats)]


def gradient_digests(model, images, labels) -> dict[str, str]:
    """SHA-256 of the first gradient of the plain and the XLA-compiled step."""
    import hashlib

    digests = {}
    for mode in ("plain", "xla"):
        @tf.function(jit_compile=mode == "xla")
        def gradients():
            with tf.GradientTape() as tape:
                loss = compute_terms(model, images, labels, seed=tf.constant([0, 0]), step=0, training=True,
                                     dataset_size=int(images.shape[0]))["loss"]
            return tape.gradient(loss, model.trainable_variables)

        digest = hashlib.sha256()
        for gradient in gradients():
            digest.update(np.ascontiguousarray(gradient.numpy()).tobytes())
        digests[mode] = digest.hexdigest()
    return digests


def across_processes(args) -> dict[str, list[str]]:
    import subprocess
    import tempfile

    found: dict[str, list[str]] = {"plain": [], "xla": []}
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.processes):
            target = Path(folder) / f"{index}.json"
            command = [sys.executable, __file__, "--size", str(args.size), "--batch", str(args.batch),
                       "--one-process", str(target)] + (["--parallel-ops"] if args.parallel_ops else []) \
                + (["--tf-sums"] if args.tf_sums else [])
            subprocess.run(command, check=True)
            for mode, digest in json.loads(target.read_text()).items():
                found[mode].append(digest)
    return found


def spin() -> None:
    while True:
        pass


def build(args):
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    entry = load_registry().get("conv_vae_cartoon")
    config = entry.model_class().config_class.from_dict(
        {**entry.model, "image_shape": (args.size, args.size, 3)}, where="conv_vae_cartoon")
    model = VAE(config)
    images = tf.constant(np.random.default_rng(0).random((args.batch, args.size, args.size, 3)).astype("float32"))
    return model, images, tf.zeros((args.batch,), tf.int32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy-looping processes run meanwhile")
    parser.add_argument("--parallel-ops", action="store_true",
                        help="leave TF's inter-op parallelism at its default (`zoo train` runs ops one at a time)")
    parser.add_argument("--tf-sums", action="store_true",
                        help="leave TF's AddN gradient sums (`zoo train` adds in a fixed order in a plain step)")
    parser.add_argument("--out", type=Path, default=RESULTS / "conv_determinism", help="writes OUT.json and OUT.md")
    parser.add_argument("--processes", type=int, default=0, help="compare the gradient across N fresh processes")
    parser.add_argument("--one-process", type=Path, help=argparse.SUPPRESS)  # a worker of --processes
    args = parser.parse_args()
    serialised = False if args.parallel_ops else serialise_ops()
    in_order = False if args.tf_sums else add_gradients_in_order()
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in spinners:
        process.start()
    if args.processes:
        digests = across_processes(args)
        results = {mode: [0.0 if len(set(found)) == 1 else 1.0] for mode, found in digests.items()}
    else:
        model, images, labels = build(args)
        if args.one_process:
            args.one_process.write_text(json.dumps(gradient_digests(model, images, labels)))
            return
        results = {mode: max_differences(model, images, labels, mode == "xla", args.repeats)
                   for mode in ("plain", "xla")}
    for process in spinners:
        process.terminate()
    report = {"command": " ".join(["python", *sys.argv]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
              "size": args.size, "batch": args.batch, "busy_processes": args.busy, "ops_one_at_a_time": serialised,
              "gradients_added_in_order": in_order,
              "load_average_at_end": os.getloadavg(), "max_abs_difference": results}
    if args.processes:
        report = {**report, "processes": args.processes, "gradient_sha256": digests}
        del report["max_abs_difference"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Conv VAE gradient reproducibility on CPU ({args.size} px, batch {args.batch})", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Machine: {os.cpu_count()} cores, {args.busy} busy-looping processes meanwhile, load average at the "
             f"end {', '.join(f'{x:.1f}' for x in report['load_average_at_end'])}; TF ops "
             + ("one at a time (inter-op parallelism 1, as `zoo train` runs)" if serialised
                else "side by side (TF's default inter-op parallelism)")
             + ("; gradient contributions added in a fixed order (zoo.training.gradient_sums)" if in_order
                else "; gradient contributions summed by TF's AddN"), "",
             ]
    if args.processes:
        lines += [f"Across {args.processes} fresh processes, each building the model from seed 0:", "",
                  "| step compiled as | distinct gradients (SHA-256, first 12 hex digits) | bit-identical |", "|---|---|---|"]
        for mode, found in digests.items():
            lines.append(f"| {'tf.function' if mode == 'plain' else 'tf.function(jit_compile=True)'} | "
                         f"{', '.join(sorted({d[:12] for d in found}))} | {'yes' if len(set(found)) == 1 else 'no'} |")
    else:
        lines += ["| step compiled as | max abs difference of repeats vs the first gradient | bit-identical |",
                  "|---|---|---|"]
        for mode, diffs in results.items():
            lines.append(f"| {'tf.function' if mode == 'plain' else 'tf.function(jit_compile=True)'} | "
                         f"{', '.join(f'{d:.3g}' for d in diffs)} | {'yes' if max(diffs) == 0 else 'no'} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
