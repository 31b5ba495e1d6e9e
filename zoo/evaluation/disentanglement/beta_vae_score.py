"""The β-VAE disentanglement score (Higgins et al., 2017).

Higgins, Matthey, Pal, Burgess, Glorot, Botvinick, Mohamed and Lerchner, "β-VAE: Learning
Basic Visual Concepts with a Constrained Variational Framework", ICLR 2017, Section 3 and
the appendix detailing the metric. One training point of the score is made from a batch of ``batch_size`` pairs
of observations whose factors agree in one factor ``y`` (drawn uniformly) and are drawn
independently otherwise; its feature is the mean over the batch of the absolute difference
of the pairs' codes, its label is ``y``. A linear classifier is fitted to ``num_train`` such
points; the score is its accuracy on ``num_eval`` fresh ones. A code that isolates each
factor in its own dimensions makes the fixed factor readable off one near-zero feature.

As in disentanglement_lib 1.5 (``beta_vae_sklearn``), the classifier is scikit-learn's
``LogisticRegression`` with default settings and ``random_state`` set to the metric's own
``RandomState`` (the paper trained its linear classifier with Adagrad instead). Random draws
happen in disentanglement_lib's order, so both libraries give the same value on the same
inputs:

* per training point: ``randint(num_factors)`` for the fixed factor, then the first batch of
  factors, then the second (``ground_truth_data.sample_factors``), then rendering of the first
  batch and of the second, then codes of the first batch and of the second;
* all training points, then the classifier fit, then all evaluation points.

On randomness inside scikit-learn: because the estimator is given the metric's
``RandomState``, it never falls back to numpy's global random state (which is what
``random_state=None`` would do). Its default solver, ``lbfgs``, draws nothing at all, so the
fit is a deterministic function of the training points and leaves ``random_state`` where it
was, and the evaluation points are drawn from the same stream position in both libraries.
(Only the ``liblinear``, ``sag`` and ``saga`` solvers draw from it; they would shift the
evaluation draws.) The scikit-learn version matters: disentanglement_lib's published numbers
were computed with scikit-learn < 0.22, whose default was one-vs-rest ``liblinear``, so equal
values need the same scikit-learn in both environments.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from zoo.data.factors import GroundTruthData
from zoo.evaluation.disentanglement.utils import RepresentationFunction


def compute_beta_vae_score(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict:
    """The β-VAE score of a representation: accuracy of predicting the factor held fixed.

    Args:
        ground_truth_data: where factors and observations are sampled from.
        representation_function: (N, *observation_shape) observations -> (N, D) codes.
        random_state: the only source of randomness; advanced in disentanglement_lib's order.
        batch_size: pairs averaged into one training point.
        num_train: points the classifier is fitted on.
        num_eval: fresh points it is scored on.

    Returns:
        ``{"train_accuracy": ..., "eval_accuracy": ...}``, each in [0, 1].
    """
    _check_positive(batch_size=batch_size, num_train=num_train, num_eval=num_eval)
    train_features, train_labels = _sample_pair_features(
        ground_truth_data, representation_function, random_state, batch_size, num_train
    )
    # disentanglement_lib's constructor, argument for argument: the metric's RandomState, which
    # lbfgs leaves untouched (see the module docstring).
    classifier = LogisticRegression(random_state=random_state)
    classifier.fit(train_features, train_labels)
    train_accuracy = np.mean(classifier.predict(train_features) == train_labels)

    eval_features, eval_labels = _sample_pair_features(
        ground_truth_data, representation_function, random_state, batch_size, num_eval
    )
    eval_accuracy = classifier.score(eval_features, eval_labels)
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}


def _sample_pair_features(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int,
    num_points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(num_points, D) float64 features and (num_points,) int64 labels (the fixed factors)."""
    labels = np.zeros(num_points, dtype=np.int64)
    features = None  # the code dimension is known only after the first batch
    for point in range(num_points):
        fixed_factor = random_state.randint(ground_truth_data.num_factors)
        factors_a = ground_truth_data.sample_factors(batch_size, random_state)
        factors_b = ground_truth_data.sample_factors(batch_size, random_state)
        factors_b[:, fixed_factor] = factors_a[:, fixed_factor]
        # Both batches are rendered before either is encoded, as disentanglement_lib does, so a
        # renderer or encoder with its own randomness sees the same call order.
        observations_a = ground_truth_data.sample_observations_from_factors(factors_a, random_state)
        observations_b = ground_truth_data.sample_observations_from_factors(factors_b, random_state)
        codes_a = representation_function(observations_a)
        codes_b = representation_function(observations_b)
        # Averaged in the codes' own dtype, then widened on storage: same rounding as dlib.
        feature = np.mean(np.abs(codes_a - codes_b), axis=0)
        if features is None:
            features = np.zeros((num_points, feature.shape[0]))
        features[point, :] = feature
        labels[point] = fixed_factor
    return features, labels


def _check_positive(**sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


__all__ = ["compute_beta_vae_score"]
