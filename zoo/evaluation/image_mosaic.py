"""Image grids as one array, and the size of a grid tile; shared by the evaluator's and the bench's figures.

Free of TensorFlow, so the bench's report can draw with it.
"""

from __future__ import annotations

import numpy as np

DPI = 100  # dots per inch of every zoo figure
TILE = 0.4  # inches per image tile at least: 40 px, so a 28 px digit is drawn larger, not smaller


def tile_inches(image_shape, minimum: float = TILE) -> tuple[float, float]:
    """(height, width) in inches of one grid tile for images of ``image_shape`` [H, W(, C)]: ``minimum``, or
    the image's own pixels plus the mosaic's one-pixel padding when that is larger: shrinking a 64 px Cartoon
    Set image into a 40 px tile drops about every third row and column (nearest-neighbour sampling)."""
    height, width = image_shape[:2]
    return max(minimum, (height + 1) / DPI), max(minimum, (width + 1) / DPI)


def mosaic(images: np.ndarray, rows: int, cols: int, pad: int = 1) -> np.ndarray:
    """Tiles [N, H, W(, 3)] images row by row into one array with ``pad`` white pixels between tiles."""
    height, width = images.shape[1:3]
    shape = (rows * (height + pad) - pad, cols * (width + pad) - pad) + images.shape[3:]
    canvas = np.ones(shape, dtype=np.float32)
    for index, image in enumerate(images[: rows * cols]):
        r, c = divmod(index, cols)
        canvas[r * (height + pad): r * (height + pad) + height, c * (width + pad): c * (width + pad) + width] = image
    return canvas
