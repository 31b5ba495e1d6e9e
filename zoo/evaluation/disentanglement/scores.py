"""Scores a trained model's codes against a data set's ground-truth factors: every metric, by name.

``METRICS`` maps the names ``zoo evaluate --disentanglement`` accepts to each metric's function and the
headline numbers written to ``metrics.json["disentanglement"]``. As in disentanglement_lib's evaluation, each
metric gets a fresh ``numpy.random.RandomState(seed)`` and the representation is the posterior mean.
``train_points`` / ``test_points`` set the metrics' sample sizes (disentanglement_lib's configs: 10,000 and
5,000; the FactorVAE score's variance estimate uses ``train_points`` too).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable

import numpy as np

from zoo.data.factors import GroundTruthData
from zoo.errors import ZooError, suggest


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric: how to call it with (data, representation, random state, sizes), and its headline keys."""

    name: str
    title: str
    paper: str
    compute: Callable[..., dict[str, Any]]
    headline: dict[str, str]  # zoo's flat key -> the metric's own result key


def _beta_vae(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.beta_vae_score import compute_beta_vae_score

    return compute_beta_vae_score(data, represent, random_state, num_train=train_points, num_eval=test_points)


def _factor_vae(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.factor_vae_score import compute_factor_vae_score

    return compute_factor_vae_score(data, represent, random_state, num_train=train_points, num_eval=test_points,
                                    num_variance_estimate=train_points)


def _mig(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.mig import compute_mig

    return compute_mig(data, represent, random_state, num_train=train_points)


def _sap(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.sap import compute_sap

    return compute_sap(data, represent, random_state, num_train=train_points, num_test=test_points)


def _dci(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.dci import compute_dci

    return compute_dci(data, represent, random_state, num_train=train_points, num_test=test_points)


def _modularity(data, represent, random_state, train_points, test_points):
    from zoo.evaluation.disentanglement.modularity_explicitness import compute_modularity_explicitness

    return compute_modularity_explicitness(data, represent, random_state, num_train=train_points,
                                           num_test=test_points)


METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("beta_vae", "β-VAE score", "Higgins et al. 2017", _beta_vae, {"beta_vae_score": "eval_accuracy"}),
    Metric("factor_vae", "FactorVAE score", "Kim & Mnih 2018", _factor_vae,
           {"factor_vae_score": "eval_accuracy"}),
    Metric("mig", "MIG", "Chen et al. 2018", _mig, {"mig": "discrete_mig"}),
    Metric("sap", "SAP", "Kumar et al. 2018", _sap, {"sap": "SAP_score"}),
    Metric("dci", "DCI", "Eastwood & Williams 2018", _dci,
           {"dci_disentanglement": "disentanglement", "dci_completeness": "completeness",
            "dci_informativeness": "informativeness_test"}),
    Metric("modularity", "modularity and explicitness", "Ridgeway & Mozer 2018", _modularity,
           {"modularity": "modularity_score", "explicitness": "explicitness_score_test"}),
)}
# Every flat key the metrics write, in METRICS order.
HEADLINE_KEYS = tuple(key for metric in METRICS.values() for key in metric.headline)
# What ``--disentanglement all`` means; "none" switches the metrics off.
ALL = "all"
NONE = "none"


def resolve_metric_names(requested) -> tuple[str, ...]:
    """``"all"`` / ``"none"`` / a comma list / a sequence of names -> the metric names, checked."""
    names = [part.strip() for part in (requested.split(",") if isinstance(requested, str) else requested)]
    names = [name for name in names if name]
    if names == [ALL]:
        return tuple(METRICS)
    if names in ([NONE], []):
        return ()
    for name in names:
        if name not in METRICS:
            raise ZooError(f"unknown disentanglement metric '{name}'{suggest(name, METRICS)}; choose from "
                           f"{', '.join(METRICS)}, {ALL} or {NONE}")
    return tuple(dict.fromkeys(names))


def representation_function(model, batch_size: int = 500) -> Callable[[np.ndarray], np.ndarray]:
    """images -> posterior means, in batches (the representation the metrics score).

    The metrics call it on many small batches (64 images for the β-VAE and FactorVAE scores), so the encoder
    runs as one traced graph for any batch size rather than eagerly, call by call.
    """
    import tensorflow as tf

    encode = tf.function(lambda images: model.encode(images), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, *model.config.image_shape], tf.float32)])

    def represent(images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, dtype=np.float32)
        parts = [encode(images[start:start + batch_size]).numpy().astype(np.float64)
                 for start in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, model.config.latent_dim))

    return represent


def score(data: GroundTruthData, represent: Callable[[np.ndarray], np.ndarray], names, *, seed: int = 0,
          train_points: int = 10_000, test_points: int = 5_000,
          log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Each named metric on ``represent``'s codes of ``data``: headline numbers, raw results and seconds."""
    headline: dict[str, float] = {}
    raw: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for name in resolve_metric_names(names):
        metric = METRICS[name]
        started = time.perf_counter()
        result = metric.compute(data, represent, np.random.RandomState(seed), train_points, test_points)
        seconds[name] = round(time.perf_counter() - started, 2)
        raw[name] = {key: _plain(value) for key, value in result.items()}
        for flat, key in metric.headline.items():
            headline[flat] = float(result[key])
        if log is not None:
            shown = ", ".join(f"{flat} {headline[flat]:.3f}" for flat in metric.headline)
            log(f"  {metric.title}: {shown} ({seconds[name]:.0f} s)")
    return {**headline, "raw": raw, "seconds": seconds, "seed": seed, "train_points": train_points,
            "test_points": test_points, "factor_names": data.factor_names, "factor_sizes": data.factors_num_values}


def _plain(value):
    """A metric's result value as JSON: numbers as floats, arrays as nested lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


__all__ = ["ALL", "HEADLINE_KEYS", "METRICS", "Metric", "NONE", "representation_function", "resolve_metric_names",
           "score"]
