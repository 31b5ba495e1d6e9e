"""dSprites for the zoo: the official file, and ``sprites``, a procedural twin that needs no download.

Both are ``GroundTruthData`` over the same factor grid (``FACTOR_GRID``): shape (square,
ellipse, heart), scale (6), orientation (40), position x (32), position y (32), 737,280
points, last factor fastest. dSprites' sixth latent, colour, has a single value and is
dropped, as in disentanglement_lib (its ``latent_factor_indices`` 1..5).

``DSpritesData`` reads DeepMind's ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` from
``<data_dir>/dsprites/`` (downloading it, md5-checked, when allowed), checks that it holds
the full grid in order, and keeps the 64x64 binary images as bits (377 MB instead of 3 GB).

``SpritesData`` renders the same grid with numpy on demand (``render_sprites``). Its images
are *not* pixel-identical to the official file: the shapes, their sizes and the range the
sprite centre covers are zoo's choices (below), made so the data look and behave like
dSprites (binary 64x64; mean pixel 0.0425 over the grid, as reported for the official file;
every position step a visible shift). Scores on ``sprites`` are comparable with each
other, not with published dSprites numbers.

Rendering conventions (``sprites``): pixel (row i, column j) is inside when its centre
(j + 0.5, i + 0.5) is inside the shape, so images are exactly binary (no anti-aliasing).
x grows to the right, y downwards (row order). The sprite centre is
``16 + 32 * position`` px on each axis, i.e. it covers the middle half of the canvas in
steps of 32/31 px; the largest sprite (the square at scale 1 turned 45 degrees, radius
14.5 px) therefore stays at least 1.5 px inside the canvas. At scale s the square has side
``2 * 10.25 * s`` px, the ellipse axes ``2 * 10.25 * s`` by ``10.25 * s`` px and the heart
the square's width. Orientation turns the shape counter-clockwise on screen about its
centroid. The factor values are dSprites' own (``FACTOR_VALUES``): orientation is
``linspace(0, 2 pi, 40)`` *including* 2 pi, so orientations 0 and 39 look the same, as in
the official file.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from zoo.data.download import ensure_file
from zoo.data.factors import FactorGrid, GroundTruthData, PackedBinaryImages
from zoo.data.sources import DATASET_FOLDERS, DSPRITES_FILE
from zoo.errors import ZooError

FACTOR_GRID = FactorGrid(
    names=("shape", "scale", "orientation", "position_x", "position_y"), sizes=(3, 6, 40, 32, 32)
)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
OBSERVATION_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)

# dSprites' latent values (its metadata['latents_possible_values']), in FACTOR_GRID order.
FACTOR_VALUES = (
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)

# Geometry of the procedural twin (see the module docstring).
HALF_SIZE = 10.25  # px at scale 1: the square's half side; gives dSprites' mean pixel, 0.0425
POSITION_START = 16.0  # px: sprite centre at position 0
POSITION_SPAN = 32.0  # px: how far the centre moves from position 0 to 1
ELLIPSE_ASPECT = 0.5  # minor / major axis
# The heart is (x^2 + y^2 - 1)^3 <= x^2 y^3 (y up), measured numerically: half-width 1.139 and
# centroid at y = 0.2935, so it is scaled to the square's width and turned about its centroid.
_HEART_HALF_WIDTH = 1.139
_HEART_CENTROID_Y = 0.2935
# Sprites never reach further than 14.5 px from their centre, so the 32 x 32 pixels around it hold them.
_WINDOW = 32
_CHUNK = 2048  # images per vectorised step: ~8 MB per float32 temporary, cache-friendly

# Orientation cosines from libm, once: np.cos may differ in the last bit between SIMD code paths, and a
# table keeps grid renders the same on every machine (the per-pixel float32 ops are exactly rounded).
_COS = np.array([math.cos(t) for t in FACTOR_VALUES[2]])
_SIN = np.array([math.sin(t) for t in FACTOR_VALUES[2]])


def _check_factors(factors: np.ndarray, grid: FactorGrid) -> np.ndarray:
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != grid.num_factors or not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"factors must be integer indices of shape (N, {grid.num_factors}), got "
                         f"{factors.dtype} {factors.shape}")
    if len(factors) and ((factors.min(axis=0) < 0).any() or (factors.max(axis=0) >= grid.sizes).any()):
        raise ValueError(f"factor indices out of range for sizes {grid.sizes}")
    return factors.astype(np.int64, copy=False)


def render_sprites(factors: np.ndarray) -> np.ndarray:
    """(N, 5) ``FACTOR_GRID`` indices -> (N, 64, 64) uint8 images in {0, 1}.

    Deterministic and independent of batching: an image depends only on its own factors.
    Not pixel-identical to the official dSprites file (see the module docstring).
    """
    factors = _check_factors(factors, FACTOR_GRID)
    scale, position_x, position_y = (FACTOR_VALUES[i][factors[:, i]] for i in (1, 3, 4))
    return _render(factors[:, 0], scale, _COS[factors[:, 2]], _SIN[factors[:, 2]], position_x, position_y)


def render_sprite_values(shape, scale, orientation, position_x, position_y) -> np.ndarray:
    """Like ``render_sprites`` but from values: shape index 0..2, scale, orientation in radians, positions in [0, 1].

    For values between the grid's (e.g. an exact quarter turn); arrays broadcast to one length N.
    """
    shape, scale, orientation, position_x, position_y = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(v)) for v in (shape, scale, orientation, position_x, position_y)))
    if not np.issubdtype(shape.dtype, np.integer) or (shape < 0).any() or (shape >= len(SHAPE_NAMES)).any():
        raise ValueError(f"shape must be integer indices 0..{len(SHAPE_NAMES) - 1}")
    orientation = orientation.astype(np.float64)
    return _render(shape.astype(np.int64), scale.astype(np.float64), np.cos(orientation), np.sin(orientation),
                   position_x.astype(np.float64), position_y.astype(np.float64))


def _render(shape, scale, cos, sin, position_x, position_y, window: int = _WINDOW) -> np.ndarray:
    out = np.zeros((len(shape), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for start in range(0, len(shape), _CHUNK):
        part = slice(start, start + _CHUNK)
        _render_chunk(out[part], shape[part], scale[part], cos[part], sin[part], position_x[part], position_y[part],
                      window)
    return out


def _render_chunk(out, shape, scale, cos, sin, position_x, position_y, side: int) -> None:
    n = len(shape)
    cx = POSITION_START + POSITION_SPAN * position_x
    cy = POSITION_START + POSITION_SPAN * position_y
    # Only the side x side pixels around the centre can be inside: evaluate those, then copy them into place.
    # (side=64 evaluates the whole canvas: the tests' reference for the windowing.)
    top, left = (np.clip(np.floor(c).astype(np.int64) - side // 2, 0, IMAGE_SIZE - side) for c in (cy, cx))
    span = np.arange(side) + 0.5
    dx = (left[:, None] + span) - cx[:, None]  # (n, side): px right of the centre
    dy = cy[:, None] - (top[:, None] + span)  # (n, side): px above it (y up, so rotation is counter-clockwise)
    # Shape-local coordinates u = R(-theta) (dx, dy), pre-divided so each shape's test is on unit sizes.
    size = HALF_SIZE * scale
    unit = np.where(shape == 2, _HEART_HALF_WIDTH / size, 1.0 / size)
    v_unit = np.where(shape == 1, unit / ELLIPSE_ASPECT, unit)
    window = np.empty((n, side, side), dtype=bool)
    for kind in range(len(SHAPE_NAMES)):
        which = np.flatnonzero(shape == kind)
        if not len(which):
            continue
        # Coefficients in float64, the per-pixel work (n x side x side) in float32 for speed.
        c_u, s_u, c_v, s_v = ((a[which] * b[which]).astype(np.float32)[:, None, None]
                              for a, b in ((cos, unit), (sin, unit), (cos, v_unit), (sin, v_unit)))
        col = dx[which].astype(np.float32)[:, None, :]
        row = dy[which].astype(np.float32)[:, :, None]
        u = c_u * col + s_u * row
        v = c_v * row - s_v * col
        if kind == 0:  # square: |u|, |v| <= 1
            np.abs(u, out=u)
            np.abs(v, out=v)
            inside = np.maximum(u, v, out=u) <= 1
        elif kind == 1:  # ellipse: u^2 + v^2 <= 1 (the aspect is in v's unit)
            inside = u * u + v * v <= 1
        else:  # heart, in its own coordinates with the centroid moved back to y = 0.2935
            v += np.float32(_HEART_CENTROID_Y)
            x2 = u * u
            r = x2 + v * v - 1
            inside = r * r * r <= x2 * v * v * v
        window[which] = inside
    # A view of ``out`` with every possible placement, [image, top, left, row, column]; pasting is then one
    # assignment of whole blocks rather than a per-pixel scatter.
    placements = np.lib.stride_tricks.as_strided(
        out, shape=(n, IMAGE_SIZE - side + 1, IMAGE_SIZE - side + 1, side, side),
        strides=(out.strides[0], IMAGE_SIZE, 1, IMAGE_SIZE, 1))
    placements[np.arange(n), top, left] = window


def _render_digest() -> str:
    """sha256 of a fixed spread of 1,024 rendered grid images: identifies the renderer in a run manifest."""
    index = np.linspace(0, FACTOR_GRID.num_points - 1, 1024).astype(np.int64)
    return hashlib.sha256(np.packbits(render_sprites(FACTOR_GRID.to_factors(index))).tobytes()).hexdigest()


class SpritesData(GroundTruthData):
    """The dSprites factor grid rendered procedurally (``render_sprites``); no file, no download."""

    grid = FACTOR_GRID
    factor_values = FACTOR_VALUES
    source = "procedural (zoo.data.sprites)"

    def __init__(self) -> None:
        # A digest of rendered images rather than a version number: it changes exactly when the pixels do.
        self.checksums = {"sprites": _render_digest()}

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return OBSERVATION_SHAPE

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """float32 (N, 64, 64, 1) in {0, 1}."""
        return render_sprites(factors)[..., None].astype(np.float32)

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64, 1) of 0/255."""
        return render_sprites(factors)[..., None] * np.uint8(255)

    def packed_images(self, factors: np.ndarray, chunk: int = 8192) -> PackedBinaryImages:
        factors = np.asarray(factors)
        bits = np.zeros((len(factors), IMAGE_SIZE * IMAGE_SIZE // 8), dtype=np.uint8)
        for start in range(0, len(factors), chunk):
            part = render_sprites(factors[start:start + chunk])
            bits[start:start + chunk] = np.packbits(part.reshape(len(part), -1), axis=1)
        return PackedBinaryImages(bits, OBSERVATION_SHAPE)


def load_dsprites_npz(path: str | os.PathLike, grid: FactorGrid = FACTOR_GRID,
                      chunk: int = 16384) -> tuple[PackedBinaryImages, tuple[np.ndarray, ...]]:
    """Reads a dSprites npz: (images as bits, each factor's values), after checking it holds ``grid`` in order.

    The images are decompressed ``chunk`` at a time straight into bits, so the 3 GB of pixels never
    exist at once. ``latents_classes`` must be [0, factors...] for grid position 0, 1, 2, ... (colour
    first, then ``grid``'s factors, last fastest). The pickled ``metadata`` entry is never read.
    ``grid`` other than dSprites' is for small test files. Raises ZooError on a file that is not this.
    """
    path = Path(path)
    hint = "delete it to re-download, or point --data-dir/ZOO_DATA_DIR at a good copy"
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [k for k in ("imgs", "latents_classes", "latents_values") if f"{k}.npy" not in members]
            if missing:
                raise ZooError(f"{path} has no {', '.join(missing)}; it is not the dSprites npz — {hint}")
            with archive.open("latents_classes.npy") as handle:
                classes = np.lib.format.read_array(handle, allow_pickle=False)
            with archive.open("latents_values.npy") as handle:
                values = np.lib.format.read_array(handle, allow_pickle=False)
            _check_latents(path, classes, values, grid, hint)
            del classes
            with archive.open("imgs.npy") as handle:
                bits = _read_packed_images(path, handle, grid.num_points, chunk, hint)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
        raise ZooError(f"{path} is corrupt or not a dSprites npz ({' '.join(str(error).split())}); {hint}") from None
    strides = grid.strides
    factor_values = tuple(values[np.arange(size) * stride, i + 1].copy()
                          for i, (size, stride) in enumerate(zip(grid.sizes, strides)))
    return PackedBinaryImages(bits, OBSERVATION_SHAPE), factor_values


def _check_latents(path, classes, values, grid: FactorGrid, hint: str) -> None:
    expected = (grid.num_points, grid.num_factors + 1)
    for name, array in (("latents_classes", classes), ("latents_values", values)):
        if array.shape != expected:
            raise ZooError(f"{path}: {name} has shape {array.shape}, expected {expected} (the full "
                           f"{' x '.join(map(str, grid.sizes))} grid plus colour); {hint}")
    in_order = grid.to_factors(np.arange(grid.num_points))
    if (classes[:, 0] != 0).any() or not np.array_equal(classes[:, 1:], in_order):
        raise ZooError(f"{path}: latents_classes is not the factor grid in order (colour, shape, scale, "
                       f"orientation, x, y; last fastest); {hint}")


def _read_packed_images(path, handle, count: int, chunk: int, hint: str) -> np.ndarray:
    version = np.lib.format.read_magic(handle)
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = header(handle)
    if shape != (count, IMAGE_SIZE, IMAGE_SIZE) or dtype != np.uint8 or fortran_order:
        raise ZooError(f"{path}: imgs is {dtype} {shape}, expected uint8 ({count}, 64, 64); {hint}")
    pixels = IMAGE_SIZE * IMAGE_SIZE
    bits = np.empty((count, pixels // 8), dtype=np.uint8)
    for start in range(0, count, chunk):
        rows = min(chunk, count - start)
        block = np.frombuffer(handle.read(rows * pixels), dtype=np.uint8)
        if block.size != rows * pixels:
            raise ZooError(f"{path}: imgs ends after {start + block.size // pixels} images; {hint}")
        block = block.reshape(rows, pixels)
        if block.max(initial=0) > 1:
            raise ZooError(f"{path}: imgs has pixel values above 1, expected binary 0/1 images; {hint}")
        bits[start:start + rows] = np.packbits(block, axis=1)
    return bits


class DSpritesData(GroundTruthData):
    """DeepMind's dSprites file, from ``<data_dir>/dsprites/``; images held as bits (377 MB)."""

    grid = FACTOR_GRID

    def __init__(self, data_dir: str | os.PathLike, *, download: bool = True):
        folder = Path(data_dir) / DATASET_FOLDERS["dsprites"]
        # ensure_file checks the md5 (or downloads, checked) before a byte is parsed.
        self.path = ensure_file(folder, DSPRITES_FILE, download=download)
        self.packed, self.factor_values = load_dsprites_npz(self.path, self.grid)
        self.checksums = {DSPRITES_FILE.filename: DSPRITES_FILE.md5}
        self.source = str(folder)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return OBSERVATION_SHAPE

    def _rows(self, factors: np.ndarray) -> np.ndarray:
        return self.grid.to_index(_check_factors(factors, self.grid))

    def observations(self, factors: np.ndarray) -> np.ndarray:
        """float32 (N, 64, 64, 1) in {0, 1}: the official images at grid position ``to_index(factors)``."""
        rows = self._rows(factors)
        return np.unpackbits(self.packed.bits[rows], axis=1).reshape(len(rows), *OBSERVATION_SHAPE).astype(np.float32)

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64, 1) of 0/255."""
        return self.packed[self._rows(factors)]

    def packed_images(self, factors: np.ndarray, chunk: int = 8192) -> PackedBinaryImages:
        del chunk  # already bits: a gather, no rendering
        return PackedBinaryImages(self.packed.bits[self._rows(factors)], OBSERVATION_SHAPE)


def open_ground_truth(name: str, data_dir: str | os.PathLike, *, download: bool = True) -> GroundTruthData:
    """``"sprites"`` -> ``SpritesData()``; ``"dsprites"`` -> ``DSpritesData(data_dir, download=download)``."""
    if name == "sprites":
        return SpritesData()
    if name == "dsprites":
        return DSpritesData(data_dir, download=download)
    raise ZooError(f"no ground-truth factors for data set '{name}'; choose sprites or dsprites")


__all__ = [
    "FACTOR_GRID",
    "FACTOR_VALUES",
    "IMAGE_SIZE",
    "OBSERVATION_SHAPE",
    "SHAPE_NAMES",
    "DSpritesData",
    "SpritesData",
    "load_dsprites_npz",
    "open_ground_truth",
    "render_sprite_values",
    "render_sprites",
]
