"""One bench job in its own process: ``python -m zoo.bench.worker JOB.json``.

The runner starts a fresh Python process per cell (and per classifier), so wall
time, CPU time and peak resident memory (``ru_maxrss``, which only ever grows
within a process) belong to that cell alone, and a crash or a kill takes down
only that cell. The job file names everything the worker needs; the worker
writes its result record atomically at the end, so a result file exists only
for a job that finished.

The runner starts each worker in its own session (so that it can kill the
worker's whole process group on a timeout), which also means a kill of the
bench's process group would not reach it. So the worker dies with the bench:
on Linux the kernel SIGKILLs it when its parent dies (``PR_SET_PDEATHSIG``),
elsewhere a watchdog thread notices the parent is gone. An orphan would
otherwise keep training in the run folder that a rerun of the bench replaces.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SCHEMA_CELL = "zoo.bench.cell/1"
SCHEMA_CLASSIFIER = "zoo.bench.classifier/1"
GRID_SAMPLES = 100  # images in each sample_grid_*.png (10 x 10)


PARENT_ENV = "ZOO_BENCH_PARENT_PID"
"""Set by the runner to its own pid: the worker exits when that process is gone."""
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """SIGKILLs this process as soon as the bench process named by ``$ZOO_BENCH_PARENT_PID`` dies."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not parent.isdigit():
        return
    parent_pid = int(parent)
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)
    if not armed:
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os.kill(os.getpid(), signal.SIGKILL)

        threading.Thread(target=watch, name="zoo-bench-parent-watch", daemon=True).start()


def usage() -> dict[str, float]:
    """CPU seconds and peak resident memory (MiB) of this process so far (Linux: ru_maxrss is in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_seconds": own.ru_utime + own.ru_stime, "peak_memory_mb": own.ru_maxrss / 1024.0}


def _decode_in_chunks(model, codes: np.ndarray, labels: np.ndarray | None, chunk: int = 500) -> np.ndarray:
    parts = []
    for start in range(0, len(codes), chunk):
        y = None if labels is None else labels[start:start + chunk]
        parts.append(np.asarray(model.decode(codes[start:start + chunk].astype(np.float32), y)))
    return np.concatenate(parts)


def probe_epoch(epochs: int) -> int | None:
    """The epoch whose model the bench scores beside the final one: the start of the last quarter of training,
    the span over which the pages also report the validation ELBO's rise (None under 4 epochs)."""
    span = epochs // 4
    return epochs - span if span else None


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    from zoo import io as zio
    from zoo.bench import plots
    from zoo.data import eval_dataset, images_per_epoch, load_dataset, resolve_binarization
    from zoo.evaluation.codes import fit_code_gaussian, posterior_means
    from zoo.evaluation.coverage import empty_fraction
    from zoo.evaluation.latent_sources import SOURCE_TITLES, latent_codes
    from zoo.evaluation.metrics import reconstruction_errors
    from zoo.evaluation.runner import test_arrays
    from zoo.evaluation.sample_classifier import Scorer, to_unit
    from zoo.likelihoods import is_binary
    from zoo.run_dir import RunDir
    from zoo.run_spec import RunSpec
    from zoo.saving import load_model
    from zoo.training.trainer import finish, train

    started = time.perf_counter()
    spec = RunSpec.from_dict(job["spec"])
    probe = probe_epoch(spec.train.epochs)
    run = RunDir(job["run_dir"], keep_epochs=(probe,) if probe else ())
    out = Path(job["result_dir"])
    figures = out / "figures"
    # The run's manifest.json records sys.argv as its command: make it the equivalent `zoo train` call.
    sys.argv = list(job["train_argv"])

    train(spec, run, overwrite=True, evaluate=False)
    trained = time.perf_counter()
    metrics = finish(run)
    evaluated = time.perf_counter()

    model = load_model(run.model, spec.class_path)
    data = load_dataset(spec.data.replace(test_subset=None))
    binarization = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))
    test_images, test_labels = test_arrays(data, binarization)
    scored = test_images[: spec.data.test_subset] if spec.data.test_subset else test_images
    scored_labels = test_labels[: len(scored)]
    conditional = bool(model.is_conditional)
    codes = posterior_means(model, scored, scored_labels if conditional else None)
    code_box = (codes.min(axis=0), codes.max(axis=0))
    latent_stats: dict[str, Any] = {
        "code_std": [float(v) for v in codes.std(axis=0)] if codes.shape[1] <= 2 else None,
        "code_box": [[float(a), float(b)] for a, b in zip(*code_box)] if codes.shape[1] <= 2 else None,
        "code_std_mean": float(codes.std(axis=0).mean()),
        "latent_empty_fraction": empty_fraction(codes) if codes.shape[1] == 2 else None,
    }

    scorer = None
    if job.get("classifier"):
        scorer = Scorer.load(job["classifier"])
        count = min(job["fid_samples"], len(data.test.x))
        scorer.set_reference(to_unit(data.test.x[:count]))
    samples: dict[str, Any] = {}
    count = job["fid_samples"]
    num_classes = max(int(model.config.num_classes), 1)
    labels = (np.arange(count) % num_classes).astype(np.int32) if conditional else None
    fitted = fit_code_gaussian(model, data, binarization) if "fitted" in job["sampling"] else None
    for source in job["sampling"]:
        z = latent_codes(model, source, count, job["seed"], code_box, labels, fitted)
        images = np.clip(_decode_in_chunks(model, z, labels), 0.0, 1.0)
        record = scorer.score_samples(images, labels) if scorer is not None else {"count": int(count)}
        record["source"] = source
        samples[source] = record
        plots.image_grid(images[:GRID_SAMPLES], figures / f"sample_grid_{source}.png",
                         f"{job['label']}: decoded samples, z ~ {SOURCE_TITLES[source]}")

    manifest = zio.read_json(run.manifest)
    state = zio.read_json(run.state) if run.state.exists() else {}
    epochs = int(state.get("epoch") or spec.train.epochs)

    # Whether reconstructions and samples still changed over the last quarter of training: the model of the probe
    # epoch, finalised as the final one was, reconstructs the same test images and decodes the same codes, scored
    # the same way (the prior's samples, where the cell has them); the final model's error is the evaluator's
    # reconstruction_mse of the same images.
    probed: dict[str, Any] | None = None
    checkpoint = run.epoch_checkpoint(probe) if probe else None
    if checkpoint is not None and checkpoint.exists() and probe < epochs:
        earlier = load_model(checkpoint, spec.class_path)
        earlier.finalize(eval_dataset(data.train, batch_size=1000, binarization=binarization, seed=0))
        errors = reconstruction_errors(earlier, scored, scored_labels if conditional else None)
        probed = {"epoch": probe, "reconstruction_sse": float(errors["mse"].mean())}
        if scorer is not None and job["sampling"]:
            source = "prior" if "prior" in job["sampling"] else job["sampling"][0]
            fitted_earlier = fit_code_gaussian(earlier, data, binarization) if source == "fitted" else None
            z = latent_codes(earlier, source, count, job["seed"], code_box, labels, fitted_earlier)
            images = np.clip(_decode_in_chunks(earlier, z, labels), 0.0, 1.0)
            probed.update(source=source, **scorer.score_samples(images, labels))
        checkpoint.unlink()  # the run folder keeps only what `zoo train` would

    for png in sorted(run.figures.glob("*.png")):
        plots.compact_copy(png, figures / png.name)
    epoch_seconds = [row.get("seconds") for row in state.get("history", [])]
    fit_seconds = sum(epoch_seconds) if epoch_seconds and all(s is not None for s in epoch_seconds) else None
    train_images = len(data.train.x)  # load_dataset has applied data.train_subset
    seen_per_epoch = images_per_epoch(data.train, spec.train.batch_size, spec.data.labelled_per_batch)
    train_seconds = trained - started
    finished = time.perf_counter()
    resources = usage()
    return {
        "schema": SCHEMA_CELL,
        "status": "ok",
        **job["cell"],
        "fingerprint": job["fingerprint"],
        "created": manifest.get("created"),
        "command": {"bench": job["bench_command"], "train": " ".join(_quote(a) for a in job["train_argv"])},
        "spec": job["spec"],
        "metrics": {key: metrics.get(key) for key in (
            "elbo", "distortion", "rate", "iwae", "iw_samples", "kl_per_dim", "active_units", "code_variance",
            "latent_dim", "reconstruction_mse", "reconstruction_bce", "bits_per_dim", "num_examples", "likelihood",
            "binarization", "epochs_trained", "best_epoch", "classification_error")},
        **disentanglement_record(metrics),
        "latent": latent_stats,
        "samples": samples,
        "probe": probed,
        "classifier": job.get("classifier_record"),
        "parameters": manifest.get("parameters"),
        "epochs": epochs,
        "train_images": train_images,
        "train_seconds": train_seconds,
        "fit_seconds": fit_seconds,
        "eval_seconds": evaluated - trained,
        "wall_seconds": finished - started,
        "cpu_seconds": resources["cpu_seconds"],
        "throughput": seen_per_epoch * epochs / (fit_seconds or train_seconds),
        "peak_memory_mb": resources["peak_memory_mb"],
        "versions": manifest.get("versions"),
        "data_checksums": (manifest.get("dataset") or {}).get("checksums"),
        "git_commit": manifest.get("git_commit"),
        "platform": manifest.get("platform"),
        "devices": manifest.get("devices"),
        "figures": sorted(p.name for p in figures.glob("*.png")),
        "history": validation_history(state.get("history", [])),
    }


def validation_history(rows: list[dict[str, Any]]) -> dict[str, list[float | None]]:
    """The per-epoch validation ELBO of a run's history (``{"val_elbo": [...]}``, empty for a model without
    one): how a page tells a converged cell from one cut off while still improving."""
    values = [row.get("val_elbo") for row in rows]
    if all(v is None for v in values):
        return {}
    return {"val_elbo": [None if v is None else float(v) for v in values]}


def disentanglement_record(metrics: dict[str, Any]) -> dict[str, Any]:
    """``{"disentanglement": {headline key: score}}`` of a run's metrics.json (data sets with factors), else {}."""
    scores = metrics.get("disentanglement")
    if not scores:
        return {}
    return {"disentanglement": {key: value for key, value in scores.items() if isinstance(value, float)}}


def run_classifier(job: dict[str, Any]) -> dict[str, Any]:
    from zoo.bench.classifier import fit_and_save
    from zoo.data import DataConfig, load_dataset
    from zoo.run_dir import git_commit, package_versions

    started = time.perf_counter()
    data = load_dataset(DataConfig.from_dict(job["data"]))
    record = fit_and_save(data, Path(job["path"]), epochs=job["epochs"], train_subset=job["train_subset"],
                          fid_samples=job["fid_samples"])
    return {"schema": SCHEMA_CLASSIFIER, "status": "ok", "fingerprint": job["fingerprint"], **record,
            "wall_seconds": time.perf_counter() - started, **usage(), "versions": package_versions(),
            "git_commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(str(arg))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m zoo.bench.worker JOB.json", file=sys.stderr)
        return 2
    die_with_parent()
    from zoo import io as zio
    from zoo.tf_start import start_tensorflow

    start_tensorflow()

    job = json.loads(Path(argv[0]).read_text())
    result = run_cell(job) if job["kind"] == "cell" else run_classifier(job)
    zio.write_json(job["result_path"], result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
