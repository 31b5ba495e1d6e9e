"""Loading a folder of images into one uint8 array, with an on-disk cache.

Rules (the same for every folder, including the Cartoon Set):

- Files ending in .png, .jpg or .jpeg (any case) are images; other files (for
  example the Cartoon Set's per-image .csv attributes) and hidden files are
  ignored. Images are taken in file-name order.
- Each image is cropped to its largest centred square, then resized to
  ``image_size`` x ``image_size`` with ``tf.image.resize(..., "bilinear",
  antialias=True)``, which averages over the source pixels when shrinking
  (area-like quality, no aliasing). Images already at the target size are
  copied unchanged.
- Transparent pixels are composited over white (the Cartoon Set's background).
- Channels: if every image is greyscale (1 channel, or grey + alpha) the result
  has 1 channel; otherwise every image becomes RGB (greys are repeated over the
  3 channels) and the result has 3 channels.

Decoding thousands of PNGs takes seconds, so the result is cached as a .npy in
``$ZOO_CACHE_DIR`` (default ``~/.cache/zoo``), keyed by a hash of the absolute
file paths, their sizes and modification times and ``image_size``: touching,
adding or removing a file gives a new key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from zoo.errors import ZooError
from zoo.io import atomic_path, write_json

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
_CACHE_VERSION = 1  # bump when the decoding rules above change
_DECODE_BATCH = 64


@dataclass(frozen=True)
class ImageFile:
    """One image file as listed: absolute path, size in bytes, mtime in ns."""

    path: Path
    size: int
    mtime_ns: int


def list_image_files(folder: str | os.PathLike, *, prefix: str = "") -> list[ImageFile]:
    """Lists the images in ``folder`` (not recursive), sorted by file name.

    Only names starting with ``prefix`` are kept. Raises ZooError when the
    folder is missing, unreadable or holds no images.
    """
    folder = Path(folder).expanduser().absolute()
    if not folder.exists():
        raise ZooError(f"image folder {folder} does not exist; check the path given after 'folder:'")
    if not folder.is_dir():
        raise ZooError(f"{folder} is not a folder; folder:PATH needs a directory of .png/.jpg images")
    files = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.startswith(prefix):
                    continue
                if not name.lower().endswith(IMAGE_EXTENSIONS) or not entry.is_file():
                    continue
                stat = entry.stat()
                files.append(ImageFile(folder / name, stat.st_size, stat.st_mtime_ns))
    except PermissionError:
        raise ZooError(f"cannot read image folder {folder} (permission denied); fix its permissions") from None
    if not files:
        wanted = f"{prefix}*" if prefix else "*"
        raise ZooError(
            f"image folder {folder} holds no images ({wanted}.png/.jpg/.jpeg); add images or choose another folder"
        )
    files.sort(key=lambda f: f.path.name)
    return files


def files_digest(files: Sequence[ImageFile]) -> str:
    """sha256 over the names and sizes of ``files``: identifies a folder's content for run manifests."""
    digest = hashlib.sha256()
    for item in files:
        digest.update(f"{item.path.name}\t{item.size}\n".encode())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$ZOO_CACHE_DIR`` if set, else ``~/.cache/zoo``."""
    configured = os.environ.get("ZOO_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "zoo"


def load_images(
    files: Sequence[ImageFile], image_size: int, *, cache_dir: str | os.PathLike | None = None, use_cache: bool = True
) -> np.ndarray:
    """Decodes and resizes ``files`` into a uint8 array (N, S, S, C), C in {1, 3}.

    See the module docstring for the resize and channel rules. Results are cached
    (``cache_dir`` defaults to ``default_cache_dir()``). Raises ZooError naming
    the first file that cannot be decoded as an image.
    """
    if not files:
        raise ZooError("no image files to load; add images to the folder")
    cache_file = None
    if use_cache:
        cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        cache_file = cache_root / "images" / f"{_cache_key(files, image_size)}.npy"
        cached = _read_cache(cache_file, len(files), image_size)
        if cached is not None:
            return cached
    images = _decode_files(files, image_size)
    if cache_file is not None:
        _write_cache(cache_file, images)
    return images


def _cache_key(files: Sequence[ImageFile], image_size: int) -> str:
    payload = {
        "version": _CACHE_VERSION,
        "image_size": image_size,
        "files": [[str(f.path), f.size, f.mtime_ns] for f in files],
    }
    return hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()[:32]


def _read_cache(path: Path, count: int, image_size: int) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable image cache %s (%s)", path, error)
        return None
    expected = (count, image_size, image_size)
    if array.dtype != np.uint8 or array.shape[:3] != expected or array.ndim != 4 or array.shape[3] not in (1, 3):
        log.warning("ignoring image cache %s with unexpected shape %s", path, array.shape)
        return None
    return array


def _write_cache(path: Path, images: np.ndarray) -> None:
    try:
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, images, allow_pickle=False)
    except OSError as error:
        # The cache only saves time; a read-only home must not stop training.
        log.warning("could not write image cache %s (%s)", path, error)


def _decoded_batches(files: Sequence[ImageFile], image_size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yields (position, uint8 RGB batch, is_grey flags) in file order; ZooError names a bad file."""
    import tensorflow as tf  # deferred: listing and cache hits need no TensorFlow

    paths = tf.constant([str(f.path) for f in files])
    dataset = tf.data.Dataset.from_tensor_slices(paths).map(
        tf.autograph.experimental.do_not_convert(lambda p: _decode_one(tf.io.read_file(p), image_size)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,  # errors then surface in file order, so we know where to look
    )
    dataset = dataset.batch(_DECODE_BATCH).prefetch(2)
    position = 0
    iterator = iter(dataset)
    while True:
        try:
            batch, is_grey = next(iterator)
        except StopIteration:
            break
        except (tf.errors.OpError, ValueError):
            raise _find_bad_file(files[position : position + _DECODE_BATCH], image_size) from None
        yield position, batch.numpy(), is_grey.numpy()
        position += len(batch)


def _decode_files(files: Sequence[ImageFile], image_size: int) -> np.ndarray:
    images = np.empty((len(files), image_size, image_size, 3), dtype=np.uint8)
    grey = np.empty(len(files), dtype=bool)
    for position, batch, is_grey in _decoded_batches(files, image_size):
        images[position : position + len(batch)] = batch
        grey[position : position + len(batch)] = is_grey
    if grey.all():
        # Every image is grey, so the three channels are equal: keep one.
        return np.ascontiguousarray(images[..., :1])
    return images


# ------------------------------------------------------------------ streaming


def scan_images(
    files: Sequence[ImageFile], image_size: int, *, cache_dir: str | os.PathLike | None = None, use_cache: bool = True
) -> bool:
    """Decodes every file once without keeping the pixels: checks that all are readable images
    (ZooError naming the first bad one, as ``load_images``) and returns whether all are grey.

    Used for data that is streamed instead of held in memory, so a bad file is
    reported before training rather than in the middle of an epoch. The verdict is
    cached (a small JSON next to the image cache, same key), so only the first
    load of a folder pays for the pass.
    """
    if not files:
        raise ZooError("no image files to load; add images to the folder")
    record = None
    if use_cache:
        cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        record = cache_root / "images" / f"{_cache_key(files, image_size)}.scan.json"
        try:
            saved = json.loads(record.read_text())
            if saved.get("count") == len(files) and isinstance(saved.get("all_grey"), bool):
                return saved["all_grey"]
        except (OSError, ValueError):
            pass
    all_grey = True
    for _, _, is_grey in _decoded_batches(files, image_size):
        all_grey = all_grey and bool(is_grey.all())
    if record is not None:
        try:
            write_json(record, {"count": len(files), "all_grey": all_grey})
        except OSError as error:
            log.warning("could not write image scan record %s (%s)", record, error)
    return all_grey


def decode_image_file(path, image_size: int, channels: int):
    """Graph function: one image file -> uint8 [S, S, channels], the pixels ``load_images`` gives."""
    import tensorflow as tf

    image, _ = _decode_one(tf.io.read_file(path), image_size)
    return image[:, :, :channels] if channels == 1 else image


class StreamedImages:
    """Stands in for a split's uint8 NHWC array when the images stay on disk.

    Has the array's ``shape``, ``dtype``, ``ndim`` and ``len``; indexing decodes
    just the selected files (same pixels as ``load_images``). The tf.data pipelines
    (``zoo.data.pipeline``) read the files batch by batch instead.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, files: Sequence[ImageFile], image_size: int, channels: int):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.files = list(files)
        self.image_size = image_size
        self.channels = channels

    @property
    def paths(self) -> list[str]:
        return [str(f.path) for f in self.files]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), self.image_size, self.image_size, self.channels)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index) -> np.ndarray:
        rows = np.arange(len(self.files))[index]
        if np.ndim(rows) == 0:
            return self._decode([int(rows)])[0]
        return self._decode([int(r) for r in np.ravel(rows)]).reshape(*np.shape(rows), *self.shape[1:])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        array = self[:]
        return array if dtype is None else array.astype(dtype)

    def _decode(self, rows: list[int]) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.uint8)
        if rows:
            for position, batch, _ in _decoded_batches([self.files[r] for r in rows], self.image_size):
                out[position : position + len(batch)] = batch[..., : self.channels]
        return out


def _decode_one(contents, image_size: int):
    """Graph function: encoded bytes -> (uint8 [S, S, 3] RGB, is_grey)."""
    import tensorflow as tf

    image = tf.io.decode_image(contents, channels=0, expand_animations=False, dtype=tf.uint8)
    shape = tf.shape(image)
    height, width, channels = shape[0], shape[1], shape[2]
    # Crop first: every later op then touches fewer pixels.
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image[top : top + side, left : left + side]

    def over_white(colour, alpha):
        # Composite over white; only images with an alpha channel pay for float maths.
        colour, alpha = tf.cast(colour, tf.float32), tf.cast(alpha, tf.float32) / 255.0
        mixed = colour * alpha + 255.0 * (1.0 - alpha)
        return tf.cast(tf.round(mixed), tf.uint8)

    # Channels: 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA; every branch gives uint8 RGB.
    rgb = tf.switch_case(
        tf.clip_by_value(channels - 1, 0, 3),
        branch_fns=[
            lambda: tf.tile(image[:, :, :1], [1, 1, 3]),
            lambda: tf.tile(over_white(image[:, :, :1], image[:, :, 1:2]), [1, 1, 3]),
            lambda: image[:, :, :3],
            lambda: over_white(image[:, :, :3], image[:, :, 3:4]),
        ],
    )
    rgb = tf.reshape(rgb, [side, side, 3])

    def resized():
        smooth = tf.image.resize(rgb, [image_size, image_size], method="bilinear", antialias=True)
        return tf.cast(tf.round(tf.clip_by_value(smooth, 0.0, 255.0)), tf.uint8)

    rgb = tf.cond(tf.equal(side, image_size), lambda: rgb, resized)
    return tf.ensure_shape(rgb, [image_size, image_size, 3]), channels <= 2


def _find_bad_file(candidates: Sequence[ImageFile], image_size: int) -> ZooError:
    import tensorflow as tf

    for item in candidates:
        try:
            _decode_one(tf.io.read_file(str(item.path)), image_size)
        except (tf.errors.OpError, ValueError) as error:
            message = getattr(error, "message", None) or str(error)
            reason = " ".join(message.split())[:200]
            return ZooError(
                f"cannot read image {item.path} ({reason}); "
                f"replace it with a valid PNG/JPEG or move it out of the folder"
            )
    names = ", ".join(f.path.name for f in candidates[:3])
    return ZooError(f"could not decode the images starting at {names}; check that they are valid PNG/JPEG files")
