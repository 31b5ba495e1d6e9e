"""The `zoo` command line, run as a user runs it: real processes on a small MNIST subset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest
import yaml

from zoo.cli import app

SMALL = ["--train-subset", "512", "--epochs", "1", "--iw-samples", "4", "--set", "data.validation_size=256",
         "--set", "data.test_subset=256", "--set", "model.hidden_units=[64]"]


def zoo(*args, data_dir=None, env=None, timeout=600):
    environment = {**os.environ, **(env or {})}
    if data_dir is not None:
        environment["ZOO_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True,
                          env=environment, timeout=timeout)


def error_line(result) -> str:
    """The user-facing error: exit code 2 and exactly one line on stderr that starts with 'zoo: error:'."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def in_process_error(args, capsys) -> str:
    """Runs the same entry point as the `zoo` script in this process (a subprocess per case would
    only add TensorFlow's import time; test_subprocess_errors covers real processes)."""
    with pytest.raises(SystemExit) as exit_info:
        app([str(arg) for arg in args], prog_name="zoo")
    captured = capsys.readouterr()
    return error_line(subprocess.CompletedProcess(args, exit_info.value.code, captured.out, captured.err))


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory, shared_data_dir):
    out = tmp_path_factory.mktemp("runs") / "cvae"
    result = zoo("train", "cvae", "--dataset", "mnist", *SMALL, "--out", out, data_dir=shared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_train_leaves_a_complete_run_folder(cvae_run):
    for name in ("config.json", "manifest.json", "metrics.csv", "metrics.json", "model.keras", "checkpoints/best.keras"):
        assert (cvae_run / name).exists(), name
    metrics = json.loads((cvae_run / "metrics.json").read_text())
    assert metrics["model"] == "cvae" and metrics["iw_samples"] == 4
    assert metrics["iwae"] >= metrics["elbo"]
    assert abs(sum(metrics["kl_per_dim"]) - metrics["rate"]) < 1e-3 * max(1.0, metrics["rate"])
    figures = {p.name for p in (cvae_run / "figures").glob("*.png")}
    assert {"samples_by_class.png", "reconstructions.png", "kl_per_dim.png"} <= figures


def test_evaluate_in_a_new_process_with_other_k_and_seed(cvae_run, shared_data_dir):
    result = zoo("evaluate", cvae_run, "--iw-samples", "16", "--seed", "1", "--no-figures", data_dir=shared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((cvae_run / "metrics.json").read_text())
    assert metrics["iw_samples"] == 16 and metrics["evaluation"]["seed"] == 1


def test_sample_writes_a_grid_for_a_class(cvae_run, tmp_path):
    target = tmp_path / "threes.png"
    result = zoo("sample", cvae_run, "--n", "16", "--label", "3", "--out", target)
    assert result.returncode == 0, result.stderr[-3000:]
    image = matplotlib.image.imread(target)
    assert image.shape[0] > 28 and image.shape[1] > 28
    bad = zoo("sample", cvae_run, "--n", "4", "--label", "12")
    assert "--label 12 is out of range" in error_line(bad)


def test_sample_from_a_gaussian_fitted_to_the_training_codes(cvae_run, tmp_path, shared_data_dir):
    target = tmp_path / "fitted_threes.png"
    result = zoo("sample", cvae_run, "--from", "fitted", "--n", "16", "--label", "3", "--out", target,
                 data_dir=shared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert matplotlib.image.imread(target).shape[0] == 110 + 4 * 40  # 4 rows of digits (the title sets the width)
    default = zoo("sample", cvae_run, "--from", "fitted", "--n", "4", data_dir=shared_data_dir)
    assert default.returncode == 0 and (cvae_run / "figures" / "samples_fitted_seed0.png").exists()
    bad = zoo("sample", cvae_run, "--from", "fited")
    assert "unknown --from 'fited' (did you mean 'fitted'?); choose prior or fitted" in error_line(bad)


def test_rerun_with_a_different_config_is_refused_and_keeps_the_run(cvae_run, shared_data_dir):
    before = (cvae_run / "metrics.json").read_bytes()
    result = zoo("train", "cvae", *SMALL, "--latent-dim", "3", "--out", cvae_run, data_dir=shared_data_dir)
    line = error_line(result)
    assert "different config (model.latent_dim: 16 → 3)" in line and "--overwrite" in line
    assert (cvae_run / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "vea"], "unknown model 'vea' (did you mean 'vae'?); choose one of: ae, vae, beta_vae, cvae, "
                           "conv_vae_cartoon"),
        (["train", "vae", "--dataset", "cifar"], "unknown dataset 'cifar'; choose one of: mnist, fashion_mnist, cartoon, "
                                                 "sprites, dsprites, folder:PATH"),
        (["train", "vae", "--latent-dim", "0"], "latent_dim': 0 is out of range; it must be >= 1"),
        (["train", "beta_vae", "--beta", "-1"], "beta': -1.0 is out of range; it must be >= 0"),
        (["train", "vae", "--beta", "2"], "model 'vae' has no beta"),
        (["train", "vae", "--batch-size", "0"], "batch_size': 0 is out of range"),
        (["train", "conv_vae_cartoon", "--image-size", "48"], "image size 48 is not supported by conv strides"),
        (["train", "vae", "--set", "model.nope=1"], "unknown key(s) nope; valid keys:"),
        (["evaluate", "/nonexistent/run"], "is not a zoo run folder"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, expected, shared_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_DATA_DIR", str(shared_data_dir))
    assert expected in in_process_error(args, capsys)


def test_subprocess_errors(shared_data_dir):
    assert "unknown model 'vea'" in error_line(zoo("train", "vea", data_dir=shared_data_dir))


def test_missing_data_dir_and_malformed_registry(tmp_path, capsys):
    assert "nowhere" in in_process_error(["train", "vae", "--data-dir", tmp_path / "nowhere", "--epochs", "1"], capsys)
    broken = tmp_path / "broken.yaml"
    broken.write_text("models:\n  x: {class: zoo.models.vae:VAE\n")
    assert "is not valid YAML at line" in in_process_error(["list", "--registry", broken], capsys)


def test_list_shows_every_entry():
    result = zoo("list", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DATASET", "DESCRIPTION"] and max(len(line) for line in lines) <= 80
    body = lines[1:-1]
    names = [line.split()[0] for line in body if line.startswith("  ")]
    entries = yaml.safe_load((Path(__file__).resolve().parent.parent / "registry.yaml").read_text())["models"]
    assert sorted(names) == sorted(entries) and len(names) == len(entries) >= 20
    assert lines[-1] == f"{len(entries)} models; details: zoo list NAME"
    headings = [line for line in body if line and not line.startswith(" ")]
    assert headings == ["autoencoders", "likelihood bound", "β family", "conditional", "other latent geometries"]
    for heading in headings:  # each entry under its family's heading
        members = body[body.index(heading) + 1:]
        members = [line.split()[0] for line in members[:next((i for i, l in enumerate(members) if not l.startswith(" ")), len(members))]]
        assert members and all(entries[name]["family"] == heading for name in members)
    detail = zoo("list", "beta_tc_vae")
    assert detail.returncode == 0 and detail.stdout.splitlines()[0] == "beta_tc_vae (β family)"
    assert "  model:      latent_dim=10, beta=6.0" in detail.stdout and "  searches:   beta, latent_dim" in detail.stdout
    assert "INVALID" not in result.stdout
