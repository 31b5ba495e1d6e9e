"""PNG figures of a trained model: samples, reconstructions, latent space, KL per dimension.

Each writer is ``name(model, ..., path) -> Path`` and writes one PNG atomically.
Figures are drawn on ``matplotlib.figure.Figure`` objects (no pyplot state, so
nothing leaks between figures) with the Agg backend, at ``DPI`` dots per inch
and a size fixed by their content — never ``bbox_inches="tight"`` — so a figure's
pixel size is predictable: an image grid of r × c tiles is
``(MARGIN_BOTTOM + r·t + MARGIN_TOP) × (MARGIN_LEFT + c·t + MARGIN_RIGHT)`` inches times ``DPI``, where a
tile ``t`` is 0.4 in (``image_mosaic.TILE``), or the images' own pixels and one of padding when they are
larger (``image_mosaic.tile_inches``); the figure is widened to its title's width when the grid is narrower
(one or two tiles), and taller by the lines of a note (``add_note``) when there is one.

``write_all_figures`` picks the figures that make sense for a model from its
capabilities (latent size, conditioning hook, KL decomposition), never its name.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # headless: evaluation runs on servers and in CI

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from zoo.evaluation.codes import posterior_means  # noqa: E402
from zoo.evaluation.eval_config import EvalConfig  # noqa: E402
from zoo.evaluation.image_mosaic import DPI, mosaic, tile_inches  # noqa: E402
from zoo.evaluation.metrics import code_variance, is_conditional, kl_per_dimension  # noqa: E402
from zoo.io import atomic_path  # noqa: E402
from zoo.models.vae import VAE  # noqa: E402

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM, MARGIN_TOP = 1.0, 0.2, 0.6, 0.5
# Scatter plots use at most this many points; more only hides the structure.
MAX_SCATTER_POINTS = 5000
TITLE_SIZE = 9  # points
TITLE_PAD = 0.1  # inches between a title and the figure's edge
# KL bars: a figure at most this wide (inches), and at most this many labelled bars; with more latent
# dimensions every k-th bar is labelled, so labels stay 7 pt and apart.
MAX_BAR_FIGURE_WIDTH = 12.0
MAX_BAR_LABELS = 50


# ----------------------------------------------------------------- helpers


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def _to_display(images: np.ndarray) -> np.ndarray:
    """[N, H, W, C] model output → values in [0, 1]; greyscale as [N, H, W], RGB kept, other C: first channel."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if images.shape[-1] == 3:
        return images
    return images[..., 0]


def text_width(text: str, size: float = TITLE_SIZE) -> float:
    """Width in inches of ``text`` set in matplotlib's default font at ``size`` points."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    width, _, _ = RendererAgg(1, 1, DPI).get_text_width_height_descent(text, FontProperties(size=size),
                                                                         ismath=False)
    return width / DPI


def _grid_figure(images: np.ndarray, rows: int, cols: int, title: str):
    """A figure showing ``images`` as a rows × cols mosaic; returns (figure, axes) for labelling.

    The axes use tile coordinates: tile (r, c) is centred on (c, r), so callers
    put ticks at integer positions. The title is centred over the grid when it fits there, else over the
    figure; a grid too narrow even for that (one or two tiles) gets a wider figure, the grid in its middle.
    """
    tile_height, tile_width = tile_inches(np.shape(images)[1:])
    grid_width, grid_height = cols * tile_width, rows * tile_height
    width = MARGIN_LEFT + grid_width + MARGIN_RIGHT
    height = MARGIN_BOTTOM + grid_height + MARGIN_TOP
    needed = text_width(title) + 2 * TITLE_PAD
    left = MARGIN_LEFT
    if needed > width:
        left += (needed - width) / 2
        width = needed
    figure = Figure(figsize=(width, height), dpi=DPI)
    axes = figure.add_axes((left / width, MARGIN_BOTTOM / height, grid_width / width, grid_height / height))
    axes.imshow(mosaic(_to_display(images), rows, cols), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest",
                extent=(-0.5, cols - 0.5, rows - 0.5, -0.5), aspect="auto")
    axes.set_xticks([])
    axes.set_yticks([])
    centre = left + grid_width / 2
    fits_over_grid = min(centre, width - centre) >= needed / 2
    # x in axes coordinates: the grid's centre, or the figure's.
    axes.set_title(title, fontsize=TITLE_SIZE, x=0.5 if fits_over_grid else (width / 2 - left) / grid_width)
    return figure, axes


def add_note(figure: Figure, note: str | None, size: float = 7) -> None:
    """A warning in small red type below everything else (e.g. that the run was too short to judge it by): the
    figure grows by the lines it takes, the axes keep their size and place."""
    if not note:
        return
    import textwrap

    width, height = figure.get_figwidth(), figure.get_figheight()
    per_line = max(16, int((width - 2 * TITLE_PAD) / text_width("n" * 20, size) * 20))
    lines = textwrap.wrap(note, per_line)
    extra = (len(lines) + 0.5) * size * 1.25 / 72  # inches: the lines and half a line of space
    for axes in figure.axes:
        x0, y0, w, h = axes.get_position().bounds
        axes.set_position((x0, (y0 * height + extra) / (height + extra), w, h * height / (height + extra)))
    figure.set_figheight(height + extra)
    figure.text(0.5, 0.25 * size * 1.25 / 72 / (height + extra), "\n".join(lines), ha="center", va="bottom",
                fontsize=size, color="tab:red")


def _square_grid(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return math.ceil(count / cols), cols


def _labels_array(labels, count: int) -> np.ndarray | None:
    return None if labels is None else np.asarray(labels, dtype=np.int32)[:count]


def _prior_marginals(model: VAE, label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each latent dimension under p(z) (N(0, I): zeros and ones)."""
    prior = model.prior(None if label is None else np.asarray([label], dtype=np.int32))
    mean, std = np.asarray(prior.mean()), np.asarray(prior.stddev())
    latent = model.config.latent_dim
    return mean.reshape(-1, latent)[0], std.reshape(-1, latent)[0]


# ----------------------------------------------------------------- figures


def _sample_labels(model: VAE, count: int, label: int | None) -> np.ndarray | None:
    """The labels a grid of ``count`` samples is decoded with: ``label`` throughout, the classes in turn
    (0, 1, 2, ...) for a conditional model when ``label`` is None, else none."""
    if label is not None:
        return np.full(count, label, dtype=np.int32)
    if is_conditional(model):
        return np.arange(count, dtype=np.int32) % max(model.config.num_classes, 1)
    return None


def prior_samples(model: VAE, path: str | Path, count: int = 64, seed: int = 0, label: int | None = None,
                  note: str | None = None) -> Path:
    """A square-ish grid of mean images decoded from ``count`` draws of the prior p(z).

    Conditional models decode every draw with ``label``, or with the classes in
    turn (0, 1, 2, ...) when ``label`` is None.
    """
    rows, cols = _square_grid(count)
    labels = _sample_labels(model, count, label)
    images = model.sample(count, labels=labels, seed=seed)
    which = "" if label is None else f", class {label}"
    figure, _ = _grid_figure(images, rows, cols, f"{type(model).__name__}: {count} samples from p(z){which}")
    add_note(figure, note)
    return _save(figure, path)


def fitted_samples(model: VAE, fitted: tuple[np.ndarray, np.ndarray], path: str | Path, count: int = 64,
                   seed: int = 0, label: int | None = None) -> Path:
    """A grid of mean images decoded from ``count`` codes of the Gaussian fitted to training codes (``fitted``,
    from ``zoo.evaluation.codes.fit_code_gaussian``): where the images' codes are, whatever the prior. Conditional
    models decode every code with ``label``, or with the classes in turn when ``label`` is None."""
    from zoo.evaluation.latent_sources import latent_codes

    rows, cols = _square_grid(count)
    labels = _sample_labels(model, count, label)
    codes = latent_codes(model, "fitted", count, seed, box=None, labels=labels, fitted=fitted)
    images = np.asarray(model.decode(codes.astype(np.float32), labels))
    which = "" if label is None else f", class {label}"
    figure, _ = _grid_figure(images, rows, cols,
                             f"{type(model).__name__}: {count} samples from a Gaussian fitted to the codes{which}")
    return _save(figure, path)


def class_samples(model: VAE, path: str | Path, per_class: int = 10, seed: int = 0, note: str | None = None) -> Path:
    """Conditional models: one row per class, ``per_class`` samples from p(z) decoded with that label."""
    classes = model.config.num_classes
    labels = np.repeat(np.arange(classes, dtype=np.int32), per_class)
    images = model.sample(len(labels), labels=labels, seed=seed)
    figure, axes = _grid_figure(images, classes, per_class, f"{type(model).__name__}: samples per class")
    axes.set_yticks(range(classes), [str(c) for c in range(classes)])
    axes.set_ylabel("class")
    add_note(figure, note)
    return _save(figure, path)


def reconstructions(model: VAE, images: np.ndarray, labels: np.ndarray | None, path: str | Path,
                    count: int = 20, per_row: int = 10, note: str | None = None) -> Path:
    """Inputs and their reconstructions E[p(x|z = E_q[z|x])], in blocks of an input row over a reconstruction row."""
    count = min(count, len(images))
    images = np.asarray(images[:count], dtype=np.float32)
    labels = _labels_array(labels, count)
    outputs = np.asarray(model((images, labels)))
    blocks = math.ceil(count / per_row)
    cols = min(per_row, count)
    tiles = np.ones((2 * blocks * cols,) + images.shape[1:], dtype=np.float32)
    for block in range(blocks):
        part = slice(block * cols, min((block + 1) * cols, count))
        size = part.stop - part.start
        tiles[2 * block * cols: 2 * block * cols + size] = images[part]
        tiles[(2 * block + 1) * cols: (2 * block + 1) * cols + size] = outputs[part]
    figure, axes = _grid_figure(tiles, 2 * blocks, cols, f"{type(model).__name__}: inputs and reconstructions")
    axes.set_yticks(range(2 * blocks), ["input", "recon"] * blocks)
    add_note(figure, note)
    return _save(figure, path)


def latent_scatter(model: VAE, images: np.ndarray, labels: np.ndarray | None, path: str | Path) -> Path:
    """Posterior means E_q[z|x] coloured by class: the two dimensions for a 2-D latent, else the first two
    principal components (the axis labels say which, with the variance they explain)."""
    count = min(len(images), MAX_SCATTER_POINTS)
    labels = _labels_array(labels, count)
    codes = posterior_means(model, images[:count], labels)
    if codes.shape[1] == 2:
        points, names = codes, ("z[0]", "z[1]")
    else:
        centred = codes - codes.mean(axis=0)
        _, singular, basis = np.linalg.svd(centred, full_matrices=False)
        points = centred @ basis[:2].T
        explained = singular**2 / max(np.sum(singular**2), 1e-12)
        names = tuple(f"principal component {i + 1} of E_q[z|x] ({100 * explained[i]:.0f}% var.)" for i in range(2))
    figure = Figure(figsize=(7.0, 6.0), dpi=DPI)
    axes = figure.add_subplot()
    if labels is None or model.config.num_classes == 0:  # unlabelled data (a folder) has no classes to show
        axes.scatter(points[:, 0], points[:, 1], s=3, alpha=0.6, color="tab:blue")
    else:
        colours = matplotlib.colormaps["tab10" if labels.max() < 10 else "tab20"]
        for value in np.unique(labels):
            chosen = labels == value
            axes.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.6, color=colours(int(value) % colours.N),
                         label=str(value))
        axes.legend(title="class", markerscale=4, fontsize=7, loc="best")
    axes.set_xlabel(names[0])
    axes.set_ylabel(names[1])
    axes.set_title(f"{type(model).__name__}: posterior means of {count} test images", fontsize=9)
    return _save(figure, path)


def latent_histograms(model: VAE, images: np.ndarray, labels: np.ndarray | None, path: str | Path,
                      bins: int = 40) -> Path:
    """2-D latents: one histogram panel per class and latent dimension of E_q[z|x], with a shared x range;
    each panel's label gives the mean and standard deviation. Unlabelled data is one class, "all"."""
    labels = None if labels is None else np.asarray(labels, dtype=np.int32)
    codes = posterior_means(model, images, labels)
    classes = [None] if labels is None else list(np.unique(labels))
    low, high = float(codes.min()), float(codes.max())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    height = 0.6 + 1.2 * len(classes)
    figure = Figure(figsize=(8.0, height), dpi=DPI)
    grid = figure.subplots(len(classes), 2, sharex=True, squeeze=False)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.45 / height, top=1 - 0.4 / height, hspace=0.3, wspace=0.15)
    for row, value in enumerate(classes):
        chosen = codes if value is None else codes[labels == value]
        for dim in range(2):
            values = chosen[:, dim]
            name = "all" if value is None else f"class {value}"
            grid[row, dim].hist(values, bins=edges, color=f"C{dim}", alpha=0.8,
                                label=f"{name}, z[{dim}]: mean {values.mean():.2f}, std {values.std():.2f}")
            grid[row, dim].legend(fontsize=6, loc="upper right", handlelength=0.8)
            grid[row, dim].tick_params(labelsize=6)
    for dim in range(2):
        grid[-1, dim].set_xlabel(f"z[{dim}] (posterior mean)", fontsize=8)
    figure.suptitle(f"{type(model).__name__}: posterior means per class", fontsize=9)
    return _save(figure, path)


def manifold(model: VAE, path: str | Path, grid_size: int = 20, box: tuple[float, float] | None = None,
             label: int | None = None) -> Path:
    """2-D latents: decode a regular grid of codes and tile the mean images.

    ``box=None``: Kingma & Welling 2014 (fig. 4) — the grid is the inverse normal
    CDF of a uniform grid in (0.05, 0.95), scaled by p(z)'s marginal mean and
    standard deviation (the identity for N(0, I)). ``box=(lo, hi)``: a plain
    uniform grid over [lo, hi]², which also shows the regions the prior rarely
    visits. ``label`` conditions a conditional model. Tick labels are the z values.
    """
    mean, std = _prior_marginals(model, label)
    if box is None:
        quantiles = np.linspace(0.05, 0.95, grid_size)
        unit = np.array([statistics.NormalDist().inv_cdf(float(q)) for q in quantiles])
        axis_values = [mean[d] + std[d] * unit for d in range(2)]
        how = "inverse normal CDF of (0.05, 0.95)"
    else:
        axis_values = [np.linspace(box[0], box[1], grid_size)] * 2
        how = f"uniform box [{box[0]:g}, {box[1]:g}]²"
    # Row r shows z[1] decreasing downwards, so the image reads like a plot with z[1] up.
    z0, z1 = np.meshgrid(axis_values[0], axis_values[1][::-1])
    codes = np.stack([z0.ravel(), z1.ravel()], axis=1).astype(np.float32)
    labels = None if label is None else np.full(len(codes), label, dtype=np.int32)
    images = np.asarray(model.decode(codes, labels))
    title = f"{type(model).__name__}: decoded grid, {how}" + ("" if label is None else f", class {label}")
    figure, axes = _grid_figure(images, grid_size, grid_size, title)
    ticks = np.unique(np.linspace(0, grid_size - 1, min(grid_size, 7)).round().astype(int))
    axes.set_xticks(ticks, [f"{axis_values[0][i]:.2f}" for i in ticks], fontsize=7)
    axes.set_yticks(ticks, [f"{axis_values[1][::-1][i]:.2f}" for i in ticks], fontsize=7)
    axes.set_xlabel("z[0]")
    axes.set_ylabel("z[1]")
    return _save(figure, path)


def latent_traversals(model: VAE, image: np.ndarray, label: int | None, dims: Sequence[int], path: str | Path,
                      scores: Sequence[float] | None = None, span: float = 3.0, steps: int = 11) -> Path:
    """One row per latent dimension in ``dims``: that dimension moved over [−span, span] around the
    posterior mean of ``image`` (in units of p(z)'s marginal standard deviation, 1 for N(0, I)), the
    others fixed. ``scores`` (KL or code variance per dimension) label the rows."""
    image = np.asarray(image, dtype=np.float32)[None]
    labels = None if label is None else np.asarray([label], dtype=np.int32)
    centre = np.asarray(model.encode(image, labels))[0]
    _, std = _prior_marginals(model, label)
    offsets = np.linspace(-span, span, steps)
    codes = np.repeat(centre[None], len(dims) * steps, axis=0)
    for row, dim in enumerate(dims):
        codes[row * steps:(row + 1) * steps, dim] += offsets * std[dim]
    decoded_labels = None if label is None else np.full(len(codes), label, dtype=np.int32)
    images = np.asarray(model.decode(codes.astype(np.float32), decoded_labels))
    figure, axes = _grid_figure(images, len(dims), steps, f"{type(model).__name__}: latent traversals")
    row_names = [f"z[{d}]" + ("" if scores is None else f" ({scores[d]:.2g})") for d in dims]
    axes.set_yticks(range(len(dims)), row_names, fontsize=7)
    ticks = range(0, steps, max(1, steps // 5))
    axes.set_xticks(list(ticks), [f"{offsets[i]:+.1f}" for i in ticks], fontsize=7)
    axes.set_xlabel("offset from the posterior mean (prior std. units)")
    return _save(figure, path)


def kl_bars(model: VAE, kl_per_dim: Sequence[float], path: str | Path, threshold: float | None = None,
            variance: Sequence[float] | None = None) -> Path:
    """Mean KL(q(z_d|x) ‖ p(z_d)) per latent dimension, sorted descending, with the active-unit threshold
    as a dashed line. With ``variance`` (Cov_x(E_q[z_d|x]) per dimension) bars of active units
    (variance > threshold, Burda et al. 2015) are blue and inactive ones grey."""
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    order = np.argsort(-kl, kind="stable")
    colours = ["tab:blue"] * len(kl)
    if variance is not None and threshold is not None:
        colours = ["tab:blue" if np.asarray(variance)[d] > threshold else "tab:gray" for d in order]
    figure = Figure(figsize=(min(MAX_BAR_FIGURE_WIDTH, max(6.0, 1.5 + 0.25 * len(kl))), 4.0), dpi=DPI)
    axes = figure.add_subplot()
    axes.bar(range(len(kl)), kl[order], color=colours)
    every = math.ceil(len(kl) / MAX_BAR_LABELS)
    labelled = range(0, len(kl), every)
    axes.set_xticks(list(labelled), [str(order[i]) for i in labelled], fontsize=7, rotation=90)
    axes.set_xlim(-0.75, len(kl) - 0.25)
    if threshold is not None:
        grey = f"; grey bars: Cov_x(E_q[z_d|x]) <= {threshold:g}" if variance is not None else ""
        axes.axhline(threshold, color="tab:red", linestyle="--", linewidth=1,
                     label=f"active-unit threshold {threshold:g}{grey}")
        axes.legend(fontsize=8)
    axes.set_xlabel("latent dimension (sorted by KL)" + (f"; one bar in {every} labelled" if every > 1 else ""))
    axes.set_ylabel("mean KL per dimension (nats)")
    axes.set_title(f"{type(model).__name__}: KL per latent dimension, total {kl.sum():.2f} nats", fontsize=9)
    figure.subplots_adjust(bottom=0.18)
    return _save(figure, path)


# --------------------------------------------------------------- dispatch


def write_all_figures(model: VAE, images: np.ndarray, labels: np.ndarray | None, metrics: dict | None,
                      out_dir: str | Path, config: EvalConfig | None = None, note: str | None = None) -> list[Path]:
    """Writes every figure that applies to ``model`` into ``out_dir`` and returns their paths.

    Always: reconstructions, latent traversals, and prior samples (a per-class
    grid instead for conditional models). Latent dim ≥ 2: scatter of posterior
    means. Latent dim == 2: per-class histograms and manifold grids (one per
    class for conditional models). KL bars when the model has a KL per dimension.
    ``metrics`` is ``evaluate``'s dict (its kl_per_dim / code_variance order the
    traversals); missing entries are recomputed. Nothing when ``config.figures`` is false. ``note`` (e.g. that
    the run was too short) is printed on the samples and reconstructions. Labels of unlabelled data (a folder,
    ``num_classes`` 0) are ignored.
    """
    config = config or EvalConfig()
    if not config.figures:
        return []
    out_dir = Path(out_dir)
    images = np.asarray(images, dtype=np.float32)
    conditional = is_conditional(model)
    if not conditional and model.config.num_classes == 0:
        labels = None
    labels = None if labels is None else np.asarray(labels, dtype=np.int32)
    metrics = metrics or {}
    latent = model.config.latent_dim
    written: list[Path] = []

    if conditional:
        written.append(class_samples(model, out_dir / "samples_by_class.png", seed=config.seed, note=note))
    else:
        written.append(prior_samples(model, out_dir / "samples.png", count=config.num_samples, seed=config.seed,
                                     note=note))
    written.append(reconstructions(model, images, labels, out_dir / "reconstructions.png", note=note))

    kl = metrics.get("kl_per_dim")
    if kl is None and model.is_generative:
        kl = kl_per_dimension(model, images, labels, config.batch_size)
    # Traversals follow the dimensions that carry information: most KL, or most code variance (AE).
    variance = metrics.get("code_variance")
    if variance is None:
        variance = code_variance(model, images, labels, config.batch_size)
    scores = np.asarray(kl if kl is not None else variance, dtype=np.float64)
    top = [int(d) for d in np.argsort(-scores, kind="stable")[: min(8, latent)]]
    written.append(latent_traversals(model, images[0], None if labels is None else int(labels[0]), top,
                                     out_dir / "traversals.png", scores=scores))

    if latent >= 2:
        written.append(latent_scatter(model, images, labels, out_dir / "latent_scatter.png"))
    if latent == 2:
        written.append(latent_histograms(model, images, labels, out_dir / "latent_histograms.png"))
        if conditional:
            for label in range(model.config.num_classes):
                written.append(manifold(model, out_dir / f"manifold_class_{label}.png", label=label))
        else:
            written.append(manifold(model, out_dir / "manifold.png"))
            written.append(manifold(model, out_dir / "manifold_box.png", box=(-3.0, 3.0)))
    if kl is not None:
        written.append(kl_bars(model, kl, out_dir / "kl_per_dim.png", threshold=config.active_unit_threshold,
                               variance=variance))
    return written
