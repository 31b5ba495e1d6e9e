"""Data with ground-truth factors of variation: a grid of factor values and the images they render.

A dataset with factors is a two-step generative model: factors y are drawn, then an
observation x = render(y). Disentanglement metrics sample both steps themselves, so a
``GroundTruthData`` exposes them the way disentanglement_lib's ``GroundTruthData`` does
(``sample_factors(num, random_state)``, ``sample_observations_from_factors(factors,
random_state)``, ``sample``), and draws its random numbers in the same order: one
``random_state.randint(size, size=num)`` per factor, in factor order. Given the same
``numpy.random.RandomState``, zoo's metrics and disentanglement_lib's then see the same
factors (benchmarks/disentanglement checks this).

Factor values are indices ``0 .. size - 1``; an image's position in the full grid is the
mixed-radix number of its factor indices, last factor fastest (the order of the dSprites
file: shape, scale, orientation, x, y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FactorGrid:
    """The factors' names and sizes, and the map between factor indices and grid positions."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.sizes) or not self.sizes or min(self.sizes) < 1:
            raise ValueError(f"a factor grid needs one size >= 1 per name, got {self.names} {self.sizes}")

    @property
    def num_factors(self) -> int:
        return len(self.sizes)

    @property
    def num_points(self) -> int:
        return int(np.prod(self.sizes, dtype=np.int64))

    @property
    def strides(self) -> np.ndarray:
        """How far one step of each factor moves in the grid (last factor fastest)."""
        sizes = np.asarray(self.sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def to_index(self, factors: np.ndarray) -> np.ndarray:
        """(N, F) factor indices -> (N,) grid positions."""
        factors = np.asarray(factors, dtype=np.int64)
        return factors @ self.strides

    def to_factors(self, index: np.ndarray) -> np.ndarray:
        """(N,) grid positions -> (N, F) factor indices (int64)."""
        index = np.asarray(index, dtype=np.int64)
        return (index[:, None] // self.strides[None, :]) % np.asarray(self.sizes, dtype=np.int64)[None, :]

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        """(num, F) factor indices, uniform over the grid; one randint call per factor, in order."""
        factors = np.zeros((num, self.num_factors), dtype=np.int64)
        for i, size in enumerate(self.sizes):
            factors[:, i] = random_state.randint(size, size=num)
        return factors


class GroundTruthData:
    """A factor grid plus a renderer; what the disentanglement metrics sample from.

    Subclasses implement ``observations(factors)`` (images as float32 in [0, 1], NHWC) and
    set ``grid``. Rendering is deterministic: ``random_state`` is accepted for
    disentanglement_lib's interface and left untouched.
    """

    grid: FactorGrid
    checksums: dict[str, str] = {}  # what a run manifest records to identify the data
    source: str = ""  # where the images come from (a file, or "procedural")

    @property
    def num_factors(self) -> int:
        return self.grid.num_factors

    @property
    def factors_num_values(self) -> list[int]:
        return list(self.grid.sizes)

    @property
    def factor_names(self) -> list[str]:
        return list(self.grid.names)

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def observations(self, factors: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def images(self, factors: np.ndarray) -> np.ndarray:
        """uint8 NHWC pixels 0/255 of binary observations: the form of a dataset split."""
        return (self.observations(factors) > 0.5).astype(np.uint8) * np.uint8(255)

    def packed_images(self, factors: np.ndarray, chunk: int = 8192) -> "PackedBinaryImages":
        """The images of ``factors`` kept as bits, rendered ``chunk`` at a time so the pixels never all exist."""
        parts = [PackedBinaryImages.pack(self.images(factors[start:start + chunk])).bits
                 for start in range(0, len(factors), chunk)]
        bits = np.concatenate(parts) if parts else np.zeros((0, int(np.prod(self.observation_shape)) // 8), np.uint8)
        return PackedBinaryImages(bits, self.observation_shape)

    def sample_factors(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        return self.grid.sample_factors(num, random_state)

    def sample_observations_from_factors(self, factors: np.ndarray, random_state: np.random.RandomState) -> np.ndarray:
        del random_state  # deterministic rendering
        return self.observations(factors)

    def sample(self, num: int, random_state: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        factors = self.sample_factors(num, random_state)
        return factors, self.sample_observations_from_factors(factors, random_state)

    def sample_observations(self, num: int, random_state: np.random.RandomState) -> np.ndarray:
        return self.sample(num, random_state)[1]


class PackedBinaryImages:
    """A binary image array kept as bits (``np.packbits`` per image): 1/8 of the bytes of uint8 pixels.

    Stands in for a training split's uint8 NHWC array: ``len``, ``shape``, ``dtype`` and ``ndim`` are those of
    the unpacked array, and indexing with rows unpacks them to pixels 0 or 255 (so that the pipelines'
    binarisation, a Bernoulli draw with probability grey / 255, leaves them unchanged). The whole dSprites grid
    is 377 MB this way instead of 3 GB; the training pipeline unpacks each batch in TensorFlow.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, bits: np.ndarray, image_shape: tuple[int, int, int]):
        pixels = int(np.prod(image_shape))
        if bits.dtype != np.uint8 or bits.ndim != 2 or bits.shape[1] * 8 != pixels:
            raise ValueError(f"packed bits must be uint8 (N, {pixels // 8}), got {bits.dtype} {bits.shape}")
        self.bits = bits
        self.image_shape = tuple(int(d) for d in image_shape)

    @classmethod
    def pack(cls, images: np.ndarray) -> "PackedBinaryImages":
        """From (N, H, W, C) or (N, H, W) images whose pixels are 0 or nonzero."""
        images = np.asarray(images)
        shape = images.shape[1:] if images.ndim == 4 else (*images.shape[1:], 1)
        return cls(np.packbits(images.reshape(len(images), -1) != 0, axis=1), shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.bits), *self.image_shape)

    def __len__(self) -> int:
        return len(self.bits)

    def __getitem__(self, rows) -> np.ndarray:
        chosen = self.bits[rows]
        if chosen.ndim == 1:
            return np.unpackbits(chosen).reshape(self.image_shape) * np.uint8(255)
        return np.unpackbits(chosen, axis=1).reshape(len(chosen), *self.image_shape) * np.uint8(255)


__all__ = ["FactorGrid", "GroundTruthData", "PackedBinaryImages"]
