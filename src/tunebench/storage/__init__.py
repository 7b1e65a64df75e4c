"""Where files live: model folders on `gs://bucket/prefix` (the `gcs` extra) and local files written whole.

`push_folder` publishes a folder in two phases (staged objects, then a create-only `MANIFEST.json` as
the commit point); `pull_folder` brings the committed version into the local cache, verified by size,
crc32c and sha256. See `manifest.py` for the layout in the bucket, `cache.py` and `cache_state.py` for the
cache, and `gcs_history.py` for the history's `gs://` backend (the local one is `tunebench.history.folder`).
Local files are written whole by `local.write_atomic`.

The names below are imported from their submodules on first use, so importing `tunebench.storage.local`
(which most modules do, to write a file) does not load the GCS client, the cache and the config.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunebench.config import Config

# Public name -> the submodule that defines it.
_EXPORTS = {
    "GCSHistoryBackend": "gcs_history",
    "make_client": "gcs",
    "publish_text_replacing": "gcs_history",
    "PullReport": "cache",
    "cache_dir_for": "cache",
    "pull_folder": "cache",
    "GcsLocation": "location",
    "is_gcs_uri": "location",
    "MANIFEST_NAME": "manifest",
    "Manifest": "manifest",
    "ManifestFile": "manifest",
    "read_manifest": "manifest",
    "PushReport": "publish",
    "push_folder": "publish",
    "TransferSettings": "transfer",
}

__all__ = sorted([*_EXPORTS, "fetch_model_folder"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


def fetch_model_folder(uri: str, config: Config | None = None) -> Path:
    """Return a local, verified copy of the model folder at `uri` (pulled into the cache for gs://)."""
    from tunebench.errors import StorageError
    from tunebench.storage.cache import pull_folder
    from tunebench.storage.location import is_gcs_uri

    if is_gcs_uri(uri):
        return pull_folder(uri).path
    folder = Path(uri).expanduser()
    if not folder.is_dir():
        raise StorageError(f"{uri}: no such folder")
    return folder
