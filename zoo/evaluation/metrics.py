"""Test-set metrics of a trained model: ELBO terms, the IWAE bound, KL per dimension,
active units and reconstruction error.

Everything here is a pure function of a model and numpy arrays (images float32
NHWC, already binarised when the likelihood is Bernoulli; labels int32 or None).
All log-likelihood numbers are in nats per example.

Noise is reproducible and independent of how the work is cut up: importance
sample ``j`` of batch ``b`` is drawn with the stateless seed
``fold_in([seed, b], j)``, so the chunk size never changes a result, and the
ELBO of batch ``b`` uses the noise of importance sample 0 — with a Monte Carlo
rate, the ELBO estimate and the k = 1 IWAE estimate are the same number.
"""

from __future__ import annotations

import math
import sys
import weakref
from typing import Iterator

import keras
import numpy as np
import tensorflow as tf

from zoo.errors import ZooError
from zoo.evaluation.eval_config import EvalConfig
from zoo.models.vae import VAE

# ------------------------------------------------------------------- seeds


def _int32(value: int) -> int:
    # Stateless seeds are int32 pairs; any Python int maps onto one.
    return int(np.int64(value) % (2**31))


def importance_seeds(seed: int, batch_index: int, start: int, count: int) -> tf.Tensor:
    """Stateless seeds of importance samples ``start .. start+count-1`` of one batch, shape [count, 2].

    Mirrors ``tf.random.experimental.stateless_fold_in``: a key word hashed from
    (seed, batch index) paired with the sample index, so each sample's noise
    depends on its index only and not on the chunk it is drawn in.
    """
    key = tf.random.stateless_uniform(
        [], seed=[_int32(seed), _int32(batch_index)], minval=None, maxval=None, dtype=tf.int32
    )
    indices = tf.range(start, start + count, dtype=tf.int32)
    return tf.stack([tf.fill([count], key), indices], axis=1)


def _batches(images: np.ndarray, labels: np.ndarray | None, batch_size: int | None) -> Iterator[tuple]:
    """Yields (batch index, images, labels) slices as tensors."""
    size = len(images) if batch_size is None else batch_size
    for index, start in enumerate(range(0, len(images), max(size, 1))):
        x = tf.convert_to_tensor(images[start:start + size], dtype=tf.float32)
        y = None if labels is None else tf.convert_to_tensor(labels[start:start + size], dtype=tf.int32)
        yield index, x, y


def _check_inputs(model: VAE, images: np.ndarray, labels: np.ndarray | None) -> None:
    expected = tuple(model.config.image_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != expected:
        wanted = ", ".join(map(str, expected))
        raise ZooError(f"evaluation: images have shape {list(images.shape)}, the model expects [N, {wanted}]")
    if labels is not None and len(labels) != len(images):
        raise ZooError(f"evaluation: {len(labels)} labels for {len(images)} images")
    if labels is None and is_conditional(model):
        raise ZooError(f"evaluation: {type(model).__name__} is conditional and needs labelled test data")


def is_conditional(model: VAE) -> bool:
    """Whether labels enter the model: the model says so, else whether it overrides the conditioning hook."""
    flag = getattr(model, "is_conditional", None)
    return bool(flag) if flag is not None else type(model).condition is not VAE.condition


# -------------------------------------------------------------------- IWAE

# Importance samples in flight at once inside a chunk: enough to keep both cores
# busy between matmuls, few enough that memory stays a handful of batch-sized tensors.
_PARALLEL_SAMPLES = 4

# One compiled chunk function per model; the function holds the model weakly so
# the cache never keeps a model alive.
_CHUNK_FUNCTIONS: "weakref.WeakKeyDictionary[VAE, tf.types.experimental.GenericFunction]" = weakref.WeakKeyDictionary()


def _chunk_function(model: VAE):
    function = _CHUNK_FUNCTIONS.get(model)
    if function is None:
        model_ref = weakref.ref(model)

        def chunk_logsumexp(images, labels, seeds):
            return _chunk_logsumexp(model_ref(), images, labels, seeds)

        # No Python control flow depends on tensors here; AutoGraph would only warn about the closure.
        function = tf.function(chunk_logsumexp, reduce_retracing=True, autograph=False)
        _CHUNK_FUNCTIONS[model] = function
    return function


def log_importance_weights(model: VAE, images, labels, seeds) -> tf.Tensor:
    """log p(x, z_j) − log q(z_j|x) with z_j ~ q(z|x) drawn with ``seeds[j]``, shape [len(seeds), batch].

    One importance sample at a time through the decoder: sample j's numbers then
    depend on its seed alone (not on how many share a call), and the working set
    stays at a few batch-sized tensors that the allocator reuses.
    """
    posterior = model.posterior(images, labels)
    prior = model.prior(labels)

    def log_weight(seed):
        codes = posterior.sample(seed=seed)
        log_likelihood = model.likelihood(codes, labels).log_prob(images)
        return log_likelihood + prior.log_prob(codes) - posterior.log_prob(codes)

    return tf.map_fn(log_weight, seeds, fn_output_signature=images.dtype, parallel_iterations=_PARALLEL_SAMPLES)


def _chunk_logsumexp(model: VAE, images, labels, seeds) -> tf.Tensor:
    # float64 from here on, so combining chunks adds no float32 rounding and the chunk size never shows.
    log_weights = tf.cast(log_importance_weights(model, images, labels, seeds), tf.float64)
    return tf.reduce_logsumexp(log_weights, axis=0)


def _iwae_batch(model: VAE, images, labels, num_samples: int, chunk: int, seed: int, batch_index: int) -> np.ndarray:
    """IWAE estimate for one batch, streaming a log-sum-exp over chunks of importance samples."""
    function = _chunk_function(model)
    running = np.full(int(images.shape[0]), -np.inf)
    for start in range(0, num_samples, chunk):
        count = min(chunk, num_samples - start)
        seeds = importance_seeds(seed, batch_index, start, count)
        running = np.logaddexp(running, function(images, labels, seeds).numpy())
    return running - math.log(num_samples)


def iwae_bound(model: VAE, images: np.ndarray, labels: np.ndarray | None = None, num_samples: int = 1000,
               chunk: int = 100, seed: int = 0, batch_size: int | None = None) -> tf.Tensor:
    """The importance-weighted bound log (1/k) Σ_j p(x, z_j) / q(z_j|x), z_j ~ q(z|x), per example.

    Burda, Grosse & Salakhutdinov 2015, "Importance Weighted Autoencoders", eq. (8).
    Memory is O(chunk × batch_size), never O(k × batch_size): each compiled call
    handles ``chunk`` importance samples (decoded a few at a time) and the
    chunks are combined with a running log-sum-exp. Images are processed
    ``batch_size`` at a time (None: all at once); batch ``b`` draws sample ``j``
    with seed fold_in([seed, b], j), so ``chunk`` does not change the result.

    Returns a float64 tensor of shape [N].
    """
    if not model.is_generative:
        raise ZooError(f"{type(model).__name__} defines no density; the IWAE bound does not apply")
    if num_samples < 1 or chunk < 1:
        raise ZooError(f"iwae_bound: num_samples and chunk must be >= 1, got {num_samples} and {chunk}")
    images = np.asarray(images, dtype=np.float32)
    parts = [_iwae_batch(model, x, y, num_samples, chunk, seed, index) for index, x, y in
             _batches(images, labels, batch_size)]
    return tf.constant(np.concatenate(parts) if parts else np.zeros(0))


# -------------------------------------------------------------------- ELBO


def _elbo_batch(model: VAE, images, labels, seed: int, batch_index: int) -> dict[str, tf.Tensor]:
    # The noise of importance sample 0, so ELBO and IWAE share their first sample.
    sample_seed = importance_seeds(seed, batch_index, 0, 1)[0]
    return model.elbo_terms(images, labels, sample_seed, training=False)


def elbo_terms(model: VAE, images: np.ndarray, labels: np.ndarray | None = None, seed: int = 0,
               batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Single-sample estimates of distortion −log p(x|z), rate and ELBO per example, shape [N] each.

    The rate is the model's own: analytic KL(q ‖ p) when the model's config asks
    for it and TFP has a closed form, else the one-sample log q(z|x) − log p(z).
    """
    images = np.asarray(images, dtype=np.float32)
    parts: dict[str, list[np.ndarray]] = {"distortion": [], "rate": [], "elbo": []}
    for index, x, y in _batches(images, labels, batch_size):
        for name, value in _elbo_batch(model, x, y, seed, index).items():
            parts[name].append(value.numpy())
    return {name: np.concatenate(values) if values else np.zeros(0) for name, values in parts.items()}


# --------------------------------------------------------- latent statistics


def kl_per_dimension(model: VAE, images: np.ndarray, labels: np.ndarray | None = None,
                     batch_size: int | None = None) -> np.ndarray | None:
    """Mean over examples of the analytic KL(q(z_d|x) ‖ p(z_d)) per latent dimension, shape [L].

    None when the model has no such decomposition (the autoencoder, non-factorised posteriors).
    """
    total, count = None, 0
    for _, x, y in _batches(np.asarray(images, dtype=np.float32), labels, batch_size):
        try:
            per_dim = model.kl_per_dimension(model.posterior(x, y), y).numpy().astype(np.float64)
        except NotImplementedError:
            return None
        total = per_dim.sum(axis=0) if total is None else total + per_dim.sum(axis=0)
        count += len(per_dim)
    return None if total is None else total / count


def code_variance(model: VAE, images: np.ndarray, labels: np.ndarray | None = None,
                  batch_size: int | None = None) -> np.ndarray:
    """Cov_x(E_q[z_d|x]) per dimension, shape [L]: the variance over the test set of the posterior means."""
    count, total, total_sq = 0, 0.0, 0.0
    shift = None
    for _, x, y in _batches(np.asarray(images, dtype=np.float32), labels, batch_size):
        means = model.encode(x, y).numpy().astype(np.float64)
        # Shifting by the first batch's mean keeps the one-pass variance from cancelling.
        shift = means.mean(axis=0) if shift is None else shift
        centred = means - shift
        count += len(means)
        total = total + centred.sum(axis=0)
        total_sq = total_sq + (centred**2).sum(axis=0)
    mean = total / count
    return np.maximum(total_sq / count - mean**2, 0.0)


def active_units(variance: np.ndarray, threshold: float) -> int:
    """Number of dimensions whose posterior mean varies across inputs by more than ``threshold``.

    Burda et al. 2015, section 5.2: unit d is active if Cov_x(E_q[z_d|x]) > 0.01.
    """
    return int(np.sum(np.asarray(variance) > threshold))


def _is_binary(model: VAE) -> bool:
    return bool(getattr(model.likelihood_head, "is_binary", False))


def _reconstruction_batch(model: VAE, images, labels) -> dict[str, tf.Tensor | None]:
    likelihood = model.likelihood(model.encode(images, labels), labels)
    axes = list(range(1, len(images.shape)))
    return {
        "mse": tf.reduce_sum(tf.square(images - likelihood.mean()), axis=axes),
        "bce": -likelihood.log_prob(images) if _is_binary(model) else None,
    }


def reconstruction_errors(model: VAE, images: np.ndarray, labels: np.ndarray | None = None,
                          batch_size: int | None = None) -> dict[str, np.ndarray | None]:
    """Per-image errors of the reconstruction at the posterior mean, each shape [N].

    ``mse``: Σ_pixels (x − E[p(x|z = E_q[z|x])])². ``bce`` (binary likelihoods only,
    else None): −log p(x|z = E_q[z|x]), the binary cross-entropy summed over pixels.
    """
    parts: dict[str, list[np.ndarray]] = {"mse": [], "bce": []}
    for _, x, y in _batches(np.asarray(images, dtype=np.float32), labels, batch_size):
        for name, value in _reconstruction_batch(model, x, y).items():
            if value is not None:
                parts[name].append(value.numpy())
    return {
        "mse": np.concatenate(parts["mse"]) if parts["mse"] else np.zeros(0),
        "bce": (np.concatenate(parts["bce"]) if parts["bce"] else np.zeros(0)) if _is_binary(model) else None,
    }


# ----------------------------------------------------------- classification


def classification_error(model: VAE, images: np.ndarray, labels: np.ndarray | None,
                         batch_size: int | None = None) -> float | None:
    """The fraction of images whose most probable class under the model's q(y|x) is not their label.

    Only for models with ``is_classifier`` (a ``label_posterior(images)`` hook, e.g. M2 of Kingma et al. 2014,
    whose Table 1 reports this number); None for the others and for unlabelled data.
    """
    if not getattr(model, "is_classifier", False) or labels is None:
        return None
    wrong = 0
    for _, x, y in _batches(np.asarray(images, dtype=np.float32), labels, batch_size):
        predicted = tf.cast(model.label_posterior(x).mode(), tf.int32)
        wrong += int(tf.reduce_sum(tf.cast(predicted != y, tf.int32)))
    return wrong / len(images)


# ---------------------------------------------------------------- evaluate


def objective_terms(model: VAE, images: np.ndarray, labels: np.ndarray | None = None, seed: int = 0,
                    batch_size: int | None = None, dataset_size: int | None = None) -> dict[str, float]:
    """Means over examples of every term of the model's training objective, as trained (schedules at their end).

    A per-example term is averaged over examples, a batch-level one (a total-correlation estimate) over
    batches weighted by their size. ``dataset_size`` (default: len(images)) is what the objective takes as N.
    """
    from zoo.objectives import compute_terms

    images = np.asarray(images, dtype=np.float32)
    sums: dict[str, float] = {}
    for index, x, y in _batches(images, labels, batch_size):
        terms = compute_terms(model, x, y, seed=importance_seeds(seed, index, 0, 1)[0],
                              dataset_size=dataset_size or len(images))
        count = int(x.shape[0])
        for name, value in terms.items():
            value = tf.cast(value, tf.float64)
            total = tf.reduce_sum(value) if value.shape.rank else value * count
            sums[name] = sums.get(name, 0.0) + float(total)
    return {name: total / len(images) for name, total in sums.items()}


# The unit of every number ``evaluate`` returns, written into metrics.json as ``units`` so the file explains itself.
# "per image": a mean over the test images of a per-image quantity; pixel values are in [0, 1].
UNITS = {
    "elbo": "nats per image",
    "distortion": "nats per image (-log p(x|z), summed over pixels)",
    "rate": "nats per image (KL(q(z|x) || p(z)))",
    "iwae": "nats per image",
    "iw_samples": "importance samples per image",
    "kl_per_dim": "nats per image, one value per latent dimension",
    "active_units": "latent dimensions",
    "code_variance": "squared latent units (variance over test images of the posterior mean), one value per "
                     "latent dimension",
    "latent_dim": "latent dimensions",
    "reconstruction_mse": "sum over pixels of squared error per image",
    "reconstruction_bce": "nats per image (binary cross-entropy summed over pixels)",
    "num_examples": "test images",
    "bits_per_dim": "bits per dimension (-iwae / (pixels x channels x ln 2))",
    "classification_error": "fraction of test images whose most probable class under q(y|x) is not their label "
                            "(models with a classifier)",
    "objective": "mean per image of each training-objective term, in that term's own units (nats for the loss "
                 "and log-density terms)",
}


def evaluate(model: VAE, images: np.ndarray, labels: np.ndarray | None, config: EvalConfig | None = None,
             dataset_size: int | None = None) -> dict:
    """All test-set metrics of ``model`` as a JSON-able dict; numbers are means over examples, in nats.

    Keys: elbo, distortion, rate, iwae, iw_samples, kl_per_dim, active_units,
    code_variance, latent_dim, reconstruction_mse, reconstruction_bce,
    num_examples, likelihood, bits_per_dim, classification_error (``classification_error``; None for a model
    without a classifier), units (``UNITS``), and ``objective``: the mean of each term of
    the training objective (``objective_terms``; the ELBO terms repeat above). For a non-generative model (the
    autoencoder) elbo, iwae, kl_per_dim and bits_per_dim are None: it defines no
    density, so they would not bound anything; rate is 0 and active units come
    from the variance of its codes.
    """
    config = config or EvalConfig()
    images = np.asarray(images, dtype=np.float32)
    labels = None if labels is None else np.asarray(labels, dtype=np.int32)
    _check_inputs(model, images, labels)
    if len(images) == 0:
        raise ZooError("evaluation: the test set is empty")

    generative = model.is_generative
    sums: dict[str, float] = {"elbo": 0.0, "distortion": 0.0, "rate": 0.0, "iwae": 0.0, "mse": 0.0, "bce": 0.0}
    # One pass over the data; only running sums are kept, so memory is set by batch_size × iw_chunk.
    # A progress bar with its ETA on a terminal: the k = 1000 bound takes minutes on a CPU.
    progress = keras.utils.Progbar(math.ceil(len(images) / config.batch_size), unit_name="batch",
                                   verbose=1 if sys.stdout.isatty() else 0)
    for index, x, y in _batches(images, labels, config.batch_size):
        terms = _elbo_batch(model, x, y, config.seed, index)
        for name in ("elbo", "distortion", "rate"):
            sums[name] += float(tf.reduce_sum(tf.cast(terms[name], tf.float64)))
        if generative:
            sums["iwae"] += float(np.sum(_iwae_batch(model, x, y, config.iw_samples, config.iw_chunk,
                                                     config.seed, index)))
        errors = _reconstruction_batch(model, x, y)
        sums["mse"] += float(tf.reduce_sum(tf.cast(errors["mse"], tf.float64)))
        if errors["bce"] is not None:
            sums["bce"] += float(tf.reduce_sum(tf.cast(errors["bce"], tf.float64)))
        progress.add(1)

    count = len(images)
    objective = objective_terms(model, images, labels, config.seed, config.batch_size, dataset_size)
    kl = kl_per_dimension(model, images, labels, config.batch_size) if generative else None
    variance = code_variance(model, images, labels, config.batch_size)
    iwae = sums["iwae"] / count if generative else None
    pixels = math.prod(model.config.image_shape)
    return {
        "elbo": sums["elbo"] / count if generative else None,
        "distortion": sums["distortion"] / count,
        "rate": sums["rate"] / count,
        "iwae": iwae,
        "iw_samples": config.iw_samples if generative else None,
        "kl_per_dim": None if kl is None else [float(v) for v in kl],
        "active_units": active_units(variance, config.active_unit_threshold),
        "code_variance": [float(v) for v in variance],
        "latent_dim": int(model.config.latent_dim),
        "reconstruction_mse": sums["mse"] / count,
        "reconstruction_bce": sums["bce"] / count if _is_binary(model) else None,
        "num_examples": int(count),
        "likelihood": model.config.likelihood,
        "bits_per_dim": None if iwae is None else -iwae / (pixels * math.log(2.0)),
        "classification_error": classification_error(model, images, labels, config.batch_size),
        "objective": {name: value for name, value in objective.items() if name not in ("elbo", "distortion", "rate")},
        "units": dict(UNITS),
    }
