"""`zoo train … --dataset sprites`, `zoo evaluate --disentanglement` and `zoo tune --objective mig`, end to end."""

from __future__ import annotations

import csv
import json

import pytest

from inprocess_cli import one_error_line, run_cli
from zoo.evaluation.disentanglement.scores import HEADLINE_KEYS

TINY = ("--dataset", "sprites", "--set", "model.architecture=locatello_conv", "--set", "data.train_subset=640",
        "--set", "data.validation_size=64", "--set", "data.test_subset=64", "--set", "train.batch_size=64",
        "--epochs", "1", "--iw-samples", "2", "--set", "evaluation.disentanglement_train_points=200",
        "--set", "evaluation.disentanglement_test_points=200")


@pytest.fixture(scope="module")
def sprites_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sprites")
    return root / "run", root


def test_train_then_evaluate_writes_every_metric_and_the_factor_figures(sprites_run, capsys, monkeypatch):
    run, root = sprites_run
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    trained = run_cli(capsys, "train", "beta_tc_vae", *TINY, "--out", run)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "disentanglement metrics on sprites" in trained.stdout
    metrics = json.loads((run / "metrics.json").read_text())["disentanglement"]
    for key in HEADLINE_KEYS:
        assert 0.0 <= metrics[key] <= 1.0, (key, metrics[key])
    assert metrics["factor_names"] == ["shape", "scale", "orientation", "position_x", "position_y"]
    assert (metrics["train_points"], metrics["test_points"], metrics["seed"]) == (200, 200, 0)
    for name in ("mi_heatmap.png", "factor_traversals.png"):
        assert (run / "figures" / name).stat().st_size > 5000

    # Re-evaluation with a chosen subset recomputes exactly those, with the same numbers (same seed).
    again = run_cli(capsys, "evaluate", run, "--disentanglement", "mig,sap", "--no-figures")
    assert again.returncode == 0, again.stderr[-3000:]
    rescored = json.loads((run / "metrics.json").read_text())["disentanglement"]
    assert set(rescored["raw"]) == {"mig", "sap"}
    assert (rescored["mig"], rescored["sap"]) == (metrics["mig"], metrics["sap"])


def test_an_unknown_metric_is_one_line_and_keeps_the_metrics(sprites_run, capsys, monkeypatch):
    run, root = sprites_run
    monkeypatch.setenv("ZOO_DATA_DIR", str(root))
    before = (run / "metrics.json").read_bytes()
    line = one_error_line(run_cli(capsys, "evaluate", run, "--disentanglement", "mgi"))
    assert "unknown disentanglement metric 'mgi' (did you mean 'mig'?)" in line
    assert (run / "metrics.json").read_bytes() == before


def test_tune_for_mig_on_sprites_records_the_metric_as_the_objective(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))
    out = tmp_path / "tune"
    tuned = run_cli(capsys, "tune", "beta_vae", *TINY[:10], "--objective", "mig", "--tuner", "random",
                    "--max-trials", "1", "--max-epochs", "1", "--out", out)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 1 and rows[0]["status"] == "COMPLETED"
    assert 0.0 <= float(rows[0]["objective"]) <= 1.0


def test_tune_for_a_factor_metric_on_mnist_is_refused_in_one_line(tmp_path, capsys):
    line = one_error_line(run_cli(capsys, "tune", "beta_vae", "--dataset", "mnist", "--objective", "dci",
                                  "--out", tmp_path / "tune"))
    assert "objective 'dci' needs a data set with ground-truth factors" in line
    assert not (tmp_path / "tune").exists()
