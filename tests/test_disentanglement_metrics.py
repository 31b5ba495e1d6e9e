"""MIG, SAP, DCI and modularity/explicitness on synthetic codes whose right answer is known.

The factors are two factors with 4 values each. Where a value is exact, the factors are the full
4 x 4 grid repeated (so the empirical distribution makes them exactly uniform and independent);
the ``compute_*`` tests sample them from ``FactorsAsObservations``, whose observations are the
factor values themselves, so a representation function is any function of the factors.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoo.data.factors import FactorGrid, GroundTruthData
from zoo.evaluation.disentanglement import dci, mig, modularity_explicitness, sap, utils

NUM_VALUES = 4
LOG_K = np.log(NUM_VALUES)


class FactorsAsObservations(GroundTruthData):
    """Two 4-valued factors; an observation is the factor vector as floats (observation_shape (2,))."""

    grid = FactorGrid(("first", "second"), (NUM_VALUES, NUM_VALUES))

    @property
    def observation_shape(self) -> tuple[int]:
        return (self.num_factors,)

    def observations(self, factors: np.ndarray) -> np.ndarray:
        return np.asarray(factors, dtype=np.float64)


def full_grid(repeats: int) -> np.ndarray:
    """(16 * repeats, 2) factors: every combination equally often, shuffled by a fixed permutation."""
    first, second = np.meshgrid(np.arange(NUM_VALUES), np.arange(NUM_VALUES), indexing="ij")
    factors = np.tile(np.stack([first.ravel(), second.ravel()], axis=1), (repeats, 1))
    return factors[np.random.RandomState(0).permutation(len(factors))]


def identity_code(factors):
    return np.asarray(factors, dtype=np.float64)


def rotated_code(factors):
    """Both dimensions depend on both factors (a 45-degree rotation, up to scale)."""
    factors = np.asarray(factors, dtype=np.float64)
    return np.stack([factors[:, 0] + factors[:, 1], factors[:, 0] - factors[:, 1]], axis=1)


def random_code(seed=1):
    """A representation of Gaussian noise, independent of the factors (its own RandomState)."""
    noise = np.random.RandomState(seed)
    return lambda factors: noise.randn(len(factors), 2)


def sum_and_constant_code(factors):
    """Dimension 0 mixes both factors (their sum); dimension 1 carries nothing."""
    factors = np.asarray(factors, dtype=np.float64)
    return np.stack([factors[:, 0] + factors[:, 1], np.zeros(len(factors))], axis=1)


def sum_and_noise(seed=1):
    """Dimension 0 mixes both factors (their sum); dimension 1 is noise."""
    noise = np.random.RandomState(seed)
    return lambda factors: np.stack([np.sum(factors, axis=1, dtype=np.float64), noise.randn(len(factors))], axis=1)


# ---------------------------------------------------------------------------------------------- utils


def test_generate_batch_factor_code_samples_batch_by_batch_like_disentanglement_lib():
    data = FactorsAsObservations()
    codes, factors = utils.generate_batch_factor_code(data, rotated_code, 37, np.random.RandomState(5), 16)
    assert codes.shape == (37, 2) and factors.shape == (37, 2)
    # The same draws by hand: batches of 16, 16, 5 from one RandomState.
    random_state = np.random.RandomState(5)
    expected = np.concatenate([data.sample(n, random_state)[0] for n in (16, 16, 5)])
    np.testing.assert_array_equal(factors, expected)
    np.testing.assert_array_equal(codes, rotated_code(expected))
    # One big batch draws other numbers (one randint call per factor per batch), so batching matters.
    assert not np.array_equal(factors, data.sample(37, np.random.RandomState(5))[0])


def test_generate_batch_factor_code_rejects_codes_that_are_not_one_row_per_observation():
    with pytest.raises(ValueError, match="representation function"):
        utils.generate_batch_factor_code(FactorsAsObservations(), lambda x: x[:, 0], 10, np.random.RandomState(0), 4)


def test_histogram_discretize_uses_left_bin_edges_and_keeps_dtype():
    codes = np.array([[0.0, 3.0], [0.5, 3.0], [1.0, 3.0], [0.25, 3.0]], dtype=np.float32)
    discrete = utils.histogram_discretize(codes, num_bins=2)
    # Edges [0, .5, 1]: digitize against [0, .5] puts 0 and .25 in bin 1, .5 and the max 1 in bin 2;
    # a constant dimension falls into one bin.
    np.testing.assert_array_equal(discrete[:, 0], [1, 2, 2, 1])
    assert len(np.unique(discrete[:, 1])) == 1
    assert discrete.dtype == np.float32
    # 20 bins over integer codes 0..3 (bin width 0.15 < 1): each value gets its own bin, indices 1..20.
    wide = utils.histogram_discretize(np.arange(4.0)[:, None], num_bins=20)[:, 0]
    np.testing.assert_array_equal(wide, [1, 7, 14, 20])


def test_entropy_of_uniform_factor_is_log_k_and_mi_of_a_copy_is_the_entropy():
    factors = full_grid(repeats=5)
    entropy = utils.discrete_entropy(factors)
    np.testing.assert_allclose(entropy, [LOG_K, LOG_K], rtol=1e-12)
    mutual_info = utils.discrete_mutual_info(utils.histogram_discretize(identity_code(factors)), factors)
    assert mutual_info.shape == (2, 2)
    # I(v; v) = H(v), and the grid makes the two factors exactly independent: I = 0 off the diagonal.
    np.testing.assert_allclose(np.diag(mutual_info), entropy, rtol=1e-12)
    np.testing.assert_allclose([mutual_info[0, 1], mutual_info[1, 0]], 0.0, atol=1e-12)


def test_split_train_test_takes_the_ceiling_first():
    train, test = utils.split_train_test(np.arange(10)[:, None], 0.75)
    assert train[:, 0].tolist() == list(range(8)) and test[:, 0].tolist() == [8, 9]


# ------------------------------------------------------------------------------------------------ MIG


def test_mig_of_identity_code_is_one_and_of_rotated_code_is_zero():
    factors = full_grid(repeats=20)
    assert mig.mig_from_codes(identity_code(factors), factors)["discrete_mig"] == pytest.approx(1.0, abs=1e-12)
    # Each rotated dimension is equally informative about both factors: no gap at all.
    assert mig.mig_from_codes(rotated_code(factors), factors)["discrete_mig"] == pytest.approx(0.0, abs=1e-12)


def test_mig_of_a_sum_code_has_the_closed_form():
    # z0 = v0 + v1: I(z0; v0) = H(v0 + v1) - H(v1), and the constant z1 has I = 0, so for either
    # factor the gap is H(S)/log k - 1 with S the sum of two uniform 4-valued variables.
    factors = full_grid(repeats=20)
    sum_probs = np.array([1, 2, 3, 4, 3, 2, 1]) / 16.0
    expected = -np.sum(sum_probs * np.log(sum_probs)) / LOG_K - 1.0
    value = mig.mig_from_codes(sum_and_constant_code(factors), factors)["discrete_mig"]
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.32 < value < 0.34  # 0.328: far below the separated code's 1.0


def test_compute_mig_on_sampled_data_identity_near_one_random_near_zero():
    data = FactorsAsObservations()
    identity = mig.compute_mig(data, identity_code, np.random.RandomState(0), num_train=1000)["discrete_mig"]
    # Sampled factors are never exactly independent: the other dimension keeps the plug-in bias of
    # ~(k-1)^2 / 2N = 0.0045 nats of MI on average, so MIG ~ 1 - 0.0045 / log 4 ~ 0.997 (observed 0.994).
    assert 0.99 < identity < 1.0
    noise = mig.compute_mig(data, random_code(), np.random.RandomState(0), num_train=1000)["discrete_mig"]
    assert 0.0 <= noise < 0.05  # observed 0.006: the gap between two bias-level estimates
    mixed = mig.compute_mig(data, sum_and_noise(), np.random.RandomState(0), num_train=1000)["discrete_mig"]
    assert noise < mixed < identity
    # Same RandomState seed, same draws, same value.
    again = mig.compute_mig(data, identity_code, np.random.RandomState(0), num_train=1000)["discrete_mig"]
    assert again == identity


def test_mig_needs_two_code_dimensions():
    factors = full_grid(repeats=1)
    with pytest.raises(ValueError, match="two code dimensions"):
        mig.mig_from_codes(identity_code(factors)[:, :1], factors)


# ------------------------------------------------------------------------------------------------ SAP


def test_sap_continuous_identity_is_one_and_random_is_near_zero():
    train, test = full_grid(repeats=25), full_grid(repeats=5)
    # R^2 is 1 for the matching dimension and exactly 0 for the other on the balanced grid.
    identity = sap.sap_from_codes(identity_code(train), train, identity_code(test), test, continuous_factors=True)
    assert identity["SAP_score"] == pytest.approx(1.0, abs=1e-12)
    noise = sap.sap_from_codes(random_code()(train), train, random_code(2)(test), test, continuous_factors=True)
    assert noise["SAP_score"] < 0.05
    rotated = sap.sap_from_codes(rotated_code(train), train, rotated_code(test), test, continuous_factors=True)
    # Each rotated dimension explains half of each factor's variance: no gap.
    assert rotated["SAP_score"] == pytest.approx(0.0, abs=1e-12)


def test_sap_discrete_score_matrix_and_gap():
    train, test = full_grid(repeats=25), full_grid(repeats=10)
    scores = sap.sap_score_matrix(identity_code(train), train, identity_code(test), test)
    assert scores.shape == (2, 2)
    # A linear SVM on one dimension cannot separate all four values (one-vs-rest can only cut off
    # the ends), so the matching dimension is far from perfect, but the other is at chance (1/4).
    assert np.all(np.diag(scores) > 0.6)
    np.testing.assert_allclose([scores[0, 1], scores[1, 0]], 0.25, atol=0.05)
    identity = sap.sap_from_codes(identity_code(train), train, identity_code(test), test)["SAP_score"]
    noise = sap.sap_from_codes(random_code()(train), train, random_code(2)(test), test)["SAP_score"]
    assert identity > 0.4  # observed 0.5: accuracy 0.75 against 0.25
    assert noise < 0.1  # the gap between two chance-level accuracies on 160 test points


def test_compute_sap_draws_train_then_test_from_one_random_state():
    data = FactorsAsObservations()
    value = sap.compute_sap(data, rotated_code, np.random.RandomState(3), num_train=200, num_test=100)
    random_state = np.random.RandomState(3)
    train = utils.generate_batch_factor_code(data, rotated_code, 200, random_state, 16)
    test = utils.generate_batch_factor_code(data, rotated_code, 100, random_state, 16)
    assert value == sap.sap_from_codes(*train, *test)


# ------------------------------------------------------------------------------------------------ DCI


def test_dci_closed_forms_on_importance_matrices():
    eye = np.eye(3)
    assert dci.disentanglement(eye) == pytest.approx(1.0, abs=1e-8)
    assert dci.completeness(eye) == pytest.approx(1.0, abs=1e-8)
    uniform = np.ones((3, 3))
    assert dci.disentanglement(uniform) == pytest.approx(0.0, abs=1e-12)
    assert dci.completeness(uniform) == pytest.approx(0.0, abs=1e-12)
    # One code for both factors: that code is not disentangled (D = 0), each factor is complete (C = 1).
    shared = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert dci.disentanglement(shared) == pytest.approx(0.0, abs=1e-8)
    assert dci.completeness(shared) == pytest.approx(1.0, abs=1e-8)
    # An unused code gets zero weight in disentanglement.
    with_dead_code = np.array([[0.7, 0.0], [0.0, 0.3], [0.0, 0.0]])
    assert dci.disentanglement(with_dead_code) == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(dci.disentanglement_per_code(with_dead_code)[:2], 1.0, atol=1e-8)
    # Nothing important at all: the weights fall back to uniform, and every score is 0.
    assert dci.disentanglement(np.zeros((2, 2))) == pytest.approx(0.0, abs=1e-12)


def test_dci_identity_random_and_rotated_codes():
    train, test = full_grid(repeats=6), full_grid(repeats=3)

    def scores(code):
        return dci.dci_from_codes(code(train), train, code(test), test, estimator_random_state=0)

    identity = scores(identity_code)
    assert identity["disentanglement"] > 0.99 and identity["completeness"] > 0.99  # observed 1.0
    assert identity["informativeness_train"] == 1.0 and identity["informativeness_test"] == 1.0
    rotated = scores(rotated_code)
    assert rotated["informativeness_test"] == 1.0  # the rotation loses no information ...
    assert rotated["disentanglement"] < 0.2  # ... but every dimension matters for both factors
    noise = scores(random_code())
    assert noise["disentanglement"] < 0.2 and noise["completeness"] < 0.2
    assert noise["informativeness_test"] < 0.45  # chance is 1/4; the trees only memorise the train set


def test_dci_importance_matrix_is_exposed_and_matches_the_scores():
    train, test = full_grid(repeats=4), full_grid(repeats=2)
    importance, train_accuracy, test_accuracy = dci.dci_importance_matrix(
        identity_code(train), train, identity_code(test), test, estimator_random_state=0
    )
    assert importance.shape == (2, 2)
    # Each tree ensemble uses only its own factor's dimension.
    np.testing.assert_allclose(importance, np.eye(2), atol=1e-6)
    scores = dci.dci_from_codes(identity_code(train), train, identity_code(test), test, estimator_random_state=0)
    assert scores["disentanglement"] == dci.disentanglement(importance)
    assert (train_accuracy, test_accuracy) == (scores["informativeness_train"], scores["informativeness_test"])


def test_compute_dci_default_draws_tree_seeds_from_global_numpy_state_like_disentanglement_lib():
    data = FactorsAsObservations()
    kwargs = dict(num_train=64, num_test=32)
    np.random.seed(0)
    first = dci.compute_dci(data, rotated_code, np.random.RandomState(1), **kwargs)
    assert np.random.randint(1 << 30) != np.random.RandomState(0).randint(1 << 30)  # the trees advanced it
    np.random.seed(0)
    assert dci.compute_dci(data, rotated_code, np.random.RandomState(1), **kwargs) == first
    # An explicit seed leaves the global state alone.
    np.random.seed(0)
    dci.compute_dci(data, rotated_code, np.random.RandomState(1), estimator_random_state=0, **kwargs)
    assert np.random.randint(1 << 30) == np.random.RandomState(0).randint(1 << 30)


# ------------------------------------------------------------------------------ modularity/explicitness


def test_modularity_closed_forms_on_mutual_information():
    # F = 2: 1 - delta = 1 - b^2 / a^2 for a code with MI (a, b); an uninformative code scores 0.
    np.testing.assert_allclose(
        modularity_explicitness.modularity_per_code(np.array([[0.8, 0.4], [0.0, 0.0], [0.3, 0.3]])),
        [1.0 - 0.25, 0.0, 0.0],
    )
    assert modularity_explicitness.modularity(np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.0]])) == 1.0


def test_modularity_explicitness_identity_rotated_random():
    train, test = full_grid(repeats=25), full_grid(repeats=10)

    def scores(code, **kwargs):
        return modularity_explicitness.modularity_explicitness_from_codes(code(train), train, code(test), test, **kwargs)

    identity = scores(identity_code)
    # Exactly one factor per dimension (zero MI with the other, on the grid): modularity 1.
    assert identity["modularity_score"] == pytest.approx(1.0, abs=1e-12)
    # Multinomial logistic regression on the matching dimension orders the four values perfectly.
    assert identity["explicitness_score_train"] > 0.99 and identity["explicitness_score_test"] > 0.99
    rotated = scores(rotated_code)
    # Each rotated dimension has equal MI with both factors: delta = 1, modularity 0 ...
    assert rotated["modularity_score"] == pytest.approx(0.0, abs=1e-12)
    assert rotated["explicitness_score_test"] > 0.99  # ... while a linear read-out still works.
    noise = modularity_explicitness.modularity_explicitness_from_codes(
        random_code()(train), train, random_code(2)(test), test
    )
    # ROC-AUC at chance is 0.5, not 0.
    assert 0.4 < noise["explicitness_score_test"] < 0.6
    # Modularity only compares a dimension's MI across factors; for noise those are bias-level and
    # unequal by chance, so random codes score well above 0 (observed 0.28), though below the identity.
    assert noise["modularity_score"] < 0.9


def test_compute_modularity_explicitness_on_sampled_data():
    data = FactorsAsObservations()
    identity = modularity_explicitness.compute_modularity_explicitness(
        data, identity_code, np.random.RandomState(0), num_train=1000, num_test=500
    )
    # Sampled factors keep a bias-level MI (~0.0045 nats) with the other dimension: 1 - (0.0045/1.386)^2.
    assert identity["modularity_score"] > 0.99
    assert identity["explicitness_score_test"] > 0.99
    mixed = modularity_explicitness.compute_modularity_explicitness(
        data, sum_and_noise(), np.random.RandomState(0), num_train=1000, num_test=500
    )
    assert mixed["modularity_score"] < identity["modularity_score"]
    assert mixed["explicitness_score_test"] < identity["explicitness_score_test"]


def test_explicitness_rejects_a_constant_code_dimension():
    train = full_grid(repeats=2)
    with pytest.raises(ValueError, match="constant"):
        modularity_explicitness.modularity_explicitness_from_codes(
            sum_and_constant_code(train), train, sum_and_constant_code(train), train
        )
