"""tf.data input pipelines that depend only on (seed, epoch).

Training batches are built without any iterator state: epoch e's order is a
stateless shuffle seeded by (seed, e), and the dynamic binarisation noise of
step t in epoch e is seeded by (seed, e * 100003 + t). A run resumed at epoch k
therefore sees exactly the batches an uninterrupted run sees from epoch k on,
and nothing has to be checkpointed besides the epoch number. (Steps must stay
below 100003 per epoch for the noise seeds to be distinct, i.e. fewer than
12.8 million examples at batch size 128.)

Batches are gathered from the whole split held in memory as one uint8 tensor
and cast to float32 per batch, so the pipeline is a handful of vectorised ops
per step and never calls back into Python. A training split too large for
``DataConfig.memory_budget_mb`` arrives as ``StreamedImages``: each batch's rows
(the same stateless per-epoch order) are then read and decoded from their
files, giving the same pixels, the same noise and so the same batches.

Binarisation modes ("auto" is resolved first by ``resolve_binarization``):

- ``dynamic``: training batches are resampled every step, pixel ~ Bernoulli(grey / 255).
- ``static``: the split is binarised once with the fixed seed ``STATIC_SEED``,
  the same for every run and model.
- ``none``: grey levels scaled to [0, 1].

Evaluation batches for ``dynamic`` and ``static`` both come from one fixed
binarisation (``seed``, default 0) so every model is scored on the same binary
data. Binarisation draws integers r uniform in [0, 255) and sets a pixel to 1
when r < grey, which is exactly probability grey / 255.
"""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from zoo.data.datasets import BINARIZATIONS, Split
from zoo.data.factors import PackedBinaryImages
from zoo.data.folder import StreamedImages, decode_image_file
from zoo.errors import ZooError

STATIC_SEED = 0
_STEP_STRIDE = 100003
_ALG = "philox"  # pinned so CPU and accelerators draw the same numbers
_MODES = ("dynamic", "static", "none")


def resolve_binarization(requested: str, likelihood_is_binary: bool) -> str:
    """Turns the configured mode into a concrete one.

    "auto" becomes "dynamic" for a Bernoulli-type (binary) likelihood and "none"
    otherwise. Explicit modes are returned unchanged, even with a non-binary
    likelihood (binary data under a Gaussian likelihood is legitimate).
    """
    if requested not in BINARIZATIONS:
        choices = ", ".join(BINARIZATIONS)
        raise ZooError(f"invalid data setting binarization={requested!r}; it must be one of: {choices}")
    if requested == "auto":
        return "dynamic" if likelihood_is_binary else "none"
    return requested


def binarize_array(x_uint8: np.ndarray, seed: int) -> np.ndarray:
    """Bernoulli(x / 255) samples of a uint8 array as float32 {0, 1}, deterministic in ``seed``.

    Values are drawn in C order, so the first k rows are the same whatever the
    number of rows: a test subset gets the same binarisation as the full set.
    """
    return _binarize_uint8(x_uint8, seed).astype(np.float32)


def _binarize_uint8(x_uint8: np.ndarray, seed: int) -> np.ndarray:
    x_uint8 = np.asarray(x_uint8)
    if x_uint8.dtype != np.uint8:
        raise ValueError(f"binarize_array expects uint8 grey levels, got {x_uint8.dtype}")
    draws = np.random.default_rng(seed).integers(0, 255, size=x_uint8.shape, dtype=np.uint8)
    return (draws < x_uint8).view(np.uint8)


def steps_per_epoch(split: Split, batch_size: int) -> int:
    """Full batches per epoch; the last partial batch is dropped during training."""
    _check_batch_size(batch_size)
    count = len(split.x)
    if count < batch_size:
        raise ZooError(
            f"the training split has {count} examples, fewer than one batch of {batch_size}; "
            f"lower the batch size or raise train_subset"
        )
    return count // batch_size


def images_per_epoch(split: Split, batch_size: int, labelled_per_batch: int = 0) -> int:
    """Images one training epoch yields: ``steps_per_epoch`` full batches, each of ``batch_size`` images of the
    split plus the ``labelled_per_batch`` labelled images ``train_dataset`` appends to it."""
    return steps_per_epoch(split, batch_size) * (int(batch_size) + int(labelled_per_batch))


def train_dataset(
    split: Split, *, batch_size: int, seed: int, start_epoch: int, epochs: int, binarization: str,
    labelled_per_batch: int = 0,
) -> tf.data.Dataset:
    """Training batches for epochs ``start_epoch .. epochs-1``, back to back.

    Yields ``(x, y)``: x float32 [B, H, W, C] in [0, 1] (or {0, 1} when
    binarised), y int32 [B]. Each epoch has ``steps_per_epoch(split, batch_size)``
    batches and is a pure function of (seed, epoch).

    ``labelled_per_batch`` = k > 0 appends k labelled images (label >= 0) to
    every batch, B + k images in all: k distinct ones drawn afresh each step, a
    pure function of (seed, epoch, step) too. The epoch's shuffle is unchanged.
    """
    mode = _check_mode(binarization)
    steps = steps_per_epoch(split, batch_size)
    if not (_is_int(seed) and _is_int(start_epoch) and _is_int(epochs)):
        raise ValueError("seed, start_epoch and epochs must be integers")
    if not 0 <= start_epoch <= epochs:
        raise ValueError(f"need 0 <= start_epoch <= epochs, got start_epoch={start_epoch}, epochs={epochs}")
    count = len(split.x)
    if isinstance(split.x, StreamedImages):
        if mode == "static":
            raise ZooError("static binarisation needs the training images in memory, but this dataset is streamed "
                           "from disk (larger than data.memory_budget_mb); use dynamic, or raise the budget")
        gather = _file_reader(split.x)
    elif isinstance(split.x, PackedBinaryImages):
        gather = _bit_reader(split.x)
        # Pixels are 0/255: static binarisation would leave them as they are, i.e. the scaling of "none".
        mode = "none" if mode == "static" else mode
    else:
        pixels = _binarize_uint8(split.x, STATIC_SEED) if mode == "static" else split.x
        images = tf.constant(pixels)
        gather = tf.autograph.experimental.do_not_convert(lambda rows: tf.gather(images, rows))
    labels = tf.constant(split.y)
    seed_tensor = tf.constant([int(seed)], dtype=tf.int64)
    used = steps * batch_size
    labelled_rows = _labelled_rows(split, labelled_per_batch)

    # No Python control flow on tensors below, so AutoGraph is skipped (faster tracing, no warnings).
    @tf.autograph.experimental.do_not_convert
    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int32), seed=tf.concat([seed_tensor, [epoch]], axis=0), alg=_ALG
        )
        rows = tf.reshape(order[:used], [steps, batch_size])
        per_step = tf.data.Dataset.from_tensor_slices((rows, tf.range(steps, dtype=tf.int64)))
        tag = tf.autograph.experimental.do_not_convert(lambda batch_rows, step: (epoch, step, batch_rows))
        return per_step.map(tag)

    @tf.autograph.experimental.do_not_convert
    def make_batch(epoch, step, batch_rows):
        if labelled_rows is not None:
            # A negative counter: these draws never share a seed with the binarisation noise below.
            pick_seed = tf.concat([seed_tensor, [-(epoch * _STEP_STRIDE + step) - 1]], axis=0)
            pick = tf.random.experimental.stateless_shuffle(labelled_rows, seed=pick_seed, alg=_ALG)
            batch_rows = tf.concat([batch_rows, pick[:labelled_per_batch]], axis=0)
        x = gather(batch_rows)
        y = tf.gather(labels, batch_rows)
        if mode == "dynamic":
            noise_seed = tf.concat([seed_tensor, [epoch * _STEP_STRIDE + step]], axis=0)
            draws = tf.random.stateless_uniform(
                tf.shape(x), seed=noise_seed, minval=0, maxval=255, dtype=tf.int32, alg=_ALG
            )
            x = tf.cast(draws < tf.cast(x, tf.int32), tf.float32)
        elif mode == "static":
            x = tf.cast(x, tf.float32)  # already {0, 1}
        else:
            x = tf.cast(x, tf.float32) / 255.0
        return x, y

    dataset = tf.data.Dataset.range(start_epoch, epochs).flat_map(epoch_batches)
    dataset = dataset.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _labelled_rows(split: Split, labelled_per_batch: int) -> tf.Tensor | None:
    """The rows of the labelled training images, or None when no batch gets extra ones."""
    if not _is_int(labelled_per_batch) or labelled_per_batch < 0:
        raise ValueError(f"labelled_per_batch must be an integer >= 0, got {labelled_per_batch!r}")
    if not labelled_per_batch:
        return None
    rows = np.flatnonzero(np.asarray(split.y) >= 0).astype(np.int32)
    if len(rows) < labelled_per_batch:
        raise ZooError(f"data.labelled_per_batch={labelled_per_batch} asks for more labelled images per batch than "
                       f"the training split holds ({len(rows)}); lower it to at most {len(rows)}")
    return tf.constant(rows)


def eval_dataset(split: Split, *, batch_size: int, binarization: str, seed: int = 0) -> tf.data.Dataset:
    """Batches of a split in its stored order, keeping the last partial batch.

    "dynamic" and "static" both use one binarisation drawn with ``seed``, so
    repeated calls (and different models) see identical data.
    """
    mode = _check_mode(binarization)
    _check_batch_size(batch_size)
    binary = mode in ("dynamic", "static")
    labels = tf.constant(split.y)
    count = len(split.x)
    if isinstance(split.x, StreamedImages):
        return _streamed_eval_dataset(split.x, labels, batch_size, binary, seed)
    if isinstance(split.x, PackedBinaryImages):
        return _packed_eval_dataset(split.x, labels, batch_size)
    images = tf.constant(_binarize_uint8(split.x, seed) if binary else split.x)

    @tf.autograph.experimental.do_not_convert
    def batch_at(start):
        end = tf.minimum(start + batch_size, count)
        x = tf.cast(images[start:end], tf.float32)
        return (x if binary else x / 255.0), labels[start:end]

    dataset = tf.data.Dataset.range(0, count, batch_size)
    dataset = dataset.map(batch_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _file_reader(streamed: StreamedImages):
    """rows -> uint8 [len(rows), S, S, C], decoding each row's file (the pixels ``load_images`` gives)."""
    paths = tf.constant(streamed.paths)
    size, channels = streamed.image_size, streamed.channels
    spec = tf.TensorSpec([size, size, channels], tf.uint8)

    @tf.autograph.experimental.do_not_convert
    def read(rows):
        return tf.map_fn(lambda row: decode_image_file(tf.gather(paths, row), size, channels), rows,
                         fn_output_signature=spec)

    return read


def _bit_reader(packed: PackedBinaryImages):
    """rows -> uint8 [len(rows), H, W, C] of 0/255, unpacking ``np.packbits`` rows (first pixel in the high bit)."""
    bits = tf.constant(packed.bits)
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], dtype=tf.uint8)
    shape = tf.constant(packed.image_shape, dtype=tf.int32)

    @tf.autograph.experimental.do_not_convert
    def read(rows):
        chosen = tf.gather(bits, rows)
        pixels = tf.bitwise.bitwise_and(tf.bitwise.right_shift(chosen[..., None], shifts), 1) * 255
        return tf.reshape(pixels, tf.concat([tf.shape(rows), shape], axis=0))

    return read


def _packed_eval_dataset(packed: PackedBinaryImages, labels, batch_size: int):
    # Pixels are 0/255, so every binarisation gives the same {0, 1} batch.
    read = _bit_reader(packed)
    count = len(packed)

    @tf.autograph.experimental.do_not_convert
    def batch_at(start):
        end = tf.minimum(start + batch_size, count)
        rows = tf.range(tf.cast(start, tf.int32), tf.cast(end, tf.int32))
        return tf.cast(read(rows), tf.float32) / 255.0, labels[start:end]

    dataset = tf.data.Dataset.range(0, count, batch_size)
    dataset = dataset.map(batch_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _streamed_eval_dataset(streamed: StreamedImages, labels, batch_size: int, binary: bool, seed: int):
    # In stored order like the in-memory path. Binarisation cannot use the whole-array NumPy draw here;
    # batch pixels are binarised with stateless noise keyed by (seed, first row): fixed, but other numbers.
    read = _file_reader(streamed)
    count = len(streamed)

    @tf.autograph.experimental.do_not_convert
    def batch_at(start):
        end = tf.minimum(start + batch_size, count)
        x = read(tf.range(tf.cast(start, tf.int32), tf.cast(end, tf.int32)))
        if binary:
            noise_seed = tf.stack([tf.constant(int(seed), tf.int64), start])
            draws = tf.random.stateless_uniform(tf.shape(x), seed=noise_seed, minval=0, maxval=255, dtype=tf.int32,
                                                alg=_ALG)
            return tf.cast(draws < tf.cast(x, tf.int32), tf.float32), labels[start:end]
        return tf.cast(x, tf.float32) / 255.0, labels[start:end]

    dataset = tf.data.Dataset.range(0, count, batch_size)
    dataset = dataset.map(batch_at, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_mode(binarization: str) -> str:
    if binarization == "auto":
        raise ValueError("binarization 'auto' must be resolved with resolve_binarization() before building pipelines")
    if binarization not in _MODES:
        raise ZooError(f"invalid data setting binarization={binarization!r}; it must be one of: {', '.join(_MODES)}")
    return binarization


def _check_batch_size(batch_size: int) -> None:
    if not _is_int(batch_size) or batch_size < 1:
        raise ZooError(f"invalid batch size {batch_size!r}; it must be an integer >= 1")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
