"""The shared trainer: one code path for every registered model.

It reads a ``RunSpec``, builds the data pipeline and the model, fits with Keras
(progress bar, metrics log, TensorBoard, checkpoints, KL warm-up, early
stopping, divergence guard), then hands the best model to the evaluator. It
never looks at a model's name: what differs between models lives in the model.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any, Callable

import keras
import tensorflow as tf

from zoo import io as zio
from zoo.data import ImageData, eval_dataset, load_dataset, resolve_binarization, steps_per_epoch, train_dataset
from zoo.errors import ZooError
from zoo.likelihoods import is_binary
from zoo.run_dir import RunDir, build_manifest
from zoo.run_spec import RunSpec
from zoo.training.callbacks import DivergenceGuard, KLWarmup, RunCheckpoint
from zoo.training.devices import apply_precision, describe_devices, make_strategy

# Fields a resumed run may change: how long and where it trains, and how it is scored.
# (memory_budget_mb only decides whether images are held or streamed; the batches are the same.)
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "strategy"), ("train", "precision"), ("train", "deterministic"),
                     ("data", "memory_budget_mb")}


def _config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    differences = []
    for section in ("model", "train", "data"):
        before, after = old.get(section, {}), new.get(section, {})
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key) and (section, key) not in RESUMABLE_CHANGES:
                differences.append(f"{section}.{key}: {before.get(key)!r} → {after.get(key)!r}")
    if old.get("class") != new.get("class"):
        differences.append(f"class: {old.get('class')} → {new.get('class')}")
    return differences


def open_run(run: RunDir, spec: RunSpec, *, resume: bool, overwrite: bool, log: Callable[[str], None]) -> dict | None:
    """Decides between a fresh run and a resumed one; returns the saved state to resume from."""
    if run.exists() and overwrite:
        log(f"--overwrite: replacing {run.root}")
        shutil.rmtree(run.root)
    run.prepare()
    if not run.exists():
        if resume:
            log(f"nothing to resume in {run.root}; starting a new run")
        return None
    saved = run.read_json(run.config, "delete the folder or use --overwrite")
    differences = _config_differences(saved, spec.to_dict())
    if differences:
        raise ZooError(f"{run.root} holds a run with a different config ({'; '.join(differences[:3])}); "
                       "use --out for a new folder or --overwrite to replace it")
    if not run.state.exists():
        run.tidy(None)  # a run killed before its first epoch ended starts over
        return None
    state = run.read_json(run.state, "delete the folder or use --overwrite")
    if not (run.checkpoints / state["checkpoint"]).exists():
        raise ZooError(f"{run.root}: checkpoint {state['checkpoint']} named by state.json is missing; "
                       "use --overwrite to start again")
    run.tidy(state)  # leftovers of a killed process: temporary files, unnamed checkpoints, a stale metrics.csv
    return state


def configure_determinism(seed: int, deterministic: bool) -> None:
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def build_model(spec: RunSpec, data: ImageData):
    config = spec.model_config(data.image_shape, data.num_classes)
    model = spec.model_class()(config, name=spec.name)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=spec.train.learning_rate))
    return model


def load_model(path, class_path: str | None = None) -> keras.Model:
    """Loads a zoo ``.keras`` file in Keras safe mode (no arbitrary code).

    ``class_path`` ("module:Class", from the run config) imports a plugin's module
    first so that its class is registered for deserialisation.
    """
    import importlib
    import zipfile

    import zoo.models  # noqa: F401  (registers the zoo classes for deserialisation)
    from zoo.models.vae import VAE

    if class_path:
        try:
            importlib.import_module(class_path.partition(":")[0])
        except ImportError as error:
            raise ZooError(f"cannot load {path}: its model class {class_path} does not import ({error}); "
                           "install the package that provides it") from None
    if not zipfile.is_zipfile(path):
        what = "missing" if not os.path.exists(path) else "not a .keras archive (truncated or corrupt)"
        raise ZooError(f"cannot load model file {path}: it is {what}; re-run `zoo train` to recreate it")
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except ValueError as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if "safe_mode" in message or "arbitrary code" in message:
            raise ZooError(f"refusing to load {path}: it contains Python code (e.g. a Lambda layer) that Keras "
                           "safe mode will not run; zoo only loads the models it saves") from None
        raise ZooError(f"cannot load model file {path}: {message[:300]}") from None
    except (OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        message = " ".join(str(error).split())[:300] or type(error).__name__
        raise ZooError(f"cannot load model file {path}: it is corrupt or not a zoo model ({message})") from None
    if not isinstance(model, VAE):
        raise ZooError(f"{path} holds a {type(model).__name__}, not a zoo model; zoo only loads the models it saves")
    return model


def train(spec: RunSpec, run: RunDir, *, resume: bool = False, overwrite: bool = False,
          evaluate: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains (or resumes) the run described by ``spec`` in ``run``; returns the test metrics."""
    state = open_run(run, spec, resume=resume, overwrite=overwrite, log=log)
    data = load_dataset(spec.data)
    precision = apply_precision(spec.train.precision)
    strategy = make_strategy(spec.train.strategy)
    configure_determinism(spec.train.seed, spec.train.deterministic)

    with strategy.scope():
        if state:
            model = load_model(run.checkpoints / state["checkpoint"], spec.class_path)
            log(f"resuming {run.root} after epoch {state['epoch']}")
        else:
            model = build_model(spec, data)
    model.noise_seed = spec.train.seed
    binarization = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))

    if state is None:
        state = {"epoch": 0, "checkpoint": None, "best": None, "best_epoch": None, "wait": 0, "history": [],
                 "stopped_early": False}
        zio.write_json(run.config, spec.to_dict())
        manifest = build_manifest(spec.to_dict(), data.checksums, describe_devices(), strategy.__class__.__name__,
                                  precision)
        manifest.update(binarization=binarization, parameters=int(model.count_params()))
        zio.write_json(run.manifest, manifest)

    epochs, batch = spec.train.epochs, spec.train.batch_size
    if state["epoch"] < epochs and not state["stopped_early"]:
        _fit(model, spec, run, data, state, binarization, log)
    else:
        log(f"{run.root}: training already finished ({state['epoch']} epochs)")

    if evaluate:
        return finish(run, data=data, log=log)
    return {}


def _fit(model, spec: RunSpec, run: RunDir, data: ImageData, state: dict, binarization: str, log) -> None:
    train_cfg = spec.train
    steps = steps_per_epoch(data.train, train_cfg.batch_size)
    train_data = train_dataset(data.train, batch_size=train_cfg.batch_size, seed=train_cfg.seed,
                               start_epoch=state["epoch"], epochs=train_cfg.epochs, binarization=binarization)
    validation = eval_dataset(data.validation, batch_size=max(train_cfg.batch_size, 500),
                              binarization=binarization, seed=0)
    guard = DivergenceGuard()
    callbacks = [guard, RunCheckpoint(run, state, train_cfg.early_stopping_patience, guard),
                 keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False)]
    if train_cfg.kl_warmup_epochs:
        callbacks.insert(0, KLWarmup(train_cfg.kl_warmup_epochs * steps))
    log(f"training {spec.name} on {data.name}: {len(data.train.x)} train / {len(data.validation.x)} validation "
        f"images, {steps} steps per epoch, epochs {state['epoch'] + 1}-{train_cfg.epochs}")
    model.fit(train_data, epochs=train_cfg.epochs, initial_epoch=state["epoch"], steps_per_epoch=steps,
              validation_data=validation, callbacks=callbacks, shuffle=False,
              verbose=1 if sys.stdout.isatty() else 2)
    if guard.error is not None:
        raise guard.error


def finish(run: RunDir, *, data: ImageData | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Turns the best checkpoint into ``model.keras`` (after ``model.finalize``), then evaluates it."""
    from zoo.evaluation.runner import evaluate_run

    spec = RunSpec.from_dict(run.read_json(run.config, "use --overwrite to start again"))
    data = data or load_dataset(spec.data)
    model = load_model(run.best_checkpoint, spec.class_path)
    binarization = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))
    model.finalize(eval_dataset(data.train, batch_size=1000, binarization=binarization, seed=0))
    with zio.atomic_path(run.model, suffix=".keras") as tmp:
        model.save(tmp)
    return evaluate_run(run, spec=spec, data=data, model=model, log=log)
