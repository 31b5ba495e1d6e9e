"""How much of the space a set of 2-D latent codes spans is left empty: a number for the "gaps"."""

from __future__ import annotations

import numpy as np

EMPTY_GRID = 20
"""Cells per side of the grid behind ``empty_fraction`` (over ±2 whitened standard deviations)."""


def empty_fraction(codes: np.ndarray, bins: int = EMPTY_GRID, radius: float = 2.0) -> float:
    """2-D codes [N, 2]: the share of the space they span that holds no code.

    The codes are whitened (zero mean, identity covariance), so scale, shift and correlation do not
    count; then the share of the cells of a ``bins`` × ``bins`` grid over [−radius, radius]² whose
    centre lies within ``radius`` that hold no code. Codes that fill their region (a VAE's near-Gaussian
    disc) score low; clusters with empty space between them (an autoencoder's) score high. The value
    depends on the number of codes, so compare sets of the same size.
    """
    centred = codes - codes.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    white = centred @ vectors / np.sqrt(np.maximum(values, 1e-12))
    edges = np.linspace(-radius, radius, bins + 1)
    counts, _, _ = np.histogram2d(white[:, 0], white[:, 1], bins=[edges, edges])
    centres = (edges[:-1] + edges[1:]) / 2
    inside = np.hypot(*np.meshgrid(centres, centres, indexing="ij")) <= radius
    return float(np.mean(counts[inside] == 0))
