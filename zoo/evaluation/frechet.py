"""The Fréchet distance between two Gaussians, and between the Gaussians fitted to two feature sets.

With the penultimate-layer features of a classifier this is the FID recipe (Heusel et al. 2017);
``zoo.evaluation.sample_classifier`` scores decoded samples with it.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½), the Fréchet distance between two Gaussians.

    Tr((Σa Σb)^½) is computed as Σ_i √λ_i with λ the eigenvalues of the symmetric
    positive semi-definite Σa^½ Σb Σa^½ (same spectrum as Σa Σb), which stays exact
    when a covariance is singular — ReLU features often have dead units — where
    ``scipy.linalg.sqrtm(Σa @ Σb)`` warns and needs a diagonal offset.
    """
    mean_a, mean_b = np.atleast_1d(np.asarray(mean_a, np.float64)), np.atleast_1d(np.asarray(mean_b, np.float64))
    cov_a, cov_b = np.atleast_2d(np.asarray(cov_a, np.float64)), np.atleast_2d(np.asarray(cov_b, np.float64))
    diff = mean_a - mean_b
    values, vectors = linalg.eigh((cov_a + cov_a.T) / 2)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = float(np.sum(np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2), 0.0, None))))
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root)
    return max(value, 0.0)


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets [N, D]."""
    return frechet_distance(features_a.mean(axis=0), np.cov(features_a, rowvar=False),
                            features_b.mean(axis=0), np.cov(features_b, rowvar=False))
