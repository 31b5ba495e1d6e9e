"""Does the gradient of a continuous Bernoulli log-density come out the same in every fresh process?

    python benchmarks/sum_order_determinism.py --processes 16 --busy 2

The smallest case of the conv VAE's cross-process difference (docs/reliability.md): the gradient with respect
to the logits (64 x 128 x 128 x 3, fixed seed) of the continuous Bernoulli log-density of fixed images, which
sums three terms per pixel (-softplus(l) (1 - x), -softplus(-l) x and TFP's log-normaliser). Five variants,
each computed once in each of N fresh processes, TF ops one at a time and TF deterministic ops on, as
`zoo train` runs:

- ``TFP's log_prob, AddN``: ``tfd.ContinuousBernoulli(logits).log_prob``, as zoo's likelihood computes it, with
  the tape's AddN sums (the logits feed more than two of its ops);
- ``TFP's log_prob, in order``: the same with zoo.training.gradient_sums adding left to right, two at a time;
- ``three terms, AddN`` and ``three terms, in order``: the three terms written out, without TFP's other ops;
- ``two terms, AddN``: the log-normaliser left out, so AddN adds two contributions (exact in any order).

``--busy N`` runs N busy-looping processes meanwhile: the difference follows thread timing, so it shows on a
busy machine. Writes OUT.json and OUT.md (default benchmarks/results/sum_order_determinism).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("TFP's log_prob, AddN", "TFP's log_prob, in order", "three terms, AddN", "three terms, in order",
            "two terms, AddN")


def one_process(variant: str) -> str:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import zoo  # noqa: F401  (first, as in `zoo train`: TensorFlow's CPU defaults, oneDNN on)
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp
    from tensorflow_probability.python.distributions.continuous_bernoulli import _log_xexp_ratio

    from zoo.training.devices import serialise_ops
    from zoo.training.gradient_sums import add_gradients_in_order

    serialise_ops()
    tf.config.experimental.enable_op_determinism()
    if variant.endswith("in order"):
        add_gradients_in_order()
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(64, 128, 128, 3)).astype("float32") * 3)
    images = tf.constant(rng.random((64, 128, 128, 3)).astype("float32"))

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            tape.watch(logits)
            if variant.startswith("TFP"):
                log_density = tfp.distributions.ContinuousBernoulli(logits=logits).log_prob(images)
            else:
                log_density = -tf.nn.softplus(logits) * (1.0 - images) - tf.nn.softplus(-logits) * images
            if variant.startswith("three"):
                log_density += _log_xexp_ratio(logits)  # TFP's continuous Bernoulli log-normaliser
            loss = -tf.reduce_mean(tf.reduce_sum(log_density, [1, 2, 3]))
        return tape.gradient(loss, logits)

    return hashlib.sha256(np.ascontiguousarray(gradient().numpy()).tobytes()).hexdigest()


def spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--busy", type=int, default=2, help="busy-looping processes run meanwhile")
    parser.add_argument("--out", type=Path, default=RESULTS / "sum_order_determinism")
    parser.add_argument("--one-process", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_process:
        print(one_process(args.one_process))
        return
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for process in spinners:
        process.start()
    digests: dict[str, list[str]] = {variant: [] for variant in VARIANTS}
    try:
        for _ in range(args.processes):
            for variant in VARIANTS:  # interleaved, so the variants share the load
                done = subprocess.run([sys.executable, __file__, "--one-process", variant], check=True,
                                      capture_output=True, text=True)
                digests[variant].append(done.stdout.strip().splitlines()[-1])
    finally:
        for process in spinners:
            process.terminate()
    report = {"command": " ".join(["python", *sys.argv]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "cores": os.cpu_count(), "busy_processes": args.busy, "processes": args.processes,
              "load_average_at_end": os.getloadavg(), "gradient_sha256": digests}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Gradient of a three-term log-density across fresh processes", "",
             f"Command: `{report['command']}`  ", f"Date: {report['date']}  ",
             f"Machine: {os.cpu_count()} cores, {args.busy} busy-looping processes meanwhile, load average at the "
             f"end {', '.join(f'{x:.1f}' for x in report['load_average_at_end'])}; TF ops one at a time, TF "
             "deterministic ops on", "",
             f"Each variant computed once in each of {args.processes} fresh processes:", "",
             "| gradient contributions | processes per distinct gradient (SHA-256, first 12 hex digits) | "
             "bit-identical |", "|---|---|---|"]
    for variant, found in digests.items():
        counts = ", ".join(f"{digest[:12]}: {n}" for digest, n in Counter(found).most_common())
        lines.append(f"| {variant} | {counts} | {'yes' if len(set(found)) == 1 else 'no'} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
