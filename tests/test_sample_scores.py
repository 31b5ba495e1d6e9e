"""The latent-space scores of zoo.evaluation: where decoded codes come from, and the empty-cell fraction."""

from __future__ import annotations

import types

import numpy as np
import pytest

from zoo.evaluation.coverage import empty_fraction
from zoo.evaluation.latent_sources import LATENT_SOURCES, latent_codes


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
    codes = {source: latent_codes(model, source, 4000, 7, box) for source in LATENT_SOURCES}
    for source, z in codes.items():
        assert z.shape == (4000, 3), source
        np.testing.assert_array_equal(z, latent_codes(model, source, 4000, 7, box))
        assert not np.array_equal(z, latent_codes(model, source, 4000, 8, box)), source
    assert np.all(codes["box"] >= box[0]) and np.all(codes["box"] <= box[1])
    assert codes["normal"].std(axis=0) == pytest.approx([1.0] * 3, abs=0.05)
    assert codes["prior"].std(axis=0) == pytest.approx([2.0] * 3, abs=0.1)  # the model's p(z), not N(0, I)


def test_empty_fraction_is_low_for_gaussian_codes_and_high_for_clusters():
    rng = np.random.default_rng(0)
    gaussian = rng.standard_normal((2000, 2))
    assert empty_fraction(gaussian) < 0.1
    # Whitened first: scale and shift do not change the number.
    assert empty_fraction(3.0 * gaussian + 5.0) == pytest.approx(empty_fraction(gaussian), abs=0.01)
    centres = np.array([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]])
    clusters = centres[rng.integers(0, 4, 2000)] + 0.3 * rng.standard_normal((2000, 2))
    assert empty_fraction(clusters) > 0.5
