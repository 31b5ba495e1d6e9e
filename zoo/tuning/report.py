"""What a finished search leaves in its output folder, besides keras-tuner's own files.

    OUT/
      tune.json             the search settings (checked again by --resume and by workers)
      search/               keras-tuner's project: oracle.json, trial_<id>/trial.json, checkpoints,
                            trial_<id>/zoo-history.json (per-epoch metrics), trial_<id>/zoo-runs/*.json
      trials.csv            one row per trial: hyperparameters, objective, val metrics, epochs
      trials.json           the same with each trial's full config and per-epoch history
      best.yaml             the best trial as a registry entry: zoo train NAME_tuned --registry OUT/best.yaml
      objective.png         the objective against each searched field (β, latent size, ...)
      rate_distortion.png   validation rate against distortion of every trial, the best one marked

All files are written atomically (``zoo.io``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")  # headless: searches run on servers and in CI

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from zoo import io as zio  # noqa: E402
from zoo.registry import Entry  # noqa: E402
from zoo.tuning.space import SearchParam  # noqa: E402

METRICS = ("val_elbo", "val_distortion", "val_rate", "val_iwae")
TUNER_KEYS = {"tuner/epochs": "total_epochs", "tuner/initial_epoch": "initial_epoch", "tuner/bracket": "bracket",
              "tuner/round": "round", "tuner/trial_id": "parent_trial"}
# Data settings that size the search (a subset, a smaller validation split, this machine's data folder),
# not the model: the best entry does not inherit them.
SEARCH_ONLY_DATA = ("train_subset", "validation_size", "test_subset", "data_dir", "download", "name")
DEVICE_TRAIN = ("strategy", "precision")
DPI = 100


def _plain(value: Any) -> Any:
    """numpy scalars, tuples → JSON/YAML-safe Python values."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def _read_json(path: Path) -> Any:
    try:
        return zio.read_json(path)
    except (OSError, ValueError):
        return None


def collect_trials(oracle, project_dir: Path, params: list[SearchParam], objective: str, spec_for) -> list[dict]:
    """One dict per trial the oracle knows, in trial order."""
    rows = []
    for trial_id in sorted(oracle.trials, key=lambda t: (len(t), t)):
        trial = oracle.trials[trial_id]
        values = dict(trial.hyperparameters.values)
        trial_dir = project_dir / f"trial_{trial_id}"
        saved = _read_json(trial_dir / "zoo-history.json") or {}
        history = saved.get("history", [])
        runs = sorted((trial_dir / "zoo-runs").glob("*.json")) if (trial_dir / "zoo-runs").exists() else []
        metrics = {}
        for name in METRICS:
            metrics[name] = (float(trial.metrics.get_last_value(name))
                             if trial.metrics.exists(name) and trial.metrics.get_last_value(name) is not None
                             else None)
        row: dict[str, Any] = {
            "trial_id": trial_id,
            "status": trial.status,
            "hyperparameters": {p.name: _plain(p.decode(values[p.name])) for p in params if p.name in values},
            "objective": None if trial.score is None else float(trial.score),
            **metrics,
            "epochs": len(history),
            "best_epoch": _best_epoch(history, objective),
            "seconds": saved.get("seconds"),
            "runs": len(runs),
        }
        for key, column in TUNER_KEYS.items():
            if key in values:
                row[column] = values[key]
        if "total_epochs" not in row and history:
            row["total_epochs"] = history[-1]["epoch"]
        if trial.message:
            row["message"] = trial.message.strip().splitlines()[-1]
        try:
            row["config"] = {k: v for k, v in spec_for(values).to_dict().items() if k in ("model", "train")}
            if row.get("total_epochs"):
                row["config"]["train"]["epochs"] = row["total_epochs"]  # what the trial trained for
        except Exception as error:  # a failed trial's values may not make a valid config
            row["config"] = None
            row.setdefault("message", str(error).splitlines()[0])
        row["history"] = history
        rows.append(row)
    return rows


def _best_epoch(history: list[dict], objective: str) -> int | None:
    scored = [row for row in history if isinstance(row.get(objective), (int, float)) and math.isfinite(row[objective])]
    if not scored:
        return None
    pick = min if objective == "val_distortion" else max
    return int(pick(scored, key=lambda row: row[objective])["epoch"])


def write_trials(out: Path, rows: list[dict], params: list[SearchParam], objective: str, direction: str,
                 best_id: str | None) -> None:
    columns = ["trial_id", "status", *[p.name for p in params], "objective", *METRICS, "epochs", "total_epochs",
               "initial_epoch", "parent_trial", "best_epoch", "seconds", "runs", "message"]
    if not any(row.get("val_iwae") is not None for row in rows):
        columns.remove("val_iwae")
    for optional in ("initial_epoch", "parent_trial"):
        if not any(optional in row for row in rows):
            columns.remove(optional)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = {**row, **{name: json.dumps(value) if isinstance(value, list) else value
                          for name, value in row["hyperparameters"].items()}}
        writer.writerow({key: ("" if flat.get(key) is None else flat.get(key)) for key in columns})
    zio.write_text(out / "trials.csv", buffer.getvalue())
    zio.write_json(out / "trials.json", {
        "objective": {"name": objective, "direction": direction},
        "best_trial": best_id,
        "search_space": {p.name: p.describe() for p in params},
        "trials": rows,
    })


def best_entry(entry: Entry, overrides: Mapping[str, Mapping[str, Any]], params: list[SearchParam],
               best: dict, dataset: str, summary: str) -> dict[str, Any]:
    """The best trial as a ``models:`` block with one entry, ``<name>_tuned``."""
    sections: dict[str, dict[str, Any]] = {}
    for section in ("model", "train", "data", "evaluation"):
        values = {**getattr(entry, section), **overrides.get(section, {})}
        if section == "data":
            values = {k: v for k, v in values.items() if k not in SEARCH_ONLY_DATA}
        if section == "train":
            values = {k: v for k, v in values.items() if k not in DEVICE_TRAIN or k in entry.train}
        sections[section] = values
    for param in params:
        if param.name in best["hyperparameters"]:
            sections[param.section][param.name] = best["hyperparameters"][param.name]
    body: dict[str, Any] = {"class": entry.class_path,
                            "description": f"{entry.description} [{summary}]".strip() if entry.description else summary}
    if entry.paper:
        body["paper"] = entry.paper
    body["dataset"] = dataset
    for section, values in sections.items():
        if values:
            body[section] = _plain(values)
    body["search_space"] = _plain(dict(entry.search_space))
    return {"models": {f"{entry.name}_tuned": body}}


def write_best_entry(out: Path, block: dict, header: str) -> Path:
    text = yaml.safe_dump(block, sort_keys=False, allow_unicode=True)
    target = out / "best.yaml"
    zio.write_text(target, "".join(f"# {line}\n" for line in header.splitlines()) + text)
    return target


# ------------------------------------------------------------------ plots


def _save(figure: Figure, path: Path) -> Path:
    with zio.atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def _budget_colours(rows: list[dict]):
    budgets = [row.get("total_epochs") or row.get("epochs") or 0 for row in rows]
    varied = len(set(budgets)) > 1
    return budgets, varied


def plot_objective(out: Path, rows: list[dict], params: list[SearchParam], objective: str, direction: str,
                   best_id: str | None) -> Path:
    """One panel per searched field: the objective of each completed trial against the field's value."""
    done = [row for row in rows if row["objective"] is not None and math.isfinite(row["objective"])]
    panels = max(len(params), 1)
    figure = Figure(figsize=(4.2 * panels + 0.8, 3.8))
    figure.subplots_adjust(left=0.12 if panels == 1 else 0.08, right=0.84, bottom=0.16, top=0.84, wspace=0.3)
    budgets, varied = _budget_colours(done)
    norm = Normalize(min(budgets), max(budgets)) if varied else None
    scatter = None
    for index, param in enumerate(params):
        axes = figure.add_subplot(1, panels, index + 1)
        points = [(row["hyperparameters"].get(param.name), row) for row in done if param.name in row["hyperparameters"]]
        numeric = param.kind != "choice" or all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in (param.decode(c) for c in param.values))
        if numeric:
            xs = [float(value) for value, _ in points]
        else:
            labels = [json.dumps(param.decode(c)) for c in param.values]
            xs = [labels.index(json.dumps(value)) for value, _ in points]
            axes.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ys = [row["objective"] for _, row in points]
        colours = [row.get("total_epochs") or row.get("epochs") or 0 for _, row in points]
        style = dict(c=colours, cmap="viridis", norm=norm) if varied else dict(color="tab:blue")
        scatter = axes.scatter(xs, ys, s=30, edgecolors="none", alpha=0.85, **style)
        for x, (_, row) in zip(xs, points):
            if row["trial_id"] == best_id:
                axes.scatter([x], [row["objective"]], marker="*", s=260, facecolors="none", edgecolors="red",
                             linewidths=1.5, label=f"best (trial {best_id})", zorder=3)
        if numeric and param.log_axis:
            axes.set_xscale("log", base=2 if param.kind != "float" else 10)
        axes.set_xlabel(f"{param.name}" + (" (log scale)" if numeric and param.log_axis else ""))
        if index == 0:
            axes.set_ylabel(f"{objective} ({'higher' if direction == 'max' else 'lower'} is better)")
        axes.grid(alpha=0.3)
    if best_id is not None and figure.axes:
        handles, labels = figure.axes[0].get_legend_handles_labels()
        if handles:
            figure.legend(handles[:1], labels[:1], loc="upper left", fontsize=8, frameon=False)
    if varied and scatter is not None:
        bar_axes = figure.add_axes([0.89, 0.16, 0.02, 0.68])
        bar = figure.colorbar(scatter, cax=bar_axes, label="epochs trained (Hyperband budget)")
        bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(f"{objective} of {len(done)} completed trials")
    return _save(figure, out / "objective.png")


def plot_rate_distortion(out: Path, rows: list[dict], params: list[SearchParam], best_id: str | None) -> Path:
    """Validation rate (x) against distortion (y); dashed lines of equal −ELBO = rate + distortion."""
    done = [row for row in rows if row.get("val_rate") is not None and row.get("val_distortion") is not None
            and math.isfinite(row["val_rate"]) and math.isfinite(row["val_distortion"])]
    figure = Figure(figsize=(6.8, 5.0))
    figure.subplots_adjust(left=0.13, right=0.8, bottom=0.12, top=0.9)
    axes = figure.add_subplot(1, 1, 1)
    if done:
        rates = np.array([row["val_rate"] for row in done])
        distortions = np.array([row["val_distortion"] for row in done])
        beta = next((p for p in params if p.name == "beta"), None)
        if beta is not None:
            colour = np.array([row["hyperparameters"].get("beta", np.nan) for row in done], dtype=float)
            norm = LogNorm(np.nanmin(colour), np.nanmax(colour)) if beta.log_axis or beta.log else None
            label = "β"
        else:
            colour = np.array([row.get("total_epochs") or row.get("epochs") or 0 for row in done], dtype=float)
            norm, label = None, "epochs trained"
        scatter = axes.scatter(rates, distortions, c=colour, cmap="viridis", norm=norm, s=36, edgecolors="none")
        bar_axes = figure.add_axes([0.83, 0.12, 0.025, 0.78])
        bar = figure.colorbar(scatter, cax=bar_axes, label=label)
        if isinstance(norm, LogNorm):
            nice = [v * 10.0**e for e in range(-4, 5) for v in (1, 2, 5)]
            bar.set_ticks([v for v in nice if norm.vmin <= v <= norm.vmax] or [norm.vmin, norm.vmax])
            bar.ax.yaxis.set_minor_formatter(NullFormatter())
            bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        else:
            bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        totals = rates + distortions
        low, high = float(totals.min()), float(totals.max())
        span = [low] if math.isclose(low, high) else list(np.linspace(low, high, 4))
        x_max = float(rates.max()) * 1.1 + 1.0
        for total in span:
            axes.plot([0, x_max], [total, total - x_max], linestyle="--", color="grey", linewidth=0.7)
        for row in done:
            if row["trial_id"] == best_id:
                axes.scatter([row["val_rate"]], [row["val_distortion"]], marker="*", s=320, facecolors="none",
                             edgecolors="red", linewidths=1.8, label=f"best (trial {best_id})", zorder=3)
                axes.legend(loc="upper right", fontsize=8)
        pad_y = (distortions.max() - distortions.min()) * 0.1 + 1.0
        axes.set_xlim(max(0.0, rates.min() - (rates.max() - rates.min()) * 0.1 - 1.0), x_max)
        axes.set_ylim(distortions.min() - pad_y, distortions.max() + pad_y)
    else:
        axes.text(0.5, 0.5, "no completed trial", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("rate KL(q(z|x) ‖ p(z)) on validation (nats)")
    axes.set_ylabel("distortion −log p(x|z) on validation (nats)")
    axes.set_title("rate–distortion plane of all trials (dashed: equal −ELBO)")
    axes.grid(alpha=0.3)
    return _save(figure, out / "rate_distortion.png")
