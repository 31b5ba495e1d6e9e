"""Evaluates a run folder's model on the test split: ``metrics.json`` plus figures."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from zoo import io as zio
from zoo.data import ImageData, load_dataset, resolve_binarization
from zoo.errors import ZooError
from zoo.evaluation.codes import as_model_sees
from zoo.likelihoods import is_binary
from zoo.run_dir import RunDir
from zoo.run_spec import RunSpec


def test_arrays(data: ImageData, binarization: str) -> tuple[np.ndarray, np.ndarray]:
    """The test images as the model sees them (binarised or scaled to [0, 1]) and their labels."""
    return as_model_sees(data.test.x, binarization), data.test.y


def evaluate_run(run: RunDir, *, spec: RunSpec | None = None, data: ImageData | None = None, model=None,
                 overrides: dict[str, Any] | None = None, data_overrides: dict[str, Any] | None = None,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Scores ``run``'s final model; ``overrides`` change the evaluation config (e.g. iw_samples)."""
    from zoo.evaluation import evaluate, write_all_figures
    from zoo.training.memory import evaluation_batch_size

    spec = spec or RunSpec.from_dict(run.read_json(run.config, "is this a finished zoo run folder?"))
    config = spec.evaluation.replace(**(overrides or {}))
    if data is None:
        data = load_dataset(spec.data.replace(**(data_overrides or {})))
    model_file = run.model
    if model is None:
        model, model_file = load_run_model(run, spec, data=data, doing="evaluating", log=log)
    binarization = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))
    images, labels = test_arrays(data, binarization)
    # A batch that would not fit in memory is lowered; the metrics are the same up to rounding, and
    # metrics.json records the batch used.
    config = config.replace(batch_size=evaluation_batch_size(model, config.batch_size, spec.train.memory_limit_mb,
                                                             log))
    metrics = evaluate(model, images, labels, config, dataset_size=len(data.train.x))
    state = run.read_json(run.state, "re-run `zoo train` with --resume or --overwrite") if run.state.exists() else {}
    notes = short_run_notes(model, images, labels, steps_trained(spec, data, state))
    metrics.update(model=spec.name, dataset=data.name, binarization=binarization,
                   epochs_trained=state.get("epoch"), best_epoch=state.get("best_epoch"),
                   model_file=str(model_file.relative_to(run.root)), evaluation=config.to_dict(), notes=notes)
    metrics["units"] = {**metrics.pop("units", {}), "epochs_trained": "epochs", "best_epoch": "epoch number (from 1)"}
    disentangled = score_disentanglement(model, data, config, log) if data.ground_truth is not None else None
    if disentangled is not None:
        metrics["disentanglement"] = disentangled
        metrics["units"]["disentanglement"] = "scores in [0, 1], higher is more disentangled; seconds in s"
    target = run.metrics
    try:
        zio.write_json(run.metrics, metrics)
        target = run.figures
        if config.figures:
            write_all_figures(model, images, labels, metrics, run.figures, config, note=" ".join(notes) or None)
            if data.ground_truth is not None:
                write_factor_figures(model, data, run.figures, config)
    except OSError as error:
        raise ZooError(f"{zio.describe_os_error(error, target)}; free space or make {run.root} writable") from None
    log(summary_line(metrics))
    for note in notes:
        log(f"note: {note}")
    return metrics


def steps_trained(spec: RunSpec, data: ImageData, state: dict[str, Any]) -> int | None:
    """Optimiser steps behind the evaluated model: full batches per epoch × epochs trained (None: unknown)."""
    epochs = state.get("best_epoch") or state.get("epoch")
    if not epochs:
        return None
    return int(epochs) * (len(data.train.x) // spec.train.batch_size)


# Flat output: the reconstructions' pixel spread (standard deviation within an image, averaged over images)
# below this fraction of the inputs'.
FLAT_SPREAD = 0.25
# Batch-norm statistics still "starting": the initial moving mean and variance weigh more than this.
UNSETTLED_WEIGHT = 0.01


def short_run_notes(model, images: np.ndarray, labels, steps: int | None) -> list[str]:
    """Warnings for a run too short to judge by its figures: batch-norm moving statistics that still carry their
    initial values (after n steps with momentum m they weigh m^n), and reconstructions that come out flat in
    inference mode, which is what unsettled statistics look like."""
    import keras

    from zoo.training.keras_private import layers_of

    norms = [layer for layer in layers_of(model) if isinstance(layer, keras.layers.BatchNormalization)]
    count = min(64, len(images))
    if count == 0:
        return []
    sample = np.asarray(images[:count], np.float32)
    sample_labels = None if labels is None or not getattr(model, "is_conditional", False) else labels[:count]
    outputs = np.asarray(model((sample, sample_labels)))
    spread_in = float(np.mean(sample.reshape(count, -1).std(axis=1)))
    spread_out = float(np.mean(outputs.reshape(count, -1).std(axis=1)))
    flat = spread_in > 0 and spread_out < FLAT_SPREAD * spread_in
    unsettled = [layer for layer in norms if steps is not None and float(layer.momentum) ** steps > UNSETTLED_WEIGHT]
    if not flat and not unsettled:
        return []
    parts = []
    if unsettled:
        momentum = float(unsettled[0].momentum)
        parts.append(f"a short run: after {steps} training steps the batch-norm statistics (momentum {momentum:g}) "
                     f"still weigh their initial values by {momentum ** steps:.0%}")
    if flat:
        parts.append(f"the reconstructions come out flat in inference mode (pixel spread {spread_out / spread_in:.0%} "
                     "of the inputs')")
    advice = "train for more epochs before judging the figures" if unsettled or norms else \
        "the model reconstructs little; train longer or check the learning rate"
    return ["; ".join(parts) + f"; {advice}"]


def score_disentanglement(model, data: ImageData, config, log: Callable[[str], None] = print):
    """The disentanglement metrics ``config.disentanglement`` names, on the posterior means; None if none."""
    from zoo.evaluation.disentanglement.scores import representation_function, resolve_metric_names, score

    names = resolve_metric_names(config.disentanglement)
    if not names:
        return None
    log(f"disentanglement metrics on {data.name} ({', '.join(names)}; {config.disentanglement_train_points} / "
        f"{config.disentanglement_test_points} points, seed {config.seed}):")
    return score(data.ground_truth, representation_function(model), names, seed=config.seed,
                 train_points=config.disentanglement_train_points, test_points=config.disentanglement_test_points,
                 log=log)


def write_factor_figures(model, data: ImageData, folder, config) -> None:
    """mi_heatmap.png and factor_traversals.png from 10,000 codes of points drawn from the factor grid."""
    from zoo.evaluation.disentanglement.figures import factor_traversals, mi_heatmap, normalized_mutual_information
    from zoo.evaluation.disentanglement.scores import representation_function

    ground_truth = data.ground_truth
    factors = ground_truth.sample_factors(config.disentanglement_train_points, np.random.RandomState(config.seed))
    codes = representation_function(model)(ground_truth.observations(factors))
    normalized = normalized_mutual_information(codes, factors)
    mi_heatmap(normalized, ground_truth.factor_names, folder / "mi_heatmap.png",
               f"{model.name}: I(z_d; factor) / H(factor)")
    factor_traversals(model, data.test.x[0].astype(np.float32) / 255.0, normalized, ground_truth.factor_names,
                      folder / "factor_traversals.png")


def check_sample_label(model, label: int | None, run_dir) -> None:
    """Refuses a ``zoo sample --label`` the model cannot honour: an unconditional model (one trained on
    unlabelled data has no classes at all), or a class it does not have."""
    if label is None:
        return
    if not model.is_conditional:
        trained = ", trained on unlabelled data" if model.config.num_classes == 0 else ""
        raise ZooError(f"--label needs a conditional model such as cvae; {run_dir} holds {type(model).__name__}"
                       f"{trained}")
    classes = model.config.num_classes
    if not 0 <= label < classes:
        raise ZooError(f"--label {label} is out of range; this model has classes 0-{classes - 1}")


def summary_line(metrics: dict[str, Any]) -> str:
    """One line of test numbers: the bounds and their terms in nats per image, then the active latent units."""
    numbers = [f"{label} {metrics[key]:.2f}" for key, label in
               (("elbo", "ELBO"), ("distortion", "distortion"), ("rate", "rate"), ("iwae", "IWAE"))
               if metrics.get(key) is not None]
    if metrics.get("iwae") is not None:
        numbers[-1] += f" (k = {metrics['iw_samples']})"
    head = f"test {metrics['model']} on {metrics['dataset']}"
    units = f"active units {metrics['active_units']}/{metrics['latent_dim']}"
    return f"{head}, nats per image: {', '.join(numbers)}; {units}" if numbers else f"{head}: {units}"


def load_run_model(run: RunDir, spec: RunSpec, *, data: ImageData | None = None,
                   data_overrides: dict[str, Any] | None = None, doing: str = "evaluating",
                   log: Callable[[str], None] = print):
    """The model of a run folder and the file it came from: ``model.keras``, or, for a run that stopped before
    writing it (killed, diverged), ``checkpoints/best.keras`` with one note and finalized as `zoo train` would
    have done before saving model.keras (e.g. the autoencoder fits its prior to the training codes; that needs
    the training data, loaded here unless ``data`` is given)."""
    from zoo.saving import load_model

    model_file = run.model if run.model.exists() else _fallback_checkpoint(run, log, doing)
    model = load_model(model_file, spec.class_path)
    if model_file != run.model:
        from zoo.data import eval_dataset

        if data is None:
            data = load_dataset(spec.data.replace(**(data_overrides or {})))
        binary = resolve_binarization(spec.data.binarization, is_binary(model.config.likelihood))
        model.finalize(eval_dataset(data.train, batch_size=1000, binarization=binary, seed=0))
    return model, model_file


def _fallback_checkpoint(run: RunDir, log: Callable[[str], None], doing: str = "evaluating"):
    """``checkpoints/best.keras`` of a run that stopped before writing model.keras (killed, diverged)."""
    if not run.best_checkpoint.exists():
        raise_missing_model(run)
    state = run.read_json(run.state, "re-run `zoo train` with --resume or --overwrite") if run.state.exists() else {}
    epoch = f" (epoch {state['best_epoch']})" if state.get("best_epoch") else ""
    log(f"note: {run.root} has no model.keras (training did not finish); {doing} checkpoints/best.keras{epoch}")
    return run.best_checkpoint


def raise_missing_model(run: RunDir):
    raise ZooError(f"{run.root} has no model.keras and no checkpoint yet; train it with "
                   f"`zoo train ... --out {run.root}` (add --resume to continue)")
