"""Callbacks of the shared trainer: run state and checkpoints, divergence guard."""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from zoo import io as zio
from zoo.errors import TrainingDiverged, ZooError
from zoo.run_dir import RunDir
from zoo.training import faults

MONITOR = "val_elbo"  # the β = 1 ELBO: comparable across β and warm-up weights


class DivergenceGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss, naming the epoch and step; checkpoints stay as they were.

    Keras calls it after each graph call, which may run several steps (``steps_per_execution``);
    the training step records the exact step of the first non-finite loss
    (``TrainingModel.first_nonfinite_step``).
    """

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.last_step = 0  # steps of this epoch done at the previous call
        self.error: TrainingDiverged | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.last_step = 0

    def on_train_batch_end(self, batch, logs=None):
        bad = {key: value for key, value in (logs or {}).items() if not math.isfinite(float(value))}
        first_bad = int(self.model.first_nonfinite_step.numpy()) if bad else 0
        if bad:
            steps = self.params.get("steps") or 0
            where = f"step {(first_bad - 1) % steps + 1}" if first_bad and steps else f"step {batch + 1}"
            self._stop(where, bad)
        faults.hit("after_batch", self.epoch + 1, self.last_step + 1, batch + 1)
        self.last_step = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        # Finite training losses can still give a non-finite validation ELBO; such weights are not kept either.
        bad = {key: value for key, value in (logs or {}).items()
               if key.startswith("val_") and not math.isfinite(float(value))}
        if bad and self.error is None:
            self._stop("validation", bad)

    def _stop(self, where: str, bad: dict) -> None:
        self.error = TrainingDiverged(
            f"training diverged at epoch {self.epoch + 1}, {where}: "
            f"{', '.join(f'{k}={v}' for k, v in bad.items())}; lower --learning-rate or add "
            "--kl-warmup-epochs; the last good checkpoint is kept"
        )
        self.model.stop_training = True


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

    def __init__(self, run: RunDir, state: dict[str, Any], patience: int, guard: DivergenceGuard):
        super().__init__()
        self.run = run
        self.state = state
        self.patience = patience
        self.guard = guard
        self.epoch_started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.error is not None:
            return  # never checkpoint weights that produced NaN/Inf
        number = epoch + 1
        row = {"epoch": number, **{k: float(v) for k, v in (logs or {}).items()},
               "seconds": round(time.perf_counter() - self.epoch_started, 3)}
        old = self.state
        improved = old["best"] is None or row[MONITOR] > old["best"]
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
