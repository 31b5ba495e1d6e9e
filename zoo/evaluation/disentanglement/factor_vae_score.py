"""The FactorVAE disentanglement score (Kim & Mnih, 2018).

Kim and Mnih, "Disentangling by Factorising", ICML 2018, Section 4. Each code dimension is
first divided by its standard deviation over the data (here: its variance is estimated once
from ``num_variance_estimate`` observations), and dimensions whose spread is below a
threshold are left out as collapsed. One vote is made from a batch of ``batch_size``
observations that share the value of one factor ``k`` (drawn uniformly, as is the shared
value) and differ in all others: the normalised dimension with the least variance over the
batch votes for ``k``. A majority-vote classifier maps each dimension to the factor it voted
for most often in ``num_train`` votes; the score is its accuracy on ``num_eval`` fresh votes.
The paper's motivation: a majority vote has no hyperparameters to tune, and unlike the β-VAE
score's linear classifier it cannot reach full marks when only K - 1 of K factors are
disentangled (the last one read off as "none of the others").

Follows disentanglement_lib 1.5 (``factor_vae_score``) step for step, so both give the same
value on the same inputs. Order of the random draws:

1. ``ground_truth_data.sample_observations(num_variance_estimate, random_state)`` for the
   global variances (codes computed 64 observations at a time, as there);
2. per vote: ``randint(num_factors)`` for the fixed factor, then one batch of factors, whose
   first row supplies the shared value, then rendering, then codes;
3. all training votes, then all evaluation votes.

Two of disentanglement_lib's conventions are kept because they change the returned values:

* collapsed means global *standard deviation* below ``prune_threshold``; if every
  dimension is collapsed nothing is sampled after step 1 and the result is
  ``{"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}``;
* otherwise ``num_active_dims`` is the length of the activity mask, i.e. the code dimension
  including pruned dimensions (disentanglement_lib takes ``len`` of a boolean mask where a
  count was presumably meant).
"""

from __future__ import annotations

import numpy as np

from zoo.data.factors import GroundTruthData
from zoo.evaluation.disentanglement.utils import RepresentationFunction

# disentanglement_lib encodes the variance-estimation sample in chunks of this size whatever
# ``batch_size`` is; the chunking is kept so a batch-size-sensitive encoder rounds the same.
_VARIANCE_ENCODING_CHUNK = 64


def compute_factor_vae_score(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict:
    """The FactorVAE score of a representation: majority-vote accuracy of the argmin dimension.

    Args:
        ground_truth_data: where factors and observations are sampled from.
        representation_function: (N, *observation_shape) observations -> (N, D) codes.
        random_state: the only source of randomness; advanced in disentanglement_lib's order.
        batch_size: observations sharing one factor value that make one vote (>= 2).
        num_train: votes the majority-vote classifier is built from.
        num_eval: fresh votes it is scored on.
        num_variance_estimate: observations for the global per-dimension variances (>= 2).
        prune_threshold: dimensions whose global standard deviation is below this are ignored.

    Returns:
        ``{"train_accuracy": ..., "eval_accuracy": ..., "num_active_dims": ...}``; see the
        module docstring for ``num_active_dims`` and the all-pruned case.
    """
    # Sample variances (ddof=1) of fewer than two codes are NaN; refuse rather than score NaNs.
    _check_at_least(2, batch_size=batch_size, num_variance_estimate=num_variance_estimate)
    _check_at_least(1, num_train=num_train, num_eval=num_eval)

    global_variances = _global_code_variances(
        ground_truth_data, representation_function, random_state, num_variance_estimate
    )
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    train_votes = _vote_counts(
        ground_truth_data, representation_function, random_state, batch_size, num_train, global_variances, active
    )
    # Each dimension is read as the factor it voted for most (ties: the lower factor index).
    factor_of_dim = np.argmax(train_votes, axis=0)
    train_accuracy = _majority_vote_accuracy(train_votes, factor_of_dim)

    eval_votes = _vote_counts(
        ground_truth_data, representation_function, random_state, batch_size, num_eval, global_variances, active
    )
    eval_accuracy = _majority_vote_accuracy(eval_votes, factor_of_dim)
    return {
        "train_accuracy": train_accuracy,
        "eval_accuracy": eval_accuracy,
        "num_active_dims": len(active),  # disentanglement_lib's value: the full code dimension
    }


def _global_code_variances(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    num_observations: int,
) -> np.ndarray:
    """(D,) sample variances (ddof=1) of the codes of freshly sampled observations."""
    observations = ground_truth_data.sample_observations(num_observations, random_state)
    codes = _codes_in_chunks(observations, representation_function, _VARIANCE_ENCODING_CHUNK)
    if codes.shape[0] != num_observations:
        raise ValueError(f"representation_function returned {codes.shape[0]} codes for {num_observations} observations")
    return np.var(codes, axis=0, ddof=1)


def _codes_in_chunks(
    observations: np.ndarray, representation_function: RepresentationFunction, chunk_size: int
) -> np.ndarray:
    """Codes of ``observations``, encoded ``chunk_size`` at a time and stacked in order."""
    num_observations = observations.shape[0]
    chunks = [
        representation_function(observations[start : start + chunk_size])
        for start in range(0, num_observations, chunk_size)
    ]
    if len(chunks) == 1:
        # Not restacked: a single chunk keeps the memory layout the encoder gave it, and numpy's
        # summation order (hence the variance's last bit) depends on that layout.
        return np.asarray(chunks[0])
    return np.vstack(chunks)


def _vote_counts(
    ground_truth_data: GroundTruthData,
    representation_function: RepresentationFunction,
    random_state: np.random.RandomState,
    batch_size: int,
    num_votes: int,
    global_variances: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """(num_factors, D) int64 counts: how often each dimension had the least normalised variance
    in a batch with each factor held fixed."""
    active_dims = np.flatnonzero(active)
    active_global_variances = global_variances[active]
    votes = np.zeros((ground_truth_data.num_factors, global_variances.shape[0]), dtype=np.int64)
    for _ in range(num_votes):
        fixed_factor = random_state.randint(ground_truth_data.num_factors)
        factors = ground_truth_data.sample_factors(batch_size, random_state)
        # The shared value is the first row's draw, so it is uniform over the factor's values.
        factors[:, fixed_factor] = factors[0, fixed_factor]
        observations = ground_truth_data.sample_observations_from_factors(factors, random_state)
        codes = representation_function(observations)
        batch_variances = np.var(codes, axis=0, ddof=1)
        least_varying = np.argmin(batch_variances[active] / active_global_variances)
        # Votes are filed under the dimension's own index; disentanglement_lib files them under
        # its rank among active dimensions, a relabelling of columns that leaves both accuracies
        # unchanged.
        votes[fixed_factor, active_dims[least_varying]] += 1
    return votes


def _majority_vote_accuracy(votes: np.ndarray, factor_of_dim: np.ndarray) -> float:
    """Fraction of ``votes`` cast for the factor each dimension's majority assigns to it."""
    correct = np.sum(votes[factor_of_dim, np.arange(votes.shape[1])])
    return correct * 1.0 / np.sum(votes)


def _check_at_least(minimum: int, **sizes: int) -> None:
    for name, value in sizes.items():
        if int(value) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")


__all__ = ["compute_factor_vae_score"]
