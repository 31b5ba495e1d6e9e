"""Benchmark: the IWAE bound of the mixture-prior presets with zoo's mixture density against TFP's.

``vamp`` (K = 500 pseudo-inputs) and ``mog_vae`` (K = 10) score log p(z) of every importance sample. zoo's
``DiagonalGaussianMixture`` takes it as one float64 matrix product; ``tfd.MixtureSameFamily`` broadcasts
each code against every component. Both are timed on the same model (the preset at its initial weights;
the density's cost does not depend on the weights) and the same images, alternating round by round, and the
two bounds are compared.

    python benchmarks/perf/mixture_prior.py --images 1000 --k 200 --rounds 5

writes ``benchmarks/results/perf/mixture_prior.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "perf"
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402


def measure(name: str, images, k: int, rounds: int) -> dict:
    import numpy as np
    import tensorflow_probability as tfp

    from zoo.evaluation.metrics import iwae_bound
    from zoo.registry import load_registry
    from zoo.run_spec import resolve

    spec = resolve(load_registry().get(name))
    build = lambda: spec.model_class()(spec.model_config(image_shape=images.shape[1:], num_classes=10))  # noqa: E731
    models = {"zoo": build(), "tfp": build()}
    models["tfp"].set_weights(models["zoo"].get_weights())
    fast_prior = models["tfp"].prior

    def tfp_prior(labels=None):
        mixture = fast_prior(labels)
        return tfp.distributions.MixtureSameFamily(mixture.mixture_distribution, mixture.components_distribution)

    # iwae_bound compiles one function per model, so each model keeps the density it was first traced with.
    models["tfp"].prior = tfp_prior
    times, bounds = {route: [] for route in models}, {}
    for _ in range(rounds + 1):  # the first round compiles and is not counted
        for route, model in models.items():
            start = time.perf_counter()
            bounds[route] = iwae_bound(model, images, num_samples=k, chunk=100, batch_size=500).numpy()
            times[route].append(time.perf_counter() - start)
    model = models["zoo"]
    return {"seconds": {route: values[1:] for route, values in times.items()},
            "median_seconds": {route: statistics.median(values[1:]) for route, values in times.items()},
            "max_abs_bound_difference": float(np.abs(bounds["zoo"] - bounds["tfp"]).max()),
            "mean_bound": {route: float(b.mean()) for route, b in bounds.items()},
            "components": getattr(model.config, "num_pseudo_inputs", None) or model.config.prior_components}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vamp", "mog_vae"])
    parser.add_argument("--images", type=int, default=1000, help="binarised MNIST test images")
    parser.add_argument("--k", type=int, default=200, help="importance samples per image")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "mixture_prior"), help="output path without suffix")
    args = parser.parse_args(argv)

    from zoo.data import DataConfig, load_dataset

    test = load_dataset(DataConfig(name="mnist")).test.x[: args.images]  # uint8, from ZOO_DATA_DIR
    images = (test >= 128).astype("float32")
    commit = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout.strip() or "unknown"
    report = {"command": " ".join(["python benchmarks/perf/mixture_prior.py", shlex.join(argv or sys.argv[1:])]).strip(),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": commit,
              "machine": describe(),
              "images": args.images, "k": args.k, "results": {}}
    for name in args.models:
        report["results"][name] = measure(name, images, args.k, args.rounds)
    report["machine"]["load_average_at_end"] = os.getloadavg()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    load = report["machine"]
    lines = ["# Mixture priors: the IWAE bound with zoo's mixture density and with TFP's", "",
             f"Command: `{report['command']}`  ",
             f"Date: {report['date']}; commit {report['commit']}  ",
             f"Machine: {load['cpu']}, {load['cores']} cores; load average "
             f"{tuple(round(x, 2) for x in load['load_average_at_start'])} → "
             f"{tuple(round(x, 2) for x in load['load_average_at_end'])}", "",
             f"IWAE bound at k = {args.k} on {args.images:,} statically binarised MNIST test images, batches of "
             f"500, chunks of 100 samples; each preset at its initial weights. Medians of {args.rounds} "
             "alternating rounds after one uncounted round that compiles.", "",
             "| preset | components K | zoo (s) | TFP MixtureSameFamily (s) | TFP / zoo | largest difference "
             "of the per-image bounds (nats) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in report["results"].items():
        zoo_s, tfp_s = r["median_seconds"]["zoo"], r["median_seconds"]["tfp"]
        lines.append(f"| `{name}` | {r['components']} | {zoo_s:.2f} | {tfp_s:.2f} | {tfp_s / zoo_s:.2f} | "
                     f"{r['max_abs_bound_difference']:.1e} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
