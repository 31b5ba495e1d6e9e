"""The Keras callback both TF workers (tf_worker.py, tf_variant_worker.py) time their zoo segments with.

Import it after ``zoo`` (which sets TensorFlow's CPU defaults before TensorFlow is first imported).
"""
from __future__ import annotations

import queue
import time

import keras


class SegmentClock(keras.callbacks.Callback):
    """Pauses fit at each segment boundary until the orchestrator asks for the next segment.

    Place it after the DivergenceGuard, which reads the logs, so every step of a segment has finished when
    the clock stops.
    """

    def __init__(self, segment):
        super().__init__()
        self.segment, self.go, self.done, self.started, self.count = segment, queue.Queue(), queue.Queue(), None, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.count % self.segment == 0:
            if self.started is not None:
                self.done.put(time.perf_counter() - self.started)
            self.go.get()
            self.started = time.perf_counter()
        self.count += self.model.steps_per_execution  # Keras calls batch hooks once per graph call

    def run(self):
        """One segment's seconds; None when fit has ended (diverged or failed)."""
        self.go.put(1)
        return self.done.get()
