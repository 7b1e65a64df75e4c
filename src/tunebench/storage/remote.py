"""What is published at a `gs://` location: its committed manifest, or the listing of a hand-copied folder.

A folder copied to the bucket without tunebench (no `MANIFEST.json`) is described by the server's
listing: names, sizes, crc32c and generations, no sha256; it is pulled with a warning. A location that
holds only `objects/` of pushes that never committed is refused: no version of it was ever published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tunebench.errors import StorageError
from tunebench.storage.gcs import list_names, make_client
from tunebench.storage.location import GcsLocation
from tunebench.storage.manifest import (
    MANIFEST_NAME,
    OBJECTS_DIR,
    Manifest,
    ManifestFile,
    check_file_name,
    read_manifest,
)
from tunebench.storage.transfer import TransferSettings

__all__ = ["committed_manifest", "RemoteSummary", "describe_remote"]

log = logging.getLogger(__name__)


def committed_manifest(
    bucket: Any, location: GcsLocation, settings: TransferSettings | None = None, *, warn: bool = True
) -> Manifest:
    """Return the manifest at `location`, or one built from the listing of an unmanifested folder."""
    settings = settings or TransferSettings()
    manifest = read_manifest(bucket, location, settings)
    if manifest is not None:
        return manifest
    blobs = [b for b in list_names(bucket, location.key(""), settings) if not b.name.endswith("/")]
    if not blobs:
        raise StorageError(f"{location.uri}: nothing there (no {MANIFEST_NAME} and no objects)")
    if any(location.relative(b.name).startswith(f"{OBJECTS_DIR}/") for b in blobs):
        raise StorageError(
            f"{location.uri}: holds pushed objects but no {MANIFEST_NAME}: no push has committed there yet"
        )
    if warn:
        log.warning(
            "%s has no %s: using its listing, checked by crc32c only (push it with tunebench to "
            "add sha256 and a commit point)",
            location.uri,
            MANIFEST_NAME,
        )
    for blob in blobs:
        check_file_name(location.relative(blob.name), location.uri)
    files = tuple(
        ManifestFile(
            name=location.relative(b.name),
            object=location.relative(b.name),
            size=int(b.size),
            crc32c=b.crc32c,
            sha256=None,
            generation=int(b.generation),
        )
        for b in blobs
    )
    return Manifest(name=location.prefix.rsplit("/", 1)[-1], version=0, push_id="", created_at="", files=files)


@dataclass(frozen=True)
class RemoteSummary:
    """Size, file count and version of a published location, for `tunebench models list --remote`."""

    uri: str
    size: int | None
    files: int | None
    version: int | None  # 0: a folder without a manifest
    created_at: str
    problem: str = ""


def describe_remote(uri: str, client: Any = None, settings: TransferSettings | None = None) -> RemoteSummary:
    """Return the summary of `uri`; a location that cannot be read gives `problem` instead of raising."""
    location = GcsLocation.parse(uri)
    bucket = (client or make_client()).bucket(location.bucket)
    try:
        manifest = committed_manifest(bucket, location, settings, warn=False)
    except StorageError as exc:
        return RemoteSummary(location.uri, None, None, None, "", str(exc).removeprefix(f"{location.uri}: "))
    return RemoteSummary(location.uri, manifest.total_size, len(manifest.files), manifest.version, manifest.created_at)
