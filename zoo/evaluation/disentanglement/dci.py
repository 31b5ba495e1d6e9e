"""Disentanglement, Completeness and Informativeness (DCI), Eastwood & Williams 2018,
"A Framework for the Quantitative Evaluation of Disentangled Representations", ICLR 2018
(openreview By-7dz-AZ), Section 2.

One regressor per factor predicts the factor from the whole code; its feature importances
form column j of the importance matrix R (D x F). With P_ij = R_ij / sum_k R_ik:

* disentanglement of code i: D_i = 1 - H_F(P_i.), entropy in base F; the total is
  sum_i rho_i D_i with rho_i = sum_j R_ij / sum_ij R_ij (Sec. 2, "Disentanglement");
* completeness of factor j: C_j = 1 - H_D(R_.j / sum_i R_ij), entropy in base D; the total
  weighs the C_j by each factor's share of the importance, as disentanglement_lib does;
* informativeness: the predictor's accuracy on the training and test points.

Following disentanglement_lib 1.5, the predictor is sklearn's ``GradientBoostingClassifier``
with default arguments (the paper's random forest / lasso are alternatives), factors are
treated as classes, informativeness is accuracy (higher is better, not the paper's error),
and 1e-11 is added to R before the entropies so that zero rows and columns stay finite.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn import ensemble

from zoo.evaluation.disentanglement import utils

RandomStateLike = int | np.random.RandomState | None


def compute_dci(
    ground_truth_data,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    estimator_random_state: RandomStateLike = None,
) -> dict[str, float]:
    """DCI of a representation; the training points are drawn first, then the test points.

    ``estimator_random_state`` goes to every ``GradientBoostingClassifier``; the default None is
    disentanglement_lib's (see ``dci_importance_matrix``).
    """
    train_codes, train_factors, test_codes, test_factors = utils.train_and_test_codes(
        ground_truth_data, representation_function, num_train, num_test, random_state, batch_size
    )
    return dci_from_codes(train_codes, train_factors, test_codes, test_factors, estimator_random_state)


def dci_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    estimator_random_state: RandomStateLike = None,
) -> dict[str, float]:
    """DCI scores of (N, D) codes against (N, F) discrete factors."""
    importance, train_accuracy, test_accuracy = dci_importance_matrix(
        train_codes, train_factors, test_codes, test_factors, estimator_random_state
    )
    return {
        "informativeness_train": train_accuracy,
        "informativeness_test": test_accuracy,
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
    }


def dci_importance_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    estimator_random_state: RandomStateLike = None,
) -> tuple[np.ndarray, float, float]:
    """(D, F) importance matrix R, and the mean train and test accuracy over factors.

    With ``estimator_random_state=None`` (disentanglement_lib's setting) each tree's splitter is
    seeded from numpy's *global* random state: the features are visited in a random order, which
    decides ties between equally good splits, and every tree advances the global state. For a
    reproducible value, seed ``np.random`` beforehand (which is what matching disentanglement_lib
    run-for-run needs) or pass an int here.
    """
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    importance = np.zeros([num_codes, num_factors], dtype=np.float64)
    train_accuracy, test_accuracy = [], []
    for j in range(num_factors):
        model = ensemble.GradientBoostingClassifier(random_state=estimator_random_state)
        model.fit(train_codes, train_factors[:, j])
        importance[:, j] = np.abs(model.feature_importances_)
        train_accuracy.append(np.mean(model.predict(train_codes) == train_factors[:, j]))
        test_accuracy.append(np.mean(model.predict(test_codes) == test_factors[:, j]))
    return importance, float(np.mean(train_accuracy)), float(np.mean(test_accuracy))


def disentanglement_per_code(importance: np.ndarray) -> np.ndarray:
    """(D,) D_i = 1 - entropy (base F) of code i's importance over the factors."""
    return 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])


def disentanglement(importance: np.ndarray) -> float:
    """Importance-weighted mean of the per-code disentanglement."""
    per_code = disentanglement_per_code(importance)
    # An all-zero matrix (nothing predicts anything) weighs the codes equally.
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    code_weight = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * code_weight))


def completeness_per_factor(importance: np.ndarray) -> np.ndarray:
    """(F,) C_j = 1 - entropy (base D) of factor j's importance over the codes."""
    return 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])


def completeness(importance: np.ndarray) -> float:
    """Importance-weighted mean of the per-factor completeness."""
    per_factor = completeness_per_factor(importance)
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    factor_weight = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * factor_weight))


__all__ = [
    "compute_dci",
    "completeness",
    "completeness_per_factor",
    "dci_from_codes",
    "dci_importance_matrix",
    "disentanglement",
    "disentanglement_per_code",
]
