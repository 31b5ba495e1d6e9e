"""`zoo bench` on a micro budget: results schema, mean ± std, skip and --force, crashed cells, the classifier
and the Fréchet distance. The bench runs every cell in a subprocess, as users run it."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.bench.budgets import BUDGETS, CORE_EXPERIMENTS, DISENTANGLEMENT, EXPERIMENTS, Budget, load_budget
from zoo.evaluation.frechet import frechet_distance, frechet_distance_of
from zoo.evaluation.sample_classifier import Scorer, to_unit, train_classifier
from zoo.bench.runner import aggregate, mean_std, plan, train_argv
from zoo.errors import ZooError
from zoo.registry import load_registry

MICRO = {
    "epochs": 4, "train_subset": 256, "validation_size": 128, "test_subset": 128, "iw_samples": 4, "seeds": 2,
    "experiments": False, "classifier_epochs": 1, "classifier_train_subset": 1000, "fid_samples": 128,
    "cell_timeout": 300, "overrides": {"*": {"model": {"hidden_units": [32]}}},
}
CRASHY_MODULE = '''
import keras
from zoo.models.vae import VAE
from zoo.objectives import ELBO


class CrashyObjective(ELBO):
    def terms(self, inputs):
        raise RuntimeError("CrashyVAE exploded on purpose")


@keras.saving.register_keras_serializable(package="crashy")
class CrashyVAE(VAE):
    """A plugin model whose training step fails, as a buggy variant would."""

    def make_objective(self):
        return CrashyObjective(name="objective")
'''
CRASHY_REGISTRY = '''
models:
  crashy:
    class: crashy_model:CrashyVAE
    description: fails in its first training step
    dataset: mnist
'''


def zoo(*args, cwd, data_dir, timeout=900):
    env = {**os.environ, "ZOO_DATA_DIR": str(data_dir), "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def micro(tmp_path_factory, shared_data_dir):
    """One micro bench: vae with 2 seeds plus a plugin model that crashes; returns (folder, first result)."""
    root = tmp_path_factory.mktemp("bench")
    (root / "micro.yaml").write_text(json.dumps(MICRO))
    (root / "crashy_model.py").write_text(CRASHY_MODULE)
    (root / "crashy.yaml").write_text(CRASHY_REGISTRY)
    result = zoo("bench", "--budget", "micro.yaml", "--models", "vae,crashy", "--registry", "crashy.yaml",
                 "--out", "res", "--work-dir", "work", cwd=root, data_dir=shared_data_dir)
    return root, result


def test_results_json_schema_and_markdown(micro):
    root, result = micro
    payload = json.loads((root / "res" / "results.json").read_text())
    assert payload["schema"] == "zoo.bench/1"
    assert payload["budget"]["name"] == "micro" and payload["budget"]["iw_samples"] == 4
    assert payload["command"].startswith("zoo bench --budget micro.yaml")
    assert payload["machine"]["cpus"] >= 1 and payload["machine"]["versions"]["tensorflow"]
    ok = [c for c in payload["cells"] if c["status"] == "ok"]
    assert {c["id"] for c in ok} == {"vae/mnist/seed-0", "vae/mnist/seed-1"}
    for cell in ok:
        metrics = cell["metrics"]
        for key in ("elbo", "distortion", "rate", "iwae", "active_units"):
            assert isinstance(metrics[key], (int, float)) and math.isfinite(metrics[key]), key
        assert metrics["iw_samples"] == 4 and len(metrics["kl_per_dim"]) == metrics["latent_dim"]
        curve = cell["history"]["val_elbo"]  # the run's per-epoch validation ELBO, for the convergence line
        assert len(curve) == cell["epochs"] and all(math.isfinite(v) and v < 0 for v in curve)
        assert metrics["iwae"] >= metrics["elbo"] - 1.0
        assert cell["parameters"] > 0 and cell["throughput"] > 0 and cell["peak_memory_mb"] > 50
        assert cell["train_seconds"] > 0 and cell["cpu_seconds"] > 0 and cell["process_seconds"] >= cell["wall_seconds"]
        assert cell["command"]["train"].startswith("zoo train vae --dataset mnist --seed")
        assert cell["versions"]["tensorflow"] and cell["data_checksums"]["train-images-idx3-ubyte.gz"]
        assert 0.0 <= cell["samples"]["prior"]["fid"] < 1e4
        assert abs(sum(cell["samples"]["prior"]["predicted_histogram"]) - 1.0) < 1e-6
        # The model of epoch 3 (the last quarter's start) scored alike: another model, so another distance.
        probe = cell["probe"]
        assert probe["epoch"] == 3 and probe["source"] == "prior" and probe["count"] == cell["samples"]["prior"]["count"]
        assert 0.0 <= probe["fid"] < 1e4 and probe["fid"] != cell["samples"]["prior"]["fid"]
        # Reconstruction error of the test images (summed squared error per image), by the evaluator's function:
        # the probe's is another model's than the final reconstruction_mse.
        assert 0.0 < probe["reconstruction_sse"] < 784 and probe["reconstruction_sse"] != metrics["reconstruction_mse"]
        figures = root / "res" / cell["result_dir"] / "figures"
        assert {"samples.png", "reconstructions.png", "sample_grid_prior.png"} <= {p.name for p in figures.iterdir()}
    assert not list((root / "work").rglob("epoch-0003.keras"))  # the probe's checkpoint is gone again
    assert (root / "res" / "classifiers" / "mnist" / "classifier.keras").exists()
    assert payload["classifiers"]["mnist"]["test_accuracy"] > 0.3
    assert any(f["kind"] == "rate_distortion" for f in payload["figures"])
    for figure in payload["figures"]:
        assert (root / "res" / figure["path"]).stat().st_size > 1000
    markdown = (root / "res" / "results.md").read_text()
    assert "| `vae` | mnist | 2/2 |" in markdown


def test_mean_and_std_over_seeds_are_the_real_numbers(micro):
    root, _ = micro
    payload = json.loads((root / "res" / "results.json").read_text())
    cells = [c for c in payload["cells"] if c["variant"] == "vae"]
    group = next(g for g in payload["groups"] if g["variant"] == "vae")
    for key in ("elbo", "rate", "iwae"):
        values = [c["metrics"][key] for c in cells]
        assert group["metrics"][key]["mean"] == pytest.approx(np.mean(values))
        assert group["metrics"][key]["std"] == pytest.approx(np.std(values, ddof=1))
        assert group["metrics"][key]["n"] == 2
    fid = [c["samples"]["prior"]["fid"] for c in cells]
    assert group["metrics"]["fid_prior"]["mean"] == pytest.approx(np.mean(fid))
    assert f"{group['metrics']['elbo']['mean']:.2f} ± {group['metrics']['elbo']['std']:.2f}" in \
        (root / "res" / "results.md").read_text()


def test_a_crashed_cell_is_reported_not_dropped(micro):
    root, result = micro
    assert result.returncode == 1, result.stderr[-3000:]
    assert "crashy/mnist/seed-0" in result.stderr and "failed" in result.stderr
    payload = json.loads((root / "res" / "results.json").read_text())
    crashed = [c for c in payload["cells"] if c["variant"] == "crashy"]
    assert [c["status"] for c in crashed] == ["failed", "failed"]
    assert "CrashyVAE exploded on purpose" in crashed[0]["error"]
    assert crashed[0]["command"]["train"].startswith("zoo train crashy")
    group = next(g for g in payload["groups"] if g["variant"] == "crashy")
    assert group["n_ok"] == 0 and group["n_failed"] == 2
    markdown = (root / "res" / "results.md").read_text()
    assert "| `crashy` | mnist | 0/2 ⚠ | failed |" in markdown
    assert "CrashyVAE exploded on purpose" in markdown.split("## Failed cells")[1]


def test_rerun_skips_finished_cells_and_force_reruns_them(micro, shared_data_dir):
    root, _ = micro
    result_file = root / "res" / "cells" / "vae--mnist--seed0" / "result.json"
    before = json.loads(result_file.read_text())
    again = zoo("bench", "--budget", "micro.yaml", "--models", "vae", "--out", "res", "--work-dir", "work",
                cwd=root, data_dir=shared_data_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished earlier, skipped") == 2
    assert "classifier mnist: cached" in again.stdout
    assert json.loads(result_file.read_text()) == before
    # The folder accumulates: the crashed cells of the first run are still reported.
    payload = json.loads((root / "res" / "results.json").read_text())
    assert {c["variant"] for c in payload["cells"]} == {"vae", "crashy"}
    assert payload["last_run"]["skipped"] == ["vae/mnist/seed-0", "vae/mnist/seed-1"]

    forced = zoo("bench", "--budget", "micro.yaml", "--models", "vae", "--seeds", "1", "--force", "--out", "res",
                 "--work-dir", "work", cwd=root, data_dir=shared_data_dir)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert "finished earlier" not in forced.stdout and "[1/1] vae/mnist/seed-0: ok" in forced.stdout
    assert "classifier mnist: cached" in forced.stdout
    after = json.loads(result_file.read_text())
    assert after["process_seconds"] != before["process_seconds"]
    # Deterministic training: the rerun reproduces the numbers.
    assert after["metrics"]["elbo"] == pytest.approx(before["metrics"]["elbo"], abs=1e-3)


def test_the_cartoon_cell_decodes_codes_from_a_gaussian_fitted_to_its_training_codes(tmp_path, shared_data_dir):
    # The smoke budget's cartoon cell (200 training images, one epoch): the worker fits the "fitted" source to the
    # training codes and draws its grid with the others, 64 px faces at their own pixels.
    result = zoo("bench", "--budget", "smoke", "--models", "conv_vae_cartoon", "--datasets", "cartoon", "--seeds",
                 "1", "--out", "res", "--work-dir", "work", cwd=tmp_path, data_dir=shared_data_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    cell = json.loads((tmp_path / "res" / "cells" / "conv_vae_cartoon--cartoon--seed0" / "result.json").read_text())
    assert {"normal", "box", "fitted"} <= set(cell["samples"])
    grid = tmp_path / "res" / "cells" / "conv_vae_cartoon--cartoon--seed0" / "figures" / "sample_grid_fitted.png"
    from PIL import Image

    with Image.open(grid) as image:
        assert image.size == (690, 710)  # 10 x 10 tiles of 65 px, 0.2 in margins and 0.4 in for the title
        assert np.asarray(image.convert("L")).std() > 5  # faces, not a blank page


def test_classifier_is_above_chance_on_real_mnist(shared_data_dir):
    from zoo.data import DataConfig, load_dataset

    data = load_dataset(DataConfig(name="mnist", data_dir=str(shared_data_dir), validation_size=100))
    model = train_classifier(data.train.x[:3000], data.train.y[:3000], 10, epochs=2)
    scorer = Scorer(model)
    accuracy = scorer.accuracy(to_unit(data.test.x[:2000]), data.test.y[:2000])
    assert accuracy > 0.7  # chance is 0.1
    scorer.set_reference(to_unit(data.test.x[:1000]))
    same = scorer.score_samples(to_unit(data.test.x[:1000]))
    held_out = scorer.score_samples(to_unit(data.test.x[1000:2000]))
    noise = scorer.score_samples(np.random.default_rng(0).uniform(size=(1000, 28, 28, 1)).astype(np.float32))
    assert same["fid"] == pytest.approx(0.0, abs=1e-6)
    assert held_out["fid"] < noise["fid"]
    requested = data.test.y[:1000]
    assert scorer.score_samples(to_unit(data.test.x[:1000]), requested)["accuracy"] > 0.7


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2000, 16))
    assert frechet_distance_of(features, features) == pytest.approx(0.0, abs=1e-8)
    shifted = [frechet_distance_of(features, features + shift) for shift in (0.5, 1.0, 2.0)]
    # A mean shift of s in every one of 16 dimensions adds exactly 16 s².
    assert shifted == pytest.approx([16 * 0.25, 16 * 1.0, 16 * 4.0])
    scaled = frechet_distance_of(features, features * 2.0)
    assert scaled > 1.0
    # Closed form for 1-D Gaussians: (m1 - m2)² + (s1 - s2)².
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == \
        pytest.approx(1.0 + 1.0)


def test_mean_std_aggregation():
    stat = mean_std([1.0, 2.0, None, 4.0])
    assert stat["mean"] == pytest.approx(7 / 3) and stat["n"] == 3
    assert stat["std"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert mean_std([5.0])["std"] is None and mean_std([None]) is None
    records = [{"variant": "v", "dataset": "d", "model": "vae", "label": "v", "seed": s, "id": f"v/d/seed-{s}",
                "status": "ok", "spec": {"class": "c"}, "metrics": {"elbo": e, "kl_per_dim": [k, 0.0]},
                "samples": {}} for s, (e, k) in enumerate([(-100.0, 3.0), (-110.0, 1.0)])]
    records.append({"variant": "v", "dataset": "d", "model": "vae", "label": "v", "seed": 2, "id": "v/d/seed-2",
                    "status": "failed", "error": "boom"})
    (group,) = aggregate(records)
    assert group["n_ok"] == 2 and group["n_failed"] == 1 and group["failures"][0]["error"] == "boom"
    assert group["metrics"]["elbo"]["mean"] == pytest.approx(-105.0)
    assert group["metrics"]["elbo"]["std"] == pytest.approx(math.sqrt(50.0))
    assert group["kl_per_dim_sorted"] == pytest.approx([2.0, 0.0])


def test_plan_shares_identical_cells_and_flags_invalid_ones():
    registry = load_registry()
    cells = plan(BUDGETS["standard"], registry)
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids))
    ae = next(c for c in cells if c.id == "ae/mnist/seed-0")
    assert "ae-z2" in ae.aliases and set(ae.sampling) == {"prior", "normal", "box"}
    assert not any(c.variant == "beta_vae-b4" for c in cells)  # the registry's β = 4 already is that cell
    core = [e for e in EXPERIMENTS if e.id in CORE_EXPERIMENTS]
    every = {v.id for e in core for v in e.variants} | {u for e in core for u in e.uses}
    known = {c.variant for c in cells} | {a for c in cells for a in c.aliases}
    assert every <= known
    # The disentanglement study is its own budget: none of its cells, and all of them there.
    assert not any(c.dataset == "sprites" for c in cells)
    study = plan(BUDGETS["disentanglement"], registry)
    assert {c.variant for c in study} == {v.id for v in DISENTANGLEMENT.variants} and len(study) == 16
    assert all(c.spec["model"]["architecture"] == "locatello_conv" and c.spec["data"]["name"] == "sprites"
               for c in study)
    invalid = plan(Budget(seeds=1, experiments=False), registry, models=["conv_vae_cartoon"], datasets=["mnist"])
    assert invalid[0].error and "image_size" in invalid[0].error
    # The recorded command resolves to the same config through the real CLI parser.
    from zoo.cli import _parse_set

    cell = next(c for c in cells if c.variant == "vae-conv-fashion")
    argv = train_argv(cell, Path("runs/x"), None)
    sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
    parsed = _parse_set(sets)
    assert parsed["model"] == {"architecture": "conv", "latent_dim": 2, "likelihood": "gaussian"}


def test_budgets_are_validated_data(tmp_path):
    assert load_budget("smoke").epochs == 1
    path = tmp_path / "b.yaml"
    path.write_text("epochs: 2\nseeds: 2\n")
    assert load_budget(str(path)).name == "b" and load_budget(str(path)).seeds == 2
    path.write_text("epochs: 2\nepoch: 3\n")
    with pytest.raises(ZooError, match="unknown key"):
        load_budget(str(path))
    with pytest.raises(ZooError, match="unknown budget"):
        load_budget("huge")
    with pytest.raises(ZooError, match="unknown section"):
        Budget(overrides={"vae": {"optimizer": {"lr": 1}}})


def test_dry_run_prints_the_plan(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from zoo.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["bench", "--budget", "smoke", "--dry-run"])
    assert result.exit_code == 0, result.output[-2000:]
    assert "vae-z2/mnist/seed-0: zoo train vae --dataset mnist --seed 0 --set model.latent_dim=2" in result.output
    assert "ae/mnist/seed-0 (= ae-z2)" in result.output and "26 cells" in result.output
    assert not (tmp_path / "benchmarks").exists() and not (tmp_path / "runs").exists()


def test_disentanglement_scores_of_a_cell_reach_its_group_and_table():
    from zoo.bench.report import group_table
    from zoo.bench.worker import disentanglement_record

    def cell(seed, mig):
        metrics_json = {"elbo": -100.0, "disentanglement": {"mig": mig, "dci_disentanglement": 0.5, "raw": {},
                                                           "seconds": {"mig": 1.0}, "seed": 0}}
        return {"id": f"v/sprites/seed-{seed}", "variant": "v", "model": "beta_vae", "dataset": "sprites",
                "seed": seed, "label": "v", "status": "ok", "metrics": {"elbo": -100.0}, "samples": {},
                "spec": {"class": "zoo.models.beta_vae:BetaVAE"}, **disentanglement_record(metrics_json)}

    (group,) = aggregate([cell(0, 0.2), cell(1, 0.4)])
    assert group["metrics"]["mig"]["mean"] == pytest.approx(0.3)
    assert group["metrics"]["dci_disentanglement"]["std"] == pytest.approx(0.0)
    assert "0.300 ± 0.141" in group_table([group], ["mig"])


def test_docs_tables_round_to_the_spread_carry_units_and_split_when_wide():
    from zoo.bench.report import fmt, group_table

    assert fmt({"mean": 86.1234, "std": 0.234}, 2, by_spread=True) == "86.12 ± 0.23"
    assert fmt({"mean": 86.1234, "std": 2.34}, 2, by_spread=True) == "86.1 ± 2.3"
    assert fmt({"mean": 86.1234, "std": 23.4}, 2, by_spread=True) == "86 ± 23"
    assert fmt({"mean": 86.1234, "std": 0.64}, 2, by_spread=True) == "86.1 ± 0.6"  # leading 6: one digit
    # A narrow spread gets up to two more decimals instead of printing as ± 0.00.
    assert fmt({"mean": 0.80904, "std": 0.00424}, 2, by_spread=True) == "0.809 ± 0.004"
    assert fmt({"mean": 0.54651, "std": 0.00214}, 2, by_spread=True) == "0.5465 ± 0.0021"
    assert fmt({"mean": 86.1234, "std": None}, 2, by_spread=True) == "86.12"
    assert fmt({"mean": 22226.78, "std": None}, 2, by_spread=True) == "22,227"
    assert fmt({"mean": 86.1234, "std": 0.234}, 2) == "86.12 ± 0.23"  # the bench's own report: fixed digits

    group = {"variant": "v", "label": "v", "dataset": "mnist", "n_ok": 2, "n_failed": 0,
             "metrics": {key: {"mean": -90.0, "std": 1.0} for key in ("elbo", "rate", "iwae", "mig", "sap",
                                                                       "modularity")}}
    payload = {"budget": {"iw_samples": 5000}}
    table = group_table([group], ["elbo", "iwae"], payload, dataset_column=False)
    head, align, row = table.splitlines()
    assert head == "| model | seeds ok | ELBO (nats) | IWAE, k = 5000 (nats) |"
    assert align == "| --- | ---: | ---: | ---: |" and row == "| `v` | 2/2 | -90.00 ± 1.00 | -90.00 ± 1.00 |"
    columns = ["elbo", "rate", "iwae", "mig", "sap", "modularity"]
    tables = group_table([group], columns, payload, max_columns=4).split("\n\n")
    assert len(tables) == 2  # six columns in two tables of three, each with the name, data set and seeds
    assert [t.splitlines()[0].count("|") - 1 for t in tables] == [6, 6]
    assert "| model | dataset | seeds ok | ELBO (nats) | rate (nats)" in tables[0] and "modularity" in tables[1]


def test_report_only_rewrites_the_results_from_existing_cells_without_running(tmp_path, monkeypatch):
    from zoo.bench.runner import run_bench

    budget = Budget(name="r", seeds=1, models=("vae",), experiments=False)
    cells = plan(budget, load_registry())
    cell_dir = tmp_path / "cells" / cells[0].dirname
    cell_dir.mkdir(parents=True)
    (cell_dir / "result.json").write_text(json.dumps({
        **cells[0].describe(), "status": "ok", "fingerprint": "another", "metrics": {"elbo": -99.0}, "samples": {},
        "spec": cells[0].spec}))
    monkeypatch.setattr("zoo.bench.runner.run_job", lambda *a, **k: pytest.fail("report-only ran a cell"))
    outcome = run_bench(budget, out=tmp_path, work=tmp_path / "work", report_only=True, log=lambda m: None)
    assert outcome.ran == [] and outcome.failed == []
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["groups"][0]["metrics"]["elbo"]["mean"] == -99.0
    # Its fingerprint is not the present config's: the report keeps the number and names the cell as stale.
    assert results["cells"][0]["stale"] is True
    assert "## Cells from an earlier configuration" in (tmp_path / "results.md").read_text()
    assert f"`{cells[0].id}`" in (tmp_path / "results.md").read_text().split("earlier configuration", 1)[1]
    record = json.loads((cell_dir / "result.json").read_text())
    (cell_dir / "result.json").write_text(json.dumps({**record, "fingerprint": cells[0].fingerprint}))
    run_bench(budget, out=tmp_path, work=tmp_path / "work", report_only=True, log=lambda m: None)
    assert json.loads((tmp_path / "results.json").read_text())["cells"][0]["stale"] is False
    assert "earlier configuration" not in (tmp_path / "results.md").read_text()


def test_a_cell_from_before_a_config_field_existed_counts_as_finished_only_at_that_fields_default():
    from zoo.bench.runner import finished_for

    budget = Budget(name="r", seeds=1, models=("vae",), experiments=False)
    (cell,) = plan(budget, load_registry())
    # A record written before data.labels and the guard fields existed: its spec lacks them.
    old_spec = {**cell.outcome_spec, "data": {k: v for k, v in cell.outcome_spec["data"].items() if k != "labels"}}
    old_record = {"status": "ok", "spec": old_spec, "fingerprint": cell.fingerprint_of(old_spec)}
    assert old_record["fingerprint"] != cell.fingerprint
    assert finished_for(old_record, cell)
    relabelled = plan(Budget(name="r", seeds=1, models=("vae",), experiments=False,
                             overrides={"*": {"data": {"labels": 100}}}), load_registry())[0]
    assert not finished_for(old_record, relabelled)
    # Guards (a divergence threshold) leave the fingerprint alone; a field that changes the numbers does not.
    guarded = plan(Budget(name="r", seeds=1, models=("vae",), experiments=False,
                          overrides={"*": {"train": {"divergence_factor": 50.0, "memory_limit_mb": 900}}}),
                   load_registry())[0]
    assert guarded.fingerprint == cell.fingerprint
    faster = plan(Budget(name="r", seeds=1, models=("vae",), experiments=False,
                         overrides={"*": {"train": {"learning_rate": 0.01}}}), load_registry())[0]
    assert faster.fingerprint != cell.fingerprint
