"""Memory before it runs out: an estimate from the model and the batch, checked against the machine.

A training step keeps every layer's output for the backward pass, so its memory grows with the sum of the
outputs of all layers per image times the batch; an inference pass (validation, evaluation) frees each output
once the next layer has it, so it grows with the largest output of one layer. ``profile`` measures both for a
model by running its objective once on two images, layer by layer; ``TRAIN_OVERHEAD`` and ``INFERENCE_OVERHEAD``
turn them into bytes of resident memory, fitted to peak RSS measured on the Cartoon Set conv VAE at 64 and
256 px (docs/reliability.md, Memory). The estimate is checked before training (``check_training``: a batch that
will not fit is refused, naming one that does) and before an evaluation (``evaluation_batch_size``: the batch is
lowered until it fits). ``train.memory_limit_mb`` replaces what the machine has available.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import weakref
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from zoo.errors import ZooError
from zoo.training.keras_private import layers_of

# Resident bytes per byte of layer output (float32) in a training step (forward outputs kept for the backward
# pass, their gradients, TF's temporaries), and what the first steps add whatever the batch (compiled step,
# oneDNN's primitive caches). Fitted to the 256-px Cartoon conv VAE (24.1 MB of layer outputs per image), peak
# RSS over the process's size before fit: 0.67 GB at batch 8, 1.34 at 32, 2.24 at 64, 4.11 at 128.
TRAIN_OVERHEAD = 1.25
STEP_WORKSPACE = 0.4e9
# Resident bytes per byte of the largest adjacent pair of layer outputs, in a fit's validation pass (one code per
# image) and in an evaluation (IWAE samples decoded 4 abreast, figures). Evaluation of the same model measured
# 0.41 GB at 256 px and batch 25 and 0.13 / 0.47 GB at 64 px and batch 100 / 500 (3.3-3.9 bytes per byte), but
# only 1.4 GB at 256 px and batch 250 or 500: the estimate is conservative there.
INFERENCE_OVERHEAD = 1.0
EVALUATION_OVERHEAD = 3.5
EVALUATION_WORKSPACE = 0.05e9
# The validation batch of a fit is max(batch, 500), lowered so that its pass stays within this many bytes; a
# function of the model and the config only, so a resumed run validates on the same batches.
VALIDATION_BYTES = 1 << 30
GB = 1e9


@dataclasses.dataclass(frozen=True)
class Profile:
    """Per image: all layer outputs of one pass of the training objective, and the largest adjacent pair."""

    train_bytes: float
    inference_bytes: float
    state_bytes: float  # weights, their gradients and Adam's two moments: four copies of the trainable ones

    def training(self, batch: int) -> float:
        return self.state_bytes + STEP_WORKSPACE + batch * self.train_bytes * TRAIN_OVERHEAD

    def inference(self, batch: int) -> float:
        """A fit's validation pass."""
        return self.state_bytes / 4 + batch * self.inference_bytes * INFERENCE_OVERHEAD

    def evaluation(self, batch: int) -> float:
        """``zoo evaluate``'s pass over the test split (metrics, IWAE bound, figures)."""
        return self.state_bytes / 4 + EVALUATION_WORKSPACE + batch * self.inference_bytes * EVALUATION_OVERHEAD


_PROFILES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model → its profile (shapes never change)


def profile(zoo_model) -> Profile:
    """Runs ``zoo_model``'s objective on two blank images in inference mode (no variable changes, stateless
    noise) and records the size of every layer's output."""
    known = _PROFILES.get(zoo_model)
    if known is None:
        known = _PROFILES[zoo_model] = _measure(zoo_model)
    return known


def _measure(zoo_model) -> Profile:
    from zoo.objectives import compute_terms

    sizes: list[int] = []
    leaves = [layer for layer in layers_of(zoo_model) if len(layers_of(layer)) == 1]
    originals = {}

    def recording(layer):
        call = layer.call

        def call_and_record(*args, **kwargs):
            output = call(*args, **kwargs)
            for tensor in tf.nest.flatten(output):
                shape = getattr(tensor, "shape", None)  # a distribution (the likelihood head's) has none
                if shape is not None and None not in tuple(shape):
                    sizes.append(int(np.prod(tuple(shape))) * 4)
            return output
        return call_and_record

    for layer in leaves:
        originals[layer] = layer.__dict__.get("call")
        layer.call = recording(layer)
    try:
        config = zoo_model.config
        images = tf.zeros((2, *config.image_shape), tf.float32)
        labels = tf.zeros((2,), tf.int32) if getattr(zoo_model, "is_conditional", False) else None
        compute_terms(zoo_model, images, labels, seed=tf.constant([0, 0]), training=False)
    finally:
        for layer, original in originals.items():
            if original is None:
                del layer.call
            else:
                layer.call = original
    pixels = 4 * int(np.prod(zoo_model.config.image_shape))
    pairs = [a + b for a, b in itertools.pairwise(sizes)] or sizes or [0]
    # The likelihood's log-density makes a few image-sized temporaries per code, outside any layer.
    train_bytes = (sum(sizes) + 3 * pixels * 2) / 2
    inference_bytes = max(max(pairs) / 2, 4 * pixels)
    trainable = sum(int(np.prod(v.shape)) * 4 for v in zoo_model.trainable_variables)
    return Profile(train_bytes=train_bytes, inference_bytes=inference_bytes, state_bytes=4.0 * trainable)


def validation_batch_size(model, batch_size: int) -> int:
    """The batch of a fit's validation pass: max(batch, 500), lowered (not below the training batch) so that
    the pass stays within ``VALIDATION_BYTES``."""
    return validation_batch_for(profile(model.zoo_model), batch_size)


# ------------------------------------------------------------------------------------------- the machine


def resident_bytes() -> int:
    """This process's resident memory now."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes() -> int | None:
    """What the machine (or the cgroup this process runs in) can still give: MemAvailable, or less."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit != "max" and int(limit) < 1 << 60:
                found.append(int(limit) - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return min(found) if found else None


@dataclasses.dataclass(frozen=True)
class Budget:
    total: float  # bytes the process may reach
    what: str  # how the error line says it: "the 21.3 GB this machine has for it"


def budget(limit_mb: int) -> Budget | None:
    """The memory the process may reach: ``limit_mb`` if set, else what it holds now plus what is available."""
    if limit_mb > 0:
        return Budget(limit_mb * 1e6, f"train.memory_limit_mb={limit_mb}")
    available = available_bytes()
    if available is None:
        return None  # nothing to check against
    total = resident_bytes() + available
    return Budget(total, f"the {total / GB:.1f} GB this machine has for it")


# ------------------------------------------------------------------------------------------------ checks


def check_training(model, spec) -> None:
    """Refuses a training batch whose estimated peak will not fit, naming the largest batch that does. The data
    is loaded by now, so the process's size includes it."""
    limit = budget(spec.train.memory_limit_mb)
    if limit is None:
        return
    shape = profile(model.zoo_model)
    batch = spec.train.batch_size
    now = resident_bytes()

    def peak(size: int) -> float:
        validation = shape.inference(validation_batch_for(shape, size))
        return now + max(shape.training(size), validation)

    needed = peak(batch)
    if needed <= limit.total:
        return
    fitting = next((size for size in _smaller_batches(batch) if peak(size) <= limit.total), None)
    image = "x".join(str(d) for d in model.zoo_model.config.image_shape)
    advice = (f"use --batch-size {fitting} (about {peak(fitting) / GB:.1f} GB)" if fitting
              else "even a batch of 1 does not fit; use smaller images (--image-size) or a smaller model")
    raise ZooError(f"training {spec.name} on {image} images in batches of {batch} needs about "
                   f"{needed / GB:.1f} GB of memory (zoo's estimate), more than {limit.what}; {advice}, or "
                   "--set train.memory_limit_mb=MB to try anyway")


def validation_batch_for(shape: Profile, batch_size: int) -> int:
    """``validation_batch_size`` for a profile."""
    per_image = shape.inference_bytes * INFERENCE_OVERHEAD
    return max(batch_size, min(500, int(VALIDATION_BYTES // max(per_image, 1.0))))


def _smaller_batches(batch: int):
    size = batch
    while size > 1:
        size = max(1, size // 2)
        yield size


def evaluation_batch_size(zoo_model, batch_size: int, limit_mb: int = 0,
                          log: Callable[[str], None] = print) -> int:
    """``batch_size``, or the largest of its halvings (500, 250, ...) whose evaluation fits."""
    limit = budget(limit_mb)
    if limit is None:
        return batch_size
    shape = profile(zoo_model)
    now = resident_bytes()

    def peak(size: int) -> float:
        return now + shape.evaluation(size)

    if peak(batch_size) <= limit.total:
        return batch_size
    fitting = next((size for size in _smaller_batches(batch_size) if peak(size) <= limit.total), 1)
    log(f"note: evaluating in batches of {fitting} instead of {batch_size}: about {peak(fitting) / GB:.1f} GB "
        f"instead of {peak(batch_size) / GB:.1f} GB, within {limit.what} (set evaluation.batch_size to choose)")
    return fitting


__all__ = ["Profile", "available_bytes", "budget", "check_training", "evaluation_batch_size", "profile",
           "resident_bytes", "validation_batch_size"]
