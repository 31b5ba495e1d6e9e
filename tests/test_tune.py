"""`zoo tune`: search spaces and objectives, a tiny real search per tuner, the best entry going back into
`zoo train`, resume after a hard kill, and a chief with two workers on loopback.

Searches are tiny: an MLP with one hidden layer of 64 units, 512 training and 256 validation MNIST images,
one epoch per trial (two for the Hyperband continuation).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras_tuner
import matplotlib.image as mpimg
import pytest
import yaml

from zoo.errors import ZooError
from zoo.registry import Entry, load_registry
from zoo.run_spec import resolve
from zoo.tuning import check_objective, make_objective, parse_address, parse_search_space, tune

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY = {"model": {"hidden_units": [64]}, "data": {"validation_size": 256}}
TINY_SET = ["--set", "model.hidden_units=[64]", "--set", "data.validation_size=256", "--train-subset", "512"]
CLI = [sys.executable, "-c", "from zoo.cli import app; app(prog_name='zoo')"]


@pytest.fixture(autouse=True)
def data_dir(shared_data_dir, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    return shared_data_dir


def _entry(name: str) -> Entry:
    return load_registry().get(name)


def _custom(search_space: dict, class_path: str = "zoo.models.beta_vae:BetaVAE") -> Entry:
    return Entry(name="custom", class_path=class_path, source="test", search_space=search_space)


def _tiny_search(name: str, out: Path, **options) -> dict:
    return tune(_entry(name), TINY, train_subset=512, max_epochs=options.pop("max_epochs", 1), out=out, verbose=0,
                **options)


def _rows(out: Path) -> list[dict]:
    with open(out / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def _trial_dirs(out: Path) -> dict[str, Path]:
    return {path.name.removeprefix("trial_"): path for path in sorted((out / "search").glob("trial_*"))}


def _run_records(trial_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((trial_dir / "zoo-runs").glob("*.json"))]


def _assert_best(out: Path, metric: str, direction: str) -> dict:
    rows = [row for row in _rows(out) if row["status"] == "COMPLETED"]
    pick = max if direction == "max" else min
    best = pick(rows, key=lambda row: float(row[metric]))
    summary = json.loads((out / "trials.json").read_text())
    assert summary["objective"] == {"name": metric, "direction": direction}
    assert summary["best_trial"] == best["trial_id"]
    return best


def _assert_reports(out: Path) -> None:
    for name in ("objective.png", "rate_distortion.png"):
        image = mpimg.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300, name


# ------------------------------------------------------- objectives, space


def test_objectives_have_explicit_directions_and_unknown_ones_list_the_choices():
    assert {name: check_objective(name) for name in ("val_elbo", "val_iwae", "val_distortion")} == {
        "val_elbo": "max", "val_iwae": "max", "val_distortion": "min"}
    objective = make_objective("val_distortion")
    assert isinstance(objective, keras_tuner.Objective) and objective.direction == "min"
    assert objective.better_than(1.0, 2.0)
    assert make_objective("val_elbo").better_than(-90.0, -100.0)
    with pytest.raises(ZooError, match="unknown objective 'val_accuracy'.*val_elbo \\(max\\).*val_distortion \\(min\\)"):
        check_objective("val_accuracy")
    with pytest.raises(ZooError, match="no classifier"):
        check_objective("val_sample_accuracy")
    with pytest.raises(ZooError, match="needs a density model"):
        check_objective("val_iwae", _entry("ae").model_class())


def test_search_space_maps_to_keras_tuner_hyperparameters():
    params = {p.name: p for p in parse_search_space(_entry("beta_vae"))}
    assert (params["beta"].section, params["beta"].kind, params["beta"].log) == ("model", "float", True)
    assert (params["latent_dim"].kind, params["latent_dim"].values) == ("choice", (2, 4, 8, 16, 32, 64))
    hp = keras_tuner.HyperParameters()
    for param in params.values():
        param.declare(hp)
    space = {item.name: item for item in hp.space}
    assert isinstance(space["beta"], keras_tuner.engine.hyperparameters.Float)
    assert space["beta"].sampling == "log" and (space["beta"].min_value, space["beta"].max_value) == (0.1, 10.0)
    assert isinstance(space["latent_dim"], keras_tuner.engine.hyperparameters.Choice)
    # Training fields land in the training config: the learning rate of vae.
    learning_rate = {p.name: p for p in parse_search_space(_entry("vae"))}["learning_rate"]
    assert learning_rate.section == "train" and learning_rate.log

    # Non-scalar choices travel as JSON strings and come back as lists.
    widths = parse_search_space(_custom({"hidden_units": {"values": [[64], [128, 128]]}}))[0]
    assert widths.encoded and widths.decode(widths.values[1]) == [128, 128]
    assert widths.declare(keras_tuner.HyperParameters()) == [64]


@pytest.mark.parametrize("space, message", [
    ({"latent_size": {"values": [2, 4]}}, "not a config field of BetaVAE; valid keys: .*latent_dim"),
    ({"latent_dim": {"min": 2.0, "max": 8.5}}, "integer field"),
    ({"latent_dim": {"values": [0, 4]}}, "value 0 is not valid"),
    ({"beta": {"min": 0.0, "max": 1.0, "log": True}}, "log-scaled range needs min > 0"),
    ({"architecture": {"min": 1, "max": 2}}, "needs a numeric field"),
    ({"epochs": {"values": [1, 2]}}, "cannot be searched; the tuner sets the epochs"),
    ({}, "has no search_space"),
])
def test_bad_search_spaces_are_clear_errors(space, message):
    with pytest.raises(ZooError, match=message):
        parse_search_space(_custom(space))


def test_bad_arguments_are_one_line_errors(tmp_path):
    entry = _entry("beta_vae")
    for kwargs, message in [
        ({"tuner": "grid"}, "unknown tuner 'grid'; choose one of: hyperband, bayesian, random"),
        ({"chief": "localhost"}, "--chief 'localhost': expected HOST:PORT"),
        ({"worker": "host:70000"}, "port in 1-65535"),
        ({"chief": "a:1", "worker": "a:1"}, "exclude each other"),
        ({"worker": "a:1", "tuner_id": "chief-2"}, "not contain 'chief'"),
        ({"tuner_id": "tuner3"}, "use it with --worker"),
        ({"objective": "val_bits"}, "unknown objective"),
    ]:
        with pytest.raises(ZooError, match=message) as raised:
            tune(entry, out=tmp_path / "never", **kwargs)
        assert "\n" not in str(raised.value)
    assert parse_address("[::1]:8000", "--chief") == ("::1", 8000)
    assert not (tmp_path / "never").exists()


# ------------------------------------------------------- one search per tuner


def test_random_search_minimises_distortion_and_its_best_entry_trains(tmp_path):
    out = tmp_path / "random"
    summary = _tiny_search("beta_vae", out, tuner="random", objective="val_distortion", max_trials=3)
    rows = _rows(out)
    assert [row["trial_id"] for row in rows] == ["0", "1", "2"]
    assert all(row["status"] == "COMPLETED" and row["epochs"] == "1" and row["runs"] == "1" for row in rows)
    assert len({(row["beta"], row["latent_dim"]) for row in rows}) == 3
    best = _assert_best(out, "val_distortion", "min")  # the lowest distortion, not the highest
    assert summary["best_trial"] == best["trial_id"]
    _assert_reports(out)

    # Every trial's full config is recorded, with its sampled β and latent size.
    trials = json.loads((out / "trials.json").read_text())["trials"]
    for trial, row in zip(trials, rows):
        assert trial["config"]["model"]["beta"] == pytest.approx(float(row["beta"]))
        assert trial["config"]["model"]["latent_dim"] == int(row["latent_dim"])
        assert [epoch["epoch"] for epoch in trial["history"]] == [1]

    # The best entry loads as a registry file, as is, and `zoo train` trains it.
    raw = yaml.safe_load((out / "best.yaml").read_text())
    assert list(raw["models"]) == ["beta_vae_tuned"]
    entry = load_registry(out / "best.yaml").get("beta_vae_tuned")
    spec = resolve(entry)
    assert spec.model["beta"] == pytest.approx(float(best["beta"]))
    assert spec.model["latent_dim"] == int(best["latent_dim"])
    assert spec.model["hidden_units"] == [64] and spec.data.train_subset is None  # the subset was the search's
    from typer.testing import CliRunner

    from zoo.cli import app

    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "beta_vae_tuned", "--registry", str(out / "best.yaml"),
                                      "--epochs", "1", "--train-subset", "256", "--set", "data.validation_size=256",
                                      "--no-eval", "--out", str(run_dir)])
    assert result.exit_code == 0, result.output
    config = json.loads((run_dir / "config.json").read_text())
    assert config["name"] == "beta_vae_tuned" and config["model"]["latent_dim"] == int(best["latent_dim"])

    # Running again without --resume does not silently replace the search.
    with pytest.raises(ZooError, match="already holds a search; use --resume"):
        _tiny_search("beta_vae", out, tuner="random", objective="val_distortion", max_trials=3)
    with pytest.raises(ZooError, match="different settings"):
        _tiny_search("beta_vae", out, tuner="random", objective="val_elbo", max_trials=3, resume=True)


def test_conv_trials_take_the_plain_step_that_zoo_train_gives_them(tmp_path):
    # `zoo tune` sets up its process before the first TF op as `zoo train` does (TF ops one at a time), so a
    # deterministic conv trial gets the plain oneDNN step with the gradient sums in order, not XLA.
    script = ("from zoo.cli import app\n"
              "from zoo.training.devices import ops_run_one_at_a_time\n"
              "from zoo.training.gradient_sums import gradients_added_in_order\n"
              f"app(['tune', 'vae', '--set', 'model.architecture=conv', '--tuner', 'random', '--max-trials', '1', "
              f"'--max-epochs', '1', '--train-subset', '512', '--set', 'data.validation_size=256', "
              f"'--out', {str(tmp_path / 'search')!r}], standalone_mode=False)\n"
              "print('modes', ops_run_one_at_a_time(), gradients_added_in_order())\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "modes True True" in done.stdout
    assert _rows(tmp_path / "search")[0]["status"] == "COMPLETED"


def test_hyperband_continues_the_best_trial_from_its_initial_epoch(tmp_path):
    out = tmp_path / "hyperband"
    # max_epochs 2, factor 2: two trials of 1 epoch, then the better one continues from epoch 1 to 2.
    _tiny_search("beta_vae", out, tuner="hyperband", objective="val_elbo", max_epochs=2, factor=2, max_trials=3)
    rows = {row["trial_id"]: row for row in _rows(out)}
    assert sorted(rows) == ["0", "1", "2"] and all(row["status"] == "COMPLETED" for row in rows.values())
    first = [rows["0"], rows["1"]]
    assert [(row["initial_epoch"], row["total_epochs"], row["epochs"]) for row in first] == [("0", "1", "1")] * 2
    continued = rows["2"]
    assert (continued["initial_epoch"], continued["total_epochs"], continued["epochs"]) == ("1", "2", "1")
    parent = max(first, key=lambda row: float(row["val_elbo"]))  # val_elbo is maximised
    assert continued["parent_trial"] == parent["trial_id"]
    assert (continued["beta"], continued["latent_dim"]) == (parent["beta"], parent["latent_dim"])
    # The continuation trained epoch 2 only: fit started at initial_epoch, from the parent's weights,
    # so its validation ELBO starts where the parent's left off rather than from a fresh model.
    history = json.loads((out / "search" / "trial_2" / "zoo-history.json").read_text())["history"]
    assert [epoch["epoch"] for epoch in history] == [2]
    assert history[0]["val_elbo"] > float(parent["val_elbo"]) - 5.0
    _assert_best(out, "val_elbo", "max")
    _assert_reports(out)


def test_bayesian_search_maximises_the_iwae_bound(tmp_path):
    pytest.importorskip("sklearn", reason="--tuner bayesian needs keras-tuner[bayesian] (scikit-learn, scipy)")
    pytest.importorskip("scipy", reason="--tuner bayesian needs keras-tuner[bayesian] (scikit-learn, scipy)")
    out = tmp_path / "bayesian"
    # Two random trials, then one proposed by the Gaussian process.
    _tiny_search("vae", out, tuner="bayesian", objective="val_iwae", max_trials=3, initial_points=2,
                 iw_samples=5, iw_images=128)
    rows = _rows(out)
    assert len(rows) == 3 and all(row["status"] == "COMPLETED" for row in rows)
    for row in rows:
        history = json.loads((out / "search" / f"trial_{row['trial_id']}" / "zoo-history.json").read_text())
        assert float(row["objective"]) == pytest.approx(history["history"][-1]["val_iwae"])
        assert float(row["val_iwae"]) == pytest.approx(float(row["objective"]))
    _assert_best(out, "val_iwae", "max")


def test_a_search_whose_trials_all_fail_stops_with_one_clear_line(tmp_path):
    # Every searched batch size exceeds the 512 training images: each trial fails in fit.
    entry = Entry(name="custom", class_path="zoo.models.vae:VAE", source="test",
                  search_space={"batch_size": {"values": [1024, 2048, 4096]}})
    out = tmp_path / "failing"
    with pytest.raises(ZooError, match="3 trials in a row failed.*fewer than one batch") as raised:
        tune(entry, TINY, tuner="random", max_trials=5, max_epochs=1, train_subset=512, out=out, verbose=0)
    assert "\n" not in str(raised.value)
    rows = _rows(out)
    assert len(rows) == 3 and {row["status"] for row in rows} == {"FAILED"}
    assert all("fewer than one batch" in row["message"] for row in rows)
    assert not (out / "best.yaml").exists()


# ---------------------------------------------------------------- resume


def _spawn(args: list[str], log: Path, env_extra: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})}
    handle = open(log, "w")
    return subprocess.Popen([*CLI, *args], cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def _wait_for(predicate, timeout: float, procs: list[subprocess.Popen], what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for proc in procs:
            if proc.poll() is not None and proc.returncode != 0:
                raise AssertionError(f"a process exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_resume_after_a_kill_does_not_repeat_finished_trials(tmp_path):
    out = tmp_path / "resumed"
    args = ["tune", "beta_vae", "--tuner", "random", "--max-trials", "3", "--max-epochs", "1", "--out", str(out),
            *TINY_SET]
    proc = _spawn(args, tmp_path / "first.log")
    try:
        # Kill -9 as soon as trial 1 has started: trial 0 is finished, trial 1 is cut short.
        _wait_for(lambda: list((out / "search" / "trial_1" / "zoo-runs").glob("*.json")), 300, [proc],
                  "trial 1 to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_all([proc])
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()[-2000:]
    first_runs = _run_records(out / "search" / "trial_1")
    assert len(first_runs) == 1 and "finished" not in first_runs[0], "trial 1 finished before the kill"
    finished_before = {path.name: path.stat().st_mtime_ns for path in (out / "search" / "trial_0").rglob("*")}

    tune(_entry("beta_vae"), TINY, tuner="random", max_trials=3, max_epochs=1, train_subset=512, out=out,
         resume=True, verbose=0)

    trials = _trial_dirs(out)
    assert sorted(trials) == ["0", "1", "2"]
    # Trial 0 ran once and none of its files changed; trial 1 ran again; trial 2 ran once.
    assert [len(_run_records(trials[t])) for t in ("0", "1", "2")] == [1, 2, 1]
    assert {path.name: path.stat().st_mtime_ns for path in trials["0"].rglob("*")} == finished_before
    assert all(json.loads((path / "trial.json").read_text())["status"] == "COMPLETED" for path in trials.values())
    rows = _rows(out)
    assert [row["runs"] for row in rows] == ["1", "2", "1"]
    assert all(row["status"] == "COMPLETED" for row in rows)


# ------------------------------------------------------------ distributed


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_exactly_once(tmp_path):
    out = tmp_path / "distributed"
    address = f"127.0.0.1:{_free_port()}"
    args = ["tune", "beta_vae", "--tuner", "random", "--max-trials", "3", "--max-epochs", "1", "--out", str(out),
            *TINY_SET]
    threads = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    procs = []
    try:
        procs.append(_spawn([*args, "--chief", address], tmp_path / "chief.log", threads))
        for index in range(2):
            procs.append(_spawn([*args, "--worker", address, "--tuner-id", f"tuner{index}"],
                                tmp_path / f"worker{index}.log", threads))
        for proc in procs:
            proc.wait(timeout=600)
    finally:
        _kill_all(procs)
    logs = {path.name: path.read_text()[-3000:] for path in tmp_path.glob("*.log")}
    assert [proc.returncode for proc in procs] == [0, 0, 0], logs

    trials = _trial_dirs(out)
    assert sorted(trials) == ["0", "1", "2"], logs
    records = {trial_id: _run_records(path) for trial_id, path in trials.items()}
    # Exactly one run of each trial, by a worker (the chief only runs the oracle), and each one finished.
    assert {trial_id: len(runs) for trial_id, runs in records.items()} == {"0": 1, "1": 1, "2": 1}
    assert all(runs[0]["tuner_id"] in ("tuner0", "tuner1") and runs[0]["outcome"] == "trained"
               for runs in records.values())
    assert all(json.loads((path / "trial.json").read_text())["status"] == "COMPLETED" for path in trials.values())
    # The chief wrote the reports from its oracle.
    rows = _rows(out)
    assert sorted(row["trial_id"] for row in rows) == ["0", "1", "2"]
    assert (out / "best.yaml").exists()
    assert "chief oracle on" in logs["chief.log"] and "no trials left" in logs["worker0.log"]


def test_a_search_saved_before_a_config_field_existed_still_resumes():
    from zoo.tuning.tune import settings_differences

    spec = resolve(load_registry().get("vae"), {}).to_dict()
    spec["data"].pop("data_dir", None)
    current = {"entry": "vae", "tuner": "random", "spec": spec}
    saved = json.loads(json.dumps(current))
    del saved["spec"]["train"]["steps_per_execution"]  # written by a zoo without that field
    assert settings_differences(saved, current) == []
    saved["spec"]["train"]["learning_rate"] = 0.5
    assert settings_differences(saved, current) == ["spec.train.learning_rate: 0.5 → 0.001"]
