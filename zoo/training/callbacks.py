"""Callbacks of the shared trainer: run state and checkpoints, divergence guard, the epoch log."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import keras
import numpy as np

from zoo import io as zio
from zoo.errors import TrainingDiverged, ZooError
from zoo.run_dir import RunDir
from zoo.training import faults
from zoo.training.train_config import TrainConfig

MONITOR = "val_elbo"  # the β = 1 ELBO: comparable across β and warm-up weights


class DivergenceGuard(keras.callbacks.Callback):
    """Stops at the first diverged step, naming the epoch and step; checkpoints stay as they were.

    A step diverges when a loss, the distortion or the rate is NaN/Inf or passes a limit of ``TrainConfig``:
    a loss more than ``divergence_factor`` times the median of its last 64 healthy steps (at least 1 nat), or
    any of them more than ``divergence_nats_per_dim`` nats per data dimension. The training step checks every
    step (``TrainingModel.divergence_check``); Keras calls this callback after each graph call, which may run
    several steps (``steps_per_execution``), and it reads the exact step from the model. At an epoch's end the
    validation terms are held to the same limits (the loss to the training losses' median), so an epoch whose
    weights score insanely is never checkpointed, nor kept as the last good one.

    ``state`` (the trainer's run state, updated in place by ``RunCheckpoint``) and ``learning_rate`` only
    make the message say what was kept and what to change.
    """

    def __init__(self, factor: float | None = None, nats_per_dim: float | None = None,
                 state: dict[str, Any] | None = None, learning_rate: float | None = None):
        super().__init__()
        defaults = TrainConfig()
        self.factor = defaults.divergence_factor if factor is None else float(factor)
        self.nats_per_dim = defaults.divergence_nats_per_dim if nats_per_dim is None else float(nats_per_dim)
        self.state = state
        self.learning_rate = learning_rate
        self.epoch = 0
        self.last_step = 0  # steps of this epoch done at the previous call
        self.error: TrainingDiverged | None = None

    @classmethod
    def for_run(cls, train_cfg: TrainConfig, state: dict[str, Any]) -> "DivergenceGuard":
        return cls(train_cfg.divergence_factor, train_cfg.divergence_nats_per_dim, state, train_cfg.learning_rate)

    def _checks(self) -> bool:
        return hasattr(self.model, "divergence_check")  # a TrainingModel; other models get the NaN check only

    def on_train_begin(self, logs=None):
        if self._checks():
            history = (self.state or {}).get("history") or []
            names = self.model.relative_terms
            seed = [history[-1].get(name) for name in names] if history else None
            self.model.reset_divergence_state(self.factor, self.nats_per_dim,
                                              seed if seed and None not in seed else None)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.last_step = 0

    def on_train_batch_end(self, batch, logs=None):
        first_bad = int(self.model.first_nonfinite_step.numpy()) if self._checks() else 0
        bad = {key: value for key, value in (logs or {}).items() if not math.isfinite(float(value))}
        if (first_bad or bad) and self.error is None:
            steps = self.params.get("steps") or 0
            where = f"step {(first_bad - 1) % steps + 1}" if first_bad and steps else f"step {batch + 1}"
            self._stop(where, self._what_diverged() if first_bad else _listed(bad))
        faults.hit("after_batch", self.epoch + 1, self.last_step + 1, batch + 1)
        self.last_step = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if self.error is not None:
            return
        # Finite training losses can still give an insane validation score; such weights are not kept either.
        validation = {key: float(value) for key, value in (logs or {}).items() if key.startswith("val_")}
        bad = {key: value for key, value in validation.items() if not math.isfinite(value)}
        if bad:
            self._stop("validation", _listed(bad))
            return
        if not self._checks():
            return
        absolute = float(self.model.divergence_limits.numpy()[0])
        median = self.model.recent_median()
        for name in self.model.checked_terms:
            value = validation.get(f"val_{name}")
            if value is None:
                continue
            if abs(value) > absolute:
                self._stop("validation", f"val_{name} {value:.3g} {self._absolute_words()}")
                return
            if name == "loss" and median is not None and self.factor > 0:
                scale = max(float(median[0]), 1.0)
                if abs(value) > self.factor * scale:
                    self._stop("validation", f"val_loss {value:.3g} is over {self.factor:g} × the median "
                                             f"training loss of the last steps ({scale:.2f}; "
                                             "train.divergence_factor)")
                    return

    def _what_diverged(self) -> str:
        model = self.model
        values, limits = model.first_bad_values.numpy(), model.first_bad_limits.numpy()
        absolute = float(model.divergence_limits.numpy()[0])
        for name, value, limit in zip(model.checked_terms, values, limits):
            value, limit = float(value), float(limit)
            if not math.isfinite(value):
                return f"{name}={value}"
            if abs(value) > limit:
                if limit < absolute and self.factor > 0:
                    return (f"{name} {value:.3g} is over {self.factor:g} × its median over the steps before "
                            f"({limit / self.factor:.2f}; train.divergence_factor)")
                return f"{name} {value:.3g} {self._absolute_words()}"
        return "a loss is NaN/Inf"

    def _absolute_words(self) -> str:
        dims = int(np.prod(self.model.zoo_model.config.image_shape))
        return (f"nats per image is over {self.nats_per_dim:g} nats per dimension × {dims} dimensions "
                "(train.divergence_nats_per_dim)")

    def _stop(self, where: str, what: str) -> None:
        rate = f" (it is {self.learning_rate:g})" if self.learning_rate else ""
        # Outside a run folder (zoo tune's trials) there is nothing to start again or to keep.
        after = "" if self.state is None else f", then start again with --overwrite or another --out; {self._kept()}"
        self.error = TrainingDiverged(f"training diverged at epoch {self.epoch + 1}, {where}: {what}; lower "
                                      f"--learning-rate{rate} or add --kl-warmup-epochs{after}")
        self.model.stop_training = True

    def _kept(self) -> str:
        state = self.state or {}
        if not state.get("checkpoint"):
            return "no epoch had finished, so there is no checkpoint to keep"
        best = (f"; best.keras is epoch {state['best_epoch']} (validation ELBO {state['best']:.2f})"
                if state.get("best_epoch") else "")
        return f"the last good checkpoint is kept: checkpoints/{state['checkpoint']} (epoch {state['epoch']}){best}"


def _listed(values: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def format_number(value: float) -> str:
    """Fixed point: 2 decimals (nats) from 0.1 up, 4 below; exponent form only past 1e7 (a blown-up run) or
    below 1e-4."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 1e7 or 0 < size < 1e-4:
        return f"{value:.3e}"
    return f"{value:.2f}" if size >= 0.1 or size == 0 else f"{value:.4f}"


class EpochLog(keras.callbacks.Callback):
    """One line per epoch, every number in fixed point (``format_number``), e.g. ``epoch 3/50 - 9s 21ms/step
    - loss: 101.23 - distortion: 75.10 - ...``; on a terminal, Keras's progress bar (with ETA) runs during the
    epoch's training steps and the line replaces it."""

    def __init__(self, guard: DivergenceGuard | None = None, interactive: bool | None = None, log=print):
        super().__init__()
        self.guard = guard
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self.log = log
        self.bar: keras.utils.Progbar | None = None
        self.started = time.perf_counter()
        self.steps_done = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        self.steps_done = 0
        if self.interactive:
            self.bar = keras.utils.Progbar(self.params.get("steps"), unit_name="step")

    def on_train_batch_end(self, batch, logs=None):
        self.steps_done = batch + 1
        if self.bar is not None:
            # Never finalized: at the epoch's end the line below takes the bar's place.
            self.bar.update(batch + 1, [("loss", float((logs or {}).get("loss", math.nan)))], finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            sys.stdout.write("\r\x1b[2K")  # the finished bar gives way to the line
            sys.stdout.flush()
            self.bar = None
        if self.guard is not None and self.guard.error is not None:
            return  # the error line says what happened
        seconds = time.perf_counter() - self.started
        per_step = 1000 * seconds / max(self.steps_done, 1)
        # The objective's terms in its order, loss first.
        order = list(getattr(self.model, "trackers", None) or ("loss", "elbo", "distortion", "rate"))
        logs = logs or {}

        def position(key: str):
            term = key.removeprefix("val_")
            return key.startswith("val_"), order.index(term) if term in order else len(order), key

        numbers = " - ".join(f"{key}: {format_number(logs[key])}" for key in sorted(logs, key=position))
        self.log(f"epoch {epoch + 1}/{self.params.get('epochs')} - {seconds:.0f}s {per_step:.0f}ms/step - {numbers}")


class RunCheckpoint(keras.callbacks.Callback):
    """At each epoch end: the epoch checkpoint, the best checkpoint, history and early stopping.

    Order matters for crash safety (tests/test_faults.py kills the process at each step):

    1. ``epoch-NNNN.keras`` is written (atomically); 2. if the epoch improved, it is
    copied (atomically) over ``best.keras``; 3. ``state.json`` is written, naming the
    new checkpoint, with the history including this epoch and the early-stopping
    verdict; 4. ``metrics.csv`` is rewritten from that history; 5. other epoch
    checkpoints are deleted. ``state.json`` is the commit point: before it, a
    resumed run redoes the epoch (which gives the same weights, see
    ``zoo/data/pipeline.py``), after it, the epoch counts. ``RunDir.tidy`` repairs
    what steps 4-5 and interrupted writes leave when a run folder is reopened.

    A write that fails (disk full, read-only folder) raises a one-line ``ZooError``
    and leaves ``state.json`` and the checkpoint it names as they were.
    """

    def __init__(self, run: RunDir, state: dict[str, Any], patience: int, guard: DivergenceGuard,
                 select_from_epoch: int = 1):
        super().__init__()
        self.run = run
        self.state = state
        self.patience = patience
        self.guard = guard
        # Epochs before this one end while the objective's schedule still runs: each is kept as the best so
        # far (the latest model is the one closest to what the objective asks for), and selection by the
        # validation ELBO starts afresh at this epoch.
        self.select_from_epoch = max(1, int(select_from_epoch))
        self.epoch_started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.error is not None:
            return  # never checkpoint weights that diverged (NaN/Inf, a blow-up, an insane validation score)
        number = epoch + 1
        row = {"epoch": number, **{k: float(v) for k, v in (logs or {}).items()},
               "seconds": round(time.perf_counter() - self.epoch_started, 3)}
        old = self.state
        improved = (number <= self.select_from_epoch or old["best"] is None or row[MONITOR] > old["best"])
        checkpoint = self.run.epoch_checkpoint(number)
        new = {**old, "history": [*old["history"], row], "epoch": number, "checkpoint": checkpoint.name}
        if improved:
            new.update(best=row[MONITOR], best_epoch=number, wait=0)
        else:
            new["wait"] = old["wait"] + 1
        stopping = bool(self.patience and new["wait"] >= self.patience)
        if stopping:
            new["stopped_early"] = True

        target = f"checkpoint {checkpoint}"
        try:
            with zio.atomic_path(checkpoint, suffix=".keras") as tmp:
                self.model.save(tmp)
                faults.hit("in_checkpoint_write", number)
            if improved:
                target = f"checkpoint {self.run.best_checkpoint}"
                zio.copy_file(checkpoint, self.run.best_checkpoint)
            faults.hit("before_state_write", number)
            target = str(self.run.state)
            zio.write_json(self.run.state, new)
        except OSError as error:
            if checkpoint.name != old.get("checkpoint"):
                checkpoint.unlink(missing_ok=True)  # not referenced by state.json; frees the space it took
            kept = (f"previous checkpoint {old['checkpoint']} and state.json (epoch {old['epoch']}) kept"
                    if old.get("checkpoint") else "no earlier checkpoint to keep")
            raise ZooError(f"{zio.describe_os_error(error, target)} at the end of epoch {number}; {kept}; "
                           "free space (or fix the folder), then re-run the same command to resume") from None
        self.state.clear()
        self.state.update(new)  # the trainer holds this dict
        faults.hit("after_state_write", number)
        try:
            self.run.write_metrics_csv(new["history"])
        except OSError as error:
            raise ZooError(f"{zio.describe_os_error(error, self.run.metrics_csv)}; the checkpoint and state.json "
                           f"of epoch {number} are saved, re-run the same command to continue") from None
        self.run.remove_other_checkpoints(keep=checkpoint.name)
        if stopping:
            self.model.stop_training = True
        faults.hit("after_epoch", number)
