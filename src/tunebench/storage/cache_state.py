"""A cache folder's own bookkeeping: the state file of verified checksums, the lock, and cleaning what a pull left."""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunebench.storage.checksums import FileDigest, file_digest
from tunebench.storage.local import write_atomic
from tunebench.storage.manifest import Manifest, ManifestFile

__all__ = ["STATE_NAME", "CacheState", "locked_folder", "remove_partials", "remove_unlisted"]

STATE_NAME = ".tunebench-cache.json"


def _boot_id() -> str:
    """Return an id of this boot of the machine: Linux's boot_id, else the boot time."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        import psutil

        return f"boot-time-{psutil.boot_time():.0f}"


_BOOT = _boot_id()


class CacheState:
    """`.tunebench-cache.json`: checksums verified per file, valid while size, mtime and boot are unchanged."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / STATE_NAME
        try:
            self.entries: dict[str, dict[str, Any]] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def is_current(self, item: ManifestFile) -> bool:
        """Return True when the cached copy of `item` exists and has the manifest's size and checksums."""
        path = self.folder / item.name
        try:
            stat = path.stat()
        except OSError:
            return False
        if stat.st_size != item.size:
            return False
        entry = self.entries.get(item.name, {})
        if self.trusted(item.name, path):
            digest = FileDigest(entry["size"], entry.get("crc32c", ""), entry.get("sha256", ""))
        else:
            digest = file_digest(path)
            self.record(item.name, digest)
        return digest.crc32c == item.crc32c and (item.sha256 is None or digest.sha256 == item.sha256)

    def trusted(self, name: str, path: Path) -> bool:
        """Return True when the recorded checksums of `name` still describe the file at `path`."""
        entry = self.entries.get(name)
        try:
            stat = path.stat()
        except OSError:
            return False
        return entry is not None and (entry.get("size"), entry.get("mtime_ns"), entry.get("boot")) == (
            stat.st_size,
            stat.st_mtime_ns,
            _BOOT,
        )

    def record(self, name: str, digest: FileDigest) -> None:
        """Remember the checksums of the file `name` as it is now on disk."""
        stat = (self.folder / name).stat()
        self.entries[name] = {
            "size": digest.size,
            "mtime_ns": stat.st_mtime_ns,
            "crc32c": digest.crc32c,
            "sha256": digest.sha256,
            "boot": _BOOT,
        }

    def save(self) -> None:
        """Write the state atomically (a torn state file would only cost a re-hash, never a wrong file)."""
        write_atomic(self.path, json.dumps(self.entries, indent=1, sort_keys=True))


@contextlib.contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` so two processes (xdist workers) never pull into it at once."""
    with open(folder.parent / f".{folder.name}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def remove_partials(folder: Path) -> None:
    """Delete temp files a killed pull left behind (only under the lock, so none is in use)."""
    for path in folder.rglob(".*.partial"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_unlisted(folder: Path, manifest: Manifest) -> None:
    """Delete files in a version folder that its manifest does not name, so loaders never see them."""
    keep = {f.name for f in manifest.files}
    for path in folder.rglob("*"):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and name not in keep and name != STATE_NAME:
            path.unlink()
