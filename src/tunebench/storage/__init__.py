"""Model folders and history in local folders or `gs://bucket/prefix` (the `gcs` extra).

`push_folder` publishes a folder in two phases (staged objects, then a create-only `MANIFEST.json` as
the commit point); `pull_folder` brings the committed version into the local cache, verified by size,
crc32c and sha256. See `manifest.py` for the layout in the bucket and `cache.py` for the cache.
"""

from __future__ import annotations

from pathlib import Path

from tunebench.config import Config
from tunebench.errors import StorageError
from tunebench.storage.cache import PullReport, cache_dir_for, pull_folder
from tunebench.storage.gcs import GCSHistoryBackend, make_client, publish_text_replacing
from tunebench.storage.location import GcsLocation, is_gcs_uri
from tunebench.storage.manifest import MANIFEST_NAME, Manifest, ManifestFile, read_manifest
from tunebench.storage.publish import PushReport, push_folder
from tunebench.storage.transfer import TransferSettings

__all__ = [
    "GCSHistoryBackend",
    "GcsLocation",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestFile",
    "PullReport",
    "PushReport",
    "TransferSettings",
    "cache_dir_for",
    "fetch_model_folder",
    "is_gcs_uri",
    "make_client",
    "publish_text_replacing",
    "pull_folder",
    "push_folder",
    "read_manifest",
]


def fetch_model_folder(uri: str, config: Config | None = None) -> Path:
    """Return a local, verified copy of the model folder at `uri` (pulled into the cache for gs://)."""
    if is_gcs_uri(uri):
        return pull_folder(uri).path
    folder = Path(uri).expanduser()
    if not folder.is_dir():
        raise StorageError(f"{uri}: no such folder")
    return folder
