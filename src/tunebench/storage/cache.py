"""Pull a published folder into the local cache: verified, generation-pinned, never half-visible.

Layout: `<cache>/gcs/<bucket>/<last prefix part>-<hash of the URI>/v<version>-<push id>/`, one folder per
committed version, filled under a lock and never changed after (see `pull_folder`).

Each file named by the manifest downloads, pinned to its generation, into a hidden temp file beside its
final name; size, crc32c and sha256 are checked against the manifest, then the temp file is renamed into
place. A corrupted or truncated download raises ChecksumError and leaves nothing under the final name.
A cached file whose size and checksums equal the manifest's is reused: its checksums are recomputed
unless `.tunebench-cache.json` recorded them for the same size, modification time and boot.

Downloaded files are not fsynced (only the small state file is): this is a cache, and what it must never
do is serve wrong bytes, not survive a power cut. Unsynced data can only be lost with the kernel (a crash
or power loss, hence a new boot id), so entries recorded under another boot are checked again before use,
and a file damaged by the crash is downloaded again. That keeps a pull as fast as the plain client on disks
where fsync is slow.

What is pulled is `remote.committed_manifest`: the manifest, or the listing of a folder copied to the
bucket without tunebench.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.errors import ChecksumError, StorageError
from tunebench.storage.cache_state import STATE_NAME, CacheState, locked_folder, remove_partials, remove_unlisted
from tunebench.storage.checksums import Digest, FileDigest
from tunebench.storage.gcs import gcs_errors, make_client, retry_policy
from tunebench.storage.location import GcsLocation
from tunebench.storage.manifest import Manifest, ManifestFile
from tunebench.storage.remote import committed_manifest
from tunebench.storage.transfer import Progress, TransferSettings, format_bytes, run_largest_first

__all__ = ["PullReport", "pull_folder", "cache_dir_for", "cached_file", "version_dir_name"]

log = logging.getLogger(__name__)


@dataclass
class PullReport:
    """Where the folder is, which manifest it matches, and what moved."""

    uri: str
    path: Path
    manifest: Manifest
    downloaded: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """Return one line: files fetched and reused, bytes and rate."""
        rate = self.bytes_downloaded / self.seconds if self.seconds > 0 else 0.0
        version = f"version {self.manifest.version}" if self.manifest.version else "(no manifest)"
        return (
            f"pulled {self.uri} {version} into {self.path}: "
            f"{len(self.downloaded)} downloaded ({format_bytes(self.bytes_downloaded)}, {format_bytes(rate)}/s), "
            f"{len(self.reused)} reused from the cache"
        )


def cache_dir_for(location: GcsLocation, cache_root: Path | None = None) -> Path:
    """Return the cache folder of `location`: flat, so `gs://b/a` and `gs://b/a/sub` never nest."""
    if cache_root is None:
        from tunebench.tiny import cache_root as default_root

        cache_root = default_root()
    leaf = location.prefix.rsplit("/", 1)[-1] or "_root"
    tag = hashlib.sha256(location.uri.encode()).hexdigest()[:12]
    return cache_root / "gcs" / location.bucket / f"{leaf}-{tag}"


def cached_file(uri: str, name: str, cache_root: Path | None = None) -> Path | None:
    """Return `name` in the newest pulled version of `uri` in the cache, or None (nothing is fetched)."""
    root = cache_dir_for(GcsLocation.parse(uri), cache_root)
    # Files reach their final name only once verified, so any copy found here is a whole, checked one.
    found = sorted(root.glob(f"*/{name}"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    return found[-1] if found else None


def version_dir_name(manifest: Manifest) -> str:
    """Return the folder name of one committed version: `v<version>-<push id>`, or a listing's hash."""
    if manifest.version:
        return f"v{manifest.version}-{manifest.push_id}"
    listing = "\n".join(f"{f.name} {f.generation}" for f in manifest.files)
    return "listing-" + hashlib.sha256(listing.encode()).hexdigest()[:12]


def pull_folder(
    uri: str, *, settings: TransferSettings | None = None, client: Any = None, cache_root: Path | None = None
) -> PullReport:
    """Bring the committed version at `uri` into its own cache folder; return where and what moved.

    Each version gets its own folder, filled once and then never changed, so a process loading from it
    never sees files of two versions mixed. Unchanged files are hard-linked from the previous version's
    folder instead of downloaded; versions older than the previous one are removed.
    """
    location = GcsLocation.parse(uri)
    settings = settings or TransferSettings()
    bucket = (client or make_client()).bucket(location.bucket)
    manifest = committed_manifest(bucket, location, settings)
    root = cache_dir_for(location, cache_root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / version_dir_name(manifest)
    report = PullReport(location.uri, target, manifest)
    with locked_folder(root):
        target.mkdir(exist_ok=True)
        remove_partials(target)
        state = CacheState(target)
        siblings = _verified_siblings(root, target)
        todo = []
        for item in manifest.files:
            if state.is_current(item) or _link_from_sibling(item, target, state, siblings):
                report.reused.append(item.name)
            else:
                todo.append(item)
        try:
            _download_all(bucket, location, todo, target, settings, state, report)
        finally:
            state.save()
        remove_unlisted(target, manifest)
        _prune_versions(root, keep=target)
    return report


def _verified_siblings(root: Path, target: Path) -> dict[str, Path]:
    """Return sha256 -> path of files in the location's other version folders, verified in this boot."""
    found: dict[str, Path] = {}
    for folder in (p for p in root.iterdir() if p.is_dir() and p != target):
        state = CacheState(folder)
        for name, entry in state.entries.items():
            path = folder / name
            if entry.get("sha256") and state.trusted(name, path):
                found.setdefault(entry["sha256"], path)
    return found


def _link_from_sibling(item: ManifestFile, target: Path, state: CacheState, siblings: dict[str, Path]) -> bool:
    """Hard-link an identical file (same sha256) from another version's folder; False if there is none."""
    source = siblings.get(item.sha256 or "")
    if source is None or item.sha256 is None:
        return False
    final = target / item.name
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}-link.partial")
    try:
        os.link(source, tmp)
    except OSError:
        return False  # another filesystem, or no hard links: download it instead
    os.replace(tmp, final)
    state.record(item.name, FileDigest(item.size, item.crc32c, item.sha256))
    return True


def _prune_versions(root: Path, keep: Path) -> None:
    """Remove version folders older than the previous one (a process may still be loading that one)."""
    others = sorted(
        (p for p in root.iterdir() if p.is_dir() and p != keep),
        key=lambda p: (p / STATE_NAME).stat().st_mtime if (p / STATE_NAME).exists() else 0.0,
    )
    for old in others[:-1]:
        shutil.rmtree(old, ignore_errors=True)


def _download_all(
    bucket: Any,
    location: GcsLocation,
    todo: list[ManifestFile],
    target: Path,
    settings: TransferSettings,
    state: CacheState,
    report: PullReport,
) -> None:
    if not todo:
        return
    progress = Progress(sum(f.size for f in todo), f"pull {location.uri}", settings.progress)

    def fetch(item: ManifestFile) -> None:
        digest = _download_verified(bucket, location, item, target, settings, progress)
        state.record(item.name, digest)
        report.downloaded.append(item.name)

    try:
        with progress:
            run_largest_first(todo, lambda f: f.size, fetch, settings.workers)
    finally:
        report.bytes_downloaded, report.seconds = progress.done, progress.seconds


def _download_verified(
    bucket: Any, location: GcsLocation, item: ManifestFile, target: Path, settings: TransferSettings, progress: Progress
) -> FileDigest:
    """Download one file to a temp file, check it, rename it into place; retry a bad copy."""
    final = target / item.name
    final.parent.mkdir(parents=True, exist_ok=True)
    uri = f"gs://{bucket.name}/{location.key(item.object)}#{item.generation}"
    for attempt in range(1, settings.download_attempts + 1):
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as handle:
                digest = _download_into(bucket, location, item, handle, settings, progress, uri)
            _check(digest, item, uri)
            os.replace(tmp, final)
            return digest
        except ChecksumError as exc:
            if attempt == settings.download_attempts:
                raise
            log.warning("%s; downloading again (attempt %d of %d)", exc, attempt + 1, settings.download_attempts)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    raise AssertionError("unreachable")


def _download_into(
    bucket: Any,
    location: GcsLocation,
    item: ManifestFile,
    handle: Any,
    settings: TransferSettings,
    progress: Progress,
    uri: str,
) -> FileDigest:
    from google.api_core import exceptions as api

    writer = _HashingWriter(handle, progress)
    blob = bucket.blob(location.key(item.object), generation=item.generation)
    try:
        with gcs_errors(uri):
            # raw_download: the stored bytes exactly, never transcoded, so the checksums apply to them.
            # checksum=None: the writer computes crc32c itself and `_check` compares it with the manifest's.
            blob.download_to_file(writer, raw_download=True, checksum=None, retry=retry_policy(settings))
        writer.flush()
    except api.NotFound:
        raise StorageError(
            f"{uri}: the manifest names this generation but the bucket no longer holds it "
            "(deleted or overwritten outside tunebench); push the folder again"
        ) from None
    return writer.digest.result()


def _check(digest: FileDigest, item: ManifestFile, uri: str) -> None:
    problems = []
    if digest.size != item.size:
        problems.append(f"{digest.size} bytes, expected {item.size}")
    if digest.crc32c != item.crc32c:
        problems.append(f"crc32c {digest.crc32c}, expected {item.crc32c}")
    if item.sha256 is not None and digest.sha256 != item.sha256:
        problems.append(f"sha256 {digest.sha256[:16]}..., expected {item.sha256[:16]}...")
    if problems:
        raise ChecksumError(
            f"{uri} ({item.name}): downloaded copy has "
            + "; ".join(problems)
            + "; it was discarded and nothing was written to the cache"
        )


class _HashingWriter:
    """A write-only file object that checksums, counts and writes what passes through it, in 1 MiB blocks.

    The client hands over 8 KiB pieces; hashing and writing them in larger blocks costs fewer Python
    calls, and hashlib releases the GIL on large blocks, so parallel downloads hash in parallel.
    """

    _BLOCK = 1 << 20

    def __init__(self, handle: Any, progress: Progress):
        self._handle, self._progress = handle, progress
        # The client's pieces are kept as they come and joined once per block: one copy of each byte, where
        # growing a bytearray and copying it out to bytes (google-crc32c takes only read-only bytes) took two.
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._digest = Digest()

    def write(self, data: bytes) -> int:
        self._pending.append(bytes(data))  # the same object for bytes; a copy of a buffer the caller may reuse
        self._pending_size += len(data)
        if self._pending_size >= self._BLOCK:
            self._drain()
        return len(data)

    def flush(self) -> None:
        self._drain()
        self._handle.flush()

    @property
    def digest(self) -> Digest:
        """The checksums of everything written (pending bytes included)."""
        self._drain()
        return self._digest

    def _drain(self) -> None:
        if self._pending:
            block = b"".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            self._digest.update(block)
            self._handle.write(block)
            self._progress.add(len(block))
