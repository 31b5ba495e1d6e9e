"""Benchmark: peak memory (RSS) of the test-set evaluation with the IWAE bound at k = 5000.

The model is the registry's default ``vae`` (MLP 784-512-512-32, Bernoulli pixels)
with its initial random weights: memory does not depend on the weight values. The
work measured is exactly what ``zoo evaluate RUN --iw-samples K --no-figures``
does after loading: ``zoo.evaluation.evaluate`` over the statically binarised
MNIST test images with the default evaluation config (batch 500, chunk 100), i.e.
ELBO terms, the IWAE bound, KL per dimension, active units, reconstruction error.

Peak RSS is a whole-process maximum, so every image count runs in its own fresh
Python process (``--worker``), which reports ``getrusage(RUSAGE_SELF).ru_maxrss``
before and after the evaluation. Running several counts (e.g. 500, 2000 and
10000 images) shows whether memory grows with the data size (it should not:
evaluation keeps running sums only).

    python benchmarks/iwae_memory.py --k 5000 --images 500 2000 10000

writes ``benchmarks/results/iwae_memory.json`` and ``.md`` (with the command,
machine, date and the numbers) and exits 1 when any peak exceeds ``--limit-gb``
(default 4). This is a benchmark, not a test: at k = 5000 on all 10 000 test
images it takes about half an hour on two loaded CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(args: argparse.Namespace) -> dict:
    """One measurement in this (fresh) process; prints a JSON line."""
    import numpy as np

    from zoo.data import load_dataset
    from zoo.evaluation import evaluate
    from zoo.evaluation.runner import test_arrays
    from zoo.registry import load_registry
    from zoo.run_spec import resolve
    from zoo.training.trainer import build_model, configure_determinism

    spec = resolve(load_registry().get("vae"), {
        "data": {"data_dir": args.data_dir, "test_subset": args.images[0], "train_subset": 1},
        "evaluation": {"iw_samples": args.k, "figures": False},
    })
    data = load_dataset(spec.data)
    configure_determinism(0, True)
    model = build_model(spec, data)
    images, labels = test_arrays(data, "dynamic")
    rss_before = _current_rss_mb()
    peak_before = _peak_rss_mb()
    started = time.perf_counter()
    metrics = evaluate(model, images, labels, spec.evaluation)
    seconds = time.perf_counter() - started
    return {
        "images": int(len(images)),
        "k": args.k,
        "iw_chunk": spec.evaluation.iw_chunk,
        "batch_size": spec.evaluation.batch_size,
        "parameters": int(model.count_params()),
        "rss_before_mb": round(rss_before, 1),
        "peak_before_evaluation_mb": round(peak_before, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "evaluation_seconds": round(seconds, 1),
        "iwae": float(metrics["iwae"]),
        "elbo": float(metrics["elbo"]),
        "finite": bool(np.isfinite(metrics["iwae"]) and np.isfinite(metrics["elbo"])),
    }


def machine() -> dict:
    with open("/proc/meminfo") as handle:
        total_kb = int(next(line for line in handle if line.startswith("MemTotal:")).split()[1])
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)),
        "ram_gb": round(total_kb / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [float(x) for x in load],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5000, help="importance samples")
    parser.add_argument("--images", type=int, nargs="+", default=[500, 2000, 10000],
                        help="test image counts, each measured in its own process")
    parser.add_argument("--limit-gb", type=float, default=4.0)
    parser.add_argument("--data-dir", default=os.environ.get("ZOO_DATA_DIR") or str(REPO_ROOT.parent / "shared" / "datasets"))
    parser.add_argument("--out", type=Path, default=RESULTS / "iwae_memory")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return 0

    command = "python benchmarks/iwae_memory.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    started = datetime.now(timezone.utc)
    host = machine()  # before the measurements, so the load average is the one they started under
    rows: list[dict] = []
    result: dict = {"all_under_limit": True}
    for count in args.images:
        wall = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--worker", "--k", str(args.k), "--images", str(count),
                                "--data-dir", args.data_dir], capture_output=True, text=True)
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"worker for {count} images failed ({child.returncode})")
        row = json.loads(next(line[7:] for line in child.stdout.splitlines() if line.startswith("RESULT ")))
        row["process_wall_seconds"] = round(time.perf_counter() - wall, 1)
        row["load_average_after"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
        rows.append(row)
        print(json.dumps(row), flush=True)
        result = write_results(args, command, started, host, rows)  # after every row: a long run keeps what it has
    return 0 if result["all_under_limit"] else 1


def write_results(args: argparse.Namespace, command: str, started: datetime, host: dict, rows: list[dict]) -> dict:
    limit_mb = args.limit_gb * 1024
    result = {
        "command": command,
        "date": started.isoformat(timespec="seconds"),
        "machine": host,
        "model": "vae (registry default: MLP 784-512-512-32, bernoulli), random initial weights",
        "data": "MNIST test split (first N images), binarised once with seed 0",
        "limit_mb": limit_mb,
        "measurements": rows,
        "all_under_limit": all(row["peak_rss_mb"] < limit_mb for row in rows),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    return result


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"# Peak memory of `zoo evaluate` with the IWAE bound (k = {result['measurements'][0]['k']})",
        "",
        f"Produced by: `{result['command']}` on {result['date']}.",
        "",
        f"Machine: {m['nproc']} CPUs ({m['affinity_cpus']} usable), {m['ram_gb']} GB RAM, no GPU, {m['platform']}, "
        f"Python {m['python']}; {_load_note(result)} (the machine is shared with other jobs, so wall times are "
        "indicative only; peak RSS does not depend on load).",
        "",
        f"Model: {result['model']}. Data: {result['data']}. Evaluation config: the default "
        f"(batch {result['measurements'][0]['batch_size']}, iw_chunk {result['measurements'][0]['iw_chunk']}). "
        "Each row is a fresh process; peak RSS is `getrusage(RUSAGE_SELF).ru_maxrss` at the end (the whole "
        "process: TensorFlow, the MNIST arrays `zoo evaluate` loads, the model and the evaluation); "
        "'RSS before evaluation' is VmRSS after imports, data loading and model building.",
        "",
        "| test images | k | RSS before evaluation (MB) | peak RSS (MB) | peak − RSS before (MB) | "
        "evaluation wall time (s) | load average after | IWAE (nats) | ELBO (nats) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for row in result["measurements"]:
        load = row.get("load_average_after")
        lines.append(f"| {row['images']} | {row['k']} | {row['rss_before_mb']:.0f} | {row['peak_rss_mb']:.0f} | "
                     f"{row['peak_rss_mb'] - row['rss_before_mb']:.0f} | {row['evaluation_seconds']:.0f} | "
                     f"{' '.join(f'{x:.1f}' for x in load) if load else '-'} | {row['iwae']:.2f} | "
                     f"{row['elbo']:.2f} |")
    peak = max(row["peak_rss_mb"] for row in result["measurements"])
    verdict = "under" if result["all_under_limit"] else "OVER"
    lines += [
        "",
        f"Largest peak: {peak:.0f} MB, {verdict} the {result['limit_mb'] / 1024:.0f} GB limit.",
        "",
        "'RSS before evaluation' includes the test images as float32 (N x 784 x 4 bytes: 31 MB for 10 000); "
        "'peak − RSS before' is what the evaluation itself adds (running sums, one batch x one chunk of "
        "importance samples), which is what must not grow with the number of images.",
        "",
    ]
    return "\n".join(lines)


def _load_note(result: dict) -> str:
    m = result["machine"]
    if "load_average_at_start" in m:
        return f"load average at start {m['load_average_at_start']}"
    return f"load average when the results were written {m['load_average_at_end']}"


if __name__ == "__main__":
    raise SystemExit(main())
