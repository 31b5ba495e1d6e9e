"""``zoo bench``: plan the cells, run each in its own process, aggregate over seeds, write the results.

A cell is one (variant, dataset, seed): a registry entry with the budget's and
the variant's config overrides, trained by the shared trainer and scored by the
shared evaluator in a fresh process (``zoo.bench.worker``). The results folder
(default ``benchmarks/results/<budget>/``) holds::

    results.json        every cell, the mean ± std over seeds of every group, classifiers, experiments
    results.md          the same as Markdown tables
    figures/*.png       plots across cells (rate–distortion, KL per dimension, Fréchet distances, ...)
    cells/<cell>/       result.json of the cell and its run's figures
    classifiers/<dataset>/classifier.keras, classifier.json

Run folders (checkpoints, model.keras, TensorBoard logs) stay in the work folder
(default ``runs/bench/<budget>/``). A cell whose ``result.json`` says ``ok`` for
the same fingerprint (its resolved config, samplers and classifier settings) is
skipped on a rerun unless ``force``; a cell that crashes, times out or cannot be
configured is recorded with its error, shown as failed in every table, and
retried on the next run. The results folder accumulates: cells run earlier
under the same budget (e.g. other seeds or models) stay in the aggregate.

A killed bench (even by SIGKILL) loses only the cell in progress: its worker
dies with the bench (``zoo.bench.worker.die_with_parent``), it has no
``result.json``, and a rerun of the same command redoes it from scratch and
skips the finished cells (tests/test_faults.py, docs/reliability.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from zoo import io as zio
from zoo.bench.budgets import EXPERIMENTS, Budget, Variant, experiment_groups, safe_name
from zoo.bench.worker import PARENT_ENV
from zoo.errors import ZooError
from zoo.evaluation.disentanglement.scores import HEADLINE_KEYS as DISENTANGLEMENT_KEYS
from zoo.evaluation.latent_sources import LATENT_SOURCES
from zoo.run_spec import merge_overrides, outcome_of, section_defaults

SCHEMA = "zoo.bench/1"
# Numbers aggregated over seeds (mean ± std); the record key they come from is in _flat_metrics.
AGGREGATED = (
    "elbo", "distortion", "rate", "iwae", "bits_per_dim", "reconstruction_mse", "active_units", "latent_dim",
    "classification_error", "parameters", "epochs", "train_images", "train_seconds", "fit_seconds",
    "eval_seconds", "wall_seconds",
    "cpu_seconds", "throughput", "peak_memory_mb", "sample_accuracy", "latent_empty_fraction", "code_std_mean",
    *(f"fid_{s}" for s in LATENT_SOURCES), *(f"class_entropy_{s}" for s in LATENT_SOURCES),
    *DISENTANGLEMENT_KEYS,
)


@dataclasses.dataclass
class Cell:
    """One planned (variant, dataset, seed)."""

    variant: str
    model: str
    dataset: str
    seed: int
    label: str
    overrides: dict[str, dict[str, Any]]
    sampling: tuple[str, ...]
    aliases: list[str] = dataclasses.field(default_factory=list)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    spec: dict[str, Any] | None = None
    error: str | None = None
    labelled: bool = False
    classifier_settings: dict[str, Any] | None = None
    fingerprint: str = ""

    def fingerprint_of(self, spec: Mapping[str, Any] | None) -> str:
        """The hash that identifies a cell's result: its config, samplers and classifier settings."""
        return _fingerprint({"schema": SCHEMA, "spec": spec, "sampling": self.sampling,
                             "classifier": self.classifier_settings})

    @property
    def outcome_spec(self) -> dict[str, Any] | None:
        """The resolved config without guard fields: what the fingerprint (and de-duplication) is taken over."""
        return outcome_of(self.spec) if self.spec else None

    @property
    def id(self) -> str:
        return f"{self.variant}/{self.dataset}/seed-{self.seed}"

    @property
    def dirname(self) -> str:
        return safe_name(f"{self.variant}--{self.dataset}--seed{self.seed}")

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "variant": self.variant, "aliases": self.aliases, "label": self.label,
                "labels": self.labels, "model": self.model, "dataset": self.dataset, "seed": self.seed,
                "overrides": self.overrides, "sampling": list(self.sampling)}


def _fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def finished_for(record: Mapping[str, Any], cell: Cell) -> bool:
    """Whether a cell record was computed for ``cell``'s config: the same fingerprint, or the same once the
    config fields added since the record was written are left out, where they hold their defaults (a field is
    added with a default that keeps the old behaviour, so results from before it stay valid)."""
    if record.get("fingerprint") == cell.fingerprint:
        return True
    recorded, current = record.get("spec"), cell.outcome_spec
    if not isinstance(recorded, Mapping) or current is None:
        return False
    defaults = section_defaults()
    trimmed = dict(current)
    for section, fields in defaults.items():
        if not isinstance(recorded.get(section), Mapping) or not isinstance(current.get(section), Mapping):
            continue
        added = set(current[section]) - set(recorded[section])
        if any(current[section][name] != fields.get(name, object()) for name in added):
            return False
        trimmed[section] = {k: v for k, v in current[section].items() if k not in added}
    return record.get("fingerprint") == cell.fingerprint_of(trimmed)


# ---------------------------------------------------------------- planning


def selected_variants(budget: Budget, registry, models: Sequence[str] | None = None,
                      datasets: Sequence[str] | None = None, experiments: bool | None = None) -> list[Variant]:
    """The variants of a bench: each selected entry on each selected (or its default) dataset, then the
    experiments' variants whose entry and dataset are selected."""
    chosen_models = list(models or budget.models or registry.names())
    for name in chosen_models:
        registry.get(name)  # unknown names fail here, with the list of known ones
    chosen_datasets = list(datasets or budget.datasets or [])
    variants = [Variant(id=name, model=name, dataset=dataset, label=name)
                for name in chosen_models
                for dataset in (chosen_datasets or [registry.get(name).dataset])] if budget.main_cells else []
    if budget.experiments if experiments is None else experiments:
        for experiment in EXPERIMENTS:
            if budget.experiment_ids is not None and experiment.id not in budget.experiment_ids:
                continue
            for variant in experiment.variants:
                if variant.model not in chosen_models or variant.model not in registry.entries:
                    continue
                if chosen_datasets and (variant.dataset or registry.get(variant.model).dataset) not in chosen_datasets:
                    continue
                variants.append(variant)
    return variants


def plan(budget: Budget, registry, *, models: Sequence[str] | None = None, datasets: Sequence[str] | None = None,
         seeds: int | None = None, experiments: bool | None = None) -> list[Cell]:
    """Every cell of the bench, resolved and de-duplicated: two variants with the same resolved config
    (e.g. ``ae`` and the experiment's ``ae`` with ``latent_dim: 2``, its registry default) share one cell."""
    from zoo.run_spec import resolve

    cells: list[Cell] = []
    by_key: dict[str, Cell] = {}
    for variant in selected_variants(budget, registry, models, datasets, experiments):
        entry = registry.get(variant.model)
        dataset = variant.dataset or entry.dataset
        for seed in range(seeds or budget.seeds):
            overrides = merge_overrides(variant.overrides, {"data": {"name": dataset}}, budget.cell_overrides(variant.id),
                               {"train": {"seed": seed}})
            cell = Cell(variant=variant.id, model=variant.model, dataset=dataset, seed=seed, label=variant.title,
                        overrides=overrides, sampling=tuple(variant.sampling), labels={variant.id: variant.title})
            try:
                spec = resolve(entry, overrides)
                cell.spec = spec.to_dict()
                cell.labelled = spec.data.expected_num_classes > 0
            except ZooError as error:
                cell.error = f"invalid configuration: {error}"
            key = json.dumps(cell.outcome_spec, sort_keys=True) if cell.spec else f"invalid:{cell.id}"
            if key in by_key:
                first = by_key[key]
                if variant.id != first.variant and variant.id not in first.aliases:
                    first.aliases.append(variant.id)
                first.labels[variant.id] = variant.title
                first.sampling = tuple(s for s in LATENT_SOURCES if s in set(first.sampling) | set(variant.sampling))
                continue
            by_key[key] = cell
            cells.append(cell)
    for cell in cells:
        cell.classifier_settings = budget.classifier_config() if cell.labelled else None
        cell.fingerprint = cell.fingerprint_of(cell.outcome_spec)
    return cells


def _yaml_value(value: Any) -> str:
    """A --set value that YAML reads back as ``value`` (PyYAML reads 5e-05 as a string, 5.0e-05 as a float)."""
    import yaml

    if isinstance(value, str) and value and yaml.safe_load(value) == value:
        return value
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"
    else:
        text = json.dumps(value)
    if yaml.safe_load(text) != value:
        raise ZooError(f"cannot write {value!r} as a --set value")
    return text


def train_argv(cell: Cell, run_dir: Path, registry_file: str | None) -> list[str]:
    """The `zoo train` command that trains exactly this cell (recorded in its manifest and result)."""
    argv = ["zoo", "train", cell.model, "--dataset", cell.dataset, "--seed", str(cell.seed)]
    for section, values in cell.overrides.items():
        for field, value in values.items():
            if (section, field) in (("data", "name"), ("train", "seed")):
                continue
            argv += ["--set", f"{section}.{field}={_yaml_value(value)}"]
    argv += ["--out", str(run_dir), "--overwrite"]
    if registry_file:
        argv += ["--registry", str(registry_file)]
    return argv


# ---------------------------------------------------------------- running


@dataclasses.dataclass
class Outcome:
    ran: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    results: Path | None = None
    wall_seconds: float = 0.0


def _error_summary(log_text: str, returncode: int | None) -> str:
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("zoo: error:") or re.match(r"^[\w.]+(Error|Exception|Exit)\b", line):
            return line[:500]
    if returncode is not None and returncode < 0:
        return f"killed by signal {-returncode}"
    return (lines[-1][:500] if lines else f"exit code {returncode}")


def run_job(job: dict[str, Any], job_dir: Path, *, timeout: float | None, env: Mapping[str, str]) -> dict[str, Any]:
    """Runs one worker process; returns its result record, or a failure record when it crashed or timed out."""
    job_dir.mkdir(parents=True, exist_ok=True)
    job_path = job_dir / "job.json"
    zio.write_json(job_path, job)
    log_path = job_dir / "log.txt"
    result_path = Path(job["result_path"])
    if result_path.exists():
        result_path.unlink()
    started = time.perf_counter()
    with open(log_path, "w") as log:
        # Its own session, so a timeout kills its whole group; PARENT_ENV makes it die with this process.
        process = subprocess.Popen([sys.executable, "-m", "zoo.bench.worker", str(job_path)], stdout=log,
                                   stderr=subprocess.STDOUT, env={**env, PARENT_ENV: str(os.getpid())},
                                   start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(process)
            returncode, timed_out = process.returncode, True
        except BaseException:
            _kill(process)
            raise
    wall = time.perf_counter() - started
    log_text = log_path.read_text(errors="replace")
    if returncode == 0 and result_path.exists():
        # The worker's own timings start after its imports; this one is the whole process.
        record = zio.read_json(result_path)
        record["process_seconds"] = wall
        zio.write_json(result_path, record)
        return record
    error = f"timed out after {timeout:.0f} s" if timed_out else _error_summary(log_text, returncode)
    return {"status": "failed", "error": error, "returncode": returncode, "wall_seconds": wall,
            "log": str(log_path), "log_tail": log_text.splitlines()[-30:]}


def _kill(process: subprocess.Popen) -> None:
    """Kills the worker we started and anything it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _worker_env(data_dir: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if data_dir:
        env["ZOO_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    return env


def ensure_classifier(dataset: str, budget: Budget, out: Path, work: Path, *, force: bool,
                      env: Mapping[str, str], log: Callable[[str], None]) -> dict[str, Any] | None:
    """Trains (or reuses) the bench's classifier for ``dataset``; returns its record, None if it failed."""
    folder = out / "classifiers" / safe_name(dataset)
    record_path, model_path = folder / "classifier.json", folder / "classifier.keras"
    config = {"dataset": dataset, **budget.classifier_config(), "validation_size": budget.validation_size}
    fingerprint = _fingerprint({"schema": SCHEMA, **config})
    if not force and record_path.exists() and model_path.exists():
        record = zio.read_json(record_path)
        if record.get("status") == "ok" and record.get("fingerprint") == fingerprint:
            log(f"classifier {dataset}: cached (test accuracy {record['test_accuracy']:.4f})")
            return record
    log(f"classifier {dataset}: training ({budget.classifier_epochs} epochs, "
        f"{budget.classifier_train_subset or 'all'} images)")
    job = {"kind": "classifier", "fingerprint": fingerprint, "path": str(model_path),
           "result_path": str(record_path), "epochs": budget.classifier_epochs,
           "train_subset": budget.classifier_train_subset, "fid_samples": budget.fid_samples,
           "data": {"name": dataset, "validation_size": budget.validation_size}}
    record = run_job(job, work / "classifiers" / safe_name(dataset), timeout=budget.cell_timeout, env=env)
    if record.get("status") != "ok":
        zio.write_json(record_path, {**record, "fingerprint": fingerprint, "dataset": dataset})
        log(f"classifier {dataset}: FAILED: {record['error']}")
        return None
    log(f"classifier {dataset}: test accuracy {record['test_accuracy']:.4f} ({record['wall_seconds']:.0f} s)")
    return record


def run_bench(budget: Budget, *, registry_file: str | None = None, models: Sequence[str] | None = None,
              datasets: Sequence[str] | None = None, seeds: int | None = None, experiments: bool | None = None,
              force: bool = False, out: Path | None = None, work: Path | None = None, data_dir: str | None = None,
              command: str | None = None, report_only: bool = False, log: Callable[[str], None] = print) -> Outcome:
    """Plans, runs (skipping finished cells) and aggregates a bench; writes the results folder.

    ``report_only`` runs nothing: it rewrites results.json, results.md and the figures from the cell records
    already in ``out`` (after a change of the report code, or to gather cells another checkout ran)."""
    from zoo.registry import load_registry, print_warnings

    registry = load_registry(registry_file)
    print_warnings(registry)
    cells = plan(budget, registry, models=models, datasets=datasets, seeds=seeds, experiments=experiments)
    out = Path(out or Path("benchmarks") / "results" / safe_name(budget.name))
    work = Path(work or Path("runs") / "bench" / safe_name(budget.name))
    command = command or "zoo bench --budget " + budget.name
    env = _worker_env(data_dir)
    outcome = Outcome()
    started = time.perf_counter()
    began = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (out / "cells").mkdir(parents=True, exist_ok=True)
    log(f"zoo bench, budget {budget.name}: {len(cells)} cells -> {out}")

    classifiers: dict[str, dict[str, Any] | None] = {}
    try:
        for dataset in dict.fromkeys(c.dataset for c in cells if c.labelled and c.error is None and not report_only):
            # Classifiers are cached by their settings; --force reruns cells, not them (delete one to retrain).
            classifiers[dataset] = ensure_classifier(dataset, budget, out, work, force=False, env=env, log=log)
        for index, cell in enumerate([] if report_only else cells, 1):
            where = f"[{index}/{len(cells)}] {cell.id}"
            result_dir = out / "cells" / cell.dirname
            result_path = result_dir / "result.json"
            if cell.error is not None:
                shutil.rmtree(result_dir, ignore_errors=True)
                zio.write_json(result_path, {"schema": "zoo.bench.cell/1", "status": "invalid", **cell.describe(),
                                             "fingerprint": cell.fingerprint, "error": cell.error})
                outcome.failed.append(cell.id)
                log(f"{where}: INVALID: {cell.error}")
                continue
            previous = _read(result_path)
            if not force and previous and previous.get("status") == "ok" and finished_for(previous, cell):
                outcome.skipped.append(cell.id)
                log(f"{where}: finished earlier, skipped (--force reruns it)")
                continue
            shutil.rmtree(result_dir, ignore_errors=True)
            (result_dir / "figures").mkdir(parents=True)
            run_dir = work / cell.dirname
            argv = train_argv(cell, run_dir, registry_file)
            classifier = classifiers.get(cell.dataset)
            job = {"kind": "cell", "cell": cell.describe(), "seed": cell.seed, "label": cell.label,
                   "fingerprint": cell.fingerprint, "spec": cell.spec, "run_dir": str(run_dir),
                   "result_dir": str(result_dir), "result_path": str(result_path), "train_argv": argv,
                   "bench_command": command, "sampling": list(cell.sampling), "fid_samples": budget.fid_samples,
                   "classifier": str(out / "classifiers" / safe_name(cell.dataset) / "classifier.keras")
                   if classifier else None,
                   "classifier_record": {k: classifier.get(k) for k in ("dataset", "test_accuracy", "fingerprint")}
                   if classifier else None}
            log(f"{where}: running ({cell.label})")
            record = run_job(job, work / "_jobs" / cell.dirname, timeout=budget.cell_timeout, env=env)
            if record.get("status") != "ok":
                record = {"schema": "zoo.bench.cell/1", **cell.describe(), "fingerprint": cell.fingerprint,
                          "command": {"bench": command, "train": " ".join(shlex.quote(a) for a in argv)}, **record}
                zio.write_json(result_path, record)
                outcome.failed.append(cell.id)
                log(f"{where}: FAILED: {record['error']} (log: {record.get('log')})")
            else:
                outcome.ran.append(cell.id)
                log(f"{where}: ok, {summary(record)}")
    finally:
        outcome.wall_seconds = time.perf_counter() - started
        outcome.results = write_results(out, budget, command=command, started=began,
                                        wall_seconds=outcome.wall_seconds, cells=cells, outcome=outcome)
    log(f"wrote {outcome.results} and {out / 'results.md'}: {len(outcome.ran)} ran, {len(outcome.skipped)} skipped, "
        f"{len(outcome.failed)} failed, {outcome.wall_seconds:.0f} s")
    return outcome


def summary(record: Mapping[str, Any]) -> str:
    metrics = record.get("metrics") or {}
    parts = []
    for key, name in (("elbo", "ELBO"), ("distortion", "distortion"), ("rate", "rate"), ("iwae", "IWAE")):
        if metrics.get(key) is not None:
            parts.append(f"{name} {metrics[key]:.2f}")
    fid = ((record.get("samples") or {}).get("prior") or {}).get("fid")
    if fid is not None:
        parts.append(f"FID(prior) {fid:.1f}")
    parts.append(f"{record.get('wall_seconds', 0):.0f} s")
    return ", ".join(parts)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return zio.read_json(path)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- aggregation


def flat_metrics(record: Mapping[str, Any]) -> dict[str, float | None]:
    """The scalar numbers of one cell result under the names of ``AGGREGATED``."""
    metrics = record.get("metrics") or {}
    samples = record.get("samples") or {}
    latent = record.get("latent") or {}
    flat: dict[str, Any] = {key: metrics.get(key) for key in
                            ("elbo", "distortion", "rate", "iwae", "bits_per_dim", "reconstruction_mse",
                             "active_units", "latent_dim", "classification_error")}
    for key in ("parameters", "epochs", "train_images", "train_seconds", "fit_seconds", "eval_seconds",
                "wall_seconds", "cpu_seconds", "throughput", "peak_memory_mb"):
        flat[key] = record.get(key)
    for source in LATENT_SOURCES:
        flat[f"fid_{source}"] = (samples.get(source) or {}).get("fid")
        flat[f"class_entropy_{source}"] = (samples.get(source) or {}).get("class_entropy")
    accuracies = [s.get("accuracy") for s in samples.values() if s.get("accuracy") is not None]
    flat["sample_accuracy"] = (samples.get("prior") or {}).get("accuracy", accuracies[0] if accuracies else None)
    flat["latent_empty_fraction"] = latent.get("latent_empty_fraction")
    flat["code_std_mean"] = latent.get("code_std_mean")
    for key in DISENTANGLEMENT_KEYS:
        flat[key] = (record.get("disentanglement") or {}).get(key)
    return flat


def mean_std(values: Iterable[float | None]) -> dict[str, Any] | None:
    """Mean and sample standard deviation (ddof = 1; None for one value) of the non-missing values."""
    numbers = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not numbers:
        return None
    mean = sum(numbers) / len(numbers)
    std = math.sqrt(sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1)) if len(numbers) > 1 else None
    return {"mean": mean, "std": std, "n": len(numbers), "values": numbers}


def aggregate(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Groups cell records by (variant, dataset) and reduces every number to mean ± std over seeds."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["variant"], record["dataset"]), []).append(record)
    out = []
    for (variant, dataset), members in groups.items():
        members = sorted(members, key=lambda r: r["seed"])
        ok = [r for r in members if r.get("status") == "ok"]
        flats = [flat_metrics(r) for r in ok]
        group: dict[str, Any] = {
            "variant": variant, "dataset": dataset, "model": members[0]["model"], "label": members[0]["label"],
            "aliases": sorted({a for r in members for a in r.get("aliases", [])}),
            "labels": {k: v for r in members for k, v in (r.get("labels") or {}).items()},
            "seeds": [r["seed"] for r in members], "n_ok": len(ok), "n_failed": len(members) - len(ok),
            "failures": [{"seed": r["seed"], "status": r.get("status"), "error": r.get("error")}
                         for r in members if r.get("status") != "ok"],
            "cells": [r["id"] for r in members],
            "metrics": {key: mean_std(f.get(key) for f in flats) for key in AGGREGATED},
            "iw_samples": next((r["metrics"].get("iw_samples") for r in ok if r["metrics"].get("iw_samples")), None),
            "likelihood": next((r["metrics"].get("likelihood") for r in ok), None),
            "class": (ok[0]["spec"]["class"] if ok else None),
        }
        kls = [sorted(r["metrics"]["kl_per_dim"], reverse=True) for r in ok if r["metrics"].get("kl_per_dim")]
        group["kl_per_dim_sorted"] = ([sum(col) / len(col) for col in zip(*kls)]
                                      if kls and len({len(k) for k in kls}) == 1 else None)
        per_class = [(r["samples"].get("prior") or {}).get("per_class_accuracy") for r in ok]
        per_class = [p for p in per_class if p]
        group["per_class_accuracy"] = ([mean_std(col) for col in zip(*per_class)] if per_class else None)
        out.append(group)
    return out


def _machine() -> dict[str, Any]:
    from zoo.run_dir import git_commit, package_versions

    return {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.machine(),
            "python": platform.python_version(), "versions": package_versions(), "git_commit": git_commit()}


def write_results(out: Path, budget: Budget, *, command: str, started: str, wall_seconds: float,
                  cells: Sequence[Cell], outcome: Outcome) -> Path:
    """results.json, results.md and the cross-cell figures, from every cell record in ``out/cells``."""
    from zoo.bench import report

    planned = {c.id: c for c in cells}
    records = []
    for path in sorted((out / "cells").glob("*/result.json")):
        record = _read(path)
        if not record or "variant" not in record:
            continue
        record["result_dir"] = str(path.parent.relative_to(out))
        record["planned"] = record.get("id") in planned
        # A record of a planned cell whose config, samplers or classifier settings have changed since it ran:
        # the report keeps its numbers but names it, since a run of the bench would redo it.
        record["stale"] = (record.get("status") == "ok" and record["planned"]
                           and not finished_for(record, planned[record["id"]]))
        records.append(record)
    order = {c.id: i for i, c in enumerate(cells)}
    records.sort(key=lambda r: (order.get(r["id"], len(order)), r["id"]))
    groups = aggregate(records)
    classifiers = {}
    for path in sorted((out / "classifiers").glob("*/classifier.json")):
        record = _read(path)
        if record:
            classifiers[record.get("dataset", path.parent.name)] = record
    experiments = []
    for experiment in EXPERIMENTS:
        members = experiment_groups(experiment, groups)
        if members:
            experiments.append({**dataclasses.asdict(experiment),
                                "variants": [v.id for v in experiment.variants],
                                "groups": [(g["variant"], g["dataset"]) for g in members]})
    # Every invocation that wrote this folder, oldest first (the folder accumulates cells across runs).
    previous = _read(out / "results.json") or {}
    invocations = list(previous.get("invocations") or ([{
        "command": previous["command"], "started": previous.get("started"), "finished": previous.get("finished"),
        "wall_seconds": previous.get("wall_seconds"), **(previous.get("last_run") or {})}]
        if previous.get("command") else []))
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    invocations.append({"command": command, "started": started, "finished": finished, "wall_seconds": wall_seconds,
                        "ran": outcome.ran, "skipped": outcome.skipped, "failed": outcome.failed})
    payload = {
        "schema": SCHEMA,
        "budget": budget.to_dict(),
        "command": command,
        "started": started,
        "finished": finished,
        "wall_seconds": wall_seconds,
        "last_run": {"ran": outcome.ran, "skipped": outcome.skipped, "failed": outcome.failed},
        "invocations": invocations,
        "machine": _machine(),
        "classifiers": classifiers,
        "cells": records,
        "groups": groups,
        "experiments": experiments,
    }
    payload["figures"] = report.write_figures(out, payload)
    zio.write_json(out / "results.json", payload)
    zio.write_text(out / "results.md", report.markdown(payload))
    return out / "results.json"
