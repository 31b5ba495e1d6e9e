"""docs/adding-a-model.md's examples, built exactly as written, pass the conformance harness and train from the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import REPO_ROOT, run_model_test
from zoo.registry import load_registry
from zoo.run_spec import resolve

DOC = REPO_ROOT / "docs" / "adding-a-model.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture()
def documented(tmp_path, monkeypatch):
    """The page's module and registry written to disk, importable; returns the loaded registry."""
    (tmp_path / "my_zoo_models.py").write_text("\n\n".join(code_blocks("python")))
    (registry_yaml,) = code_blocks("yaml")
    (tmp_path / "my_registry.yaml").write_text(registry_yaml)
    monkeypatch.syspath_prepend(str(tmp_path))
    return load_registry(tmp_path / "my_registry.yaml")


def overridden(cls) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not isinstance(value, type)
            and not name.startswith("__")}


def test_a_prior_with_trainable_weights(documented, tmp_path):
    spec = resolve(documented.get("learned_prior_vae"))
    cls = spec.model_class()
    assert overridden(cls) == {"prior"} and "__init__" in vars(cls)  # weights in __init__, the distribution in prior
    model = cls(spec.model_config((28, 28, 1), 10))
    assert {"prior_loc", "prior_raw_scale"} <= {v.name for v in model.trainable_variables}
    np.testing.assert_allclose(model.prior().stddev().numpy(), 1.0, rtol=1e-4)  # starts as N(0, I)
    metrics = run_model_test(spec, tmp_path)  # every trainable variable, the prior's included, moves
    # The closed-form KL to the learned prior: per dimension, summing to the rate.
    assert metrics["kl_per_dim"] is not None and sum(metrics["kl_per_dim"]) == pytest.approx(metrics["rate"], rel=1e-4)


def test_a_batch_level_objective_with_an_extra_logged_term(documented, tmp_path):
    spec = resolve(documented.get("free_bits_vae"))
    assert overridden(spec.model_class()) == {"make_objective"}
    metrics = run_model_test(spec, tmp_path)
    latent = spec.model_config().latent_dim
    # Σ_d max(KL_d, λ) is at least latent_dim × λ and at least the batch's rate.
    assert metrics["objective"]["clamped_rate"] >= latent * 0.25 - 1e-4
    assert metrics["objective"]["clamped_rate"] >= metrics["rate"] - 1e-3


def test_a_variant_with_a_second_optimiser(documented, tmp_path):
    spec = resolve(documented.get("adversarial_prior_vae"))
    model = spec.model_class()(spec.model_config((28, 28, 1), 10))
    (group,) = model.objective.optimizer_groups()
    assert group.name == "critic" and len(group.variables) == 4
    metrics = run_model_test(spec, tmp_path)  # both optimisers step, every variable moves
    assert {"adversarial", "critic_loss"} <= set(metrics["objective"])


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")) + [REPO_ROOT / "registry.yaml"]:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_a_documented_variant_trains_through_the_cli_with_no_zoo_file_changed(tmp_path, shared_data_dir):
    (tmp_path / "my_zoo_models.py").write_text("\n\n".join(code_blocks("python")))
    (tmp_path / "my_registry.yaml").write_text(code_blocks("yaml")[0])
    before = _tree_digest(REPO_ROOT / "zoo")
    env = {**os.environ, "ZOO_DATA_DIR": str(shared_data_dir), "PYTHONPATH": str(tmp_path),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "zoo", "train", "adversarial_prior_vae", "--registry", str(tmp_path / "my_registry.yaml"),
         "--dataset", "mnist", "--epochs", "2", "--train-subset", "1024", "--set", "data.validation_size=256",
         "--set", "data.test_subset=256", "--iw-samples", "4", "--set", "evaluation.figures=false",
         "--set", "model.hidden_units=[64]", "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    assert all(np.isfinite(float(row[k])) for row in rows for k in ("critic_loss", "adversarial", "val_critic_loss"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["objective"]) >= {"adversarial", "critic_loss"} and metrics["iwae"] >= metrics["elbo"]
    assert _tree_digest(REPO_ROOT / "zoo") == before
