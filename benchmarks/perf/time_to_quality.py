"""Time to quality: wall time from `zoo train` starting to a model whose test NLL reaches a target.

    ZOO_DATA_DIR=... python benchmarks/perf/time_to_quality.py --epochs 100 --every 10 \
        [--set train.learning_rate_schedule=cosine ...] [--target 86.76] [--k 5000]

Runs `zoo train MODEL --dataset mnist` (dynamic binarisation; any `--set` is passed on) as a child process
and watches its run folder: whenever an epoch that is a multiple of ``--every`` (or the last) is written,
its checkpoint is copied aside with the wall time since the command started. Nothing else runs while it
trains, and no evaluation is inside the timed part. Afterwards the snapshots are scored on the 10,000 test
images by the IWAE bound (see find_first_reached): at ``--screen-k`` importance samples back from the last
until one is clearly above the target, then at ``--k`` by bisection for the first that reaches it. The time
to quality is that snapshot's wall time since the start.
Writes benchmarks/results/perf/time_to_quality.{json,md} (``--out`` elsewhere).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE.parent / "results" / "perf"
sys.path.insert(0, str(HERE))
from machine import cpu_name  # noqa: E402


def zoo_command(args, run_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "zoo", "train", args.model, "--dataset", "mnist", "--epochs", str(args.epochs),
               "--binarization", "dynamic", "--seed", str(args.seed), "--no-eval", "--out", str(run_dir),
               "--overwrite"]
    for item in args.set:
        command += ["--set", item]
    return command


def train_and_snapshot(args, run_dir: Path, snapshots: Path) -> tuple[list[dict], float]:
    """Trains, copying each chosen epoch's checkpoint as soon as state.json names it; returns the snapshots."""
    snapshots.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(zoo_command(args, run_dir), env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    taken, seen = [], None
    state_path = run_dir / "state.json"
    while True:
        finished = proc.poll() is not None
        try:
            state = json.loads(state_path.read_text())
        except (OSError, json.JSONDecodeError):  # not written yet, or being replaced
            state = None
        if state and state.get("checkpoint") and state["epoch"] != seen:
            seen = state["epoch"]
            if seen % args.every == 0 or seen == args.epochs:
                elapsed = time.perf_counter() - started
                source = run_dir / "checkpoints" / state["checkpoint"]
                target = snapshots / f"epoch-{seen:04d}{source.suffix}"
                try:
                    shutil.copyfile(source, target)
                    taken.append({"epoch": seen, "wall_seconds": elapsed, "path": str(target)})
                except FileNotFoundError:  # replaced by the next epoch's before it could be copied
                    print(f"epoch {seen}: checkpoint gone before it was copied", file=sys.stderr)
        if finished:
            break
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"zoo train failed ({proc.returncode}):\n{proc.stderr.read()[-3000:]}")
    return taken, time.perf_counter() - started


def score(snapshot: dict, k: int, data, spec) -> float:
    """The test NLL bound −mean log p(x) at k importance samples, as `zoo evaluate` computes it."""
    from zoo.data import eval_dataset
    from zoo.evaluation.metrics import is_conditional, iwae_bound
    from zoo.evaluation.runner import test_arrays
    from zoo.saving import load_model

    model = load_model(snapshot["path"], spec.class_path)
    model.finalize(eval_dataset(data.train, batch_size=1000, binarization="dynamic", seed=0))
    images, labels = test_arrays(data, "dynamic")
    bound = iwae_bound(model, images, labels if is_conditional(model) else None, num_samples=k, batch_size=1000)
    return float(-bound.numpy().mean())


def find_first_reached(taken: list[dict], args, score_at: Callable[[dict, int], float]) -> dict | None:
    """The earliest snapshot whose NLL at ``args.k`` is at or below the target, or None.

    Scoring at k = 5000 takes minutes per snapshot, so it assumes what training curves show, that the NLL falls
    with the epochs, and probes as few snapshots as that allows: screening at ``args.screen_k`` walks back from the
    last snapshot and stops at the first one more than ``args.margin`` above the target (the screen's looser bound
    is then above it at k too, and so are the earlier ones), then the first snapshot at k is found by bisection
    over the remaining candidates. Every score taken is stored on its snapshot.
    """
    screen_key, full_key = f"nll_k{args.screen_k}", f"nll_k{args.k}"
    candidates = []
    for snap in reversed(taken):
        snap[screen_key] = score_at(snap, args.screen_k)
        print(f"epoch {snap['epoch']}: {snap['wall_seconds']:.0f} s, NLL at k={args.screen_k} "
              f"{snap[screen_key]:.2f}", flush=True)
        if snap[screen_key] - args.margin > args.target:
            break
        candidates.insert(0, snap)
    low, high, reached = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        snap = candidates[middle]
        snap[full_key] = score_at(snap, args.k)
        print(f"epoch {snap['epoch']}: NLL at k={args.k} {snap[full_key]:.2f}", flush=True)
        if snap[full_key] <= args.target:
            reached, high = snap, middle - 1
        else:
            low = middle + 1
    return reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vae")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--every", type=int, default=10, help="snapshot every N epochs (and the last)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--target", type=float, default=86.76, help="test NLL in nats (Burda et al. 2015's VAE)")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--screen-k", type=int, default=500)
    parser.add_argument("--margin", type=float, default=1.0)
    parser.add_argument("--work-dir", default=str(REPO / "runs" / "time_to_quality"))
    parser.add_argument("--out", default=str(RESULTS / "time_to_quality"))
    args = parser.parse_args()

    work = Path(args.work_dir)
    run_dir, snapshots = work / "run", work / "snapshots"
    sys.path.insert(0, str(REPO))
    from zoo.run_dir import git_commit

    report = {"command": " ".join(["python", *sys.argv]), "train_command": " ".join(zoo_command(args, run_dir)[2:]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{cpu_name()}, {os.cpu_count()} cores", "git_commit": git_commit(),
              "load_average_at_start": os.getloadavg(), "target_nll": args.target, "k": args.k,
              "screen_k": args.screen_k}
    taken, train_seconds = train_and_snapshot(args, run_dir, snapshots)
    report.update(train_wall_seconds=train_seconds, load_average_after_training=os.getloadavg())

    from zoo.data import load_dataset
    from zoo.run_spec import RunSpec

    spec = RunSpec.from_dict(json.loads((run_dir / "config.json").read_text()))
    data = load_dataset(spec.data)
    reached = find_first_reached(taken, args, lambda snap, k: score(snap, k, data, spec))
    report["snapshots"] = taken
    report["reached"] = reached and {"epoch": reached["epoch"], "wall_seconds": reached["wall_seconds"],
                                     "nll": reached[f"nll_k{args.k}"]}
    report["load_average_at_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    write_md(report, out)


def write_md(report: dict, out: Path) -> None:
    k, screen = report["k"], report["screen_k"]
    reached = report["reached"]
    lines = [f"# Time to quality: `zoo train` to a test NLL of {report['target_nll']} nats", "",
             f"Command: `{report['command']}`  ", f"Training: `{report['train_command']}`  ",
             f"Date: {report['date']}; commit {report['git_commit']}  ",
             f"Machine: {report['machine']}; load average {report['load_average_at_start']} → "
             f"{report['load_average_after_training']} (training)  ",
             f"Training wall time, whole command: {report['train_wall_seconds'] / 60:.1f} min", "",
             "**" + (f"Reached at epoch {reached['epoch']}, {reached['wall_seconds'] / 60:.1f} min after the start "
                     f"(NLL {reached['nll']:.2f} at k = {k})." if reached else
                     f"Not reached: no snapshot's NLL at k = {k} is at or below the target.") + "**", "",
             f"| epoch | wall time since start (min) | NLL, k = {screen} | NLL, k = {k} |", "|---:|---:|---:|---:|"]
    for snap in report["snapshots"]:
        full = snap.get(f"nll_k{k}")
        cells = [snap.get(f"nll_k{screen}"), full]
        lines.append(f"| {snap['epoch']} | {snap['wall_seconds'] / 60:.1f} | "
                     + " | ".join(f"{v:.2f}" if v is not None else "—" for v in cells) + " |")
    lines += ["", "NLL is −(1/N) Σ log p̂(x) with the IWAE bound on all 10,000 test images, binarised once with "
              "zoo's fixed test seed; snapshots are scored after training, outside the timed part. — : not scored at that "
              "k (the NLL falls with the epochs, so the screen stops at the first snapshot clearly above the target "
              f"and the k = {k} scores bisect the rest)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
