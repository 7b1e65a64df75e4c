"""Checksums of files and byte streams: size, crc32c (as GCS writes it) and sha256, in one pass."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.errors import StorageError

__all__ = ["Digest", "FileDigest", "file_digest", "file_sha256", "crc32c_b64"]

_READ_SIZE = 1 << 20


def _crc32c_module() -> Any:
    try:
        import google_crc32c
    except ImportError:
        raise StorageError('crc32c checksums need google-crc32c: pip install "tunebench[gcs]"') from None
    return google_crc32c


def crc32c_b64(data: bytes) -> str:
    """Return the crc32c of `data` as GCS reports it: base64 of the big-endian 4 bytes."""
    return base64.b64encode(_crc32c_module().Checksum(data).digest()).decode("ascii")


@dataclass(frozen=True)
class FileDigest:
    """The size and checksums of one file's bytes."""

    size: int
    crc32c: str
    sha256: str


class Digest:
    """Running size, crc32c and sha256 of bytes fed to `update`."""

    def __init__(self) -> None:
        self._crc = _crc32c_module().Checksum()
        self._sha = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        """Add `data` to every checksum."""
        self._crc.update(data)
        self._sha.update(data)
        self.size += len(data)

    def result(self) -> FileDigest:
        """Return the checksums of everything fed so far."""
        crc = base64.b64encode(self._crc.digest()).decode("ascii")
        return FileDigest(self.size, crc, self._sha.hexdigest())


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of the file's bytes (read in 1 MiB blocks); OSError when it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path, on_bytes: Callable[[int], None] | None = None) -> FileDigest:
    """Return the size, crc32c and sha256 of the file at `path`, calling `on_bytes(n)` as it reads."""
    digest = Digest()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_READ_SIZE), b""):
            digest.update(block)
            if on_bytes:
                on_bytes(len(block))
    return digest.result()
