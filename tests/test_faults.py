"""Faults during training: SIGKILL at chosen points, crashes inside writes, a full disk, divergence; a
SIGKILL of `zoo bench` in the middle of a cell; `zoo sample` of a run that has no model.keras.

The kill tests (``slow``) start ``zoo train`` as a real process with ``ZOO_FAULT`` set
(zoo/training/faults.py), so the process SIGKILLs itself at an exact point, then run
the same command again and require the final run folder to equal an uninterrupted
run's: state and metrics history, metrics.csv, every weight and optimiser variable,
model.keras and metrics.json, with no leftover temporary or unnamed checkpoint files.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import matplotlib.image as mpimg
import numpy as np
import pytest
from inprocess_cli import one_error_line, run_cli

from zoo import io as zio
from zoo.errors import ZooError
from zoo.run_dir import RunDir
from zoo.training import faults
from zoo.saving import load_keras_file, load_model

TINY = ["--set", "model.hidden_units=[32]", "--train-subset", "1024", "--set", "data.validation_size=256",
        "--set", "data.test_subset=256", "--iw-samples", "4", "--set", "evaluation.figures=false"]
EPOCHS = 3
TRAIN = ["train", "vae", "--dataset", "mnist", *TINY, "--epochs", str(EPOCHS)]


def zoo_process(*args, data_dir, fault=None, timeout=600):
    env = {**os.environ, "ZOO_DATA_DIR": str(data_dir)}
    env.pop(faults.ENV, None)
    if fault:
        env[faults.ENV] = fault
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


def killed(result) -> None:
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])


def finished(result) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


def state_of(run: Path) -> dict:
    return json.loads((run / "state.json").read_text())


def without_seconds(state: dict) -> dict:
    return {**state, "history": [{k: v for k, v in row.items() if k != "seconds"} for row in state["history"]]}


def csv_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(handle)]


def variables_of(path: Path) -> list[np.ndarray]:
    """Weights, and for a checkpoint the state of every optimiser (a model file has none)."""
    loaded = load_keras_file(path)
    optimizers = loaded.all_optimizers() if hasattr(loaded, "all_optimizers") else []
    return [v.numpy() for v in loaded.weights] + [v.numpy() for opt in optimizers for v in opt.variables]


def leftovers(run: Path) -> list[Path]:
    return sorted(run.rglob(f"*{zio.TEMP_MARKER}*"))


def assert_same_run(run: Path, reference: Path) -> None:
    assert without_seconds(state_of(run)) == without_seconds(state_of(reference))
    rows = csv_rows(run)
    assert [int(row["epoch"]) for row in rows] == list(range(1, EPOCHS + 1))  # no gap, no duplicate
    assert rows == csv_rows(reference)
    for name in (f"checkpoints/epoch-{EPOCHS:04d}.keras", "checkpoints/best.keras", "model.keras"):
        for a, b in zip(variables_of(run / name), variables_of(reference / name), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert json.loads((run / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", f"epoch-{EPOCHS:04d}.keras"]
    assert leftovers(run) == []


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, shared_data_dir):
    out = tmp_path_factory.mktemp("faults") / "reference"
    finished(zoo_process(*TRAIN, "--out", out, data_dir=shared_data_dir))
    return out


# ------------------------------------------------------------------ SIGKILL (slow)


@pytest.mark.slow
def test_kill_mid_epoch_then_rerun_equals_uninterrupted_run(reference_run, shared_data_dir, tmp_path):
    run = tmp_path / "run"
    killed(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir, fault="after_batch:2:3"))
    assert state_of(run)["epoch"] == 1  # epoch 2's first three steps are lost, epoch 1 is not
    finished(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir))  # the same command resumes
    assert_same_run(run, reference_run)


@pytest.mark.slow
def test_factor_vae_killed_mid_epoch_then_rerun_equals_uninterrupted_run(shared_data_dir, tmp_path):
    # Two optimisers (the VAE's and the discriminator's): both states must survive the kill.
    command = ["train", "factor_vae", "--dataset", "mnist", *TINY, "--set", "model.discriminator_units=[64,64]",
               "--epochs", "2"]
    reference, run = tmp_path / "reference", tmp_path / "run"
    finished(zoo_process(*command, "--out", reference, data_dir=shared_data_dir))
    killed(zoo_process(*command, "--out", run, data_dir=shared_data_dir, fault="after_batch:2:3"))
    assert state_of(run)["epoch"] == 1
    finished(zoo_process(*command, "--out", run, data_dir=shared_data_dir))
    assert without_seconds(state_of(run)) == without_seconds(state_of(reference))
    assert "discriminator_loss" in csv_rows(run)[0] and csv_rows(run) == csv_rows(reference)
    checkpoint = load_keras_file(run / "checkpoints" / "epoch-0002.keras")
    assert [int(opt.iterations.numpy()) for opt in checkpoint.all_optimizers()] == [16, 16]
    for name in ("checkpoints/epoch-0002.keras", "model.keras"):
        for a, b in zip(variables_of(run / name), variables_of(reference / name), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


CONV_EPOCHS = 2
CONV = ["train", "conv_vae_cartoon", "--dataset", "cartoon", "--image-size", "128", "--train-subset", "256",
        "--set", "data.validation_size=128", "--set", "data.test_subset=128", "--set", "train.batch_size=64",
        "--iw-samples", "2", "--set", "evaluation.figures=false", "--epochs", str(CONV_EPOCHS)]


@pytest.mark.slow
def test_conv_vae_killed_mid_epoch_then_rerun_equals_uninterrupted_run(shared_data_dir, tmp_path):
    # `zoo train` gives a deterministic conv net the plain oneDNN step with TF's ops one at a time and the gradient
    # sums in order; with TF's AddN sums its gradient differed in its last bits between fresh processes, which made
    # this test fail now and then. Killed mid-epoch and rerun, the run must equal an uninterrupted one bit for bit.
    reference, run = tmp_path / "reference", tmp_path / "run"
    done = zoo_process(*CONV, "--out", reference, data_dir=shared_data_dir)
    finished(done)
    assert "not XLA-compiled" in done.stdout
    killed(zoo_process(*CONV, "--out", run, data_dir=shared_data_dir, fault="after_batch:2:1"))
    assert state_of(run)["epoch"] == 1
    finished(zoo_process(*CONV, "--out", run, data_dir=shared_data_dir))
    assert without_seconds(state_of(run)) == without_seconds(state_of(reference))
    assert csv_rows(run) == csv_rows(reference)
    # The manifest shows both starts of the killed run, in the same mode as the reference's one start.
    modes = [json.loads((folder / "manifest.json").read_text())["execution"] for folder in (run, reference)]
    assert [entry["from_epoch"] for entry in modes[0]] == [0, 1] and [e["from_epoch"] for e in modes[1]] == [0]
    for entry in (*modes[0], *modes[1]):
        assert (entry["xla_compiled"], entry["ops_one_at_a_time"], entry["gradients_added_in_order"]) == (
            False, True, True), entry
    for name in (f"checkpoints/epoch-{CONV_EPOCHS:04d}.keras", "model.keras"):
        for a, b in zip(variables_of(run / name), variables_of(reference / name), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.slow
def test_kill_between_epochs_then_resume_equals_uninterrupted_run(reference_run, shared_data_dir, tmp_path):
    run = tmp_path / "run"
    killed(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir, fault="after_epoch:1"))
    assert state_of(run)["epoch"] == 1 and [int(r["epoch"]) for r in csv_rows(run)] == [1]
    finished(zoo_process(*TRAIN, "--out", run, "--resume", data_dir=shared_data_dir))
    assert_same_run(run, reference_run)


@pytest.mark.slow
def test_kills_while_checkpointing_then_rerun_equals_uninterrupted_run(reference_run, shared_data_dir, tmp_path):
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    # 1. Inside the checkpoint write: the complete epoch-2 file is still a temporary file.
    killed(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir, fault="in_checkpoint_write:2"))
    assert state_of(run)["checkpoint"] == "epoch-0001.keras"
    assert [p.name for p in leftovers(run)][0].startswith(".epoch-0002.keras")
    assert not (checkpoints / "epoch-0002.keras").exists()
    # 2. After the checkpoint files, before state.json: epoch-0002.keras exists but nothing names it.
    killed(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir, fault="before_state_write:2"))
    assert leftovers(run) == []  # reopening the folder removed the temporary file
    assert state_of(run)["epoch"] == 1 and (checkpoints / "epoch-0002.keras").exists()
    # 3. After state.json of the last epoch: metrics.csv one epoch behind, the old checkpoint not yet deleted.
    killed(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir, fault=f"after_state_write:{EPOCHS}"))
    assert state_of(run)["epoch"] == EPOCHS and len(csv_rows(run)) == EPOCHS - 1
    assert (checkpoints / f"epoch-{EPOCHS - 1:04d}.keras").exists() and not (run / "model.keras").exists()
    # Training is complete; the re-run repairs metrics.csv and the checkpoints, then evaluates.
    finished(zoo_process(*TRAIN, "--out", run, data_dir=shared_data_dir))
    assert_same_run(run, reference_run)




# A bench of two tiny MLP cells (ae, vae on 256 MNIST images, 1 epoch) and a tiny classifier.
TINY_BUDGET = {"epochs": 1, "train_subset": 256, "validation_size": 128, "test_subset": 128, "iw_samples": 4,
               "seeds": 1, "experiments": False, "classifier_epochs": 1, "classifier_train_subset": 500,
               "fid_samples": 64, "cell_timeout": 300, "overrides": {"*": {"model": {"hidden_units": [32]}}}}
BENCH = ["bench", "--budget", "tiny.yaml", "--models", "ae,vae", "--out", "res", "--work-dir", "work"]


def _pids_running(marker: str, cwd: Path) -> list[int]:
    """Live (not zombie) processes in folder ``cwd`` whose command line contains ``marker``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            folder = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if marker in cmdline and state != "Z" and folder == cwd.resolve():
            pids.append(int(proc.name))
    return pids


def _wait_until(predicate, timeout: float, proc: subprocess.Popen | None, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"zoo bench exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*")
            if p.is_file()}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the bench's worker through /proc")
def test_kill_bench_mid_cell_then_rerun_redoes_only_the_unfinished_cells(shared_data_dir, tmp_path):
    (tmp_path / "tiny.yaml").write_text(json.dumps(TINY_BUDGET))
    env = {**os.environ, "ZOO_DATA_DIR": str(shared_data_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop(faults.ENV, None)
    first, second = "ae--mnist--seed0", "vae--mnist--seed0"
    first_result = tmp_path / "res" / "cells" / first / "result.json"
    second_job = f"zoo.bench.worker work/_jobs/{second}/job.json"  # the worker's command line
    with open(tmp_path / "first.log", "w") as log:
        # Its own process group, killed as a whole, as a terminal or a scheduler kills a job.
        proc = subprocess.Popen([sys.executable, "-m", "zoo", *BENCH], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    workers: list[int] = []
    try:
        # Cell 1 finished (the runner's last write of its result adds process_seconds); cell 2 is training.
        _wait_until(lambda: first_result.exists() and "process_seconds" in json.loads(first_result.read_text()),
                    240, proc, "the first cell to finish")
        _wait_until(lambda: (tmp_path / "work" / second / "config.json").exists(), 120, proc,
                    "the second cell to start training")
        workers = _pids_running(second_job, tmp_path)
        assert len(workers) == 1, workers
        killed_at = time.time_ns()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # The worker runs in its own session (out of the killed group); it must die with the bench, not keep
        # training in the folder the rerun replaces.
        _wait_until(lambda: not _pids_running(second_job, tmp_path), 10, None, "the orphaned worker to die")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        for pid in workers:
            if pid in _pids_running(second_job, tmp_path):
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-2000:]
    second_result = tmp_path / "res" / "cells" / second / "result.json"
    assert not second_result.exists(), ("the worker outlived the killed bench and finished cell 2"
                                        if second_result.stat().st_mtime_ns > killed_at
                                        else "cell 2 finished before the kill")
    assert not (tmp_path / "res" / "results.json").exists()  # written at the end of a bench only
    finished_cell = _files(tmp_path / "res" / "cells" / first)
    finished_run = _files(tmp_path / "work" / first)
    classifier = _files(tmp_path / "res" / "classifiers")

    rerun = subprocess.run([sys.executable, "-m", "zoo", *BENCH], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-3000:]
    assert "classifier mnist: cached" in rerun.stdout
    assert "[1/2] ae/mnist/seed-0: finished earlier, skipped" in rerun.stdout
    assert "[2/2] vae/mnist/seed-0: running" in rerun.stdout and "[2/2] vae/mnist/seed-0: ok" in rerun.stdout
    # Nothing of the finished cell, its run folder or the classifier was rewritten (same bytes, same mtime_ns).
    assert _files(tmp_path / "res" / "cells" / first) == finished_cell
    assert _files(tmp_path / "work" / first) == finished_run
    assert _files(tmp_path / "res" / "classifiers") == classifier
    # The partial cell was discarded and redone from scratch: its run folder replaced, one finished epoch.
    assert "--overwrite: replacing" in (tmp_path / "work" / "_jobs" / second / "log.txt").read_text()
    assert json.loads((tmp_path / "work" / second / "state.json").read_text())["epoch"] == 1
    payload = json.loads((tmp_path / "res" / "results.json").read_text())
    assert [(c["id"], c["status"]) for c in payload["cells"]] == [("ae/mnist/seed-0", "ok"),
                                                                   ("vae/mnist/seed-0", "ok")]
    assert payload["last_run"] == {"ran": ["vae/mnist/seed-0"], "skipped": ["ae/mnist/seed-0"], "failed": []}
    assert all(np.isfinite(c["metrics"]["distortion"]) for c in payload["cells"])
    assert sorted(tmp_path.rglob(f"*{zio.TEMP_MARKER}*")) == []

# ------------------------------------------------------ crashes inside writes (fast)


def _partial_then_fail(path, data: bytes):
    Path(path).write_bytes(data[: len(data) // 2])
    raise OSError(errno.EIO, "simulated crash in the middle of a write")


def _write_json(target: Path):
    zio.write_json(target, {"epoch": 2})


def _write_csv(target: Path):
    RunDir(target.parent).write_metrics_csv([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5}])


def _save_model(target: Path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with zio.atomic_path(target, suffix=".keras") as tmp:
        model.save(tmp)


def _save_figure(target: Path):
    from matplotlib.figure import Figure

    from zoo.evaluation import figures

    figures._save(Figure(figsize=(1, 1)), target)


@pytest.mark.parametrize(("name", "write", "patch"), [
    ("state.json", _write_json, ("pathlib.Path.write_text", lambda self, text, *a, **k: _partial_then_fail(self, text.encode()))),
    ("metrics.csv", _write_csv, ("pathlib.Path.write_text", lambda self, text, *a, **k: _partial_then_fail(self, text.encode()))),
    ("epoch-0001.keras", _save_model, ("keras.Model.save", lambda self, path, *a, **k: _partial_then_fail(path, b"PK" * 500))),
    ("reconstructions.png", _save_figure, ("matplotlib.figure.Figure.savefig", lambda self, path, *a, **k: _partial_then_fail(path, b"\x89PNG" * 100))),
    ("best.keras", lambda target: zio.copy_file(target.parent / "source.keras", target),
     ("shutil.copyfile", lambda source, path, *a, **k: _partial_then_fail(path, b"PK" * 500))),
])
def test_a_crash_inside_a_write_keeps_the_previous_file_and_no_temporary_file(tmp_path, monkeypatch, name, write, patch):
    target = tmp_path / name
    target.write_bytes(b"previous complete content")
    (tmp_path / "source.keras").write_bytes(b"new content")
    monkeypatch.setattr(*patch)
    with pytest.raises(OSError, match="simulated crash"):
        write(target)
    assert target.read_bytes() == b"previous complete content"
    assert leftovers(tmp_path) == []


def test_finished_writes_have_normal_permissions(tmp_path):
    zio.write_json(tmp_path / "metrics.json", {})
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~zio._umask()


def test_reopening_a_run_folder_removes_what_a_killed_process_left(tmp_path):
    run = RunDir(tmp_path / "run")
    run.checkpoints.mkdir(parents=True)
    run.figures.mkdir()
    for path in (run.epoch_checkpoint(1), run.epoch_checkpoint(2), run.epoch_checkpoint(3), run.best_checkpoint):
        path.write_bytes(b"checkpoint")
    for folder, name in ((run.root, "state.json"), (run.checkpoints, "epoch-0003.keras"), (run.figures, "a.png")):
        (folder / f".{name}{zio.TEMP_MARKER}x1y2.tmp").write_bytes(b"half")
    (run.root / ".hidden-by-the-user").write_text("kept")
    history = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.0}]
    run.tidy({"epoch": 2, "checkpoint": "epoch-0002.keras", "history": history})
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["best.keras", "epoch-0002.keras"]
    assert leftovers(run.root) == [] and (run.root / ".hidden-by-the-user").exists()
    assert run.metrics_csv.read_text().splitlines() == ["epoch,loss", "1,2.0", "2,1.0"]
    run.tidy(None)  # no state.json: the run starts over, no checkpoint is trusted
    assert list(run.checkpoints.iterdir()) == []


def test_fault_points_parse_and_a_bad_value_is_a_user_error():
    assert faults.parse(None) is None
    assert faults.parse("after_batch:2:3") == ("after_batch", 2, 3)
    assert faults.parse("before_state_write:4") == ("before_state_write", 4, None)
    for bad in ("after_batch:2", "before_state_write:0", "sometime:1", "after_epoch:x"):
        with pytest.raises(ZooError, match="ZOO_FAULT"):
            faults.parse(bad)


# ---------------------------------------------------------------- disk full (fast)


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["checkpoint", "state"])
def test_disk_full_at_the_end_of_epoch_2_keeps_epoch_1(shared_data_dir, tmp_path, monkeypatch, capsys, where):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    run = tmp_path / "run"
    command = ["train", "vae", "--dataset", "mnist", *TINY, "--epochs", "2", "--out", run]
    if where == "checkpoint":
        save = keras.Model.save

        def save_or_fail(self, path, *args, **kwargs):
            if "epoch-0002" in str(path):
                Path(path).write_bytes(b"PK half a zip")
                _disk_full()
            return save(self, path, *args, **kwargs)

        monkeypatch.setattr(keras.Model, "save", save_or_fail)
    else:
        write_json = zio.write_json
        monkeypatch.setattr(zio, "write_json", lambda target, payload: (
            _disk_full() if Path(target).name == "state.json" and payload.get("epoch") == 2
            else write_json(target, payload)))
    line = one_error_line(run_cli(capsys, *command))
    failed = "checkpoint " + str(run / "checkpoints" / "epoch-0002.keras") if where == "checkpoint" else "state.json"
    assert "zoo: error: disk full while writing " in line and failed in line
    assert "previous checkpoint epoch-0001.keras and state.json (epoch 1) kept" in line
    state = state_of(run)
    assert state["epoch"] == 1 and state["checkpoint"] == "epoch-0001.keras" and len(state["history"]) == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "epoch-0001.keras"]
    assert leftovers(run) == []
    assert all(np.isfinite(w).all() for w in variables_of(run / "checkpoints" / "epoch-0001.keras"))
    # Space is back: the same command resumes after epoch 1 and finishes.
    monkeypatch.undo()
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    assert run_cli(capsys, *command, "--no-eval").returncode == 0
    state = state_of(run)
    assert state["epoch"] == 2 and [row["epoch"] for row in state["history"]] == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "epoch-0002.keras"]


# ---------------------------------------------------------------- divergence (fast)

# A lr of 1e5 blows up at step 2 of epoch 1, so nothing is kept (tests/test_reliability.py checks that).
# These tests need a good epoch 1 and then a diverged one: the real training step of epoch 2, step 2 gets a NaN
# loss (1024 images in batches of 512: 2 steps per epoch).
DIVERGING = ["train", "vae", "--dataset", "mnist", *TINY, "--batch-size", "512", "--epochs", "3"]


def nan_loss_at_step(monkeypatch, step: int) -> None:
    """The training step of optimiser step ``step`` (1-based) computes a NaN loss."""
    import tensorflow as tf

    from zoo.training import training_model

    compute_terms = training_model.compute_terms

    def terms_with_a_nan(*args, **kwargs):
        terms = compute_terms(*args, **kwargs)
        if kwargs.get("training"):
            at = tf.equal(tf.cast(kwargs["step"], tf.int64), step - 1)  # steps taken before this one
            terms = {**terms, "loss": tf.where(at, float("nan"), terms["loss"])}
        return terms

    monkeypatch.setattr(training_model, "compute_terms", terms_with_a_nan)


def test_divergence_exits_3_naming_epoch_and_step_and_the_last_good_checkpoint_evaluates(
        shared_data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    nan_loss_at_step(monkeypatch, 4)
    run = tmp_path / "run"
    line = one_error_line(run_cli(capsys, *DIVERGING, "--out", run), code=3)
    assert line.startswith("zoo: error: training diverged at epoch 2, step 2: ")
    assert "lower --learning-rate" in line and "last good checkpoint is kept" in line
    assert state_of(run)["epoch"] == 1 and not (run / "model.keras").exists()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "epoch-0001.keras"]

    result = run_cli(capsys, "evaluate", run, "--no-figures")
    assert result.returncode == 0, result.stderr
    assert f"note: {run} has no model.keras (training did not finish); evaluating checkpoints/best.keras (epoch 1)" \
        in result.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model_file"] == "checkpoints/best.keras" and metrics["epochs_trained"] == 1
    assert -600 < metrics["elbo"] < 0 and -600 < metrics["iwae"] < 0  # the sane epoch 1, not a blown-up one


def test_sample_of_a_run_without_model_keras_falls_back_to_the_best_checkpoint(shared_data_dir, tmp_path, monkeypatch,
                                                                               capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    nan_loss_at_step(monkeypatch, 4)
    run = tmp_path / "run"
    one_error_line(run_cli(capsys, *DIVERGING, "--out", run), code=3)
    monkeypatch.undo()
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    assert not (run / "model.keras").exists()
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()}

    grid = tmp_path / "from_best.png"
    result = run_cli(capsys, "sample", run, "--n", "16", "--out", grid)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {run} has no model.keras (training did not finish); "
                     "sampling from checkpoints/best.keras (epoch 1)"]
    # Sampling did not touch the run folder (no model.keras appears, every file is byte-identical).
    assert {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # The samples are those of the best checkpoint: the same grid as a folder whose model.keras is that checkpoint.
    twin = tmp_path / "twin"
    shutil.copytree(run, twin)
    shutil.copyfile(run / "checkpoints" / "best.keras", twin / "model.keras")
    twin_grid = tmp_path / "from_model.png"
    again = run_cli(capsys, "sample", twin, "--n", "16", "--out", twin_grid)
    assert again.returncode == 0 and "note:" not in again.stdout, again.stderr
    pixels = mpimg.imread(grid)
    np.testing.assert_array_equal(pixels, mpimg.imread(twin_grid))
    assert pixels.std() > 0  # a real grid of finite samples, not a blank image

    # Neither model.keras nor a checkpoint: one line, exit 2.
    shutil.rmtree(twin / "checkpoints")
    (twin / "model.keras").unlink()
    line = one_error_line(run_cli(capsys, "sample", twin, "--n", "4", "--out", tmp_path / "none.png"))
    assert line == (f"zoo: error: {twin} has no model.keras and no checkpoint yet; train it with "
                    f"`zoo train ... --out {twin}` (add --resume to continue)")
    assert not (tmp_path / "none.png").exists()


def test_an_after_batch_fault_fires_in_the_graph_call_that_ran_its_step(monkeypatch):
    killed = []
    monkeypatch.setattr(faults, "_FAULT", ("after_batch", 2, 3))
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append(sig))
    faults.hit("after_batch", 2, 1, 2)  # steps 1-2: not yet
    faults.hit("after_batch", 1, 1, 8)  # another epoch
    faults.hit("after_epoch", 2)
    assert killed == []
    faults.hit("after_batch", 2, 3, 4)
    assert killed == [signal.SIGKILL]
