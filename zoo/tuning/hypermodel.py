"""The keras-tuner HyperModel of any registry entry, and the zoo's tuner classes.

``RegistryHyperModel.build(hp)`` declares one hyperparameter per key of the
entry's ``search_space`` block, resolves the trial's ``RunSpec`` (model fields
such as β and latent size go to the model config, training fields such as the
learning rate to the optimiser and pipeline) and builds and compiles the zoo
model exactly as ``zoo train`` does, under the strategy scope the tuner opens.

``fit(hp, model, ...)`` trains on the zoo's deterministic pipeline: epoch e's
batches depend on (seed, e) only, so a Hyperband trial that continues another
one from ``initial_epoch`` sees the batches that epoch would have had.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import keras
import keras_tuner
import numpy as np

from zoo import io as zio
from zoo.data import ImageData, binarize_array, eval_dataset, resolve_binarization, steps_per_epoch
from zoo.errors import ZooError
from zoo.likelihoods import is_binary
from zoo.registry import Entry
from zoo.run_spec import RunSpec, resolve
from zoo.training.callbacks import DivergenceGuard
from zoo.training.trainer import build_model, configure_fit, training_batches
from zoo.tuning.objectives import FACTOR_OBJECTIVES, check_objective
from zoo.tuning.space import SearchParam, apply_values

HISTORY_FILE = "zoo-history.json"
RUNS_FOLDER = "zoo-runs"
# A worker whose request the chief cannot serve yet (Hyperband waiting for a round) asks again after this.
IDLE_BACKOFF_SECONDS = 1.0


class ValidationIWAE(keras.callbacks.Callback):
    """Puts the IWAE bound of a fixed validation subset into ``logs['val_iwae']`` at each epoch end.

    The subset, its binarisation and the importance-sampling noise are the same
    for every epoch and every trial, so the numbers compare across trials. It runs
    before keras-tuner's callbacks, which then see ``val_iwae`` like any other metric.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, num_samples: int, seed: int = 0):
        super().__init__()
        self.images, self.labels = images, labels
        self.num_samples, self.seed = num_samples, seed

    def on_epoch_end(self, epoch, logs=None):
        from zoo.evaluation.metrics import iwae_bound

        bound = iwae_bound(self.model.zoo_model, self.images, self.labels, num_samples=self.num_samples,
                           chunk=min(self.num_samples, 25), seed=self.seed, batch_size=250)
        if logs is not None:
            logs["val_iwae"] = float(np.mean(bound.numpy()))


class HeldOutFactors:
    """A ground-truth data set whose factor draws come from a fixed set of held-out combinations.

    ``sample_factors`` picks rows of ``factors`` (the validation split's) uniformly with one ``randint`` call;
    images are rendered as usual. Metrics that then fix one factor of a draw (the β-VAE and FactorVAE scores)
    may leave the held-out set in that one coordinate.
    """

    def __init__(self, ground_truth, factors: np.ndarray):
        self.ground_truth, self.factors = ground_truth, np.asarray(factors, dtype=np.int64)

    def __getattr__(self, name):
        return getattr(self.ground_truth, name)

    def sample_factors(self, num, random_state):
        return self.factors[random_state.randint(len(self.factors), size=num)]

    def sample(self, num, random_state):
        factors = self.sample_factors(num, random_state)
        return factors, self.ground_truth.sample_observations_from_factors(factors, random_state)


class ValidationDisentanglement(keras.callbacks.Callback):
    """Puts a disentanglement metric of the model's posterior means into ``logs[objective]`` at each epoch end.

    The points come from held-out factor combinations (``HeldOutFactors``) with the same seed every epoch and
    trial, so the numbers compare across trials; ``points`` sets the metric's train and test sizes.
    """

    def __init__(self, objective: str, ground_truth, points: int, seed: int = 0):
        super().__init__()
        self.objective, self.ground_truth, self.points, self.seed = objective, ground_truth, points, seed

    def on_epoch_end(self, epoch, logs=None):
        from zoo.evaluation.disentanglement.scores import representation_function, score

        metric, key = FACTOR_OBJECTIVES[self.objective]
        result = score(self.ground_truth, representation_function(self.model.zoo_model), [metric], seed=self.seed,
                       train_points=self.points, test_points=max(10, self.points // 2))
        if logs is not None:
            logs[self.objective] = result[key]


class RegistryHyperModel(keras_tuner.HyperModel):
    """Builds and fits the model of a registry entry for the hyperparameters of one trial.

    Args:
        entry: the registry entry; its ``search_space`` block says what is searched.
        overrides: config overrides applied to every trial (CLI flags, ``--set``).
        params: the parsed search space (``zoo.tuning.space.parse_search_space``).
        data: the loaded dataset (train and validation splits are used).
        objective: an objective name of ``zoo.tuning.objectives``.
        iw_samples, iw_images: k and subset size of ``val_iwae``.
        factor_points: train (and twice the test) points of a disentanglement objective per epoch.
        verbose: Keras fit verbosity (0, 1 or 2; 1 becomes 2 when stdout is not a terminal).
    """

    def __init__(self, entry: Entry, overrides: Mapping[str, Mapping[str, Any]], params: list[SearchParam],
                 data: ImageData, objective: str = "val_elbo", iw_samples: int = 50, iw_images: int = 1000,
                 verbose: int = 1, factor_points: int = 2000):
        super().__init__(name=f"zoo-{entry.name}", tunable=True)
        self.entry = entry
        self.overrides = {section: dict(values) for section, values in overrides.items()}
        self.params = params
        self.data = data
        self.objective = objective
        self.direction = check_objective(objective, entry.model_class(), data.name, data.ground_truth is not None)
        self.iw_samples, self.iw_images = iw_samples, iw_images
        self.factor_points = factor_points
        self.verbose = verbose

    # ------------------------------------------------------------- specs
    def spec_for(self, values: Mapping[str, Any]) -> RunSpec:
        """The full run spec of a trial whose (keras-tuner) hyperparameter values are ``values``."""
        return resolve(self.entry, apply_values(self.params, values, self.overrides))

    def declare(self, hp) -> RunSpec:
        """Declares every searched field in ``hp`` and returns the trial's spec."""
        for param in self.params:
            param.declare(hp)
        return self.spec_for(hp.values)

    # ------------------------------------------------------------- keras-tuner
    def build(self, hp):
        try:
            spec = self.declare(hp)
            keras.utils.set_random_seed(spec.train.seed)  # same initial weights for the same hyperparameters
            # Its optimisers are built, so a Hyperband continuation loads the parent's Adam moments and step
            # count (noise seeds, KL warm-up) with its weights.
            return build_model(spec, self.data)
        except ZooError as error:
            # One combination of values that does not make a valid model (or a batch larger than the training
            # subset) fails this trial only.
            raise keras_tuner.errors.FailedTrialError(str(error)) from None

    def fit(self, hp, model, *args, **kwargs):
        try:
            return self._fit(hp, model, **kwargs)
        except ZooError as error:
            # e.g. a searched batch size larger than the training subset: this trial fails, not the search.
            raise keras_tuner.errors.FailedTrialError(str(error)) from None

    def _fit(self, hp, model, **kwargs):
        spec = self.spec_for(hp.values)
        train_cfg = spec.train
        epochs = int(kwargs.pop("epochs", train_cfg.epochs))
        initial_epoch = int(kwargs.pop("initial_epoch", 0))
        tuner_callbacks = list(kwargs.pop("callbacks", []))
        verbose = kwargs.pop("verbose", self.verbose)
        if verbose == 1 and not sys.stdout.isatty():
            verbose = 2
        binarization = resolve_binarization(spec.data.binarization, is_binary(model.zoo_model.config.likelihood))
        steps = steps_per_epoch(self.data.train, train_cfg.batch_size)
        # The zoo's stateless pipeline from ``initial_epoch`` on: a Hyperband continuation
        # gets exactly the batches an uninterrupted run would see in those epochs.
        training = training_batches(spec, self.data.train, start_epoch=initial_epoch, epochs=epochs,
                                    binarization=binarization)
        validation = eval_dataset(self.data.validation, batch_size=max(train_cfg.batch_size, 500),
                                  binarization=binarization, seed=0)
        configure_fit(model, train_cfg, steps)
        guard = DivergenceGuard()
        callbacks: list[keras.callbacks.Callback] = [guard]
        if self.objective == "val_iwae":
            callbacks.append(self._iwae_callback(spec, binarization))
        if self.objective in FACTOR_OBJECTIVES:
            if self.data.validation.factors is None or not len(self.data.validation.factors):
                raise ZooError(f"objective {self.objective} needs held-out factor combinations; raise "
                               "data.validation_size")
            held_out = HeldOutFactors(self.data.ground_truth, self.data.validation.factors)
            callbacks.append(ValidationDisentanglement(self.objective, held_out, self.factor_points,
                                                       seed=spec.evaluation.seed))
        if train_cfg.early_stopping_patience:
            callbacks.append(keras.callbacks.EarlyStopping(monitor=self.objective, mode=self.direction,
                                                           patience=train_cfg.early_stopping_patience))
        # Ours first: keras-tuner's checkpoint and reporting callbacks must see val_iwae.
        history = model.fit(training, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                            validation_data=validation, callbacks=callbacks + tuner_callbacks, shuffle=False,
                            verbose=verbose)
        if guard.error is not None:
            raise keras_tuner.errors.FailedTrialError(str(guard.error))
        return history

    def _iwae_callback(self, spec: RunSpec, binarization: str) -> ValidationIWAE:
        split = self.data.validation
        count = min(self.iw_images, len(split.x))
        if count == 0:
            raise ZooError("objective val_iwae needs a validation split; raise data.validation_size")
        raw = split.x[:count]
        # The binarisation eval_dataset uses (seed 0), so val_iwae and val_elbo score the same images.
        images = binarize_array(raw, 0) if binarization in ("dynamic", "static") else raw.astype("float32") / 255.0
        # Unconditional models ignore the labels; conditional ones need them.
        labels = split.y[:count].astype("int32")
        return ValidationIWAE(images, labels, self.iw_samples, seed=spec.evaluation.seed)


# ----------------------------------------------------------------- tuners


class _RunRecord:
    """One file per time a process runs a trial: who, where, when, and how it ended.

    ``trial_<id>/zoo-runs/<start>-<tuner id>-<pid>.json``. A trial that finished
    before an interruption has exactly one record; one that was cut short has a
    record without ``finished`` and, once re-run after ``--resume``, a second one.
    """

    def __init__(self, trial_dir: str, tuner_id: str, trial_id: str):
        stamp = datetime.now(timezone.utc)
        self.path = Path(trial_dir) / RUNS_FOLDER / f"{stamp:%Y%m%dT%H%M%S%f}-{tuner_id}-{os.getpid()}.json"
        self.record = {"trial_id": trial_id, "tuner_id": tuner_id, "host": socket.gethostname(),
                       "pid": os.getpid(), "started": stamp.isoformat()}
        zio.write_json(self.path, self.record)

    def finish(self, outcome: str, **extra: Any) -> None:
        self.record.update(finished=datetime.now(timezone.utc).isoformat(), outcome=outcome, **extra)
        zio.write_json(self.path, self.record)


def _history_rows(results) -> list[dict[str, Any]]:
    rows = []
    for history in results if isinstance(results, list) else [results]:
        if isinstance(history, keras.callbacks.History):
            for index, epoch in enumerate(history.epoch):
                row = {"epoch": int(epoch) + 1}
                row.update({name: float(values[index]) for name, values in history.history.items()
                            if index < len(values)})
                rows.append(row)
    return rows


class ZooTunerMixin:
    """What the zoo adds to keras-tuner's tuners: a per-trial history and run records,
    and a pause between requests a busy chief answers with "idle"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._is_worker():
            ask = self.oracle.create_trial

            def create_trial(tuner_id):
                trial = ask(tuner_id)
                if trial.status == keras_tuner.engine.trial.TrialStatus.IDLE:
                    time.sleep(IDLE_BACKOFF_SECONDS)  # keras-tuner would ask again at once, in a busy loop
                return trial

            self.oracle.create_trial = create_trial

    def run_trial(self, trial, *args, **kwargs):
        trial_dir = self.get_trial_dir(trial.trial_id)
        record = _RunRecord(trial_dir, self.tuner_id, trial.trial_id)
        started = time.perf_counter()
        try:
            results = super().run_trial(trial, *args, **kwargs)
        except BaseException as error:
            record.finish("error", message=str(error).splitlines()[0] if str(error) else type(error).__name__)
            raise
        seconds = round(time.perf_counter() - started, 3)
        zio.write_json(Path(trial_dir) / HISTORY_FILE, {
            "trial_id": trial.trial_id, "tuner_id": self.tuner_id, "seconds": seconds,
            "hyperparameters": dict(trial.hyperparameters.values), "history": _history_rows(results),
        })
        record.finish("trained", seconds=seconds)
        return results


class ZooHyperband(ZooTunerMixin, keras_tuner.Hyperband):
    """Hyperband: trials get ``tuner/epochs`` and continue from ``tuner/initial_epoch``."""


class ZooRandomSearch(ZooTunerMixin, keras_tuner.RandomSearch):
    """Random search."""


class ZooBayesianOptimization(ZooTunerMixin, keras_tuner.BayesianOptimization):
    """Gaussian-process Bayesian optimisation (keras-tuner's; needs scipy and scikit-learn)."""
