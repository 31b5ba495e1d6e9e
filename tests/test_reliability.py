"""Issue 16, as a new user would meet it: `--overwrite` on a folder zoo did not make, a blown-up run that exited 0,
re-runs that ignored flags, failed starts that left folders behind, a silent Ctrl-C, memory at the reference
resolution, figures that did not fit their content, metrics.json without units. Tiny in-process runs
(tests/inprocess_cli.py) keep the file fast."""

from __future__ import annotations

import json
import math
import re
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
                                         "units", "notes"}
    assert units["elbo"] == units["iwae"] == "nats per image"
    assert units["bits_per_dim"].startswith("bits per dimension")
    assert units["reconstruction_mse"] == "sum over pixels of squared error per image"
    # The recorded value is what the unit says: -IWAE in bits over the 784 pixels.
    assert metrics["bits_per_dim"] == pytest.approx(-metrics["iwae"] / (28 * 28 * math.log(2)))


# ------------------------------------------------------- 2. a blown-up run stops with exit 3, keeps only sane


def with_flag(args: list, flag: str, value) -> list:
    """``args`` with ``flag``'s value replaced (or the flag added)."""
    args = [str(a) for a in args]
    if flag in args:
        at = args.index(flag)
        return [*args[:at + 1], str(value), *args[at + 2:]]
    return [*args, flag, str(value)]


BLOWN_UP = {
    # The issue's --learning-rate 10 (4 steps per epoch) and the old divergence test's 1e5 (2 steps per epoch),
    # whose epoch 1 used to be checkpointed with a validation ELBO of -5e26.
    "lr 10": with_flag(TRAIN, "--learning-rate", 10),
    "lr 1e5": with_flag(with_flag(with_flag(TRAIN, "--learning-rate", "1e5"), "--train-subset", 1024),
                        "--batch-size", 512),
}


@pytest.mark.parametrize("case", [pytest.param(case, marks=[pytest.mark.slow] if case == "lr 1e5" else [])
                                  for case in BLOWN_UP])
def test_a_blown_up_run_exits_3_at_the_step_it_blew_up_and_keeps_no_checkpoint(case, tmp_path, capsys):
    run = tmp_path / "run"
    line = one_error_line(run_cli(capsys, *BLOWN_UP[case], "--out", run), code=3)
    assert line.startswith("zoo: error: training diverged at epoch 1, step 2: loss "), line
    assert "is over 1000 × its median over the steps before (5" in line  # the first step's loss, ~550 nats
    assert "lower --learning-rate (it is " in line and "start again with --overwrite or another --out" in line
    assert line.endswith("no epoch had finished, so there is no checkpoint to keep")
    assert not (run / "state.json").exists() and not (run / "model.keras").exists()
    assert not (run / "checkpoints").is_dir() or not list((run / "checkpoints").iterdir())
    line = one_error_line(run_cli(capsys, "evaluate", run, "--no-figures"))
    assert "has no model.keras and no checkpoint yet" in line


@pytest.mark.slow
def test_the_divergence_limits_are_config_fields(tmp_path, capsys):
    # Without the relative limit the absolute one (nats per data dimension) still stops the lr-10 run.
    args = [*BLOWN_UP["lr 10"], "--set", "train.divergence_factor=0", "--out", tmp_path / "run"]
    line = one_error_line(run_cli(capsys, *args), code=3)
    assert "nats per image is over 10000 nats per dimension × 784 dimensions (train.divergence_nats_per_dim)" in line
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["divergence_factor"] == 0.0


def test_an_epoch_with_an_insane_validation_score_is_not_kept(tmp_path, capsys, monkeypatch):
    from zoo.training import training_model

    compute_terms = training_model.compute_terms

    def blown_up_after_epoch_1(*args, **kwargs):  # 4 steps per epoch: the weights of epoch 2 on score 1e9 × worse
        terms = compute_terms(*args, **kwargs)
        if kwargs.get("training"):
            return terms
        scale = tf.where(tf.cast(kwargs["step"], tf.int64) > 4, 1e9, 1.0)
        return {name: value * scale for name, value in terms.items()}

    monkeypatch.setattr(training_model, "compute_terms", blown_up_after_epoch_1)
    run = tmp_path / "run"
    line = one_error_line(run_cli(capsys, *with_flag(TRAIN, "--epochs", 3), "--out", run), code=3)
    assert line.startswith("zoo: error: training diverged at epoch 2, validation: val_")
    assert "the last good checkpoint is kept: checkpoints/epoch-0001.keras (epoch 1); best.keras is epoch 1" in line
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1 and -600 < state["best"] < 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.keras", "epoch-0001.keras"]


def test_the_divergence_check_passes_a_healthy_transient_and_names_the_step_of_a_blow_up():
    from zoo.models import VAE, VAEConfig
    from zoo.training.training_model import TrainingModel

    model = TrainingModel(VAE(VAEConfig(hidden_units=(8,), latent_dim=2)))
    model.reset_divergence_state(factor=1000.0, nats_per_dim=1e4)
    # vq_vae's first 20 training losses (registry preset, seed 0): a 78-fold rise over 17 steps, then recovery.
    transient = [546, 546, 553, 569, 604, 690, 832, 1046, 1601, 2526, 4059, 5890, 9816, 16870, 28620, 39020,
                 42580, 41440, 31830, 19810]
    healthy = transient + list(np.linspace(220, 100, 400) * (1 + 0.05 * np.sin(np.arange(400))))
    for step, loss in enumerate(healthy, start=1):
        model.divergence_check({"loss": tf.constant(loss, tf.float32), "distortion": tf.constant([loss] * 3),
                                "rate": tf.constant([5.0] * 3)}, tf.constant(step, tf.int64))
    assert int(model.first_nonfinite_step.numpy()) == 0
    median = float(model.recent_median()[0])
    for step, loss in ((len(healthy) + 1, 900 * median), (len(healthy) + 2, 1100 * median), (len(healthy) + 3, 1e30)):
        model.divergence_check({"loss": tf.constant(loss, tf.float32), "distortion": tf.constant([1.0] * 3),
                                "rate": tf.constant([1.0] * 3)}, tf.constant(step, tf.int64))
    assert int(model.first_nonfinite_step.numpy()) == len(healthy) + 2  # the first over 1000 × the median
    assert model.first_bad_values.numpy()[0] == pytest.approx(1100 * median, rel=1e-5)


# ------------------------------------------------------ 3. a re-run's flags take effect and are recorded, or not


def starts(run: Path) -> list[dict]:
    return json.loads((run / "manifest.json").read_text())["starts"]


def test_rerunning_a_finished_run_with_iw_samples_evaluates_with_them_and_records_them(finished_run, tmp_path,
                                                                                        capsys, shared_data_dir):
    run = copy_of(finished_run, tmp_path)
    before = snapshot(run)
    # --data-dir may change too (the same data: its checksums are the manifest's); $ZOO_DATA_DIR gave it before.
    result = run_cli(capsys, *with_flag(TRAIN, "--iw-samples", 5), "--data-dir", shared_data_dir, "--out", run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "evaluation.iw_samples: 2 → 5 (recorded in config.json)" in result.stdout
    assert json.loads((run / "metrics.json").read_text())["iw_samples"] == 5
    config = json.loads((run / "config.json").read_text())
    assert config["evaluation"]["iw_samples"] == 5 and config["data"]["data_dir"] == str(shared_data_dir)
    assert starts(run)[-1]["changes"] == {"evaluation.iw_samples": [2, 5],
                                          "data.data_dir": [None, str(shared_data_dir)]}
    assert starts(run)[-1]["from_epoch"] == 2
    after = snapshot(run)
    assert {name: after[name] for name in ("state.json", "checkpoints/best.keras", "checkpoints/epoch-0002.keras")} \
        == {name: before[name] for name in ("state.json", "checkpoints/best.keras", "checkpoints/epoch-0002.keras")}


def test_resuming_with_more_epochs_and_other_iw_samples_records_both(finished_run, tmp_path, capsys):
    run = copy_of(finished_run, tmp_path)
    result = run_cli(capsys, *with_flag(with_flag(TRAIN, "--epochs", 3), "--iw-samples", 7), "--out", run,
                     "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming {run} after epoch 2" in result.stdout
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["epochs"] == 3 and config["evaluation"]["iw_samples"] == 7
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 3 and metrics["iw_samples"] == 7
    assert starts(run)[0]["from_epoch"] == 0
    assert starts(run)[-1]["from_epoch"] == 2 and starts(run)[-1]["changes"] == {
        "evaluation.iw_samples": [2, 7], "train.epochs": [2, 3]}


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--learning-rate", "0.01", "{run} holds a run with a different config (train.learning_rate: 0.001 → 0.01); "
                                "use --out for a new folder or --overwrite to replace it"),
    ("--epochs", "1", "--epochs 1 is fewer than the 2 epochs {run} has trained; give --epochs 2 or more, or "
                      "--overwrite to start again"),
])
def test_a_flag_a_rerun_cannot_honour_is_refused_in_one_line_naming_it(finished_run, tmp_path, capsys, flag, value,
                                                                      expected):
    run = copy_of(finished_run, tmp_path)
    before = snapshot(run)
    line = one_error_line(run_cli(capsys, *with_flag(TRAIN, flag, value), "--out", run))
    assert line == "zoo: error: " + expected.format(run=run)
    assert snapshot(run) == before


# ------------------------------------------------------------ 6. memory: estimated before it runs out


def test_a_batch_that_will_not_fit_is_refused_naming_one_that_does(tmp_path, capsys, monkeypatch):
    from zoo.models import VAE, VAEConfig
    from zoo.training import memory

    shape = memory.profile(VAE(VAEConfig(hidden_units=(16,))))  # TRAIN's model

    def needs(batch):  # over the process's size
        return max(shape.training(batch), shape.inference(memory.validation_batch_for(shape, batch)))

    # The process's size, fixed for the test so that batch 32 fits in 1000 MB and TRAIN's 64 does not.
    limit_mb = 1000
    resident = limit_mb * 1e6 - (needs(32) + needs(64)) / 2
    monkeypatch.setattr(memory, "resident_bytes", lambda: resident)
    run = tmp_path / "run"
    args = [*TRAIN, "--set", f"train.memory_limit_mb={limit_mb}", "--out", run]
    line = one_error_line(run_cli(capsys, *args))
    assert re.fullmatch(r"zoo: error: training vae on 28x28x1 images in batches of 64 needs about \d\.\d GB of memory "
                        rf"\(zoo's estimate\), more than train.memory_limit_mb={limit_mb}; use --batch-size 32 \(about "
                        r"\d\.\d GB\), or --set train.memory_limit_mb=MB to try anyway", line), line
    assert not run.exists()  # refused before anything was written
    # The batch it names passes the same check.
    from zoo.registry import load_registry
    from zoo.run_spec import resolve
    from zoo.training.training_model import TrainingModel

    spec = resolve(load_registry().get("vae"), {"model": {"hidden_units": [16]},
                                                "train": {"batch_size": 32, "memory_limit_mb": limit_mb}})
    memory.check_training(TrainingModel(VAE(VAEConfig(hidden_units=(16,)))), spec)


def test_an_evaluation_that_will_not_fit_is_done_in_smaller_batches(finished_run, tmp_path, capsys, monkeypatch):
    from zoo.saving import load_model
    from zoo.training import memory

    run = copy_of(finished_run, tmp_path)
    shape = memory.profile(load_model(run / "model.keras"))
    # Room for a batch of 250 (of the 1000 configured), not of 500: the process's size fixed to make it so.
    limit_mb = 1000
    resident = limit_mb * 1e6 - (shape.evaluation(250) + shape.evaluation(500)) / 2
    monkeypatch.setattr(memory, "resident_bytes", lambda: resident)
    result = run_cli(capsys, *TRAIN, "--set", f"train.memory_limit_mb={limit_mb}", "--out", run)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "note: evaluating in batches of 250 instead of 1000" in result.stdout
    assert json.loads((run / "metrics.json").read_text())["evaluation"]["batch_size"] == 250


def test_the_estimate_matches_the_measured_peaks_of_the_256_px_cartoon_conv_vae():
    from zoo.models import VAE, VAEConfig
    from zoo.training import memory

    model = VAE(VAEConfig(image_shape=(256, 256, 3), num_classes=0, architecture="conv", latent_dim=200,
                          conv_filters=(32, 64, 64, 64, 64), conv_strides=(2, 2, 2, 2, 2),
                          likelihood="continuous_bernoulli"))
    shape = memory.profile(model)
    # Peak RSS over the process's size before the work, measured (docs/reliability.md, Memory): two training
    # steps and a validation pass at batch 8, 32, 128; an evaluation at batch 25.
    for batch, measured in ((8, 0.67), (32, 1.34), (128, 4.11)):
        assert shape.training(batch) / 1e9 == pytest.approx(measured, rel=0.15)
    assert shape.evaluation(25) / 1e9 == pytest.approx(0.41, rel=0.15)
    assert memory.validation_batch_for(shape, 128) == 256  # not 500: a 1 GiB pass


def test_a_short_run_with_batch_norm_says_so():
    import keras

    from zoo.evaluation.runner import short_run_notes
    from zoo.models import VAE, VAEConfig

    keras.utils.set_random_seed(0)
    model = VAE(VAEConfig(architecture="conv", latent_dim=4, conv_filters=(8, 8), conv_strides=(2, 2)))
    images = (np.random.default_rng(0).random((16, 28, 28, 1)) > 0.7).astype(np.float32)
    notes = short_run_notes(model, images, None, steps=300)
    assert len(notes) == 1 and notes[0].startswith(
        "a short run: after 300 training steps the batch-norm statistics (momentum 0.99) still weigh their initial "
        "values by 5%")
    assert notes[0].endswith("train for more epochs before judging the figures")
    assert "batch-norm" not in " ".join(short_run_notes(model, images, None, steps=2000))


def test_a_short_run_says_so_in_the_summary_metrics_and_figures_and_logs_fixed_point_numbers(tmp_path, capsys):
    run = tmp_path / "run"
    result = run_cli(capsys, *with_flag(TRAIN, "--epochs", 1), "--out", run)
    assert result.returncode == 0, result.stderr[-2000:]
    notes = json.loads((run / "metrics.json").read_text())["notes"]
    assert len(notes) == 1 and "the reconstructions come out flat in inference mode" in notes[0]
    assert f"note: {notes[0]}" in result.stdout
    # The epoch's line: the objective's terms loss first, then validation's, each with 2 decimals (no 'e+02').
    line = next(line for line in result.stdout.splitlines() if line.startswith("epoch 1/1 - "))
    numbers = re.findall(r" (\w+): (\S+)", line)
    assert [name for name, _ in numbers] == ["loss", "elbo", "distortion", "rate", "val_loss", "val_elbo",
                                             "val_distortion", "val_rate"]
    assert all(re.fullmatch(r"-?\d+\.\d\d", value) for _, value in numbers), line


# ---------------------------------------------------------------------- 7. figures fit what they show


def captured_figures(monkeypatch) -> list:
    from zoo.evaluation import figures

    drawn, save = [], figures._save
    monkeypatch.setattr(figures, "_save", lambda figure, path: (drawn.append(figure), save(figure, path))[1])
    return drawn


def test_kl_bars_for_200_dimensions_are_at_most_1200_px_wide_with_readable_labels(tmp_path, monkeypatch):
    from zoo.evaluation import figures
    from zoo.models import VAE, VAEConfig

    drawn = captured_figures(monkeypatch)
    kl = np.random.default_rng(0).random(200)
    path = figures.kl_bars(VAE(VAEConfig(latent_dim=200, hidden_units=(8,))), kl, tmp_path / "kl.png", threshold=0.01)
    height, width = plt_image(path).shape[:2]
    assert width <= 1200 and height == 400
    labels = [tick for tick in drawn[0].axes[0].get_xticklabels() if tick.get_text()]
    assert len(labels) <= 50 and all(tick.get_fontsize() >= 7 for tick in labels)
    drawn[0].canvas.draw()
    boxes = [tick.get_window_extent() for tick in labels]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "labels overlap"


def plt_image(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_reconstruction_titles_fit_a_tiny_test_split(tmp_path, monkeypatch, count):
    from zoo.evaluation import figures
    from zoo.models import VAE, VAEConfig

    drawn = captured_figures(monkeypatch)
    images = (np.random.default_rng(1).random((count, 28, 28, 1)) > 0.5).astype(np.float32)
    figures.reconstructions(VAE(VAEConfig(hidden_units=(8,))), images, None, tmp_path / "r.png")
    figure = drawn[0]
    figure.canvas.draw()
    title = figure.axes[0].title.get_window_extent()
    assert title.x0 >= 0 and title.x1 <= figure.bbox.width, (title, figure.bbox)
    # A short run's note goes below the grid, which keeps its size; the figure grows by the note's lines.
    note = "a short run: after 300 training steps the batch-norm statistics (momentum 0.99) still weigh their " \
           "initial values by 5%; train for more epochs before judging the figures"
    figures.reconstructions(VAE(VAEConfig(hidden_units=(8,))), images, None, tmp_path / "n.png", note=note)
    noted = drawn[1]
    noted.canvas.draw()
    assert noted.get_figheight() > figure.get_figheight()
    assert noted.axes[0].get_window_extent().height == pytest.approx(figure.axes[0].get_window_extent().height)
    text = noted.texts[0]
    assert text.get_text().replace("\n", " ") == note
    box = text.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= noted.bbox.width and box.y0 >= 0
    assert box.y1 < noted.axes[0].get_window_extent().y0  # below the grid


def test_the_latent_scatter_of_unlabelled_data_has_no_class_legend(tmp_path, monkeypatch):
    from zoo.evaluation import figures
    from zoo.models import VAE, VAEConfig

    drawn = captured_figures(monkeypatch)
    images = (np.random.default_rng(2).random((30, 12, 12, 3)) > 0.5).astype(np.float32)
    unlabelled = VAE(VAEConfig(image_shape=(12, 12, 3), num_classes=0, hidden_units=(8,), latent_dim=3))
    figures.latent_scatter(unlabelled, images, np.zeros(30, np.int32), tmp_path / "s.png")  # a folder's zeros
    assert drawn[0].axes[0].get_legend() is None
    labelled = VAE(VAEConfig(image_shape=(12, 12, 3), num_classes=3, hidden_units=(8,), latent_dim=3))
    figures.latent_scatter(labelled, images, np.arange(30, dtype=np.int32) % 3, tmp_path / "l.png")
    assert [t.get_text() for t in drawn[1].axes[0].get_legend().get_texts()] == ["0", "1", "2"]


def test_sample_label_of_an_unlabelled_model_says_it_has_no_classes():
    from zoo.errors import ZooError
    from zoo.evaluation.runner import check_sample_label
    from zoo.models import VAE, ConditionalVAE, VAEConfig

    unlabelled = VAE(VAEConfig(image_shape=(12, 12, 3), num_classes=0, hidden_units=(8,)))
    with pytest.raises(ZooError) as refused:
        check_sample_label(unlabelled, 1, "RUN")
    assert str(refused.value) == ("--label needs a conditional model such as cvae; RUN holds VAE, trained on "
                                  "unlabelled data")
    conditional = ConditionalVAE(VAEConfig(hidden_units=(8,)))
    with pytest.raises(ZooError, match=r"^--label 12 is out of range; this model has classes 0-9$"):
        check_sample_label(conditional, 12, "RUN")
    check_sample_label(conditional, 9, "RUN")


def test_zoo_sample_label_on_an_unlabelled_run_names_no_negative_class(tmp_path, capsys):
    from zoo.models import VAE
    from zoo.registry import load_registry
    from zoo.run_spec import resolve

    # A run folder of an unlabelled folder dataset, made without training: its config, marker and model.
    spec = resolve(load_registry().get("vae"), {"data": {"name": f"folder:{_images(tmp_path)}", "image_size": 12},
                                                "model": {"hidden_units": [8]}})
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(spec.to_dict()))
    (run / MARKER).write_text("{}")
    VAE(spec.model_config((12, 12, 3), 0)).save(run / "model.keras")
    line = one_error_line(run_cli(capsys, "sample", run, "--n", "4", "--label", "1"))
    assert line == f"zoo: error: --label needs a conditional model such as cvae; {run} holds VAE, trained on " \
                   "unlabelled data"


# ------------------------------------------------------------------------------- the per-epoch log line


def test_on_a_terminal_keras_progress_bar_runs_during_the_epoch(capsys):
    from zoo.training.callbacks import EpochLog, format_number

    log = EpochLog(interactive=True)
    log.set_params({"steps": 3, "epochs": 2})
    log.on_epoch_begin(0)
    for step in range(3):
        log.on_train_batch_end(step, {"loss": 250.0 - step})
    log.on_epoch_end(0, {"loss": 249.0, "elbo": -249.0, "val_loss": 251.5})
    out = capsys.readouterr().out
    assert "/3" in out and "━" in out and "step" in out  # Keras's bar, counted in steps (updates throttled)
    assert out.rstrip().endswith("loss: 249.00 - elbo: -249.00 - val_loss: 251.50")
    assert [format_number(v) for v in (-248.49841, 0.00123, 3.5e19, float("nan"))] == \
        ["-248.50", "0.0012", "3.500e+19", "nan"]
