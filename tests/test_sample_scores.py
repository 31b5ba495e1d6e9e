"""The latent-space scores of zoo.evaluation: where decoded codes come from, and the empty-cell fraction."""

from __future__ import annotations

import types

import numpy as np
import pytest

from zoo.evaluation.coverage import empty_fraction
from zoo.evaluation.latent_sources import LATENT_SOURCES, fitted_gaussian, latent_codes


def stub_model(latent_dim: int):
    """What latent_codes reads from a model: its latent size and its prior p(z)."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    def prior(labels):
        return tfp.distributions.MultivariateNormalDiag(loc=tf.zeros(latent_dim), scale_diag=2.0 * tf.ones(latent_dim))

    return types.SimpleNamespace(config=types.SimpleNamespace(latent_dim=latent_dim), prior=prior)


def test_every_source_gives_reproducible_codes_of_its_own():
    model = stub_model(3)
    box = (np.array([-1.0, 0.0, 5.0]), np.array([1.0, 0.5, 6.0]))
    # Training codes with correlated dimensions and a mean far from 0: what N(0, I) misses and "fitted" finds.
    mixing = np.array([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.0, 0.0, 0.1]])
    training_codes = np.random.default_rng(1).standard_normal((20000, 3)) @ mixing.T + np.array([4.0, -2.0, 0.5])
    fitted = fitted_gaussian(training_codes)
    codes = {source: latent_codes(model, source, 4000, 7, box, fitted=fitted) for source in LATENT_SOURCES}
    for source, z in codes.items():
        assert z.shape == (4000, 3), source
        np.testing.assert_array_equal(z, latent_codes(model, source, 4000, 7, box, fitted=fitted))
        assert not np.array_equal(z, latent_codes(model, source, 4000, 8, box, fitted=fitted)), source
    assert np.all(codes["box"] >= box[0]) and np.all(codes["box"] <= box[1])
    assert codes["normal"].std(axis=0) == pytest.approx([1.0] * 3, abs=0.05)
    assert codes["prior"].std(axis=0) == pytest.approx([2.0] * 3, abs=0.1)  # the model's p(z), not N(0, I)
    # "fitted" draws from the training codes' Gaussian: their mean and full covariance, correlations included.
    assert codes["fitted"].mean(axis=0) == pytest.approx([4.0, -2.0, 0.5], abs=0.05)
    np.testing.assert_allclose(np.cov(codes["fitted"], rowvar=False), mixing @ mixing.T, atol=0.06)
    with pytest.raises(ValueError, match="fitted_gaussian"):
        latent_codes(model, "fitted", 10, 7, box)


def test_the_fitted_source_samples_a_rank_deficient_covariance():
    # Inactive latent dimensions give codes that barely vary: the covariance is singular, sampling still works.
    codes = np.random.default_rng(2).standard_normal((500, 4)) * np.array([1.0, 2.0, 0.0, 0.0])
    z = latent_codes(stub_model(4), "fitted", 1000, 0, (np.zeros(4), np.ones(4)), fitted=fitted_gaussian(codes))
    assert np.all(np.isfinite(z)) and np.allclose(z[:, 2:], 0.0, atol=1e-6)
    assert z[:, 1].std() == pytest.approx(2.0, rel=0.1)


def test_empty_fraction_is_low_for_gaussian_codes_and_high_for_clusters():
    rng = np.random.default_rng(0)
    gaussian = rng.standard_normal((2000, 2))
    assert empty_fraction(gaussian) < 0.1
    # Whitened first: scale and shift do not change the number.
    assert empty_fraction(3.0 * gaussian + 5.0) == pytest.approx(empty_fraction(gaussian), abs=0.01)
    centres = np.array([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]])
    clusters = centres[rng.integers(0, 4, 2000)] + 0.3 * rng.standard_normal((2000, 2))
    assert empty_fraction(clusters) > 0.5
