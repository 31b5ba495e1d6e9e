"""Modularity and explicitness, Ridgeway & Mozer 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss", NeurIPS 2018 (arXiv:1802.05312), Section 3.

* Modularity: each code dimension should depend on at most one factor. With m_if the mutual
  information between code i and factor f, and theta_i = max_f m_if, the deviation from an
  ideal one-factor template t_i. (theta_i for the best factor, 0 elsewhere) is
  delta_i = sum_f (m_if - t_if)^2 / (theta_i^2 (F - 1)); the score is mean_i (1 - delta_i), with
  0 for a dimension that carries no information. m_if is estimated, as in disentanglement_lib 1.5, on
  20-bin histograms of the training codes.
* Explicitness: a linear classifier (sklearn's ``LogisticRegression`` with default arguments)
  predicts each factor from the standardised code; the score is its macro
  ROC-AUC over the factor's values, averaged over factors, on the training and test points.
"""

from __future__ import annotations

import numpy as np
from sklearn import linear_model, metrics

from zoo.evaluation.disentanglement import utils


def compute_modularity_explicitness(
    ground_truth_data,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    num_test: int = 5000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """Modularity and explicitness; the training points are drawn first, then the test points."""
    train_codes, train_factors, test_codes, test_factors = utils.train_and_test_codes(
        ground_truth_data, representation_function, num_train, num_test, random_state, batch_size
    )
    return modularity_explicitness_from_codes(train_codes, train_factors, test_codes, test_factors, num_bins)


def modularity_explicitness_from_codes(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    num_bins: int = 20,
) -> dict[str, float]:
    """Both scores of (N, D) codes against (N, F) discrete factors (modularity uses the train set only)."""
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(train_codes, num_bins), train_factors)
    # Standardise the test codes with the training statistics, so both see the same classifier input scale.
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero std is reported just below
        train_normalized, train_mean, train_stddev = utils.normalize_codes(train_codes)
    if np.any(train_stddev == 0.0):
        # disentanglement_lib divides by the zero std too and then fails inside sklearn on NaNs; say why.
        constant = np.flatnonzero(train_stddev == 0.0).tolist()
        raise ValueError(f"code dimensions {constant} are constant on the training points: explicitness "
                         "standardises every dimension and is undefined for them")
    test_normalized, _, _ = utils.normalize_codes(test_codes, train_mean, train_stddev)
    num_factors = train_factors.shape[1]
    explicitness_train, explicitness_test = np.zeros(num_factors), np.zeros(num_factors)
    for j in range(num_factors):
        explicitness_train[j], explicitness_test[j] = explicitness_per_factor(
            train_normalized, train_factors[:, j], test_normalized, test_factors[:, j]
        )
    return {
        "modularity_score": modularity(mutual_info),
        "explicitness_score_train": float(np.mean(explicitness_train)),
        "explicitness_score_test": float(np.mean(explicitness_test)),
    }


def explicitness_per_factor(
    train_codes: np.ndarray, train_factor: np.ndarray, test_codes: np.ndarray, test_factor: np.ndarray
) -> tuple[float, float]:
    """Macro ROC-AUC of a logistic regression from (N, D) codes to one (N,) factor, train and test.

    The lbfgs solver of the default ``LogisticRegression`` draws no random numbers. Each factor value the
    classifier knows is one column of one-hot labels, as disentanglement_lib's ``MultiLabelBinarizer``
    gives when both sets hold every value. disentanglement_lib fails with a shape error when a set lacks
    some value (likely for small test sets of a 40-valued factor); zoo then averages the AUC over the
    values that set has, and gives the same number as disentanglement_lib otherwise.
    """
    classifier = linear_model.LogisticRegression().fit(train_codes, train_factor)
    auc_train = _macro_auc(train_factor, classifier.predict_proba(train_codes), classifier.classes_)
    auc_test = _macro_auc(test_factor, classifier.predict_proba(test_codes), classifier.classes_)
    return auc_train, auc_test


def _macro_auc(factor: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    onehot = (np.asarray(factor)[:, None] == classes[None, :]).astype(np.int64)
    present = onehot.any(axis=0) & ~onehot.all(axis=0)  # an AUC needs positives and negatives
    return float(metrics.roc_auc_score(onehot[:, present], probabilities[:, present]))


def modularity_per_code(mutual_info: np.ndarray) -> np.ndarray:
    """(D,) 1 - delta_i from a (D, F) mutual-information matrix; 0 for an uninformative code."""
    squared = np.square(mutual_info)
    max_squared = np.max(squared, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (np.sum(squared, axis=1) - max_squared) / (max_squared * (squared.shape[1] - 1.0))
    per_code = 1.0 - deviation
    # 0/0 above for a code with no information about any factor: score it 0, not nan.
    per_code[max_squared == 0.0] = 0.0
    return per_code


def modularity(mutual_info: np.ndarray) -> float:
    """Mean per-code modularity."""
    return float(np.mean(modularity_per_code(mutual_info)))


__all__ = [
    "compute_modularity_explicitness",
    "explicitness_per_factor",
    "modularity",
    "modularity_explicitness_from_codes",
    "modularity_per_code",
]
