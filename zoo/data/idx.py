"""Reader for gzipped IDX files (the MNIST and Fashion-MNIST format).

Layout: a big-endian 4-byte magic ``0x0000TTNN`` (TT = element type, 0x08 for
unsigned bytes; NN = number of dimensions), then NN big-endian uint32 sizes,
then the values in C order.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

IMAGES_MAGIC = 0x00000803  # ubyte, 3 dims (count, rows, cols)
LABELS_MAGIC = 0x00000801  # ubyte, 1 dim (count)
_UBYTE = 0x08
_REDOWNLOAD = "delete it to re-download, or point --data-dir/ZOO_DATA_DIR at a good copy"


def read_idx(path: str | os.PathLike, *, expected_magic: int | None = None) -> np.ndarray:
    """Reads a gzipped IDX file of unsigned bytes into a writable uint8 array.

    ``expected_magic`` (``IMAGES_MAGIC`` or ``LABELS_MAGIC``) also pins the
    number of dimensions. Raises ZooError for a missing, corrupt or truncated
    file, a wrong magic number, or a size that disagrees with the header.
    """
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"IDX file {path} not found; point --data-dir/ZOO_DATA_DIR at the folder that holds it")
    try:
        with gzip.open(path, "rb") as stream:
            return _parse(stream, path, expected_magic)
    except (EOFError, zlib.error, OSError) as error:
        # gzip.BadGzipFile is an OSError; a bad CRC or a cut-off stream lands here.
        reason = " ".join(str(error).split()) or type(error).__name__
        raise ZooError(f"{path} is corrupt or truncated ({reason}); {_REDOWNLOAD}") from None


def _parse(stream: gzip.GzipFile, path: Path, expected_magic: int | None) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4:
        raise ZooError(f"{path} is corrupt or truncated (no IDX header); {_REDOWNLOAD}")
    magic = int.from_bytes(head, "big")
    if expected_magic is not None and magic != expected_magic:
        raise ZooError(
            f"{path} has IDX magic 0x{magic:08X}, expected 0x{expected_magic:08X}; "
            f"it is not the right file — {_REDOWNLOAD}"
        )
    if head[0] != 0 or head[1] != 0 or head[2] != _UBYTE or head[3] == 0:
        raise ZooError(
            f"{path} has IDX magic 0x{magic:08X}, expected 0x000008NN (unsigned bytes); "
            f"it is not an IDX file of images or labels — {_REDOWNLOAD}"
        )
    ndim = head[3]
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise ZooError(f"{path} is corrupt or truncated (header cut short); {_REDOWNLOAD}")
    dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    count = int(np.prod(dims, dtype=np.int64))
    # Read straight into the final buffer: one copy, and the array is writable.
    values = np.empty(count, dtype=np.uint8)
    view = memoryview(values)
    filled = 0
    while filled < count:
        got = stream.readinto(view[filled:])
        if not got:
            break
        filled += got
    extra = len(stream.read(1)) if filled == count else 0
    if filled != count or extra:
        found = f"{filled:,}" if filled != count else f"more than {count:,}"
        raise ZooError(
            f"{path} declares dimensions {dims} ({count:,} values) but holds {found}; "
            f"it is corrupt or truncated — {_REDOWNLOAD}"
        )
    return values.reshape(dims)
