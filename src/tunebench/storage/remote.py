"""What is published at a `gs://` location: its committed manifest, or the listing of a hand-copied folder.

A folder copied to the bucket without tunebench (no `MANIFEST.json`) is described by the server's
listing: names, sizes, crc32c and generations, no sha256; it is pulled with a warning. A location that
holds only `objects/` of pushes that never committed is refused: no version of it was ever published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tunebench.errors import ChecksumError, StorageError
from tunebench.storage.checksums import Digest
from tunebench.storage.gcs import gcs_errors, list_names, make_client, retry_policy
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

__all__ = ["committed_manifest", "RemoteSummary", "describe_remote", "read_published_file"]

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


# A file read on its own (a config, never a weight shard): anything larger is refused rather than fetched.
_SMALL_FILE_LIMIT = 16 << 20


def read_published_file(uri: str, name: str, client: Any = None, settings: TransferSettings | None = None) -> bytes:
    """Return the bytes of one file of the committed version at `uri`, checked against its manifest entry.

    Only that object is downloaded (pinned to the manifest's generation), so a model's `config.json` can
    be read without pulling its weights. StorageError when the version has no such file or it is large.
    """
    location = GcsLocation.parse(uri)
    settings = settings or TransferSettings()
    bucket = (client or make_client()).bucket(location.bucket)
    manifest = committed_manifest(bucket, location, settings, warn=False)
    item = next((f for f in manifest.files if f.name == name), None)
    if item is None:
        raise StorageError(f"{location.uri}: the published folder has no {name}")
    if item.size > _SMALL_FILE_LIMIT:
        raise StorageError(f"{location.uri}{name}: {item.size} bytes; only small files are read on their own")
    where = f"gs://{bucket.name}/{location.key(item.object)}#{item.generation}"
    blob = bucket.blob(location.key(item.object), generation=item.generation)
    with gcs_errors(where):
        data: bytes = blob.download_as_bytes(raw_download=True, checksum=None, retry=retry_policy(settings))
    digest = Digest()
    digest.update(data)
    got = digest.result()
    if (got.size, got.crc32c) != (item.size, item.crc32c) or (item.sha256 and got.sha256 != item.sha256):
        raise ChecksumError(f"{where} ({name}): the bytes read do not match the manifest's size and checksums")
    return data
