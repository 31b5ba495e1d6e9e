"""The conformance harness every registered model passes (build, train, evaluate, save, reload, sample).

A new registry entry needs no test file of its own: ``test_conformance.py`` runs
``run_model_test`` for every entry the registry knows, user entries included. Beside it, the helpers
the models' own tests share: a batch of MNIST-shaped images, a variant twinned with a plain VAE, and the
metrics an entry reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.evaluation import EvalConfig, evaluate
from zoo.models import VAE, VAEConfig
from zoo.run_spec import RunSpec
from zoo.training.training_model import TrainingModel

REPO_ROOT = Path(__file__).resolve().parent.parent


def synthetic_batch(image_shape, num_classes, count=32, seed=0, binary=True):
    rng = np.random.default_rng(seed)
    # Smooth-ish images with structure a model can fit: bright blobs on a dark field.
    grey = rng.random((count, *image_shape)).astype("float32") ** 3
    images = (grey > 0.5).astype("float32") if binary else grey
    labels = rng.integers(0, max(num_classes, 1), count).astype("int32")
    return images, labels


def batch(count=64, seed=0):
    """MNIST-shaped binary images (about 30 % of pixels on) and labels 0-9, for tests of single models."""
    rng = np.random.default_rng(seed)
    return (rng.random((count, 28, 28, 1)) > 0.7).astype("float32"), rng.integers(0, 10, count).astype("int32")


def twin(cls, small, **fields):
    """A plain VAE of the networks ``small`` and the variant ``cls({**small, **fields})`` with its weights."""
    plain, variant = VAE(VAEConfig(**small)), cls({**small, **fields})
    for part in ("encoder_net", "decoder_net", "posterior_head", "likelihood_head"):
        getattr(variant, part).set_weights(getattr(plain, part).get_weights())
    return plain, variant


def evaluate_entry(spec: RunSpec, count: int = 32) -> dict:
    """The evaluation metrics of the (untrained) model of the entry ``spec`` on a synthetic batch: for what an
    entry reports, without the training and reloading of ``run_model_test`` (test_conformance.py runs that)."""
    image_shape, num_classes = spec.data.expected_image_shape, spec.data.expected_num_classes
    config = spec.model_config(image_shape, num_classes)
    keras.utils.set_random_seed(0)
    model = spec.model_class()(config)
    images, labels = synthetic_batch(image_shape, num_classes, count, binary=config.likelihood == "bernoulli")
    return evaluate(model, images, labels, EvalConfig(iw_samples=16, iw_chunk=8, batch_size=16, figures=False))


_RELOAD_SCRIPT = """
import importlib, json, sys, traceback
import numpy as np, keras
import zoo.models
for line in sys.stdin:
    request = json.loads(line)
    try:
        importlib.import_module(request["module"])
        model = keras.models.load_model(request["path"], safe_mode=True)
        np.save(request["out"], model((np.load(request["inputs"]), np.load(request["labels"]))).numpy())
        reply = {"ok": True}
    except Exception:
        reply = {"ok": False, "error": traceback.format_exc()}
    print("RELOADED " + json.dumps(reply), flush=True)
"""


def _reload_env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # plugin modules stay importable


class Reloader:
    """One reloading process for many models (the conformance suite's 21 entries would otherwise pay for 21
    TensorFlow start-ups). It shares nothing with the test process: each model comes back from its file alone."""

    def __init__(self):
        import tempfile

        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen([sys.executable, "-c", _RELOAD_SCRIPT], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, text=True, cwd=REPO_ROOT,
                                        env=_reload_env())

    def __call__(self, module: str, path: Path, inputs: Path, labels: Path, out: Path) -> None:
        request = {"module": module, "path": str(path), "inputs": str(inputs), "labels": str(labels),
                   "out": str(out)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith("RELOADED "):
                reply = json.loads(line.removeprefix("RELOADED "))
                assert reply["ok"], reply["error"]
                return
        self.log.seek(0)
        raise AssertionError(f"the reloading process exited (code {self.process.wait()}): {self.log.read()[-3000:]}")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self.log.close()


def reload_in_fresh_process(module: str, path: Path, inputs: Path, labels: Path, out: Path) -> None:
    """Loads ``path`` (Keras safe mode) in a new Python process that imports only zoo.models and ``module``."""
    reloader = Reloader()
    try:
        reloader(module, path, inputs, labels, out)
    finally:
        reloader.close()


def run_model_test(spec: RunSpec, tmp_path: Path, steps: int = 30, reload=None) -> dict:
    """Asserts the contract of a zoo model for the entry ``spec``; returns its evaluation metrics.

    ``reload(module, model_path, inputs, labels, out)`` loads the saved model in another process and writes its
    reconstructions to ``out``: by default a fresh process; ``Reloader`` serves many entries from one."""
    image_shape, num_classes = spec.data.expected_image_shape, spec.data.expected_num_classes
    config = spec.model_config(image_shape, num_classes)
    cls = spec.model_class()
    keras.utils.set_random_seed(0)
    model = cls(config)

    # Config round-trip: from_config(get_config()) rebuilds the same model.
    clone = cls.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params() > 0

    # Hooks return distributions with the documented shapes.
    images, labels = synthetic_batch(image_shape, num_classes, binary=config.likelihood == "bernoulli")
    posterior = model.posterior(images, labels)
    assert tuple(posterior.event_shape) == (config.latent_dim,)
    codes = posterior.sample(seed=tf.constant([0, 1]))
    assert tuple(model.likelihood(codes, labels).event_shape) == image_shape

    # Training lowers the loss on a fixed batch (the model can learn through every hook).
    trained = TrainingModel(model, dataset_size=len(images))
    before = [v.numpy().copy() for v in model.trainable_variables]
    repeated = tf.data.Dataset.from_tensors((images, labels)).repeat()
    first = trained.evaluate(tf.data.Dataset.from_tensors((images, labels)), verbose=0, return_dict=True)
    trained.fit(repeated, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    after = trained.evaluate(tf.data.Dataset.from_tensors((images, labels)), verbose=0, return_dict=True)
    assert np.isfinite(after["loss"]) and after["loss"] < first["loss"], (first, after)
    # Every optimiser (the model's and each one its objective declares) took every step, and every trainable
    # variable moved: no hook is cut off from the gradient, no variable is left to no optimiser.
    assert [int(opt.iterations.numpy()) for opt in trained.all_optimizers()] == [steps] * len(trained.all_optimizers())
    unchanged = [v.path for v, old in zip(model.trainable_variables, before) if np.array_equal(v.numpy(), old)]
    assert not unchanged, unchanged

    # The shared evaluator accepts it; for density models ELBO <= IWAE bound.
    metrics = evaluate(model, images, labels, EvalConfig(iw_samples=16, iw_chunk=8, batch_size=16, figures=False))
    assert np.isfinite(metrics["distortion"]) and np.isfinite(metrics["reconstruction_mse"])
    # Every extra term of the objective is evaluated, finite.
    extra = set(model.objective.term_names) - {"elbo", "distortion", "rate"}
    assert set(metrics["objective"]) == extra and all(np.isfinite(v) for v in metrics["objective"].values())
    if cls.is_generative:
        assert np.isfinite(metrics["elbo"]) and metrics["iwae"] >= metrics["elbo"] - 1e-3

    # Saved and reloaded in a fresh process (Keras safe mode), the model gives the same reconstructions.
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "inputs.npy", images[:4])
    np.save(tmp_path / "labels.npy", labels[:4])
    expected = model((images[:4], labels[:4])).numpy()
    (reload or reload_in_fresh_process)(cls.__module__, path, tmp_path / "inputs.npy", tmp_path / "labels.npy",
                                         tmp_path / "reloaded.npy")
    np.testing.assert_allclose(np.load(tmp_path / "reloaded.npy"), expected, atol=1e-5)

    # Prior samples are images in [0, 1]; conditional models sample the requested class.
    sample_labels = [3] * 6 if model.is_conditional else None
    samples = model.sample(6, labels=sample_labels, seed=1)
    assert samples.shape == (6, *image_shape)
    assert np.all(np.isfinite(samples))
    return metrics
