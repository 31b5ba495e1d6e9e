"""The shared trainer on real MNIST subsets: resume equality, run folder, warm-up, divergence, AE prior."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.data import load_dataset
from zoo.errors import TrainingDiverged, ZooError
from zoo.registry import load_registry
from zoo.run_dir import RunDir
from zoo.run_spec import resolve
from zoo.models.vae import VAE
from zoo.models.vae_config import VAEConfig
from zoo.training import faults, trainer
from zoo.training.train_config import TrainConfig
from zoo.objectives import ELBO, compute_terms, kl_warmup_weight
from zoo.saving import load_model, load_training_model
from zoo.training.trainer import configure_fit, train
from zoo.training.training_model import TrainingModel

README_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
}


def small_spec(shared_data_dir, name="vae", epochs=2, **train):
    overrides = {
        "data": {"data_dir": str(shared_data_dir), "train_subset": 1024, "validation_size": 512, "test_subset": 256},
        "model": {"latent_dim": 4, "hidden_units": [64]},
        "train": {"epochs": epochs, "batch_size": 128, **train},
        "evaluation": {"iw_samples": 8, "batch_size": 256, "figures": False},
    }
    return resolve(load_registry().get(name), overrides)


def weights_of(path):
    return [w.numpy() for w in load_model(path).weights]


@pytest.mark.parametrize("name", ["vae", "svae"])  # svae: codes from a rejection sampler's seeded rounds
def test_resumed_run_equals_uninterrupted_run(shared_data_dir, tmp_path, name):
    straight = RunDir(tmp_path / "straight")
    train(small_spec(shared_data_dir, name, epochs=3), straight, evaluate=False, log=lambda _: None)

    resumed = RunDir(tmp_path / "resumed")
    train(small_spec(shared_data_dir, name, epochs=1), resumed, evaluate=False, log=lambda _: None)
    train(small_spec(shared_data_dir, name, epochs=3), resumed, resume=True, evaluate=False, log=lambda _: None)

    a, b = json.loads(straight.state.read_text()), json.loads(resumed.state.read_text())
    assert [row["epoch"] for row in b["history"]] == [1, 2, 3]  # no gap, no duplicate
    # The manifest lists one execution mode per start: one for the straight run, the resume's from epoch 1.
    straight_modes = json.loads(straight.manifest.read_text())["execution"]
    resumed_modes = json.loads(resumed.manifest.read_text())["execution"]
    assert [entry["from_epoch"] for entry in straight_modes] == [0]
    assert [entry["from_epoch"] for entry in resumed_modes] == [0, 1]
    assert resumed_modes[0] | {"from_epoch": 0} == straight_modes[0] == resumed_modes[1] | {"from_epoch": 0}
    for row_a, row_b in zip(a["history"], b["history"]):
        for key in ("loss", "elbo", "val_elbo", "val_rate"):
            assert row_a[key] == row_b[key], (key, row_a, row_b)
    for wa, wb in zip(weights_of(straight.checkpoints / a["checkpoint"]), weights_of(resumed.checkpoints / b["checkpoint"])):
        np.testing.assert_array_equal(wa, wb)
    assert (resumed.metrics_csv.read_text().count("\n")) == 4  # header + 3 epochs


def test_a_kept_epoch_checkpoint_outlives_later_epochs_and_is_that_epochs_model(shared_data_dir, tmp_path):
    """keep_epochs (the bench's probe of the last quarter) spares one epoch's checkpoint; it holds the weights a
    run stopped at that epoch ends with, and a fresh start still clears it."""
    run = RunDir(tmp_path / "run", keep_epochs=(2,))
    train(small_spec(shared_data_dir, epochs=3), run, evaluate=False, log=lambda _: None)
    assert sorted(p.name for p in run.checkpoints.glob("epoch-*.keras")) == ["epoch-0002.keras", "epoch-0003.keras"]
    short = RunDir(tmp_path / "short")
    train(small_spec(shared_data_dir, epochs=2), short, evaluate=False, log=lambda _: None)
    for kept, stopped in zip(weights_of(run.epoch_checkpoint(2)), weights_of(short.epoch_checkpoint(2))):
        np.testing.assert_array_equal(kept, stopped)
    run.remove_other_checkpoints(keep=None)  # what a run starting over does
    assert not list(run.checkpoints.glob("epoch-*.keras"))


def test_run_folder_contents_and_manifest(shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    metrics = train(small_spec(shared_data_dir, epochs=1), run, log=lambda _: None)
    for path in (run.config, run.manifest, run.state, run.metrics_csv, run.metrics, run.model, run.best_checkpoint):
        assert path.exists(), path
    manifest = json.loads(run.manifest.read_text())
    for filename, md5 in README_MD5.items():
        assert manifest["dataset"]["checksums"][filename] == md5
    assert manifest["seed"] == 0 and manifest["versions"]["tensorflow"].startswith("2.21")
    assert manifest["config"]["model"]["latent_dim"] == 4
    [execution] = manifest["execution"]
    # An MLP on one CPU replica takes the XLA step (train.jit_compile=auto); import zoo turned oneDNN on (x86).
    assert execution["from_epoch"] == 0 and execution["xla_compiled"] is True
    assert execution["ops_one_at_a_time"] == (tf.config.threading.get_inter_op_parallelism_threads() == 1)
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert execution["onednn"] is True
    assert metrics["iwae"] >= metrics["elbo"]
    assert json.loads(run.metrics.read_text())["num_examples"] == 256


def test_rerunning_with_another_config_is_refused_and_keeps_files(shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(small_spec(shared_data_dir, epochs=1), run, evaluate=False, log=lambda _: None)
    before = {p.name: p.read_bytes() for p in (run.config, run.state)}
    other = small_spec(shared_data_dir, epochs=1, learning_rate=0.01)
    with pytest.raises(ZooError, match=r"different config \(train.learning_rate: 0.001 → 0.01\).*--overwrite"):
        train(other, run, evaluate=False, log=lambda _: None)
    assert before == {p.name: p.read_bytes() for p in (run.config, run.state)}


def test_kl_warmup_ramps_the_rate_weight(shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(small_spec(shared_data_dir, epochs=1, kl_warmup_epochs=2), run, evaluate=False, log=lambda _: None)
    trained = load_training_model(run.best_checkpoint)
    assert trained.kl_warmup_steps == 16 and int(trained.optimizer.iterations.numpy()) == 8  # 2 epochs of 8 steps
    assert [float(kl_warmup_weight(tf.constant(s, tf.float32), 16)) for s in (0, 7, 16, 40)] == [0.0, 7 / 16, 1.0, 1.0]
    # The loss at step 7 weighs the rate by 7/16; the ELBO it reports does not.
    images = load_dataset(small_spec(shared_data_dir).data).validation.x[:64].astype("float32") / 255.0
    images = (images > 0.5).astype("float32")
    seed = tf.constant([3, 4])
    terms = compute_terms(trained.zoo_model, images, None, seed=seed, step=7, warmup_steps=16, dataset_size=1024)
    expected = np.mean(terms["distortion"].numpy() + 7 / 16 * terms["rate"].numpy())
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(terms["elbo"], -(terms["distortion"] + terms["rate"]), rtol=1e-6)


def test_best_checkpoint_is_chosen_only_after_the_objectives_schedule_ends(shared_data_dir, tmp_path):
    """AnnealedVAE's capacity rises for capacity_steps; its early epochs (low capacity) can score a better
    validation ELBO than the model the objective asks for, so selection starts at the first epoch past the
    ramp. Without a schedule (vae), the best epoch is the argmax over all epochs, as before."""
    assert ELBO(capacity_max=25.0, capacity_steps=10000).schedule_steps == 10000 and ELBO().schedule_steps == 0
    # A capacity ramp to 400 nats that ends with the last epoch (32 steps): the rate it forces makes an
    # earlier epoch's validation ELBO the best of the run, the case the selection must not fall for.
    cases = (("annealed_vae", {"capacity_steps": 32, "capacity_max": 400.0}, 4), ("vae", {}, 1))
    for name, model, select_from in cases:
        spec = resolve(load_registry().get(name), {
            "data": {"data_dir": str(shared_data_dir), "train_subset": 1024, "validation_size": 512},
            "model": {"latent_dim": 4, "hidden_units": [64], **model}, "train": {"epochs": 4, "batch_size": 128}})
        run = RunDir(tmp_path / name)
        train(spec, run, evaluate=False, log=lambda _: None)  # 8 steps per epoch
        state = json.loads(run.state.read_text())
        scores = {row["epoch"]: row["val_elbo"] for row in state["history"]}
        eligible = {epoch: score for epoch, score in scores.items() if epoch >= select_from}
        if name == "annealed_vae":
            assert max(scores, key=scores.get) < 4, scores  # what selection over every epoch would keep
        assert state["best_epoch"] == max(eligible, key=eligible.get), (name, scores, state["best_epoch"])
        assert state["best"] == pytest.approx(eligible[state["best_epoch"]])


def one_good_epoch(shared_data_dir, tmp_path):
    """A run folder after one finished epoch, its state, and the model of that checkpoint."""
    run = RunDir(tmp_path / "run")
    train(small_spec(shared_data_dir, epochs=1), run, evaluate=False, log=lambda _: None)
    state = json.loads(run.state.read_text())
    return run, state, load_training_model(run.checkpoints / state["checkpoint"])


def test_divergence_stops_with_epoch_and_step_and_keeps_last_good_checkpoint(shared_data_dir, tmp_path):
    spec = small_spec(shared_data_dir, epochs=3)
    run, state, model = one_good_epoch(shared_data_dir, tmp_path)
    # Continue the good run with an absurd step size: the next epoch blows up.
    model.optimizer.learning_rate.assign(1e30)
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 2, step \d+: .*lower --learning-rate"):
        trainer._fit(model, spec, run, load_dataset(spec.data), state, "dynamic", lambda _: None)
    after = json.loads(run.state.read_text())
    assert after["epoch"] == 1 and after["checkpoint"] == state["checkpoint"]
    assert all(np.all(np.isfinite(w)) for w in weights_of(run.checkpoints / after["checkpoint"]))


def test_autoencoder_prior_is_fitted_to_training_codes(shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    train(small_spec(shared_data_dir, name="ae", epochs=1), run, log=lambda _: None)
    model = load_model(run.model)
    loc = model.prior_loc.numpy()
    assert not np.allclose(loc, 0.0)  # fitted, not the N(0, I) placeholder
    scale = model.prior_scale_tril.numpy()
    assert np.allclose(scale, np.tril(scale)) and np.all(np.diag(scale) > 0)


def test_early_stopping_ends_the_run_and_a_rerun_does_not_train_more(shared_data_dir, tmp_path):
    run = RunDir(tmp_path / "run")
    # A vanishing step size: validation ELBO cannot improve after the first epoch.
    spec = small_spec(shared_data_dir, epochs=6, learning_rate=1e-12, early_stopping_patience=1)
    train(spec, run, evaluate=False, log=lambda _: None)
    state = json.loads(run.state.read_text())
    assert state["stopped_early"] and state["epoch"] == 2 and state["best_epoch"] == 1
    messages = []
    train(spec, run, evaluate=False, log=messages.append)
    assert json.loads(run.state.read_text())["epoch"] == 2
    assert any("training already finished" in message for message in messages)


class SimulatedCrash(Exception):
    pass


def test_cosine_schedule_resumes_exactly_and_ends_at_its_floor(shared_data_dir, tmp_path, monkeypatch):
    spec = small_spec(shared_data_dir, epochs=3, learning_rate_schedule="cosine", final_learning_rate_fraction=0.1)
    straight = RunDir(tmp_path / "straight")
    train(spec, straight, evaluate=False, log=lambda _: None)

    def crash_after_epoch_1(point, epoch, *steps):
        if (point, epoch) == ("after_epoch", 1):
            raise SimulatedCrash

    crashed = RunDir(tmp_path / "crashed")
    monkeypatch.setattr(faults, "hit", crash_after_epoch_1)
    with pytest.raises(SimulatedCrash):
        train(spec, crashed, evaluate=False, log=lambda _: None)
    monkeypatch.undo()
    assert json.loads(crashed.state.read_text())["epoch"] == 1
    train(spec, crashed, evaluate=False, log=lambda _: None)

    a, b = json.loads(straight.state.read_text()), json.loads(crashed.state.read_text())
    assert [row["loss"] for row in a["history"]] == [row["loss"] for row in b["history"]]
    for wa, wb in zip(weights_of(straight.checkpoints / a["checkpoint"]), weights_of(crashed.checkpoints / b["checkpoint"])):
        np.testing.assert_array_equal(wa, wb)
    optimizer = load_training_model(crashed.checkpoints / b["checkpoint"]).optimizer
    assert int(optimizer.iterations.numpy()) == 24  # 3 epochs of 8 steps
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(1e-4)  # 1e-3 × the final fraction 0.1


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="zoo sets it on x86 only")
def test_importing_zoo_turns_tensorflows_onednn_kernels_on_unless_the_user_chose():
    # The helper the manifest's execution record asks (TF's own IsMklEnabled).
    probe = "import zoo; from zoo.training.devices import onednn_enabled; print(onednn_enabled())"
    env = {key: value for key, value in os.environ.items() if key != "TF_ENABLE_ONEDNN_OPTS"}

    def onednn_enabled(**extra) -> str:
        done = subprocess.run([sys.executable, "-c", probe], env={**env, **extra, "TF_CPP_MIN_LOG_LEVEL": "3"},
                              capture_output=True, text=True, check=True)
        return done.stdout.split()[-1]

    assert onednn_enabled() == "True"
    assert onednn_enabled(TF_ENABLE_ONEDNN_OPTS="0") == "False"


def test_configure_fit_runs_whole_epochs_per_graph_call_with_xla_on_cpu():
    model = TrainingModel(VAE(VAEConfig(latent_dim=2, hidden_units=(8,))))
    configure_fit(model, TrainConfig(), steps=429)  # MNIST at batch 128: 429 = 3 × 11 × 13
    assert model.steps_per_execution == 13 and model.jit_compile is True
    configure_fit(model, TrainConfig(steps_per_execution=4), steps=7)  # prime: one step per call
    assert model.steps_per_execution == 1
    configure_fit(model, TrainConfig(jit_compile="off"), steps=8)
    assert model.steps_per_execution == 8 and model.jit_compile is False


def test_auto_gives_a_conv_net_the_plain_step_unless_determinism_needs_xla(monkeypatch):
    """XLA for dense nets; the plain (oneDNN) step for conv nets, except in a deterministic run whose TF ops run
    side by side: only with ops one at a time (and the sums in order) is that step's gradient bit-identical
    between fresh processes (benchmarks/results/conv_determinism_sums.md, conv_determinism_parallel_ops.md)."""
    dense = TrainingModel(VAE(VAEConfig(latent_dim=2, hidden_units=(8,))))
    conv = TrainingModel(VAE(VAEConfig(latent_dim=2, architecture="conv")))
    assert not trainer.has_convolutions(dense) and trainer.has_convolutions(conv)
    in_order = []  # the process-wide switch is recorded, not thrown, so the rest of this test process keeps TF's
    monkeypatch.setattr(trainer, "add_gradients_in_order", lambda: in_order.append(True))

    def xla(model, inter_op_threads, **train):
        monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: inter_op_threads)
        in_order.clear()
        configure_fit(model, TrainConfig(**train), steps=8)
        return model.jit_compile

    assert xla(dense, 1) is True and xla(dense, 0) is True and not in_order
    assert xla(conv, 1) is False and in_order == [True]
    assert xla(conv, 0) is True and not in_order
    assert xla(conv, 1, deterministic=False) is False and xla(conv, 0, deterministic=False) is False
    assert not in_order  # a run that does not ask for determinism keeps TF's sums
    assert xla(conv, 1, jit_compile="on") is True and not in_order


class NaNAtStep13Objective(ELBO):
    """The ELBO, NaN at optimiser step 13 only: epoch 2, step 5 at 8 steps per epoch."""

    def regularizer(self, rate, inputs):
        return super().regularizer(rate, inputs) + tf.where(tf.equal(inputs.step, 12.0), float("nan"), 0.0)


@keras.saving.register_keras_serializable(package="zoo_tests")
class NaNAtStep13(VAE):
    def make_objective(self):
        return NaNAtStep13Objective(name="objective")


def test_divergence_inside_a_graph_call_names_the_exact_step(shared_data_dir, tmp_path):
    spec = small_spec(shared_data_dir, epochs=3)
    run, state, good = one_good_epoch(shared_data_dir, tmp_path)
    model = TrainingModel(NaNAtStep13(good.zoo_model.config), dataset_size=1024)
    model.zoo_model.set_weights(good.zoo_model.get_weights())
    model.optimizer.iterations.assign(8)  # epoch 1 done
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 2, step 5: "):
        trainer._fit(model, spec, run, load_dataset(spec.data), state, "dynamic", lambda _: None)
    assert model.steps_per_execution == 8  # all 8 steps of the epoch ran in one call, yet step 5 is named
    assert json.loads(run.state.read_text())["checkpoint"] == state["checkpoint"]


@pytest.mark.slow
def test_conv_step_is_reproducible_under_load_with_ops_one_at_a_time(tmp_path):
    # The plain (not XLA) step that `zoo train` gives conv nets: the 128-px Cartoon conv VAE's gradient, computed
    # again and again while two busy processes compete for the cores, with TF ops one at a time as zoo runs them.
    # With ops side by side (--parallel-ops) the same check differs in the last bits (docs/reliability.md).
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "conv_determinism.py"
    out = tmp_path / "determinism"
    subprocess.run([sys.executable, str(script), "--size", "128", "--batch", "64", "--repeats", "4", "--busy", "2",
                    "--out", str(out)], check=True, capture_output=True, text=True, timeout=900)
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["ops_one_at_a_time"] is True
    assert report["max_abs_difference"]["plain"] == [0.0] * 4
    assert report["max_abs_difference"]["xla"] == [0.0] * 4


@pytest.mark.slow
def test_conv_cartoon_at_128px_resumes_bit_identically(shared_data_dir, tmp_path):
    # In this test process TF's ops run side by side, so the trainer gives the deterministic conv net the XLA step;
    # the plain step that `zoo train` gives it is checked across processes in tests/test_faults.py.
    def spec(epochs):
        overrides = {"data": {"data_dir": str(shared_data_dir), "image_size": 128, "train_subset": 256,
                              "validation_size": 128, "test_subset": 128},
                     "train": {"epochs": epochs, "batch_size": 128},
                     "evaluation": {"iw_samples": 2, "figures": False}}
        return resolve(load_registry().get("conv_vae_cartoon"), overrides)

    straight, resumed = RunDir(tmp_path / "straight"), RunDir(tmp_path / "resumed")
    train(spec(2), straight, evaluate=False, log=lambda _: None)
    train(spec(1), resumed, evaluate=False, log=lambda _: None)
    train(spec(2), resumed, resume=True, evaluate=False, log=lambda _: None)
    a, b = json.loads(straight.state.read_text()), json.loads(resumed.state.read_text())
    assert a["history"] == [{**row, "seconds": a["history"][i]["seconds"]} for i, row in enumerate(b["history"])]
    for wa, wb in zip(weights_of(straight.checkpoints / a["checkpoint"]), weights_of(resumed.checkpoints / b["checkpoint"])):
        np.testing.assert_array_equal(wa, wb)
