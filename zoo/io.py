"""Crash-safe file writes.

Every file that a later step reads (metrics, manifests, configs, checkpoints)
goes through these helpers: the content is written to a temporary file in the
same folder, flushed to disk, then renamed over the target. A crash leaves either
the old file or the new one, never half of one.

A crash (or SIGKILL) in the middle of a write can leave the temporary file behind:
it is hidden (``.NAME.zoo-tmp-XXXX[.suffix]``), never read by zoo, and
``remove_temp_files`` (called when a run folder is reopened) deletes it.
Finished files get the usual permissions (0666 minus the umask), not mkstemp's 0600.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml


TEMP_MARKER = ".zoo-tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path next to ``target``; renames it over ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARKER}", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every file system allows it, and it is only extra safety.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Deletes the temporary files that interrupted atomic writes left in ``folder`` (not recursive)."""
    removed = []
    for path in Path(folder).glob(f".*{TEMP_MARKER}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copies ``source`` over ``target`` atomically."""
    with atomic_path(target, suffix=Path(target).suffix) as tmp:
        shutil.copyfile(source, tmp)


# OS errors that mean "this place cannot be written" rather than a bug in zoo.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                            errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EIO})


def is_disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def describe_os_error(error: OSError, path: str | os.PathLike | None = None, verb: str = "write") -> str:
    """A short user-facing description of a failed write, e.g. 'disk full while writing X (...)'."""
    where = path if path is not None else error.filename
    if is_disk_full(error):
        return f"disk full while writing {where} ({error.strerror})" if where else f"disk full ({error.strerror})"
    if where is None:
        return f"{verb} failed ({error.strerror or error})"
    return f"cannot {verb} {where} ({error.strerror or error})"


def write_text(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | os.PathLike, payload: Any) -> None:
    write_text(target, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_yaml(target: str | os.PathLike, payload: Any) -> None:
    write_text(target, yaml.safe_dump(payload, sort_keys=False))


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as handle:
        return json.load(handle)


def _json_default(value: Any) -> Any:
    # numpy scalars and arrays, tuples from dataclasses, Paths.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (Path, os.PathLike)):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
