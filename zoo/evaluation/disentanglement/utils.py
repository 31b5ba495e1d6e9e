"""Shared pieces of the disentanglement metrics: sampling codes, discretising them, discrete MI.

These follow disentanglement_lib 1.5 (``evaluation/metrics/utils.py``, Locatello et al. 2019,
arXiv:1811.12359) step for step, so that a metric built on them draws the same random numbers
and computes the same floating-point values. The one deliberate difference is the layout: zoo
keeps arrays samples-first, codes (N, D) and factors (N, F), where disentanglement_lib returns
their transposes. The transposes are views of the same memory, so every reduction below runs in
the same order as disentanglement_lib's and the results are bit-identical.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn import metrics

RepresentationFunction = Callable[[np.ndarray], np.ndarray]


def generate_batch_factor_code(
    ground_truth_data,
    representation_function: RepresentationFunction,
    num_points: int,
    random_state: np.random.RandomState,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``num_points`` (code, factor) pairs: codes (N, D) and factors (N, F).

    Per batch of at most ``batch_size`` points, ``ground_truth_data.sample(n, random_state)``
    draws factors and observations, and ``representation_function`` encodes the observations;
    the batch sizes, and so the random draws, are those of disentanglement_lib.
    """
    if num_points < 1 or batch_size < 1:
        raise ValueError(f"need num_points >= 1 and batch_size >= 1, got {num_points}, {batch_size}")
    code_batches, factor_batches = [], []
    num_done = 0
    while num_done < num_points:
        num_in_batch = min(num_points - num_done, batch_size)
        factors, observations = ground_truth_data.sample(num_in_batch, random_state)
        codes = np.asarray(representation_function(observations))
        if codes.ndim != 2 or codes.shape[0] != num_in_batch:
            raise ValueError(f"the representation function must return ({num_in_batch}, D) codes, got {codes.shape}")
        code_batches.append(codes)
        factor_batches.append(np.asarray(factors))
        num_done += num_in_batch
    # One concatenation gives the values (and dtype) of disentanglement_lib's repeated vstack.
    return np.concatenate(code_batches, axis=0), np.concatenate(factor_batches, axis=0)


def train_and_test_codes(ground_truth_data, representation_function: RepresentationFunction, num_train: int,
                         num_test: int, random_state: np.random.RandomState, batch_size: int):
    """(train codes, train factors, test codes, test factors): the training points drawn first, then the test
    points, from one random state, as disentanglement_lib's metrics with a test set draw them."""
    train = generate_batch_factor_code(ground_truth_data, representation_function, num_train, random_state,
                                       batch_size)
    test = generate_batch_factor_code(ground_truth_data, representation_function, num_test, random_state,
                                      batch_size)
    return (*train, *test)


def split_train_test(observations: np.ndarray, train_percentage: float) -> tuple[np.ndarray, np.ndarray]:
    """Split (N, ...) samples into the first ceil(N * train_percentage) and the rest, in order."""
    num_points = observations.shape[0]
    num_train = int(np.ceil(num_points * train_percentage))
    return observations[:num_train], observations[num_train:]


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Discretise each code dimension into ``num_bins`` equal-width bins over its own range.

    The bin index of a value is ``np.digitize`` against the left edges of ``np.histogram``'s
    bins, so indices run 1..num_bins (the maximum lands in the last bin). The result keeps the
    codes' dtype, as disentanglement_lib's does (float codes give float-valued bin labels).
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must be (N, D), got shape {codes.shape}")
    discretized = np.zeros_like(codes)
    for dim in range(codes.shape[1]):
        left_edges = np.histogram(codes[:, dim], num_bins)[1][:-1]
        discretized[:, dim] = np.digitize(codes[:, dim], left_edges)
    return discretized


def discrete_mutual_info(codes_discrete: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, F) matrix of empirical mutual information I(code_i; factor_j) in nats.

    Plug-in estimate from the joint histogram (``sklearn.metrics.mutual_info_score``), called
    with the factor as the first argument, as disentanglement_lib does.
    """
    num_codes, num_factors = codes_discrete.shape[1], factors.shape[1]
    mutual_info = np.zeros([num_codes, num_factors])
    for i in range(num_codes):
        for j in range(num_factors):
            mutual_info[i, j] = metrics.mutual_info_score(factors[:, j], codes_discrete[:, i])
    return mutual_info


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(F,) empirical entropy H(factor_j) in nats, computed as I(factor_j; factor_j)."""
    num_factors = factors.shape[1]
    entropy = np.zeros(num_factors)
    for j in range(num_factors):
        entropy[j] = metrics.mutual_info_score(factors[:, j], factors[:, j])
    return entropy


def normalize_codes(
    codes: np.ndarray, mean: np.ndarray | None = None, stddev: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardise each code dimension; the mean and (population) std default to the codes' own."""
    if mean is None:
        mean = np.mean(codes, axis=0)
    if stddev is None:
        stddev = np.std(codes, axis=0)
    return (codes - mean[np.newaxis, :]) / stddev[np.newaxis, :], mean, stddev


__all__ = [
    "discrete_entropy",
    "discrete_mutual_info",
    "generate_batch_factor_code",
    "histogram_discretize",
    "normalize_codes",
    "split_train_test",
]
