"""Separated Attribute Predictability (SAP), Kumar et al. 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations" (DIP-VAE), arXiv:1711.00848, Section 3.

A score matrix S (D x F) says how well each single code dimension predicts each factor; SAP is
the mean over factors of the gap between the best and the second-best dimension. As in the
paper and disentanglement_lib 1.5:

* continuous factors: S_ij = R^2 of a linear fit, cov(z_i, v_j)^2 / (var z_i var v_j), on the
  training points (0 for a dimension with variance <= 1e-12);
* discrete factors: S_ij = test accuracy of a linear SVM (``LinearSVC(C=0.01,
  class_weight="balanced")``, sklearn's other defaults) trained on z_i alone.
"""

from __future__ import annotations

import numpy as np
from sklearn import svm

from zoo.evaluation.disentanglement import utils


def compute_sap(
    ground_truth_data,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP of a representation; the training points are drawn first, then the test points."""
    train_codes, train_factors, test_codes, test_factors = utils.train_and_test_codes(
        ground_truth_data, representation_function, num_train, num_test, random_state, batch_size
    )
    return sap_from_codes(train_codes, train_factors, test_codes, test_factors, continuous_factors)


def sap_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """SAP of (N, D) codes against (N, F) factors; the test set is used for discrete factors only."""
    if train_codes.shape[1] < 2:
        raise ValueError("SAP needs at least two code dimensions (it is a gap between the top two)")
    scores = sap_score_matrix(train_codes, train_factors, test_codes, test_factors, continuous_factors)
    sorted_scores = np.sort(scores, axis=0)
    return {"SAP_score": float(np.mean(sorted_scores[-1, :] - sorted_scores[-2, :]))}


def sap_score_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous_factors: bool = False,
) -> np.ndarray:
    """(D, F) predictability of each factor from each single code dimension (see the module doc).

    For discrete factors, each ``LinearSVC`` has ``random_state=None``, as in disentanglement_lib:
    sklearn then draws one seed for liblinear from numpy's *global* random state per fit. With
    sklearn >= 1.3's ``dual="auto"`` a one-feature problem is solved in the primal, where that
    seed does not change the result, but the global state still advances by one draw per fit.
    """
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    scores = np.zeros([num_codes, num_factors])
    for i in range(num_codes):
        for j in range(num_factors):
            code, factor = train_codes[:, i], train_factors[:, j]
            if continuous_factors:
                covariance = np.cov(code, factor, ddof=1)
                code_variance = covariance[0, 0]
                # A (near-)constant dimension predicts nothing; skip it rather than divide by ~0.
                if code_variance > 1e-12:
                    scores[i, j] = covariance[0, 1] ** 2 / (code_variance * covariance[1, 1])
                else:
                    scores[i, j] = 0.0
            else:
                classifier = svm.LinearSVC(C=0.01, class_weight="balanced")
                classifier.fit(code[:, np.newaxis], factor)
                predicted = classifier.predict(test_codes[:, i][:, np.newaxis])
                scores[i, j] = np.mean(predicted == test_factors[:, j])
    return scores


__all__ = ["compute_sap", "sap_from_codes", "sap_score_matrix"]
