"""``zoo tune``: a keras-tuner search over a registry entry's ``search_space``.

One process (the default) runs the oracle and the trials. For a distributed
search keras-tuner's own chief/worker protocol is used: the chief
(``--chief HOST:PORT``) runs only the oracle, as a gRPC server; each worker
(``--worker HOST:PORT``) asks it for trials, trains them and reports back. They
share the output folder, where the workers' checkpoints and histories and the
chief's trial records meet; the chief writes the reports at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from zoo import io as zio
from zoo.errors import ZooError
from zoo.registry import Entry
from zoo.run_spec import RunSpec, merge_overrides, resolve
from zoo.tuning.objectives import check_objective
from zoo.tuning.space import parse_search_space

TUNERS = ("hyperband", "bayesian", "random")
DEFAULT_MAX_TRIALS = 10
SEARCH_FOLDER = "search"
SETTINGS_FILE = "tune.json"
REPORT_FILES = ("trials.csv", "trials.json", "best.yaml", "objective.png", "rate_distortion.png")
ENV_KEYS = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
# Settings a resumed search (or a worker) may differ in: how many trials, devices, where the data is.
RESUMABLE = {"max_trials", "spec.train.strategy", "spec.train.precision", "spec.data.data_dir"}
WORKER_WAIT_SECONDS = 3600  # like keras-tuner's own gRPC timeout: the chief may start much later


def parse_address(text: str, flag: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port); ``ZooError`` otherwise."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ZooError(f"{flag} {text!r}: expected HOST:PORT with a port in 1-65535, e.g. {flag} 10.0.0.5:8000")
    return host, int(port)


def default_worker_id() -> str:
    # keras-tuner treats any tuner id containing "chief" as the chief.
    return f"tuner-{socket.gethostname()}-{os.getpid()}".replace("chief", "chf")


@contextlib.contextmanager
def distributed_env(role: str, address: tuple[str, int] | None, tuner_id: str | None) -> Iterator[None]:
    """Sets keras-tuner's KERASTUNER_* variables for the chief or a worker, restoring them afterwards."""
    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    try:
        for key in ENV_KEYS:
            os.environ.pop(key, None)
        if role != "local":
            os.environ["KERASTUNER_TUNER_ID"] = "chief" if role == "chief" else str(tuner_id)
            os.environ["KERASTUNER_ORACLE_IP"] = address[0]
            os.environ["KERASTUNER_ORACLE_PORT"] = str(address[1])
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, Mapping) and prefix != "search_space":
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out)
    else:
        out[prefix] = value
    return out


def _with_defaults(settings: Mapping[str, Any]) -> Mapping[str, Any]:
    """Settings whose run spec has every config field: a search saved by an older zoo lacks the fields added
    since, which then count as their defaults rather than as differences."""
    if not isinstance(settings.get("spec"), Mapping):
        return settings
    try:
        spec = RunSpec.from_dict(settings["spec"]).to_dict()
    except (ZooError, TypeError, KeyError):
        return settings  # unreadable: compared as saved, so the difference shows
    spec["data"].pop("data_dir", None)
    return {**settings, "spec": spec}


def settings_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    before, after = _flatten("", _with_defaults(saved), {}), _flatten("", current, {})
    return [f"{key}: {before.get(key)!r} → {after.get(key)!r}" for key in sorted(set(before) | set(after))
            if key not in RESUMABLE and before.get(key) != after.get(key)]


def _check_bayesian_dependencies() -> None:
    missing = []
    for module in ("scipy", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            missing.append({"sklearn": "scikit-learn"}.get(module, module))
    if missing:
        raise ZooError(f"--tuner bayesian needs {' and '.join(missing)}, which are not installed; "
                       "install keras-tuner's bayesian extra (pip install 'keras-tuner[bayesian]==1.4.8') "
                       "or use --tuner random or hyperband")


def _tuner_strategy(name: str):
    """The strategy to hand keras-tuner, or None where TF's default placement is what ``auto`` means."""
    from zoo.training.devices import make_strategy, visible_gpus

    if name == "default" or (name == "auto" and len(visible_gpus()) < 2):
        return None
    return make_strategy(name)


def _wait_for_settings(path: Path, log: Callable[[str], None]) -> dict:
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    announced = False
    while True:
        if path.exists():
            saved = zio.read_json(path)
            if saved is not None:
                return saved
        if time.monotonic() > deadline:
            raise ZooError(f"no chief started a search in {path.parent} within {WORKER_WAIT_SECONDS} s; "
                           "start `zoo tune ... --chief HOST:PORT --out` with the same folder first")
        if not announced:
            log(f"waiting for the chief to write {path}")
            announced = True
        time.sleep(0.5)


def tune(
    entry: Entry,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    tuner: str = "hyperband",
    objective: str = "val_elbo",
    max_trials: int | None = None,
    max_epochs: int | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    strategy: str | None = None,
    chief: str | None = None,
    worker: str | None = None,
    tuner_id: str | None = None,
    train_subset: int | None = None,
    seed: int | None = None,
    iw_samples: int = 50,
    iw_images: int = 1000,
    factor: int = 3,
    initial_points: int | None = None,
    verbose: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Runs (or resumes, or joins) a search; returns the summary, or None on a worker.

    ``tuner``: hyperband, bayesian or random. ``max_epochs``: epochs per trial
    (Hyperband: the largest budget; default the entry's ``train.epochs``).
    ``max_trials``: trials to run (default 10 for random and bayesian; Hyperband
    runs one full iteration unless capped). ``chief``/``worker``: HOST:PORT of a
    distributed search. The rest mirror ``zoo train``.
    """
    if tuner not in TUNERS:
        raise ZooError(f"unknown tuner '{tuner}'; choose one of: {', '.join(TUNERS)}")
    if chief and worker:
        raise ZooError("--chief and --worker exclude each other: a process is either the chief or a worker")
    role = "chief" if chief else "worker" if worker else "local"
    address = parse_address(chief, "--chief") if chief else parse_address(worker, "--worker") if worker else None
    if tuner_id is not None and role != "worker":
        raise ZooError("--tuner-id names a worker; use it with --worker HOST:PORT")
    if role == "worker":
        tuner_id = tuner_id or default_worker_id()
        if "chief" in tuner_id or not tuner_id.strip():
            raise ZooError(f"--tuner-id {tuner_id!r}: a worker id must be non-empty and not contain 'chief' "
                           "(keras-tuner reserves it for the chief)")
    for label, value, low in (("--max-trials", max_trials, 1), ("--max-epochs", max_epochs, 1),
                              ("--iw-samples", iw_samples, 1), ("--iw-images", iw_images, 1),
                              ("--factor", factor, 2), ("--initial-points", initial_points, 1)):
        if value is not None and (not isinstance(value, int) or value < low):
            raise ZooError(f"{label} must be an integer >= {low}, got {value!r}")

    model_class = entry.model_class()
    direction = check_objective(objective, model_class)
    overrides = merge_overrides(overrides or {}, {
        "train": {k: v for k, v in (("strategy", strategy), ("seed", seed)) if v is not None},
        "data": {"train_subset": train_subset} if train_subset is not None else {},
    })
    spec = resolve(entry, overrides)
    check_objective(objective, model_class, spec.data.name, spec.data.has_factors)
    params = parse_search_space(entry, overrides)
    if tuner == "bayesian":
        _check_bayesian_dependencies()
    max_epochs = max_epochs or spec.train.epochs
    if max_trials is None and tuner != "hyperband":
        max_trials = DEFAULT_MAX_TRIALS
    out = Path(out) if out is not None else Path("tunes") / f"{entry.name}-{spec.data.name.replace(':', '_').replace('/', '_')}"
    search_dir = out / SEARCH_FOLDER
    settings_path = out / SETTINGS_FILE
    spec_record = spec.to_dict()
    spec_record["data"].pop("data_dir", None)
    settings = {
        "entry": entry.name, "class": entry.class_path, "tuner": tuner, "objective": objective,
        "direction": direction, "max_trials": max_trials, "max_epochs": max_epochs,
        "search_space": {p.name: p.describe() for p in params}, "spec": spec_record,
    }
    if tuner == "hyperband":
        settings["factor"] = factor
    if tuner == "bayesian":
        settings["initial_points"] = initial_points
    if objective == "val_iwae":
        settings.update(iw_samples=iw_samples, iw_images=iw_images)

    if role == "worker":
        saved = _wait_for_settings(settings_path, log)
        differences = settings_differences(saved, settings)
        if differences:
            raise ZooError(f"this worker's settings differ from the chief's search in {out} "
                           f"({'; '.join(differences[:3])}); start it with the chief's arguments")
    else:
        existing = search_dir.exists() and any(search_dir.iterdir())
        if existing and overwrite:
            log(f"--overwrite: replacing the search in {out}")
            shutil.rmtree(search_dir)
            for name in (*REPORT_FILES, SETTINGS_FILE):
                (out / name).unlink(missing_ok=True)
        elif existing and not resume:
            raise ZooError(f"{out} already holds a search; use --resume to continue it, --overwrite to replace it, "
                           "or --out for a new folder")
        elif existing:
            saved = zio.read_json(settings_path) if settings_path.exists() else None
            if saved is None:
                raise ZooError(f"{out} holds a search without {SETTINGS_FILE}; it cannot be resumed safely, "
                               "use --overwrite")
            differences = settings_differences(saved, settings)
            if differences:
                raise ZooError(f"{out} holds a search with different settings ({'; '.join(differences[:3])}); "
                               "resume with the same arguments, or use --out for a new search")
        elif resume:
            log(f"nothing to resume in {out}; starting a new search")
        zio.write_json(settings_path, settings)

    import tensorflow as tf

    from zoo.data import load_dataset
    from zoo.training.devices import apply_precision, serialise_ops_if_deterministic
    from zoo.tuning.hypermodel import RegistryHyperModel, ZooBayesianOptimization, ZooHyperband, ZooRandomSearch

    serialise_ops_if_deterministic(spec.train)  # before the first TF op: trials train as `zoo train` would

    data = load_dataset(spec.data)
    apply_precision(spec.train.precision)
    if spec.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    distribution = _tuner_strategy(spec.train.strategy)
    hypermodel = RegistryHyperModel(entry, overrides, params, data, objective=objective, iw_samples=iw_samples,
                                    iw_images=iw_images, verbose=verbose)

    with distributed_env(role, address, tuner_id):
        import keras_tuner

        own_id = {"chief": "chief", "worker": tuner_id}.get(role, "tuner0")
        if resume and role != "worker" and (search_dir / "oracle.json").exists() \
                and not (search_dir / f"{own_id}.json").exists():
            # keras-tuner reloads a project only when this tuner id saved state there before, which
            # a search started in the other mode (local vs chief) or killed in its first trial has not.
            zio.write_json(search_dir / f"{own_id}.json", {})
        common = dict(hypermodel=hypermodel, objective=keras_tuner.Objective(objective, direction),
                      seed=spec.train.seed, directory=str(out), project_name=SEARCH_FOLDER,
                      overwrite=False, distribution_strategy=distribution, max_consecutive_failed_trials=3)
        try:
            if tuner == "hyperband":
                search = ZooHyperband(max_epochs=max_epochs, factor=factor, **common)
                if max_trials is not None and role != "worker":
                    search.oracle.max_trials = max_trials
            elif tuner == "bayesian":
                search = ZooBayesianOptimization(max_trials=max_trials, num_initial_points=initial_points, **common)
            else:
                search = ZooRandomSearch(max_trials=max_trials, **common)
        except (ValueError, RuntimeError) as error:
            if resume:
                raise ZooError(f"cannot resume the search in {out}: its keras-tuner state does not load "
                               f"({str(error).splitlines()[0]}); use --overwrite to start again") from None
            raise
        where = {"chief": f"chief oracle on {chief}", "worker": f"worker {tuner_id} of {worker}"}.get(role, "")
        log(f"tuning {entry.name} on {spec.data.name}: {tuner}, objective {objective} ({direction}), "
            f"{'max ' + str(max_trials) + ' trials, ' if max_trials else ''}"
            + (f"up to {max_epochs} epochs per trial (factor {factor}), " if tuner == "hyperband"
               else f"{max_epochs} epochs per trial, ")
            + f"{len(data.train.x)} train / {len(data.validation.x)} validation images"
            + (f"; {where}" if where else ""))
        try:
            search.search(epochs=max_epochs, verbose=verbose)
        except RuntimeError as error:
            if "consecutive failures" not in str(error) or role == "worker":
                raise
            # keras-tuner gives up after 3 failed trials in a row; keep what the search has so far.
            last = [line for line in str(error).splitlines() if line.strip()][-1]
            with contextlib.suppress(ZooError):
                write_reports(search, hypermodel, entry, overrides, params, settings, out, log)
            raise ZooError(f"the search stopped: 3 trials in a row failed, the last with: {last} "
                           f"(see {out / 'trials.json'})") from None

    if role == "worker":
        log(f"worker {tuner_id}: no trials left")
        return None
    return write_reports(search, hypermodel, entry, overrides, params, settings, out, log)


def write_reports(search, hypermodel, entry: Entry, overrides, params, settings: dict, out: Path,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """trials.csv/json, best.yaml and the plots, from the oracle's trials and the trial folders."""
    from zoo.tuning.report import (best_entry, collect_trials, plot_objective, plot_rate_distortion,
                                   write_best_entry, write_trials)

    objective, direction = settings["objective"], settings["direction"]
    rows = collect_trials(search.oracle, out / SEARCH_FOLDER, params, objective, hypermodel.spec_for)
    completed = [row for row in rows if row["status"] == "COMPLETED" and row["objective"] is not None]
    best = (max if direction == "max" else min)(completed, key=lambda row: row["objective"]) if completed else None
    best_id = best["trial_id"] if best else None
    write_trials(out, rows, params, objective, direction, best_id)
    plot_objective(out, rows, params, objective, direction, best_id)
    plot_rate_distortion(out, rows, params, best_id)
    summary = {"out": str(out), "trials": len(rows), "completed": len(completed), "best_trial": best_id,
               "objective": objective, "direction": direction}
    if best is None:
        reasons = sorted({row.get("message", "no message") for row in rows})
        raise ZooError(f"no trial completed in {out} (see trials.json); first problem: {reasons[0] if reasons else 'none'}")
    name = f"{entry.name}_tuned"
    note = (f"tuned by zoo tune: {settings['tuner']}, {objective} = {best['objective']:.4g} "
            f"(trial {best_id} of {len(rows)})")
    block = best_entry(entry, overrides, params, best, settings["spec"]["data"]["name"], note)
    header = (f"Best configuration of the search in {out}: trial {best_id}, {objective} = {best['objective']:.6g} "
              f"({direction}imised) after {best.get('total_epochs')} epochs on "
              f"{settings['spec']['data'].get('train_subset') or 'all'} training images.\n"
              f"Train it with: zoo train {name} --registry {out / 'best.yaml'}")
    path = write_best_entry(out, block, header)
    summary.update(best_hyperparameters=best["hyperparameters"], best_objective=best["objective"],
                   best_entry=name, best_yaml=str(path))
    log(f"best trial {best_id}: {objective} = {best['objective']:.4f} with "
        + ", ".join(f"{k}={v}" for k, v in best["hyperparameters"].items()))
    log(f"wrote {out / 'trials.csv'}, {out / 'trials.json'}, {path}, {out / 'objective.png'}, "
        f"{out / 'rate_distortion.png'}")
    log(f"train it: zoo train {name} --registry {path}")
    return summary
