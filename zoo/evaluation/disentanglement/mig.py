"""Mutual Information Gap (MIG), Chen et al. 2018, "Isolating Sources of Disentanglement in VAEs".

arXiv:1802.04942, Section 4.1 (eq. 6):

    MIG = 1/K * sum_k  (I(z_{j_k}; v_k) - max_{j != j_k} I(z_j; v_k)) / H(v_k),

with j_k the code dimension most informative about factor v_k. The paper estimates I(z; v)
from the encoder's distribution over the whole dataset; this is disentanglement_lib's version
(the one its studies report, key ``discrete_mig``): the mutual information between the
histogram-discretised code means (20 bins) and the factors on ``num_train`` sampled points.
"""

from __future__ import annotations

import numpy as np

from zoo.evaluation.disentanglement import utils


def compute_mig(
    ground_truth_data,
    representation_function: utils.RepresentationFunction,
    random_state: np.random.RandomState,
    num_train: int = 10000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """MIG of a representation on ``num_train`` points sampled from ``ground_truth_data``."""
    codes, factors = utils.generate_batch_factor_code(
        ground_truth_data, representation_function, num_train, random_state, batch_size
    )
    return mig_from_codes(codes, factors, num_bins=num_bins)


def mig_from_codes(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict[str, float]:
    """MIG of (N, D) codes against (N, F) discrete factors; needs D >= 2."""
    if codes.shape[1] < 2:
        raise ValueError("MIG needs at least two code dimensions (it is a gap between the top two)")
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(codes, num_bins), factors)
    entropy = utils.discrete_entropy(factors)
    # Sorted descending over code dimensions: row 0 is the best code per factor, row 1 the runner-up.
    sorted_mutual_info = np.sort(mutual_info, axis=0)[::-1]
    # A constant factor has H = 0 and gives nan here, as in disentanglement_lib.
    gaps = np.divide(sorted_mutual_info[0, :] - sorted_mutual_info[1, :], entropy)
    return {"discrete_mig": float(np.mean(gaps))}


__all__ = ["compute_mig", "mig_from_codes"]
