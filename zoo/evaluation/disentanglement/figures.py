"""Figures of a model's codes against ground-truth factors: the latent × factor mutual information, and traversals.

- ``mi_heatmap``: I(z_d; y_k) / H(y_k) for every latent dimension d and factor k, from codes discretised into
  20 histogram bins as MIG does (Chen et al. 2018): a disentangled code has one bright cell per factor column.
- ``factor_traversals``: for each factor, the latent dimension most informative about it, swept from −2.5 to
  2.5 around the code of one image while the other dimensions stay fixed; one row per factor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from zoo.evaluation.figures import _save
from zoo.evaluation.image_mosaic import DPI, mosaic
from zoo.evaluation.disentanglement.utils import discrete_entropy, discrete_mutual_info, histogram_discretize

TRAVERSAL_STEPS = 9
TRAVERSAL_RANGE = 2.5


def normalized_mutual_information(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """[D, F]: I(z_d; y_k) / H(y_k) of (N, D) codes and (N, F) factor indices (a factor with one value: 0)."""
    mutual = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    entropy = discrete_entropy(factors)
    return np.divide(mutual, entropy[None, :], out=np.zeros_like(mutual), where=entropy[None, :] > 0)


def mi_heatmap(normalized_mi: np.ndarray, factor_names: Sequence[str], path: str | Path, title: str = "") -> Path:
    from matplotlib.figure import Figure

    dims, count = normalized_mi.shape
    figure = Figure(figsize=(1.6 + 0.9 * count, 1.2 + 0.38 * dims), dpi=DPI)
    axes = figure.add_axes([1.0 / (1.6 + 0.9 * count) * 0.9, 0.9 / (1.2 + 0.38 * dims),
                            0.9 * count / (1.6 + 0.9 * count), 0.38 * dims / (1.2 + 0.38 * dims)])
    image = axes.imshow(normalized_mi, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    axes.set_xticks(range(count), [name.replace("_", " ") for name in factor_names], rotation=20, ha="right")
    axes.set_yticks(range(dims), [f"z{d}" for d in range(dims)])
    for d in range(dims):
        for k in range(count):
            value = normalized_mi[d, k]
            axes.text(k, d, f"{value:.2f}", ha="center", va="center", fontsize=7,
                      color="black" if value > 0.6 else "white")
    axes.set_title(title or "I(z_d; factor) / H(factor)", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.05, pad=0.02)
    return _save(figure, path)


def factor_traversals(model, base_image: np.ndarray, normalized_mi: np.ndarray, factor_names: Sequence[str],
                      path: str | Path, steps: int = TRAVERSAL_STEPS, span: float = TRAVERSAL_RANGE) -> Path:
    """One row per factor: its most informative dimension swept over [−span, span] from ``base_image``'s code."""
    from matplotlib.figure import Figure

    code = np.asarray(model.encode(base_image[None].astype(np.float32)), dtype=np.float32)[0]
    values = np.linspace(-span, span, steps, dtype=np.float32)
    rows, labels = [], []
    for k, name in enumerate(factor_names):
        dim = int(np.argmax(normalized_mi[:, k]))
        codes = np.repeat(code[None], steps, axis=0)
        codes[:, dim] = values
        rows.append(np.clip(np.asarray(model.decode(codes)), 0.0, 1.0)[..., 0])
        labels.append(f"{name.replace('_', ' ')} ← z{dim} ({normalized_mi[dim, k]:.2f})")
    tiles = np.concatenate(rows)
    grid = mosaic(tiles, len(factor_names), steps)
    tile_inches = 0.7
    width, height = 2.2 + steps * tile_inches, 0.7 + len(factor_names) * tile_inches
    figure = Figure(figsize=(width, height), dpi=DPI)
    axes = figure.add_axes([2.1 / width, 0.3 / height, steps * tile_inches / width,
                            len(factor_names) * tile_inches / height])
    axes.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks([(i + 0.5) * grid.shape[1] / steps for i in range(steps)], [f"{v:+.1f}" for v in values],
                    fontsize=7)
    axes.set_yticks([(i + 0.5) * grid.shape[0] / len(factor_names) for i in range(len(factor_names))], labels,
                    fontsize=8)
    axes.set_title("latent traversals of the dimension most informative about each factor", fontsize=9)
    return _save(figure, path)


__all__ = ["factor_traversals", "mi_heatmap", "normalized_mutual_information"]
