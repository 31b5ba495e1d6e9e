"""Bad input and output through the command line: each is one `zoo: error:` line, exit 2, and
nothing already in a run folder is lost. (More cases live in tests/test_cli.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml
from inprocess_cli import one_error_line, run_cli

from zoo.cli import app
from zoo.training.trainer import load_model

SMALL = ["--set", "model.hidden_units=[32]", "--train-subset", "512", "--set", "data.validation_size=256",
         "--set", "data.test_subset=256", "--iw-samples", "2", "--set", "evaluation.figures=false", "--epochs", "1"]
TRAIN = ["train", "vae", "--dataset", "mnist", *SMALL]
# The built-in entries in registry.yaml's order.
BUILTIN = yaml.safe_load((Path(__file__).resolve().parent.parent / "registry.yaml").read_text())["models"]
# As `zoo list` shows them: grouped by family, families in order of first appearance.
BUILTIN_BY_FAMILY = sorted(BUILTIN, key=lambda name: [BUILTIN[n]["family"] for n in BUILTIN].index(BUILTIN[name]["family"]))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, shared_data_dir):
    """A finished tiny run made through the CLI, with the data folder taken from ZOO_DATA_DIR."""
    out = tmp_path_factory.mktemp("bad-input") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
        with pytest.raises(SystemExit) as exit_info:
            app(args=[*TRAIN, "--out", str(out)], prog_name="zoo")
    assert exit_info.value.code in (0, None)
    assert (out / "model.keras").exists()
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------ output


def test_run_folder_below_a_regular_file_is_one_line(tmp_path, shared_data_dir, monkeypatch, capsys):
    # Tests run as root, so chmod cannot make a folder unwritable; a path through a file fails for everyone.
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    blocker = tmp_path / "some_file"
    blocker.write_text("not a folder")
    line = one_error_line(run_cli(capsys, *TRAIN, "--out", blocker / "run"))
    assert f"cannot write to run folder {blocker / 'run'}" in line and "choose another --out" in line
    line = one_error_line(run_cli(capsys, *TRAIN, "--out", blocker))
    assert f"cannot write to run folder {blocker}" in line
    assert blocker.read_text() == "not a folder"


def test_sample_to_a_path_below_a_regular_file_is_one_line(finished_run, tmp_path, capsys):
    blocker = tmp_path / "some_file"
    blocker.write_text("x")
    line = one_error_line(run_cli(capsys, "sample", finished_run, "--n", "4", "--out", blocker / "grid.png"))
    assert f"cannot use {blocker}" in line and "check the path" in line


def test_disk_full_while_writing_metrics_keeps_the_previous_metrics(finished_run, tmp_path, shared_data_dir,
                                                                   monkeypatch, capsys):
    import errno

    from zoo import io as zio

    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    run = copy_of(finished_run, tmp_path)
    before = snapshot(run)
    write_text = zio.write_text

    def full(target, text):
        if Path(target).name == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        write_text(target, text)

    monkeypatch.setattr(zio, "write_text", full)
    line = one_error_line(run_cli(capsys, "evaluate", run, "--no-figures", "--iw-samples", "3"))
    assert f"disk full while writing {run / 'metrics.json'}" in line
    assert snapshot(run) == before


# --------------------------------------------------------------------- safe mode


def _lambda_model(path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(path)


def _plain_keras_model(path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(path)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage, not a zip archive" * 10)


@pytest.mark.parametrize(("damage", "expected"), [
    (_lambda_model, "it contains Python code (e.g. a Lambda layer) that Keras safe mode will not run"),
    (_truncated, "it is not a .keras archive (truncated or corrupt)"),
    (_garbage, "it is not a .keras archive (truncated or corrupt)"),
    (_plain_keras_model, "holds a Functional, not a zoo model"),
])
def test_unsafe_or_damaged_model_file_is_refused_by_evaluate_and_sample(finished_run, tmp_path, capsys, damage,
                                                                       expected, shared_data_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    run = copy_of(finished_run, tmp_path)
    damage(run / "model.keras")
    before = snapshot(run)
    for command in (["evaluate", run, "--no-figures"], ["sample", run, "--n", "4"]):
        line = one_error_line(run_cli(capsys, *command))
        assert str(run / "model.keras") in line and expected in line, line
    assert snapshot(run) == before  # metrics.json and figures of the finished run untouched


def test_lambda_refusal_happens_without_running_the_lambda(tmp_path):
    called = []
    inputs = keras.Input((2,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: called.append(1) or x)(inputs)).save(tmp_path / "m.keras")
    called.clear()
    with pytest.raises(Exception, match="safe mode"):
        load_model(tmp_path / "m.keras")
    assert called == []


# ------------------------------------------------------------------ registry


def test_registry_class_that_is_not_a_zoo_model(tmp_path, monkeypatch, capsys):
    registry = tmp_path / "extra.yaml"
    registry.write_text("models:\n  notzoo: {class: 'collections:OrderedDict'}\n"
                        "  missing: {class: 'no_such_package_zoo.models:VAE'}\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    line = one_error_line(run_cli(capsys, "train", "notzoo", "--epochs", "1"))
    assert "registry entry 'notzoo'" in line and "'collections:OrderedDict' is not a zoo model" in line
    line = one_error_line(run_cli(capsys, "train", "missing", "--epochs", "1"))
    assert "cannot import class 'no_such_package_zoo.models:VAE'" in line
    listing = run_cli(capsys, "list")
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if line.startswith("  ")}
    # `zoo list` reads the YAML only (no TensorFlow start-up), so a bad class shows when the entry is used.
    assert list(rows) == [*BUILTIN_BY_FAMILY, "notzoo", "missing"]
    assert listing.stdout.splitlines()[-4] == "other"  # entries without a family come last, before the count


def test_plugin_entry_point_that_fails_to_load_is_skipped_and_others_are_listed(tmp_path, monkeypatch, capsys):
    # A real installed-distribution layout on sys.path, found by importlib.metadata like any plugin.
    (tmp_path / "zoo_test_plugin_ok.py").write_text(
        "ENTRIES = {'plugged': {'class': 'zoo.models.vae:VAE', 'model': {'latent_dim': 5}}}\n")
    dist = tmp_path / "zoo_test_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-test-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[zoo.registry]\nbroken = zoo_test_no_such_module:ENTRIES\ngood = zoo_test_plugin_ok:ENTRIES\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    listing = run_cli(capsys, "list")
    assert listing.returncode == 0, listing.stderr
    warnings = [line for line in listing.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: skipped entry point 'broken' (zoo_test_no_such_module:ENTRIES): "
                        "No module named 'zoo_test_no_such_module'"]
    names = [line.split()[0] for line in listing.stdout.splitlines()[1:] if line.startswith("  ")]
    assert names == [*BUILTIN_BY_FAMILY, "plugged"]


# ---------------------------------------------------------------------- data


def test_truncated_dataset_file_is_one_line_and_the_run_folder_is_untouched(finished_run, shared_data_dir,
                                                                           tmp_path, monkeypatch, capsys):
    data = tmp_path / "datasets"
    shutil.copytree(shared_data_dir / "mnist", data / "mnist")
    images = data / "mnist" / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    run = copy_of(finished_run, tmp_path)
    before = snapshot(run)
    monkeypatch.setenv("ZOO_DATA_DIR", str(data))  # the run's config has no data_dir, so this is the same run
    for command in ([*TRAIN, "--out", run], [*TRAIN, "--out", run, "--resume", "--epochs", "2"],
                    ["evaluate", run, "--no-figures"]):
        line = one_error_line(run_cli(capsys, *command))
        assert str(images) in line and "md5" in line, line
    assert snapshot(run) == before


def _png(path: Path, array) -> None:
    path.write_bytes(tf.io.encode_png(tf.constant(np.asarray(array, dtype=np.uint8))).numpy())


def test_folder_dataset_with_mixed_sizes_and_channels_trains_at_one_size(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    shapes = [(40, 40, 3), (10, 30, 1), (16, 16, 4), (33, 20, 2), (64, 48, 3), (20, 20, 1)]
    for index in range(12):
        _png(folder / f"{index:02d}.png", rng.integers(0, 256, shapes[index % len(shapes)]))
    (folder / "notes.txt").write_text("not an image: ignored")
    run = tmp_path / "run"
    result = run_cli(capsys, "train", "vae", "--dataset", f"folder:{folder}", "--image-size", "16",
                     "--set", "model.hidden_units=[16]", "--batch-size", "5", "--epochs", "1", "--iw-samples", "2",
                     "--set", "evaluation.figures=false", "--out", run)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "10 train / 1 validation images" in result.stdout  # 12 files: 1 test, 1 validation, 10 train
    assert load_model(run / "model.keras").config.image_shape == (16, 16, 3)  # cropped, resized, RGB
    assert (run / "metrics.json").exists()


def test_empty_image_folder_is_one_line(tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images")
    line = one_error_line(run_cli(capsys, "train", "vae", "--dataset", f"folder:{folder}", "--epochs", "1",
                                  "--out", tmp_path / "run"))
    assert f"image folder {folder} holds no images" in line


# ------------------------------------------------------- more inputs a user plausibly gets wrong (issue 16)


def _a_file(tmp: Path) -> Path:
    path = tmp / "notes.txt"
    path.write_text("a file, not a folder")
    return path


# Each refused in one line before anything is written: (command, part of the line).
REFUSED = {
    "negative --epochs": (lambda tmp: ["train", "vae", "--epochs", "-1"],
                          "training field 'epochs': -1 is out of range; it must be >= 1"),
    "--epochs 0": (lambda tmp: ["train", "vae", "--epochs", "0"], "'epochs': 0 is out of range; it must be >= 1"),
    "--iw-samples 0": (lambda tmp: ["train", "vae", "--iw-samples", "0"],
                       "evaluation field 'iw_samples': 0 is out of range; it must be >= 1"),
    "--learning-rate nan": (lambda tmp: ["train", "vae", "--learning-rate", "nan"],
                            "train.learning_rate: nan is not a finite number"),
    "unknown --set section": (lambda tmp: ["train", "vae", "--set", "trian.epochs=3"],
                              "--set trian.epochs: unknown config section(s) trian (did you mean 'train'?); use "
                              "model, train, data or evaluation"),
    "unknown --set field": (lambda tmp: ["train", "vae", "--set", "train.epoch=3"],
                            "--set train.epoch: unknown key(s) epoch (did you mean 'epochs'?); valid keys: epochs, "),
    "a number for a list": (lambda tmp: ["train", "vae", "--set", "model.hidden_units=16"],
                            "model field 'hidden_units': expected a list, got 16"),
    "--set value not YAML": (lambda tmp: ["train", "vae", "--set", "train.epochs=[1"],
                             "--set 'train.epochs=[1': the value is not valid YAML"),
    "--image-size on mnist": (lambda tmp: ["train", "vae", "--image-size", "32"], "unset or 28 for mnist"),
    "--data-dir is a file": (lambda tmp: [*TRAIN, "--data-dir", _a_file(tmp)], "is not a folder; point it at a folder"),
    "folder: names a file": (lambda tmp: ["train", "vae", "--dataset", f"folder:{_a_file(tmp)}", "--epochs", "1"],
                             "is not a folder; folder:PATH needs a directory of .png/.jpg images"),
    "--resume with --overwrite": (lambda tmp: [*TRAIN, "--resume", "--overwrite"],
                                  "--resume continues the run in --out and --overwrite replaces it; give one of them"),
    "--resume of a folder that never trained": (lambda tmp: [*TRAIN, "--resume"],
                                                "--resume: there is no run to resume in"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_plausible_mistake_is_one_line_and_writes_nothing(case, tmp_path, shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    make_args, expected = REFUSED[case]
    out = tmp_path / "runs" / "run"
    line = one_error_line(run_cli(capsys, *make_args(tmp_path), "--out", out))
    assert expected in line, line
    assert not (tmp_path / "runs").exists()


def test_resume_of_an_empty_folder_is_refused_and_leaves_it_empty(tmp_path, shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    out = tmp_path / "run"
    out.mkdir()
    line = one_error_line(run_cli(capsys, *TRAIN, "--resume", "--out", out))
    assert line == (f"zoo: error: --resume: there is no run to resume in {out} (an empty folder); check --out, or "
                    "leave out --resume to start a new run")
    assert list(out.iterdir()) == []


def test_a_registry_value_of_the_wrong_type_names_the_entry_and_the_file(tmp_path, monkeypatch, capsys):
    registry = tmp_path / "mine.yaml"
    registry.write_text("models:\n  mine:\n    class: zoo.models.vae:VAE\n    train: {epochs: ten}\n")
    line = one_error_line(run_cli(capsys, "train", "mine", "--registry", registry))
    assert line == (f"zoo: error: registry entry 'mine' ({registry}): training field 'epochs': expected an integer, "
                    "got 'ten'")
    registry.write_text("models:\n  mine:\n    class: zoo.models.vae:VAE\n    model: {latent_dim: [2, 4]}\n")
    line = one_error_line(run_cli(capsys, "train", "mine", "--registry", registry))
    assert line.startswith(f"zoo: error: registry entry 'mine' ({registry}): model field 'latent_dim': expected an "
                           "integer")


def test_a_corrupt_state_json_is_one_line_and_the_run_folder_is_untouched(finished_run, tmp_path, shared_data_dir,
                                                                         monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    run = copy_of(finished_run, tmp_path)
    (run / "state.json").write_text('{"epoch": 1, "checkpo')  # a half-written file of some other tool
    before = snapshot(run)
    line = one_error_line(run_cli(capsys, *TRAIN, "--out", run))
    assert f"{run / 'state.json'} is unreadable or corrupt" in line and "use --overwrite" in line
    assert snapshot(run) == before


def test_data_other_than_the_run_was_trained_on_is_refused_on_a_rerun(finished_run, tmp_path, shared_data_dir,
                                                                    monkeypatch, capsys):
    import json

    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    run = copy_of(finished_run, tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["dataset"]["checksums"] = {**manifest["dataset"]["checksums"], "train-images-idx3-ubyte.gz": "0" * 32}
    (run / "manifest.json").write_text(json.dumps(manifest))  # as if trained on other images
    before = snapshot(run)
    line = one_error_line(run_cli(capsys, *TRAIN, "--out", run))
    assert line == (f"zoo: error: the mnist data read now differs from the data {run} was trained on "
                    "(checksums of train-images-idx3-ubyte.gz differ from manifest.json's); point --data-dir at "
                    "that data")
    assert snapshot(run) == before
