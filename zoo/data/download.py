"""Getting dataset files onto disk, checked, without ever leaving half a file.

A file that is already present is verified (size and md5 when published, else
the recorded sha256) before use. A missing file is downloaded into a temporary
file in the same folder, verified, and only then renamed into place, so an
interrupted or bad download never looks like a good file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from zoo.data.sources import CARTOON_TARBALL, RemoteFile
from zoo.errors import ZooError
from zoo.io import atomic_path, write_text

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "zoo-data/0.1 (+python urllib)"
_FIX_HINT = "delete it to re-download, or point --data-dir/ZOO_DATA_DIR at a good copy"
# Left in a dataset folder while a tarball is being unpacked into it; a folder
# that still has it was interrupted and is unpacked again.
INCOMPLETE_MARKER = ".extract-incomplete"


class _BadDownload(Exception):
    """A download that arrived but is not the expected file."""


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """Hex digest of a file, read in chunks (``algorithm`` is "md5" or "sha256")."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where the trust-on-first-use sha256 of ``path`` is recorded."""
    return path.with_name(path.name + ".sha256")


def verify_file(path: str | os.PathLike, remote: RemoteFile) -> None:
    """Raises ZooError unless ``path`` is a good copy of ``remote``.

    Files with a published md5 are checked against size and md5. Files without
    one are checked against the sha256 recorded beside them; if no record exists
    yet, the current sha256 is recorded (trust on first use).
    """
    path = Path(path)
    if remote.md5 is not None:
        size = path.stat().st_size
        md5 = file_digest(path, "md5")
        if md5 != remote.md5 or (remote.size is not None and size != remote.size):
            expected_size = f"{remote.size:,}" if remote.size is not None else "?"
            raise ZooError(
                f"{path} is not the expected file: md5 {md5} ({size:,} bytes), expected md5 {remote.md5} "
                f"({expected_size} bytes); {_FIX_HINT}"
            )
        return
    record = sidecar_path(path)
    sha256 = file_digest(path, "sha256")
    if not record.exists():
        _record_sha256(path, sha256)
        return
    recorded = _read_sidecar(record)
    if sha256 != recorded:
        raise ZooError(
            f"{path} has sha256 {sha256} but {record.name} recorded {recorded} when it was first used; "
            f"the file changed since — delete both to re-download, or point --data-dir/ZOO_DATA_DIR at a good copy"
        )


def ensure_file(
    directory: str | os.PathLike, remote: RemoteFile, *, download: bool = True, timeout: float = 60.0
) -> Path:
    """Returns ``directory/remote.filename``, verified; downloads it first if it is missing.

    URLs are tried in order. Raises ZooError when the file is present but bad,
    missing with ``download=False``, or could not be fetched from any URL.
    """
    directory = Path(directory)
    target = directory / remote.filename
    if target.is_file():
        verify_file(target, remote)
        return target
    if target.exists():
        raise ZooError(f"{target} exists but is not a file; remove it, or point --data-dir/ZOO_DATA_DIR elsewhere")
    wanted = f"{directory.name}/{remote.filename}"
    if not download:
        raise ZooError(
            f"{remote.filename} not found in {directory} and downloading is disabled; "
            f"set ZOO_DATA_DIR/--data-dir to a folder that holds {wanted}, or allow downloads"
        )
    return _download(target, remote, timeout)


def _download(target: Path, remote: RemoteFile, timeout: float) -> Path:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ZooError(
            f"cannot create {target.parent} to download {remote.filename} into ({error.strerror}); "
            f"set ZOO_DATA_DIR/--data-dir to a writable folder"
        ) from None
    failures: list[str] = []
    bad_content = False
    for url in remote.urls:
        log.info("downloading %s from %s", remote.filename, url)
        try:
            # atomic_path deletes the temporary file if anything below raises.
            with atomic_path(target) as tmp:
                sha256 = _fetch(url, tmp, remote, timeout)
        except _BadDownload as error:
            bad_content = True
            failures.append(f"{url}: {error}")
            continue
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            failures.append(f"{url}: {_reason(error)}")
            continue
        if remote.md5 is None:
            _record_sha256(target, sha256)
        return target
    tried = "; ".join(failures)
    wanted = f"{target.parent.name}/{remote.filename}"
    if bad_content:
        raise ZooError(
            f"downloaded {remote.filename} but it failed verification ({tried}); nothing was saved — try again "
            f"later, or set ZOO_DATA_DIR/--data-dir to a folder that holds a good {wanted}"
        )
    raise ZooError(
        f"{remote.filename} is missing from {target.parent} and could not be downloaded ({tried}); "
        f"set ZOO_DATA_DIR/--data-dir to a folder that holds {wanted}"
    )


def _fetch(url: str, tmp: Path, remote: RemoteFile, timeout: float) -> str:
    """Streams ``url`` into ``tmp`` and verifies it; returns its sha256."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        content_type = (response.headers.get("Content-Type") or "") if response.headers else ""
        # Sign-in and error pages come back as HTML with status 200.
        if content_type.lower().startswith("text/html"):
            raise _BadDownload("the server sent an HTML page instead of the file")
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    if remote.size is not None and size != remote.size:
        raise _BadDownload(f"got {size:,} bytes, expected {remote.size:,}")
    if remote.md5 is not None and md5.hexdigest() != remote.md5:
        raise _BadDownload(f"got md5 {md5.hexdigest()}, expected {remote.md5}")
    if remote.filename.endswith((".tgz", ".tar.gz", ".tar")) and not tarfile.is_tarfile(tmp):
        # Without a published checksum this is the only content check we can make.
        raise _BadDownload("the file is not a tar archive")
    return sha256.hexdigest()


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    reason = getattr(error, "reason", None) or error
    # One line: the CLI prints the message as a single line.
    return " ".join(str(reason).split()) or type(error).__name__


def _record_sha256(path: Path, sha256: str) -> None:
    record = sidecar_path(path)
    try:
        write_text(record, f"{sha256}  {path.name}\n")
    except OSError as error:
        # A read-only mirror cannot hold the record; the file is still usable.
        log.warning("could not record the sha256 of %s in %s (%s)", path, record, error.strerror)
        return
    log.info("recorded sha256 %s of %s in %s (no checksum is published)", sha256, path.name, record)


def _read_sidecar(record: Path) -> str:
    fields = record.read_text().split()
    if not fields:
        raise ZooError(f"{record} is empty; delete it so that the sha256 is recorded again")
    return fields[0].lower()


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    escapes = name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0])
    if escapes:
        raise ZooError(
            f"refusing to unpack {archive}: member '{name}' would land outside the target folder; "
            f"this is not the official archive — delete it to re-download"
        )
    if not (member.isfile() or member.isdir()):
        raise ZooError(
            f"refusing to unpack {archive}: member '{name}' is a link or special file; "
            f"this is not the official archive — delete it to re-download"
        )


def extract_tarball(archive: str | os.PathLike, destination: str | os.PathLike) -> None:
    """Unpacks ``archive`` into ``destination``, refusing unsafe members.

    Members with absolute paths, ``..`` components, links or device files raise
    ZooError before anything is written. A corrupt archive raises ZooError.
    """
    archive, destination = Path(archive), Path(destination)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            # The "data" filter (Python >= 3.11.4) is a second line of defence.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(destination, members=members, **extra)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ZooError(f"{archive} is corrupt or truncated ({_reason(error)}); {_FIX_HINT}") from None
    except OSError as error:
        raise ZooError(
            f"could not unpack {archive} into {destination} ({_reason(error)}); check free disk space and permissions"
        ) from None


def has_images(folder: Path, prefix: str = "cs") -> bool:
    """True when ``folder`` is a directory with at least one ``<prefix>*.png``."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(e.name.startswith(prefix) and e.name.lower().endswith(".png") for e in entries)


def ensure_cartoon_release(directory: str | os.PathLike, *, download: bool = True) -> Path:
    """Makes ``directory`` hold the official flat Cartoon Set 10k layout (``cs*.png``).

    Uses (or downloads) ``directory/cartoonset10k.tgz``, verified against its
    recorded sha256, unpacks it safely into a temporary folder inside
    ``directory`` and moves the files up. A marker file makes an interrupted
    unpack visible, so the next call unpacks again. The tarball is kept.
    """
    directory = Path(directory)
    marker = directory / INCOMPLETE_MARKER
    if has_images(directory) and not marker.exists():
        return directory
    archive = ensure_file(directory, CARTOON_TARBALL, download=download)
    try:
        marker.write_text("unpacking cartoonset10k.tgz; delete the images here if this file stays behind\n")
    except OSError as error:
        raise ZooError(
            f"cannot unpack {archive} into {directory} ({_reason(error)}); make the folder writable, "
            f"or point --data-dir/ZOO_DATA_DIR at a folder that holds cartoonset10k/ unpacked"
        ) from None
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=directory) as tmp:
        extract_tarball(archive, tmp)
        source = _folder_with_most_images(Path(tmp))
        if source is None:
            raise ZooError(
                f"{archive} holds no cs*.png images, so it is not the Cartoon Set release; "
                f"delete it and {sidecar_path(archive).name} to re-download"
            )
        for entry in source.iterdir():
            if entry.is_file():
                os.replace(entry, directory / entry.name)
    marker.unlink()
    return directory


def _folder_with_most_images(root: Path) -> Path | None:
    # The release unpacks either flat or into one top-level folder; accept both.
    best, best_count = None, 0
    for folder, _, files in os.walk(root):
        count = sum(1 for name in files if name.startswith("cs") and name.lower().endswith(".png"))
        if count > best_count:
            best, best_count = Path(folder), count
    return best
