"""Push a local model folder to `gs://bucket/prefix/` as a two-phase publish.

Phase 1 stages every file create-only under `prefix/objects/<push id>/` (a prefix no other push uses)
and checks that the stored size and crc32c equal the local file's. Phase 2 creates `MANIFEST.json`
(create-only for the first version; conditional on the generation read for `new_version`): that single
small write is the commit point. Readers start from the manifest, so they see a whole committed
version or nothing. A push that loses the race to commit deletes its staged objects and reports who won.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tunebench.errors import ConflictError, StorageError
from tunebench.storage.checksums import Digest, FileDigest, file_digest
from tunebench.storage.gcs import StoredObject, gcs_errors, make_client, write_object
from tunebench.storage.location import GcsLocation
from tunebench.storage.manifest import MANIFEST_NAME, OBJECTS_DIR, Manifest, ManifestFile, read_manifest
from tunebench.storage.transfer import Progress, TransferSettings, format_bytes, run_largest_first
from tunebench.units import format_duration

__all__ = ["PushReport", "push_folder", "folder_files"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushReport:
    """What a push published: the manifest (with its generation) and how many bytes moved how fast."""

    uri: str
    manifest: Manifest
    bytes_uploaded: int
    seconds: float

    def summary(self) -> str:
        """Return one line: version, files, bytes and rate."""
        rate = self.bytes_uploaded / self.seconds if self.seconds > 0 else 0.0
        return (
            f"published {self.uri} version {self.manifest.version} ({len(self.manifest.files)} files, "
            f"{format_bytes(self.manifest.total_size)}) in {format_duration(self.seconds)} ({format_bytes(rate)}/s)"
        )


def folder_files(source: Path) -> list[str]:
    """Return the relative POSIX names of the files to push from `source`, sorted; hidden ones skipped."""
    if not source.is_dir():
        raise StorageError(f"{source}: not a folder; push expects a model or adapter folder")
    names = sorted(
        p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
    )
    if not names:
        raise StorageError(f"{source}: no files to push")
    return names


def push_folder(
    source: Path | str,
    uri: str,
    *,
    name: str,
    new_version: bool = False,
    status: str = "experimental",
    notes: str = "",
    settings: TransferSettings | None = None,
    client: Any = None,
) -> PushReport:
    """Publish the folder `source` at `uri`; ConflictError if a version is there and not `new_version`."""
    source = Path(source)
    location = GcsLocation.parse(uri)
    settings = settings or TransferSettings()
    names = folder_files(source)
    bucket = (client or make_client()).bucket(location.bucket)
    previous = read_manifest(bucket, location, settings)
    if previous is not None and not new_version:
        raise ConflictError(
            f"{location.uri}: version {previous.version} is already published "
            f"(push {previous.push_id}, {previous.created_at}); pass --new-version to "
            f"publish version {previous.version + 1}"
        )
    digests = _hash_files(source, names, settings)
    push_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:10]}"
    staged: dict[str, StoredObject] = {}
    progress = Progress(sum(d.size for d in digests.values()), f"push {location.uri}", settings.progress)
    try:
        with progress:
            _stage(bucket, location, source, push_id, digests, settings, progress, staged)
    except BaseException:
        _delete_staged(bucket, staged)
        raise
    try:
        manifest = _commit(bucket, location, name, push_id, digests, staged, previous, status, notes, settings)
    except ConflictError:
        _delete_staged(bucket, staged)  # another push committed; no manifest will ever name ours
        raise
    return PushReport(location.uri, manifest, progress.done, progress.seconds)


def _hash_files(source: Path, names: list[str], settings: TransferSettings) -> dict[str, FileDigest]:
    total = sum((source / n).stat().st_size for n in names)
    # hashlib and crc32c release the GIL on 1 MiB blocks: shards hash in parallel on several cores.
    with (
        Progress(total, f"checksum {source.name}", settings.progress) as progress,
        ThreadPoolExecutor(max_workers=min(settings.workers, len(names))) as pool,
    ):
        return dict(zip(names, pool.map(lambda n: file_digest(source / n, progress.add), names), strict=True))


def _stage(
    bucket: Any,
    location: GcsLocation,
    source: Path,
    push_id: str,
    digests: dict[str, FileDigest],
    settings: TransferSettings,
    progress: Progress,
    staged: dict[str, StoredObject],
) -> None:
    """Create every file under `objects/<push id>/`, in parallel; `staged` fills as uploads finish."""

    def upload(file_name: str) -> None:
        key = location.key(f"{OBJECTS_DIR}/{push_id}/{file_name}")
        stored = write_object(
            bucket, key, source / file_name, digests[file_name], settings, if_generation_match=0, progress=progress
        )
        staged[file_name] = stored

    run_largest_first(list(digests), lambda n: digests[n].size, upload, settings.workers)


def _commit(
    bucket: Any,
    location: GcsLocation,
    name: str,
    push_id: str,
    digests: dict[str, FileDigest],
    staged: dict[str, StoredObject],
    previous: Manifest | None,
    status: str,
    notes: str,
    settings: TransferSettings,
) -> Manifest:
    """Create MANIFEST.json conditionally: the one write that makes the staged files a published version."""
    files = tuple(
        ManifestFile(
            name=n,
            object=location.relative(staged[n].name),
            size=digests[n].size,
            crc32c=digests[n].crc32c,
            sha256=digests[n].sha256,
            generation=staged[n].generation,
        )
        for n in sorted(digests)
    )
    manifest = Manifest(
        name=name,
        version=previous.version + 1 if previous else 1,
        push_id=push_id,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        files=files,
        status=status,
        notes=notes,
        previous_generation=previous.generation if previous else None,
    )
    data = manifest.to_json()
    digest = Digest()
    digest.update(data)
    try:
        stored = write_object(
            bucket,
            location.key(MANIFEST_NAME),
            data,
            digest.result(),
            settings,
            if_generation_match=(previous.generation or 0) if previous else 0,  # read manifests carry theirs
            content_type="application/json",
        )
    except ConflictError:
        winner = read_manifest(bucket, location, settings)
        who = f"version {winner.version} (push {winner.push_id})" if winner else "a manifest since deleted"
        raise ConflictError(
            f"{location.uri}: another push committed {who} first; this push ({push_id}) published nothing"
        ) from None
    except StorageError as exc:
        # A timeout can hide a commit that did happen: look before calling it a failure, and keep the
        # staged objects, which a committed manifest may name.
        try:
            current = read_manifest(bucket, location, settings)
        except StorageError:
            current = None
        if current is not None and current.push_id == push_id:
            return current
        raise StorageError(
            f"{location.uri}: committing {MANIFEST_NAME} failed ({exc}); the staged objects "
            f"under {OBJECTS_DIR}/{push_id}/ were kept; push again when the bucket is reachable"
        ) from exc
    return Manifest(**{**manifest.__dict__, "generation": stored.generation})


def _delete_staged(bucket: Any, staged: dict[str, StoredObject]) -> None:
    """Best effort: remove this push's staged objects (no manifest names them, so no reader needs them)."""
    for stored in staged.values():
        try:
            with gcs_errors(f"gs://{bucket.name}/{stored.name}"):
                bucket.blob(stored.name).delete(if_generation_match=stored.generation)
        except Exception as exc:  # noqa: BLE001 - cleanup must not hide the error that caused it
            log.warning("could not delete staged object gs://%s/%s: %s", bucket.name, stored.name, exc)
