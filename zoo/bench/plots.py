"""Figures of the bench: sample grids of one run, and plots across runs (means ± std over seeds).

Everything is drawn on ``matplotlib.figure.Figure`` objects with the Agg backend
and written atomically, like the evaluator's figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from zoo.evaluation.image_mosaic import DPI, mosaic, tile_inches  # noqa: E402
from zoo.evaluation.latent_sources import LATENT_SOURCES  # noqa: E402
from zoo.io import atomic_path  # noqa: E402


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
        _quantize(tmp)
    return path


def _quantize(path: Path) -> None:
    """Rewrites a PNG as 8-bit palette (256 colours): figures of digits, faces and plots lose nothing
    visible and shrink two to three times, which matters for results committed to git."""
    from PIL import Image

    with Image.open(path) as image:
        image.load()
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, format="PNG",
                                                                                     optimize=True)


def compact_copy(source: str | Path, target: str | Path) -> Path:
    """Copies a PNG figure as an 8-bit palette PNG (see ``_quantize``), atomically."""
    target = Path(target)
    with atomic_path(target, suffix=".png") as tmp:
        tmp.write_bytes(Path(source).read_bytes())
        _quantize(tmp)
    return target


def image_grid(images: np.ndarray, path: str | Path, title: str, cols: int = 10) -> Path:
    """A grid of [N, H, W, C] images in [0, 1] (greyscale when C == 1), ``cols`` per row."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if images.shape[-1] == 1:
        images = images[..., 0]
    count = len(images)
    cols = min(cols, count)
    rows = math.ceil(count / cols)
    tile_height, tile_width = tile_inches(images.shape[1:])
    width, height = cols * tile_width + 0.4, rows * tile_height + 0.6
    figure = Figure(figsize=(width, height), dpi=DPI)
    axes = figure.add_axes((0.2 / width, 0.2 / height, cols * tile_width / width, rows * tile_height / height))
    axes.imshow(mosaic(images, rows, cols), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest", aspect="auto")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_title(title, fontsize=8)
    return _save(figure, path)


def _stat(group: dict[str, Any], key: str) -> tuple[float | None, float | None]:
    entry = group["metrics"].get(key) or {}
    return entry.get("mean"), entry.get("std")


def rate_distortion(groups: Sequence[dict[str, Any]], path: str | Path, title: str,
                    line: Sequence[str] = ()) -> Path:
    """Rate (y) against distortion (x) for each group, with ±std bars; ``line`` joins those variants in order."""
    figure = Figure(figsize=(7.5, 5.5), dpi=DPI)
    axes = figure.add_subplot()
    points = {}
    for index, group in enumerate(groups):
        (d, d_std), (r, r_std) = _stat(group, "distortion"), _stat(group, "rate")
        if d is None or r is None:
            continue
        points[group["variant"]] = (d, r)
        axes.errorbar(d, r, xerr=d_std or 0.0, yerr=r_std or 0.0, fmt="o", color=f"C{index % 10}", capsize=3,
                      label=group["label"])
    chain = [points[v] for v in line if v in points]
    if len(chain) > 1:
        axes.plot([p[0] for p in chain], [p[1] for p in chain], color="grey", linewidth=1, linestyle="--",
                  zorder=0, label="β sweep")
    if points:
        # Lines of constant ELBO = -(D + R) are the diagonals D + R = c; the view stays on the points.
        x_min, x_max = axes.get_xlim()
        top = max(r for _, r in points.values())
        y_min, y_max = -0.05 * max(top, 1.0), 1.12 * max(top, 1.0)
        lo = min(d + r for d, r in points.values())
        hi = max(d + r for d, r in points.values())
        for c in np.linspace(lo, hi, 4):
            axes.plot([x_min, x_max], [c - x_min, c - x_max], color="lightgrey", linewidth=0.8, zorder=-1)
        axes.set_xlim(x_min, x_max)
        axes.set_ylim(y_min, y_max)
    axes.set_xlabel("distortion −E_q log p(x|z) (nats)")
    axes.set_ylabel("rate KL(q(z|x) ‖ p(z)) (nats)")
    axes.set_title(title + " (grey diagonals: constant ELBO)", fontsize=9)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _save(figure, path)


def kl_per_dim(groups: Sequence[dict[str, Any]], path: str | Path, title: str, threshold: float = 0.01) -> Path:
    """Sorted mean KL per dimension for each group (mean over seeds), log scale."""
    figure = Figure(figsize=(7.5, 4.8), dpi=DPI)
    axes = figure.add_subplot()
    drawn = 0
    for index, group in enumerate(groups):
        kl = group.get("kl_per_dim_sorted")
        if not kl:
            continue
        values = np.maximum(np.asarray(kl, dtype=np.float64), 1e-4)
        axes.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, color=f"C{index % 10}",
                  label=f"{group['label']} (total {np.sum(kl):.1f})")
        drawn += 1
    axes.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"{threshold:g} nats")
    axes.set_yscale("log")
    axes.set_xlabel("latent dimension, sorted by KL")
    axes.set_ylabel("mean KL per dimension (nats)")
    axes.set_title(title, fontsize=9)
    if drawn:
        axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    return _save(figure, path)


def fid_by_source(groups: Sequence[dict[str, Any]], path: str | Path, title: str,
                  sources: Sequence[str] = LATENT_SOURCES) -> Path:
    """Grouped bars: the Fréchet distance of each group's samples per latent source (± std over seeds); a
    source that no group has is left out."""
    names = {"prior": "p(z)", "normal": "N(0, I)", "box": "uniform box", "fitted": "fitted Gaussian"}
    sources = [s for s in sources if any(_stat(group, f"fid_{s}")[0] is not None for group in groups)]
    figure = Figure(figsize=(7.5, 4.5), dpi=DPI)
    axes = figure.add_subplot()
    width = 0.8 / max(len(sources), 1)
    for s_index, source in enumerate(sources):
        for g_index, group in enumerate(groups):
            mean, std = _stat(group, f"fid_{source}")
            if mean is None:
                continue
            axes.bar(g_index + (s_index - (len(sources) - 1) / 2) * width, mean, width, yerr=std or 0.0,
                     color=f"C{s_index}", capsize=3, label=names[source] if g_index == 0 else None)
            axes.annotate(f"{mean:.1f}", (g_index + (s_index - (len(sources) - 1) / 2) * width, mean),
                          ha="center", va="bottom", fontsize=7)
    axes.set_xticks(range(len(groups)), [g["label"] for g in groups], fontsize=8)
    axes.set_ylabel("Fréchet distance to test images (lower is better)")
    axes.set_title(title, fontsize=9)
    handles, labels = axes.get_legend_handles_labels()
    if handles:
        axes.legend(title="z drawn from", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def fid_prior(groups: Sequence[dict[str, Any]], path: str | Path, title: str, floor: float | None = None) -> Path:
    """Horizontal bars: Fréchet distance of samples from each model's prior, with the train-vs-test floor."""
    shown = [g for g in groups if _stat(g, "fid_prior")[0] is not None]
    figure = Figure(figsize=(7.5, 0.8 + 0.45 * max(len(shown), 1)), dpi=DPI)
    axes = figure.add_subplot()
    for index, group in enumerate(shown):
        mean, std = _stat(group, "fid_prior")
        axes.barh(index, mean, xerr=std or 0.0, color=f"C{index % 10}", capsize=3)
        axes.annotate(f" {mean:.1f}", (mean, index), va="center", fontsize=7)
    if floor is not None:
        axes.axvline(floor, color="black", linestyle=":", linewidth=1, label=f"training vs test images: {floor:.1f}")
        axes.legend(fontsize=7, loc="lower right")
    axes.set_yticks(range(len(shown)), [g["label"] for g in shown], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("Fréchet distance of prior samples to test images (classifier features; lower is better)")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def class_accuracy(group: dict[str, Any], path: str | Path, title: str, class_names: Sequence[str] = ()) -> Path:
    """Per-class accuracy of the classifier on class-conditional samples (mean ± std over seeds)."""
    per_class = group.get("per_class_accuracy") or []
    figure = Figure(figsize=(7.5, 3.8), dpi=DPI)
    axes = figure.add_subplot()
    means = [c["mean"] if c else 0.0 for c in per_class]
    stds = [(c["std"] or 0.0) if c else 0.0 for c in per_class]
    axes.bar(range(len(means)), means, yerr=stds, color="tab:blue", capsize=3)
    for index, value in enumerate(means):
        axes.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=7)
    names = list(class_names) if len(class_names) == len(means) else [str(i) for i in range(len(means))]
    axes.set_xticks(range(len(means)), names, fontsize=7, rotation=30 if max(map(len, names), default=0) > 3 else 0)
    axes.set_ylim(0, 1.08)
    axes.set_ylabel("classifier accuracy on samples")
    axes.set_xlabel("requested class")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def disentanglement_spread(groups: Sequence[dict[str, Any]], per_seed: Mapping[str, Sequence[Mapping[str, Any]]],
                           keys: Sequence[str], headers: Mapping[str, str], path: str | Path, title: str) -> Path:
    """One panel per metric: every seed's score of each model as a dot, the mean as a bar (as Locatello et
    al. 2019 show the spread over seeds). ``per_seed`` maps a group's variant to its cells' flat metrics."""
    cols = 3
    rows = math.ceil(len(keys) / cols)
    figure = Figure(figsize=(4.2 * cols, 0.9 + 2.9 * rows), dpi=DPI)
    labels = [group["label"] for group in groups]
    for index, key in enumerate(keys):
        axes = figure.add_subplot(rows, cols, index + 1)
        for position, group in enumerate(groups):
            values = [cell.get(key) for cell in per_seed.get(group["variant"], ()) if cell.get(key) is not None]
            if not values:
                continue
            axes.bar(position, float(np.mean(values)), color=f"C{position % 10}", alpha=0.35, width=0.7)
            axes.scatter([position] * len(values), values, color=f"C{position % 10}", s=14, zorder=3)
        axes.set_title(headers.get(key, key), fontsize=9)
        axes.set_xticks(range(len(groups)), labels if index >= len(keys) - cols else [""] * len(groups),
                        rotation=60, ha="right", fontsize=7)
        axes.set_ylim(0.0, 1.0)
        axes.tick_params(axis="y", labelsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)
