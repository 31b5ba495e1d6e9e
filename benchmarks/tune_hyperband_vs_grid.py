"""Benchmark: Hyperband against a full grid on beta_vae's search space.

Space (the β-VAE study's): β in [0.1, 10] on a log scale × latent size in {2, 4, 8, 16, 32, 64}.

- Hyperband (``zoo tune``'s, keras-tuner's oracle) samples β continuously (log) and
  latent sizes from the list, with the largest budget ``--epochs`` and ``--factor``.
- The grid trains every pair of ``--betas`` log-spaced β values × the six latent
  sizes for ``--epochs`` epochs each (keras-tuner's GridSearch over the same
  zoo HyperModel, so both share data pipeline, model, seed and objective).

Both optimise the validation β = 1 ELBO (``val_elbo``, maximised). Reported: the
best val_elbo each finds, the epochs each spends (the cost measure that does not
depend on machine load), wall time, and where Hyperband's best lands among the
grid's results.

    python benchmarks/tune_hyperband_vs_grid.py --epochs 3 --train-subset 10000

writes ``benchmarks/results/tune_hyperband_vs_grid.json`` and ``.md`` (with the
command that produced them). Search folders go to ``--work-dir`` (default a
temporary folder). This is a benchmark, not a test: at full scale (``--epochs 20``,
all 55 000 training images) it takes hours on a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parent.parent
LATENTS = [2, 4, 8, 16, 32, 64]


def _log_grid(low: float, high: float, count: int) -> list[float]:
    if count == 1:
        return [math.sqrt(low * high)]
    return [round(low * (high / low) ** (i / (count - 1)), 6) for i in range(count)]


def _epochs_spent(rows: list[dict]) -> int:
    return int(sum(row.get("epochs") or 0 for row in rows))


def run_hyperband(entry, overrides, args, work: Path) -> dict:
    from zoo.tuning import tune

    out = work / "hyperband"
    started = time.perf_counter()
    summary = tune(entry, overrides, tuner="hyperband", objective="val_elbo", max_epochs=args.epochs,
                   factor=args.factor, out=out, overwrite=True, seed=args.seed, verbose=0)
    seconds = time.perf_counter() - started
    rows = json.loads((out / "trials.json").read_text())["trials"]
    best = next(row for row in rows if row["trial_id"] == summary["best_trial"])
    return {"best_val_elbo": best["objective"], "best": best["hyperparameters"],
            "best_trial_epochs": best.get("total_epochs"), "trials": len(rows), "epochs_spent": _epochs_spent(rows),
            "seconds": round(seconds, 1), "out": str(out),
            "trials_detail": [{k: row.get(k) for k in ("trial_id", "hyperparameters", "objective", "val_rate",
                                                          "val_distortion", "total_epochs", "epochs")} for row in rows]}


def run_grid(entry, overrides, args, work: Path) -> dict:
    import keras_tuner

    from zoo.data import load_dataset
    from zoo.run_spec import resolve
    from zoo.tuning.hypermodel import RegistryHyperModel, ZooTunerMixin
    from zoo.tuning.report import collect_trials
    from zoo.tuning.space import parse_search_space

    class ZooGridSearch(ZooTunerMixin, keras_tuner.GridSearch):
        """keras-tuner's grid over the same zoo HyperModel (benchmark only)."""

    betas = _log_grid(0.1, 10.0, args.betas)
    grid_entry = dataclasses.replace(entry, search_space={"beta": {"values": betas},
                                                           "latent_dim": {"values": LATENTS}})
    params = parse_search_space(grid_entry, overrides)
    spec = resolve(grid_entry, overrides)
    data = load_dataset(spec.data)
    hypermodel = RegistryHyperModel(grid_entry, overrides, params, data, objective="val_elbo", verbose=0)
    out = work / "grid"
    started = time.perf_counter()
    search = ZooGridSearch(hypermodel=hypermodel, objective=keras_tuner.Objective("val_elbo", "max"),
                           max_trials=len(betas) * len(LATENTS), seed=spec.train.seed, directory=str(work),
                           project_name="grid", overwrite=True)
    search.search(epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - started
    rows = collect_trials(search.oracle, out, params, "val_elbo", hypermodel.spec_for)
    done = [row for row in rows if row["status"] == "COMPLETED"]
    best = max(done, key=lambda row: row["objective"])
    return {"betas": betas, "latents": LATENTS, "best_val_elbo": best["objective"], "best": best["hyperparameters"],
            "trials": len(rows), "completed": len(done), "epochs_spent": _epochs_spent(rows),
            "seconds": round(seconds, 1), "out": str(out), "validation_images": len(data.validation.x),
            "train_images": len(data.train.x),
            "table": [{"beta": row["hyperparameters"]["beta"], "latent_dim": row["hyperparameters"]["latent_dim"],
                       "val_elbo": row["objective"], "val_rate": row["val_rate"],
                       "val_distortion": row["val_distortion"]} for row in done]}


def markdown(result: dict) -> str:
    hb, grid, setup = result["hyperband"], result["grid"], result["setup"]
    better = sum(1 for row in grid["table"] if row["val_elbo"] > hb["best_val_elbo"])
    lines = [
        "# Hyperband vs full grid on beta_vae (β × latent size)",
        "",
        f"Produced by: `{result['command']}`",
        "",
        f"Scale: {setup['dataset']}, {setup['train_subset'] or 'all'} training images, "
        f"{setup['validation_images']} validation images, {setup['epochs']} epochs as the largest budget, "
        f"Hyperband factor {setup['factor']}, seed {setup['seed']}, model: {setup['model']}. "
        f"Machine: {setup['machine']} (shared with other jobs, so wall times are indicative only; "
        "epochs spent is the load-independent cost).",
        "",
        "| search | trials | epochs spent | wall time (s) | best val_elbo (nats) | best β | best latent |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| Hyperband | {hb['trials']} | {hb['epochs_spent']} | {hb['seconds']} | {hb['best_val_elbo']:.2f} | "
        f"{hb['best']['beta']:.3g} | {hb['best']['latent_dim']} |",
        f"| grid ({len(grid['betas'])} β × {len(grid['latents'])} latent) | {grid['trials']} | "
        f"{grid['epochs_spent']} | {grid['seconds']} | {grid['best_val_elbo']:.2f} | {grid['best']['beta']:.3g} | "
        f"{grid['best']['latent_dim']} |",
        "",
        f"Hyperband spent {hb['epochs_spent'] / grid['epochs_spent']:.0%} of the grid's epochs; its best "
        f"val_elbo is {hb['best_val_elbo'] - grid['best_val_elbo']:+.2f} nats from the grid's best, and "
        f"{better} of the {len(grid['table'])} grid points beat it.",
        "",
        "Grid val_elbo (rows β, columns latent size):",
        "",
        "| β \\ latent | " + " | ".join(str(z) for z in grid["latents"]) + " |",
        "| --- | " + " | ".join("---:" for _ in grid["latents"]) + " |",
    ]
    for beta in grid["betas"]:
        cells = []
        for latent in grid["latents"]:
            match = [row for row in grid["table"] if row["beta"] == beta and row["latent_dim"] == latent]
            cells.append(f"{match[0]['val_elbo']:.1f}" if match else "–")
        lines.append(f"| {beta:.3g} | " + " | ".join(cells) + " |")
    lines += ["", "Hyperband trials:", "", "| trial | β | latent | epochs (total) | val_elbo |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for row in hb["trials_detail"]:
        value = "failed" if row["objective"] is None else f"{row['objective']:.2f}"
        lines.append(f"| {row['trial_id']} | {row['hyperparameters']['beta']:.3g} | "
                     f"{row['hyperparameters']['latent_dim']} | {row['epochs']} ({row['total_epochs']}) | {value} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="largest budget per trial (grid: every trial)")
    parser.add_argument("--train-subset", type=int, default=10000, help="training images (0: all)")
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--betas", type=int, default=5, help="log-spaced β values in the grid")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband reduction factor")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None, help="search folders (default: a temporary folder)")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO_ROOT))
    from zoo.registry import load_registry

    entry = load_registry().get("beta_vae")
    # The study's fixed space, whatever the registry file says today.
    entry = dataclasses.replace(entry, search_space={"beta": {"min": 0.1, "max": 10.0, "log": True},
                                                     "latent_dim": {"values": LATENTS}})
    overrides = {"data": {"name": args.dataset, "validation_size": args.validation_size}}
    if args.train_subset:
        overrides["data"]["train_subset"] = args.train_subset
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="zoo-bench-tune-"))
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO_ROOT),
                                                               *(argv if argv is not None else sys.argv[1:])])
    hyperband = run_hyperband(entry, overrides, args, work)
    grid = run_grid(entry, overrides, args, work)
    from zoo.run_spec import resolve

    spec = resolve(entry, overrides)
    result = {
        "command": command,
        "setup": {"dataset": args.dataset, "train_subset": args.train_subset or None,
                  "validation_images": grid["validation_images"], "epochs": args.epochs,
                  "factor": args.factor, "seed": args.seed, "betas": args.betas,
                  "model": f"BetaVAE MLP {list(spec.model_config().hidden_units)} "
                           f"({spec.model_config().likelihood}), batch {spec.train.batch_size}, "
                           f"lr {spec.train.learning_rate}",
                  "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU" if not _gpus() else
                             f"{platform.machine()}, GPUs: {_gpus()}"},
        "hyperband": hyperband,
        "grid": grid,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    from zoo import io as zio

    zio.write_json(args.results / "tune_hyperband_vs_grid.json", result)
    zio.write_text(args.results / "tune_hyperband_vs_grid.md", markdown(result))
    print(markdown(result))


def _gpus() -> list[str]:
    import tensorflow as tf

    return [device.name for device in tf.config.list_physical_devices("GPU")]


if __name__ == "__main__":
    main()
