"""Callbacks of the shared trainer: run state and checkpoints, divergence guard, KL warm-up."""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from zoo import io as zio
from zoo.errors import TrainingDiverged
from zoo.run_dir import RunDir

MONITOR = "val_elbo"  # the β = 1 ELBO: comparable across β and warm-up weights


class KLWarmup(keras.callbacks.Callback):
    """Ramps the rate weight linearly from 0 to 1 over the first ``warmup_steps`` optimiser steps."""

    def __init__(self, warmup_steps: int):
        super().__init__()
        self.warmup_steps = warmup_steps

    def on_train_batch_begin(self, batch, logs=None):
        # Derived from the optimiser's step count, so a resumed run continues the same ramp.
        step = int(self.model.optimizer.iterations.numpy())
        self.model.kl_weight.assign(min(1.0, step / self.warmup_steps))


class DivergenceGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss, naming the epoch and step; checkpoints stay as they were."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.error: TrainingDiverged | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = {key: value for key, value in (logs or {}).items() if not math.isfinite(float(value))}
        if bad:
            self.error = TrainingDiverged(
                f"training diverged at epoch {self.epoch + 1}, step {batch + 1}: "
                f"{', '.join(f'{k}={v}' for k, v in bad.items())}; lower --learning-rate or add "
                "--kl-warmup-epochs; the last good checkpoint is kept"
            )
            self.model.stop_training = True


class RunCheckpoint(keras.callbacks.Callback):
    """At each epoch end: the epoch checkpoint, the best checkpoint, history and early stopping.

    Order matters for crash safety: the new checkpoint file is written (atomically)
    before ``state.json`` points at it, and older checkpoints are deleted only after.
    A crash at any point leaves ``state.json`` naming a complete checkpoint and a
    history with exactly the epochs that checkpoint has seen.
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
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "seconds": round(time.perf_counter() - self.epoch_started, 3)}
        state = self.state
        improved = state["best"] is None or row[MONITOR] > state["best"]
        if improved:
            with zio.atomic_path(self.run.best_checkpoint, suffix=".keras") as tmp:
                self.model.save(tmp)
            state.update(best=row[MONITOR], best_epoch=epoch + 1, wait=0)
        else:
            state["wait"] += 1
        checkpoint = self.run.epoch_checkpoint(epoch + 1)
        with zio.atomic_path(checkpoint, suffix=".keras") as tmp:
            self.model.save(tmp)
        previous = state.get("checkpoint")
        state["history"].append(row)
        state.update(epoch=epoch + 1, checkpoint=checkpoint.name)
        zio.write_json(self.run.state, state)
        self.run.write_metrics_csv(state["history"])
        if previous and previous != checkpoint.name:
            (self.run.checkpoints / previous).unlink(missing_ok=True)
        if self.patience and state["wait"] >= self.patience:
            state["stopped_early"] = True
            zio.write_json(self.run.state, state)
            self.model.stop_training = True
