"""The shared trainer: one code path for every registered model.

It reads a ``RunSpec``, builds the data pipeline and the model, fits with Keras
(progress bar, metrics log, TensorBoard, checkpoints, KL warm-up, early
stopping, divergence guard), then hands the best model to the evaluator. It
never looks at a model's name: what differs between models lives in the model.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any, Callable

import keras
import tensorflow as tf

from zoo import io as zio
from zoo.data import (DataConfig, ImageData, eval_dataset, load_dataset, resolve_binarization, steps_per_epoch,
                      train_dataset)
from zoo.errors import ZooError
from zoo.evaluation.eval_config import EvalConfig
from zoo.likelihoods import is_binary
from zoo.networks.batch_normalization import BatchNormalization
from zoo.run_dir import RunDir, build_manifest
from zoo.run_spec import RunSpec
from zoo.saving import load_model, load_training_model
from zoo.training import memory
from zoo.training.callbacks import DivergenceGuard, EpochLog, RunCheckpoint
from zoo.training.devices import (all_workers_sum, apply_precision, describe_devices, is_chief, is_multi_worker,
                                  make_strategy, onednn_enabled, ops_run_one_at_a_time, serialise_ops_if_deterministic,
                                  visible_gpus)
from zoo.training.gradient_sums import add_gradients_in_order, gradients_added_in_order
from zoo.training.keras_private import layers_of, reset_step_functions, set_jit_compile
from zoo.training.train_config import TrainConfig
from zoo.training.training_model import TrainingModel

# Fields a re-run may change, besides the evaluation section: how long and where it trains, the divergence and
# memory limits (they stop a run or refuse it, never change its numbers) and where the data is read from (its
# checksums must match the manifest's). Any other change would make the run a different one.
# (memory_budget_mb only decides whether images are held or streamed; the batches are the same.)
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "strategy"), ("train", "precision"), ("train", "deterministic"),
                     ("train", "divergence_factor"), ("train", "divergence_nats_per_dim"), ("train", "memory_limit_mb"),
                     ("data", "memory_budget_mb"), ("data", "data_dir")}
# The config dataclass of each section that has defaults: a config.json written before a field existed holds
# the field's default.
_SECTION_DEFAULTS = {"train": TrainConfig, "data": DataConfig, "evaluation": EvalConfig}


def _with_defaults(section: str, values: dict[str, Any]) -> dict[str, Any]:
    config = _SECTION_DEFAULTS.get(section)
    if config is None:
        return dict(values)
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    return {**defaults, **values}


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], dict[str, list]]:
    """What a re-run changes in a run's config: (refused, accepted). ``refused`` describes each change that
    would make another run (``model.latent_dim: 16 → 3``); ``accepted`` maps each allowed one (``train.epochs``,
    any ``evaluation`` field, ...) to [old, new]."""
    refused, accepted = [], {}
    for section in ("model", "train", "data", "evaluation"):
        before = _with_defaults(section, old.get(section, {}))
        after = _with_defaults(section, new.get(section, {}))
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            if section == "evaluation" or (section, key) in RESUMABLE_CHANGES:
                accepted[f"{section}.{key}"] = [before.get(key), after.get(key)]
            else:
                refused.append(f"{section}.{key}: {before.get(key)!r} → {after.get(key)!r}")
    if old.get("class") != new.get("class"):
        refused.append(f"class: {old.get('class')} → {new.get('class')}")
    return refused, accepted


def _check_epochs(run: RunDir, spec: RunSpec, saved: dict[str, Any], state: dict[str, Any]) -> None:
    """Refuses an --epochs that a re-run could not honour: fewer than trained, or more after early stopping."""
    epochs, trained = spec.train.epochs, state["epoch"]
    if epochs < trained:
        raise ZooError(f"--epochs {epochs} is fewer than the {trained} epochs {run.root} has trained; give "
                       f"--epochs {trained} or more, or --overwrite to start again")
    if state.get("stopped_early") and epochs > _with_defaults("train", saved.get("train", {}))["epochs"]:
        patience = _with_defaults("train", saved.get("train", {}))["early_stopping_patience"]
        raise ZooError(f"{run.root} stopped early at epoch {trained} (no validation ELBO gain for {patience} "
                       f"epochs), so --epochs {epochs} would not train it further; start again with --overwrite "
                       "(or another --out) to train longer")


def open_run(run: RunDir, spec: RunSpec, *, resume: bool, overwrite: bool,
             log: Callable[[str], None]) -> tuple[dict | None, dict[str, list]]:
    """Decides between a fresh run and a resumed one; returns the saved state to resume from (None: a fresh
    run) and the config changes the re-run makes (``config_changes``'s accepted ones, recorded by
    ``record_start`` once the data has loaded).

    Only a zoo run folder (``RunDir.is_zoo_run``) is reused or replaced, and ``--overwrite`` removes only zoo's
    files; a non-empty folder zoo did not make is refused untouched.
    """
    if resume and overwrite:
        raise ZooError("--resume continues the run in --out and --overwrite replaces it; give one of them")
    kind = run.kind()
    if kind == "foreign":
        raise run.not_zoo_error("replace" if overwrite else "write into")
    if resume and not run.exists():
        what = "an empty folder" if kind == "empty" else "no such folder" if kind == "absent" else "no config.json"
        raise ZooError(f"--resume: there is no run to resume in {run.root} ({what}); check --out, or leave out "
                       "--resume to start a new run")
    if kind == "zoo" and overwrite:
        log(f"--overwrite: replacing the zoo run in {run.root} (other files in it are kept)")
        run.remove_owned()
    run.prepare()
    run.mark({"recognised_from": "config.json"} if run.exists() else None)  # a run from before the marker
    if not run.exists():
        return None, {}
    saved = run.read_json(run.config, "delete the folder or use --overwrite")
    refused, accepted = config_changes(saved, spec.to_dict())
    if refused:
        raise ZooError(f"{run.root} holds a run with a different config ({'; '.join(refused[:3])}); "
                       "use --out for a new folder or --overwrite to replace it")
    if not run.state.exists():
        run.tidy(None)  # a run killed before its first epoch ended starts over
        return None, {}
    state = run.read_json(run.state, "delete the folder or use --overwrite")
    if not (run.checkpoints / state["checkpoint"]).exists():
        raise ZooError(f"{run.root}: checkpoint {state['checkpoint']} named by state.json is missing; "
                       "use --overwrite to start again")
    _check_epochs(run, spec, saved, state)
    run.tidy(state)  # leftovers of a killed process: temporary files, unnamed checkpoints, a stale metrics.csv
    return state, accepted


def start_record(from_epoch: int, changes: dict[str, list] | None = None) -> dict[str, Any]:
    """One entry of the manifest's ``starts``: when, the command, the epoch it started after, what it changed."""
    return {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": ["zoo", *sys.argv[1:]],
            "from_epoch": from_epoch, "changes": changes or {}}


def record_start(run: RunDir, spec: RunSpec, from_epoch: int, changes: dict[str, list]) -> None:
    """Writes a re-run's config (``changes`` applied) to config.json and adds the start to the manifest."""
    if changes:
        zio.write_json(run.config, spec.to_dict())
    if run.manifest.exists():
        manifest = run.read_json(run.manifest, "use --overwrite to start again")
        if changes:
            manifest["config"] = spec.to_dict()
        manifest["starts"] = [*manifest.get("starts", []), start_record(from_epoch, changes)]
        zio.write_json(run.manifest, manifest)


def check_same_data(run: RunDir, data: ImageData) -> None:
    """A re-run reads the data the run was trained on: the checksums the manifest recorded."""
    if not run.manifest.exists():
        return
    recorded = run.read_json(run.manifest, "use --overwrite to start again").get("dataset", {}).get("checksums")
    if recorded and recorded != data.checksums:
        differing = sorted(key for key in set(recorded) | set(data.checksums)
                           if recorded.get(key) != data.checksums.get(key))
        raise ZooError(f"the {data.name} data read now differs from the data {run.root} was trained on "
                       f"(checksums of {', '.join(differing[:3])} differ from manifest.json's); point --data-dir at "
                       "that data")


def configure_determinism(seed: int, deterministic: bool) -> None:
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def build_model(spec: RunSpec, data: ImageData) -> TrainingModel:
    """The registered model of ``spec`` for ``data``, inside the ``TrainingModel`` that trains it."""
    config = spec.model_config(data.image_shape, data.num_classes)
    model = spec.model_class()(config, name=spec.name)
    # Full batches per epoch (steps_per_epoch); a split smaller than one batch is refused when training starts,
    # not here, where keras-tuner also builds models only to learn the search space.
    steps = max(1, len(data.train.x) // spec.train.batch_size)
    cosine = spec.train.learning_rate_schedule == "cosine"
    return TrainingModel(model, learning_rate=spec.train.learning_rate,
                         kl_warmup_steps=spec.train.kl_warmup_epochs * steps, dataset_size=len(data.train.x),
                         noise_seed=spec.train.seed, cosine_decay_steps=spec.train.epochs * steps if cosine else 0,
                         final_learning_rate_fraction=spec.train.final_learning_rate_fraction)


_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Conv1DTranspose,
                 keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose, keras.layers.SeparableConv1D,
                 keras.layers.SeparableConv2D, keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


def has_convolutions(model: keras.Model) -> bool:
    return any(isinstance(layer, _CONVOLUTIONS) for layer in layers_of(model))


def training_batches(spec: RunSpec, split, *, start_epoch: int, epochs: int, binarization: str):
    """The run's stateless training pipeline for epochs ``start_epoch .. epochs-1``, as ``spec`` asks for it;
    ``zoo train`` and ``zoo tune`` both read it here, so a data option reaches both."""
    return train_dataset(split, batch_size=spec.train.batch_size, seed=spec.train.seed, start_epoch=start_epoch,
                         epochs=epochs, binarization=binarization, labelled_per_batch=spec.data.labelled_per_batch)


def configure_fit(model: keras.Model, train_cfg, steps: int) -> dict[str, Any]:
    """What ``fit`` needs beyond the compiled model (``TrainConfig``): the learning-rate schedule, the steps per
    graph call and XLA. Called before every fit, fresh or resumed, so the run's config always decides them.

    Returns the execution mode that decides a run's exact numbers on a CPU (the manifest records it): whether
    the step is XLA-compiled, whether TF runs its ops one at a time, whether oneDNN kernels are on.
    """
    if train_cfg.learning_rate_schedule == "cosine":
        # A function of the optimiser's step count, so a resumed run continues the same curve (a resume with more
        # epochs stretches the curve from there on).
        model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(
            train_cfg.learning_rate, decay_steps=train_cfg.epochs * steps, alpha=train_cfg.final_learning_rate_fraction)
        model.cosine_decay_steps = train_cfg.epochs * steps  # what a checkpoint rebuilds
    # Keras always runs whole calls of steps_per_execution steps, so a divisor of the epoch's steps keeps every
    # epoch on its own batches (resume and the stateless pipeline count on that).
    wanted = min(train_cfg.steps_per_execution, steps)
    if is_multi_worker(model.distribute_strategy):
        # With steps_per_execution > 1, Keras's multi-step loop (a tf.while_loop over get_next_as_optional) fails
        # under MultiWorkerMirroredStrategy ("You must feed a value for placeholder tensor ... while/cond/
        # Placeholder"), also for a train_step without the model's variable assigns; so one step per call.
        wanted = 1
    model.steps_per_execution = max(d for d in range(1, wanted + 1) if steps % d == 0)
    # auto: XLA on a single CPU replica only (with several replicas the gradient all-reduce runs inside the
    # step), except for conv nets: they take the plain step (oneDNN's convolutions and fused BatchNorm,
    # zoo/__init__.py; ~1.45x XLA's speed, benchmarks/results/perf/batch_norm_in_order.md). A deterministic run
    # takes it only with TF's ops one at a time (serialise_ops) and the gradient sums in order (below): then its
    # gradient was bit-identical in 16 fresh processes on busy cores (benchmarks/results/conv_determinism_sums.md);
    # with ops side by side it is not, so a deterministic conv net started after TF's runtime (a test process, a
    # notebook) keeps XLA.
    single_cpu = model.distribute_strategy.num_replicas_in_sync == 1 and not visible_gpus()
    ops_one_at_a_time = ops_run_one_at_a_time()
    plain_conv = has_convolutions(model) and (ops_one_at_a_time or not train_cfg.deterministic)
    jit = train_cfg.jit_compile == "on" or (train_cfg.jit_compile == "auto" and single_cpu and not plain_conv)
    if jit and all(layer.supports_jit for layer in layers_of(model)):
        # Keras's own switch refuses XLA whenever TF deterministic ops are on, for the sake of some GPU kernels;
        # on CPU XLA's results are bit-identical from run to run (tests/test_training.py checks resume equality).
        set_jit_compile(model, True)
    elif not jit:
        set_jit_compile(model, False)
    for layer in layers_of(model):
        if isinstance(layer, BatchNormalization):
            # The fused kernel is faster in a plain step, Keras's ops under XLA (zoo.networks.batch_normalization).
            layer.fused_kernel = not model.jit_compile
    if train_cfg.deterministic and single_cpu and not model.jit_compile:
        add_gradients_in_order()  # AddN's sum order follows thread timing (zoo.training.gradient_sums)
    reset_step_functions(model)  # rebuilt by the next fit with these settings
    return {"xla_compiled": bool(model.jit_compile), "ops_one_at_a_time": ops_one_at_a_time,
            "gradients_added_in_order": gradients_added_in_order(),
            "onednn": onednn_enabled(), "steps_per_execution": int(model.steps_per_execution)}


def record_execution(run: RunDir, epoch: int, execution: dict[str, Any]) -> None:
    """Adds this fit's execution mode to the manifest, as starting after ``epoch``.

    A run resumed in another mode (XLA or not, another TF build) gives numbers that differ in the last bits from
    an uninterrupted run; the list shows where that happened. Entries of epochs that will be trained again go.
    """
    manifest = run.read_json(run.manifest, "use --overwrite to start again")
    earlier = [entry for entry in manifest.get("execution", []) if entry["from_epoch"] < epoch]
    manifest["execution"] = [*earlier, {"from_epoch": epoch, **execution}]
    zio.write_json(run.manifest, manifest)


def open_shared_run(run: RunDir, spec: RunSpec, strategy: tf.distribute.Strategy, *, resume: bool,
                    overwrite: bool, log: Callable[[str], None]) -> tuple[dict | None, dict[str, list]]:
    """``open_run`` for a cluster of workers sharing one run folder (a shared filesystem is assumed).

    Only the chief opens the folder (``--overwrite``, tidying, config check); then, after a barrier, every other
    worker reads the ``state.json`` the chief settled on, so all load the same checkpoint. Two collectives, run by
    every worker in the same order, tell each worker whether the chief failed and whether all saw the same
    epoch, so a failure raises on every worker instead of leaving the others waiting in a collective.
    """
    if not is_multi_worker(strategy):
        return open_run(run, spec, resume=resume, overwrite=overwrite, log=log)
    chief, state, changes, error = is_chief(strategy), None, {}, None
    if chief:
        try:
            state, changes = open_run(run, spec, resume=resume, overwrite=overwrite, log=log)
        except ZooError as failure:
            error = failure
    (chief_failed,) = all_workers_sum(strategy, [1.0 if error else 0.0])
    if error:
        raise error
    if chief_failed:
        raise ZooError(f"the chief worker could not open the run folder {run.root}; see its log")
    seen = 0.0
    if not chief:
        try:
            if run.state.exists():
                state = run.read_json(run.state, "delete the folder or use --overwrite")
                if not (run.checkpoints / state["checkpoint"]).exists():
                    raise ZooError(f"{run.root}: checkpoint {state['checkpoint']} named by state.json is missing")
        except (ZooError, KeyError, TypeError) as failure:
            log(f"cannot read the chief's run state: {failure}")
            seen = -1.0
    if seen == 0.0:
        seen = float(state["epoch"]) if state else 0.0
    total, squares = all_workers_sum(strategy, [seen, seen * seen])
    workers = strategy.num_replicas_in_sync / max(1, len(strategy.extended.worker_devices))
    if abs(workers * squares - total * total) > 1e-3:  # equality iff every worker saw the same epoch
        raise ZooError(f"the workers disagree on the state of {run.root} (epochs seen: mean {total / workers:g}, "
                       f"this worker {seen:g}); --strategy multi-worker needs --out on a filesystem shared by "
                       "all workers")
    return state, changes


def train(spec: RunSpec, run: RunDir, *, resume: bool = False, overwrite: bool = False,
          evaluate: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains (or resumes) the run described by ``spec`` in ``run``; returns the test metrics.

    Under ``--strategy multi-worker`` only the chief writes ``run`` (a folder on a filesystem shared by all
    workers); the other workers train in step with it, write their checkpoints (Keras saving may run collectives)
    and TensorBoard logs to a private temporary folder that is deleted at the end, and skip the evaluation, which
    the chief runs alone (it runs no collectives). They return ``{}``.
    """
    serialise_ops_if_deterministic(spec.train)
    strategy = make_strategy(spec.train.strategy)  # first: a multi-worker strategy must precede other TF ops
    chief = is_chief(strategy)
    before = _start_snapshot(run) if chief else None
    model = steps_before = None
    try:
        state, changes = open_shared_run(run, spec, strategy, resume=resume, overwrite=overwrite, log=log)
        data = load_dataset(spec.data)
        if state is not None:
            check_same_data(run, data)
        precision = apply_precision(spec.train.precision)
        configure_determinism(spec.train.seed, spec.train.deterministic)

        with strategy.scope():
            if state:
                model = load_training_model(run.checkpoints / state["checkpoint"], spec.class_path)
                log(f"resuming {run.root} after epoch {state['epoch']}")
            else:
                model = build_model(spec, data)
        steps_before = _optimizer_steps(model)
        binarization = resolve_binarization(spec.data.binarization, is_binary(model.zoo_model.config.likelihood))

        epochs = spec.train.epochs
        training = (state is None or state["epoch"] < epochs) and not (state or {}).get("stopped_early")
        if training:
            memory.check_training(model, spec)  # before anything is written
        rerun = state is not None
        if state is None:
            state = {"epoch": 0, "checkpoint": None, "best": None, "best_epoch": None, "wait": 0, "history": [],
                     "stopped_early": False}
            if chief:
                zio.write_json(run.config, spec.to_dict())
                manifest = build_manifest(spec.to_dict(), data.checksums, describe_devices(),
                                          strategy.__class__.__name__, precision)
                manifest.update(binarization=binarization, parameters=int(model.zoo_model.count_params()),
                                starts=[start_record(0)])
                zio.write_json(run.manifest, manifest)
        elif chief and (training or (changes and not evaluate)):
            # Recorded before training (state.json will go past the old config's epochs); an evaluation-only
            # re-run records its start once the evaluation has succeeded (below).
            _record_rerun(run, spec, state["epoch"], changes, log)

        if training:
            # A non-chief worker's checkpoints, state and logs go to a scratch folder of its own, never to the run's.
            scratch = run if chief else RunDir(tempfile.mkdtemp(prefix="zoo-worker-"))
            try:
                _fit(model, spec, scratch, data, state, binarization, log)
            finally:
                if scratch is not run:
                    shutil.rmtree(scratch.root, ignore_errors=True)
        else:
            log(f"{run.root}: training already finished ({state['epoch']} epochs)")
    except BaseException:
        # A start that fails (or is interrupted) before one training step leaves nothing behind.
        if before is not None and (model is None or (steps_before is not None
                                                      and _optimizer_steps(model) == steps_before)):
            _undo_start(run, before)
        raise

    if not chief:
        log("training done; the chief worker writes the run folder" + (" and evaluates" if evaluate else ""))
        return {}
    if evaluate:
        metrics = finish(run, data=data, log=log, spec=spec)
        if rerun and not training:
            _record_rerun(run, spec, state["epoch"], changes, log)
        return metrics
    return {}


def _record_rerun(run: RunDir, spec: RunSpec, from_epoch: int, changes: dict[str, list], log) -> None:
    record_start(run, spec, from_epoch, changes)
    for field, (old, new) in changes.items():
        log(f"{field}: {old!r} → {new!r} (recorded in config.json)")


def _start_snapshot(run: RunDir) -> tuple[list, set[str]] | None:
    """The folders a start would create (``run.root`` and missing parents) and the names already in the run;
    None when there is nothing a failed start could safely undo (``--out`` is a file or cannot be listed)."""
    missing, folder = [], run.root
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if missing:
        return missing, set()
    try:
        return ([], {path.name for path in run.root.iterdir()}) if run.root.is_dir() else None
    except OSError:
        return None


def _undo_start(run: RunDir, before: tuple[list, set[str]]) -> None:
    """Removes what a failed start added: zoo's new files in the run folder, then the folders it created."""
    missing, names = before
    try:
        if run.root.is_dir():
            for path in run.root.iterdir():
                if not run.owned(path.name) or path.name in names:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
        for folder in missing:  # deepest first; stops at one that is not empty
            folder.rmdir()
    except OSError:
        pass  # best effort: the error being raised is the one to report


def _optimizer_steps(model) -> int | None:
    try:
        return int(model.optimizer.iterations.numpy())
    except Exception:  # noqa: BLE001 -- unknown counts as trained: nothing is removed
        return None


def _fit(model, spec: RunSpec, run: RunDir, data: ImageData, state: dict, binarization: str, log) -> None:
    train_cfg = spec.train
    steps = steps_per_epoch(data.train, train_cfg.batch_size)
    train_data = training_batches(spec, data.train, start_epoch=state["epoch"], epochs=train_cfg.epochs,
                                  binarization=binarization)
    validation = eval_dataset(data.validation, batch_size=memory.validation_batch_size(model, train_cfg.batch_size),
                              binarization=binarization, seed=0)
    execution = configure_fit(model, train_cfg, steps)
    if run.manifest.exists():  # a multi-worker helper's scratch folder has none
        record_execution(run, state["epoch"], execution)
    guard = DivergenceGuard.for_run(train_cfg, state)
    select_from_epoch = -(-model.zoo_model.objective.schedule_steps // steps)  # the first epoch past the schedule
    callbacks = [guard, RunCheckpoint(run, state, train_cfg.early_stopping_patience, guard, select_from_epoch),
                 keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False), EpochLog(guard, log=log)]
    log(f"training {spec.name} on {data.name}: {len(data.train.x)} train / {len(data.validation.x)} validation "
        f"images, {steps} steps per epoch ({model.steps_per_execution} per graph call, "
        f"{'XLA-compiled' if execution['xla_compiled'] else 'not XLA-compiled'}), epochs {state['epoch'] + 1}-{train_cfg.epochs}")
    model.fit(train_data, epochs=train_cfg.epochs, initial_epoch=state["epoch"], steps_per_epoch=steps,
              validation_data=validation, callbacks=callbacks, shuffle=False, verbose=0)
    if guard.error is not None:
        raise guard.error


def finish(run: RunDir, *, data: ImageData | None = None, log: Callable[[str], None] = print,
           spec: RunSpec | None = None) -> dict[str, Any]:
    """Turns the best checkpoint into ``model.keras`` (after ``model.finalize``), then evaluates it with ``spec``'s
    evaluation settings (default: the run's config.json)."""
    from zoo.evaluation.runner import evaluate_run

    spec = spec or RunSpec.from_dict(run.read_json(run.config, "use --overwrite to start again"))
    data = data or load_dataset(spec.data)
    model = load_model(run.best_checkpoint, spec.class_path)  # the zoo model inside the checkpoint
    binarization = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))
    model.finalize(eval_dataset(data.train, batch_size=1000, binarization=binarization, seed=0))
    with zio.atomic_path(run.model, suffix=".keras") as tmp:
        model.save(tmp)
    return evaluate_run(run, spec=spec, data=data, model=model, log=log)
