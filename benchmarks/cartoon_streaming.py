"""Benchmark: peak memory of a short Cartoon Set run at 128 x 128, images held in memory vs streamed.

Runs the same ``zoo train conv_vae_cartoon --dataset cartoon --image-size 128 --epochs 1 --no-eval``
command (plus ``--train-subset`` if given) under ``/usr/bin/time -v`` once per
``data.memory_budget_mb`` value, each with an empty image cache
(``ZOO_CACHE_DIR`` in a fresh temporary folder) and its own run folder, and
records the maximum resident set size and wall time of each process.

    python benchmarks/cartoon_streaming.py --train-subset 2000 --budgets 100000 0

writes ``benchmarks/results/cartoon_streaming.json`` and ``.md`` with the exact
commands. A budget larger than the decoded size holds the images in memory; a
smaller one (0: always) streams the training split from disk (see
``zoo/data/datasets.py``). This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "benchmarks" / "results"


def run_one(args: argparse.Namespace, budget: int, work: Path) -> dict:
    zoo = [sys.executable, "-m", "zoo"]
    command = ["train", "conv_vae_cartoon", "--dataset", "cartoon", "--image-size", str(args.image_size),
               "--epochs", "1", "--no-eval", "--set", f"data.memory_budget_mb={budget}",
               "--out", str(work / f"run-{budget}")]
    if args.train_subset:
        command += ["--train-subset", str(args.train_subset)]
    env = {**os.environ, "ZOO_CACHE_DIR": str(work / f"cache-{budget}"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    result = subprocess.run(["/usr/bin/time", "-v", *zoo, *command], capture_output=True, text=True, env=env,
                            cwd=REPO_ROOT)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"zoo train with budget {budget} failed ({result.returncode})")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    line = next((l for l in result.stdout.splitlines() if l.startswith("training ")), "")
    state = json.loads((work / f"run-{budget}" / "state.json").read_text())
    train, validation = (int(n) for n in re.search(r"(\d+) train / (\d+) validation", line).groups())
    test = round(10000 * 0.1)  # Cartoon Set: 10 000 files, test_fraction 0.1
    decoded_mb = (train + validation + test) * args.image_size ** 2 * 3 / 2**20
    return {
        "memory_budget_mb": budget,
        "train_images": train,
        "decoded_mb": round(decoded_mb, 1),
        "training_split": "streamed from disk" if decoded_mb > budget else "held in memory",
        "command": "zoo " + " ".join(shlex.quote(c) for c in command),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "wall_seconds": round(wall, 1),
        "epoch_seconds": state["history"][0]["seconds"],
        "train_log": line,
        "val_elbo": state["history"][0]["val_elbo"],
        "load_average_after": [float(x) for x in open("/proc/loadavg").read().split()[:3]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-subset", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--budgets", type=int, nargs="+", default=[100000, 0])
    parser.add_argument("--out", type=Path, default=RESULTS / "cartoon_streaming")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zoo-cartoon-bench-") as tmp:
        for budget in args.budgets:
            rows.append(run_one(args, budget, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    with open("/proc/meminfo") as handle:
        total_kb = int(next(line for line in handle if line.startswith("MemTotal:")).split()[1])
    result = {
        "command": "python benchmarks/cartoon_streaming.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": started.isoformat(timespec="seconds"),
        "machine": {"nproc": os.cpu_count(), "ram_gb": round(total_kb / 1024**2, 1), "platform": platform.platform()},
        "data_dir": os.environ.get("ZOO_DATA_DIR"),
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Peak memory of a {args.image_size} x {args.image_size} Cartoon Set run: held in memory vs streamed",
        "",
        f"Produced by: `{result['command']}` on {result['date']} (ZOO_DATA_DIR={result['data_dir']}).",
        "",
        f"Machine: {result['machine']['nproc']} CPUs, {result['machine']['ram_gb']} GB RAM, no GPU, "
        f"{result['machine']['platform']}; shared with other jobs, so times are indicative only.",
        "",
        "Each row is one `zoo train` process under `/usr/bin/time -v` with an empty image cache; "
        "peak RSS is its 'Maximum resident set size'.",
        "",
        "| memory_budget_mb | train images | decoded train+val+test (MB) | training split | peak RSS (MB) | "
        "epoch time (s) | process wall time (s) | val ELBO |",
        "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(f"| {row['memory_budget_mb']} | {row['train_images']} | {row['decoded_mb']:.0f} | "
                     f"{row['training_split']} | {row['peak_rss_mb']:.0f} | {row['epoch_seconds']:.0f} | "
                     f"{row['wall_seconds']:.0f} | {row['val_elbo']:.2f} |")
    lines += ["", "Commands:", ""] + [f"- `{row['command']}`" for row in rows] + [""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
