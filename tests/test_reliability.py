"""Issue 16, as a new user would meet it: `--overwrite` on a folder zoo did not make, failed starts that
left folders behind, a silent Ctrl-C, metrics.json without units. Tiny in-process runs (tests/inprocess_cli.py)
keep the whole file well under a minute and a half."""

from __future__ import annotations

import json
import math
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from inprocess_cli import one_error_line, run_cli

from zoo.cli import app
from zoo.run_dir import MARKER
from zoo.saving import load_keras_file
from zoo.training import faults, trainer

TINY = ["--set", "model.hidden_units=[16]", "--train-subset", "256", "--set", "data.validation_size=128",
        "--set", "data.test_subset=128", "--batch-size", "64", "--iw-samples", "2",
        "--set", "evaluation.figures=false"]
TRAIN = ["train", "vae", "--dataset", "mnist", *TINY, "--epochs", "2"]


@pytest.fixture(autouse=True)
def data_dir(shared_data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, shared_data_dir):
    """An uninterrupted 2-epoch run with its evaluation: the reference of the Ctrl-C test."""
    out = tmp_path_factory.mktemp("reliability") / "reference"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
        with pytest.raises(SystemExit) as exit_info:
            app(args=[*TRAIN, "--out", str(out)], prog_name="zoo")
    assert exit_info.value.code in (0, None)
    return out


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path below ``folder``: a file's bytes, None for a folder."""
    return {str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))}


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


# --------------------------------------------------- 1. --overwrite only replaces what zoo made


def user_project(tmp_path: Path) -> Path:
    """The issue's example: a folder of the user's own that happens to hold a config.json."""
    folder = tmp_path / "userproj"
    (folder / "src").mkdir(parents=True)
    (folder / "config.json").write_text('{"name": "my web app"}')
    (folder / "src" / "main.py").write_text("print('hello')\n")
    (folder / "NOTES.txt").write_text("my notes\n")
    return folder


def test_a_folder_zoo_did_not_make_is_refused_and_left_byte_identical(tmp_path, capsys):
    folder = user_project(tmp_path)
    before = snapshot(folder)
    for extra in ([], ["--overwrite"], ["--resume"]):
        line = one_error_line(run_cli(capsys, *TRAIN, "--out", folder, *extra))
        assert f"{folder} is not a zoo run folder (no {MARKER} marker, its config.json is not a zoo config)" in line
        assert ("zoo will not replace" if extra == ["--overwrite"] else "zoo will not write into") in line
        assert snapshot(folder) == before
    for command in (["evaluate", folder], ["sample", folder, "--n", "4"]):
        assert "is not a zoo run folder" in one_error_line(run_cli(capsys, *command))
    assert snapshot(folder) == before
    # Without any config.json too: a non-empty folder without the marker is the user's.
    (folder / "config.json").unlink()
    before = snapshot(folder)
    line = one_error_line(run_cli(capsys, *TRAIN, "--out", folder, "--overwrite"))
    assert f"(no {MARKER} marker, no config.json)" in line
    assert snapshot(folder) == before


def test_overwrite_of_a_zoo_run_removes_only_zoo_files(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    (run / "NOTES.txt").write_text("kept\n")
    (run / "mine").mkdir()
    (run / "mine" / "data.csv").write_text("1,2\n")
    user_files = {name: (run / name).read_bytes() for name in ("NOTES.txt", "mine/data.csv")}
    old_marker = json.loads((run / MARKER).read_text())
    result = run_cli(capsys, *TRAIN[:-1], "1", "--seed", "7", "--no-eval", "--out", run, "--overwrite")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "other files in it are kept" in result.stdout
    assert {name: (run / name).read_bytes() for name in user_files} == user_files
    assert json.loads((run / "config.json").read_text())["train"]["seed"] == 7  # a new run
    assert json.loads((run / "state.json").read_text())["epoch"] == 1
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()  # the old run's are gone
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "epoch-0001.keras"]
    marker = json.loads((run / MARKER).read_text())
    assert set(marker) == {"zoo_version", "created"} and marker["zoo_version"] == old_marker["zoo_version"]


def test_a_run_from_before_the_marker_still_resumes_and_gets_the_marker(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    (run / MARKER).unlink()
    before = snapshot(run)
    result = run_cli(capsys, *TRAIN, "--no-eval", "--out", run)  # the same command, finished: nothing to train
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training already finished (2 epochs)" in result.stdout
    marker = json.loads((run / MARKER).read_text())
    assert marker["recognised_from"] == "config.json" and marker["created"]
    after = snapshot(run)
    del after[MARKER]
    assert after == before  # nothing else touched


# ------------------------------------------- 4. a start that fails before training leaves nothing


def _png(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    path.write_bytes(tf.io.encode_png(tf.constant(pixels)).numpy())


def _images(tmp_path: Path, count: int = 12, *, bad: bool = False) -> Path:
    folder = tmp_path / "images"
    folder.mkdir(exist_ok=True)
    for index in range(count):
        _png(folder / f"{index:02d}.png", index)
    if bad:
        (folder / "zz-broken.png").write_bytes(b"not a png at all")
    return folder


def _empty_image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    return folder


FOLDER = ["--image-size", "12", "--set", "model.hidden_units=[16]", "--epochs", "1", "--iw-samples", "2",
          "--set", "evaluation.figures=false"]
FAILED_STARTS = {
    "missing data dir": (lambda tmp: ["train", "vae", *TINY, "--data-dir", tmp / "nowhere"], "does not exist"),
    "no images in the folder": (lambda tmp: ["train", "vae", "--dataset", f"folder:{_empty_image_folder(tmp)}",
                                             *FOLDER], "holds no images"),
    "a file that is not an image": (lambda tmp: ["train", "vae", "--dataset", f"folder:{_images(tmp, 4, bad=True)}",
                                                 *FOLDER], "zz-broken.png"),
    "cvae on an unlabelled folder": (lambda tmp: ["train", "cvae", "--dataset", f"folder:{_images(tmp)}", *FOLDER,
                                                  "--batch-size", "4"], "cvae needs a labelled dataset"),
    # Refused by the trainer itself, after config.json and manifest.json were written.
    "fewer images than one batch": (lambda tmp: ["train", "vae", "--dataset", f"folder:{_images(tmp)}", *FOLDER,
                                                 "--batch-size", "64"], "fewer than one batch of 64"),
    "unknown model": (lambda tmp: ["train", "vea"], "unknown model 'vea'"),
}


@pytest.mark.parametrize("existing", [False, True], ids=["new folder", "existing empty folder"])
@pytest.mark.parametrize("case", list(FAILED_STARTS))
def test_a_start_that_fails_before_training_leaves_nothing_behind(case, existing, tmp_path, capsys):
    make_args, expected = FAILED_STARTS[case]
    args = make_args(tmp_path)
    out = tmp_path / "runs" / "run"  # runs/ does not exist either: neither may be left
    if existing:
        out.mkdir(parents=True)
    line = one_error_line(run_cli(capsys, *args, "--out", out))
    assert expected in line, line
    if existing:
        assert list(out.iterdir()) == []
    else:
        assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------ 5. Ctrl-C: one line, and it resumes


def interrupt_at(monkeypatch, epoch: int, step: int) -> None:
    def hit(point, at_epoch, first=None, last=None):
        if point == "after_batch" and at_epoch == epoch and first is not None and first <= step <= (last or first):
            raise KeyboardInterrupt

    monkeypatch.setattr(faults, "hit", hit)


def interrupted_line(result) -> str:
    assert result.returncode == 130, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_ctrl_c_says_what_was_kept_and_the_same_command_resumes(finished_run, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    command = [*TRAIN, "--out", str(run)]
    resume_with = shlex.join(["zoo", *command])
    original_hit = faults.hit

    # Before any epoch finished (a first start with --overwrite, which the command to re-run leaves out).
    interrupt_at(monkeypatch, epoch=1, step=1)
    line = interrupted_line(run_cli(capsys, *command, "--overwrite"))
    assert line == f"zoo: interrupted; nothing kept yet (no epoch had finished); start again with: {resume_with}"

    # In epoch 2: epoch 1's checkpoint is kept.
    interrupt_at(monkeypatch, epoch=2, step=2)
    line = interrupted_line(run_cli(capsys, *command))
    checkpoint = run / "checkpoints" / "epoch-0001.keras"
    assert line == f"zoo: interrupted; kept epoch 1 of 2 ({checkpoint}); resume with: {resume_with}"
    assert json.loads((run / "state.json").read_text())["epoch"] == 1 and checkpoint.exists()

    monkeypatch.setattr(faults, "hit", original_hit)
    result = run_cli(capsys, *shlex.split(resume_with)[1:])  # the command the line gave
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {run} after epoch 1" in result.stdout
    assert_same_run(run, finished_run)


def assert_same_run(run: Path, reference: Path) -> None:
    def state(folder):
        saved = json.loads((folder / "state.json").read_text())
        return {**saved, "history": [{k: v for k, v in row.items() if k != "seconds"} for row in saved["history"]]}

    assert state(run) == state(reference)
    for name in ("checkpoints/epoch-0002.keras", "checkpoints/best.keras", "model.keras"):
        for a, b in zip(load_keras_file(run / name).weights, load_keras_file(reference / name).weights, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    assert json.loads((run / "metrics.json").read_text()) == json.loads((reference / "metrics.json").read_text())


def test_ctrl_c_before_training_leaves_no_folder(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "load_dataset", interrupted)
    run = tmp_path / "run"
    line = interrupted_line(run_cli(capsys, *TRAIN, "--out", run))
    assert line.startswith("zoo: interrupted; nothing kept yet")
    assert not run.exists()


def test_ctrl_c_while_evaluating_a_finished_run_keeps_it_as_it_was(finished_run, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    run = copy_of(finished_run, tmp_path)
    before = snapshot(run)
    monkeypatch.setattr(trainer, "finish", interrupted)
    line = interrupted_line(run_cli(capsys, *TRAIN, "--out", run))
    checkpoint = run / "checkpoints" / "epoch-0002.keras"
    assert line == (f"zoo: interrupted after training finished; kept epoch 2 ({checkpoint}); "
                    f"evaluate with: {shlex.join(['zoo', *TRAIN, '--out', str(run)])}")
    assert snapshot(run) == before


# ------------------------------------------------------------------- 8. metrics.json has units


def test_every_number_in_metrics_json_has_a_unit(finished_run):
    metrics = json.loads((finished_run / "metrics.json").read_text())
    units = metrics["units"]

    def numeric(value) -> bool:
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return True
        if isinstance(value, list):
            return bool(value) and all(numeric(v) for v in value)
        if isinstance(value, dict):
            return bool(value) and all(numeric(v) for v in value.values())
        return False

    numbers = {key for key, value in metrics.items() if numeric(value) and key != "evaluation"}
    assert {"elbo", "iwae", "bits_per_dim", "rate", "distortion", "reconstruction_mse", "kl_per_dim"} <= numbers
    assert numbers <= set(units), numbers - set(units)
    assert set(units) <= set(metrics) and all(isinstance(u, str) and u for u in units.values())
    # Also the keys that are None for some models (e.g. the autoencoder's elbo): only words and settings lack one.
    assert set(metrics) - set(units) == {"model", "dataset", "binarization", "likelihood", "model_file", "evaluation",
                                         "units"}
    assert units["elbo"] == units["iwae"] == "nats per image"
    assert units["bits_per_dim"].startswith("bits per dimension")
    assert units["reconstruction_mse"] == "sum over pixels of squared error per image"
    # The recorded value is what the unit says: -IWAE in bits over the 784 pixels.
    assert metrics["bits_per_dim"] == pytest.approx(-metrics["iwae"] / (28 * 28 * math.log(2)))
