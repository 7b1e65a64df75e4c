"""Object locations: local folders and `gs://bucket/prefix` (the `gcs` extra).

`gs://` support (push, pull, manifests, checksums) is built by the storage issue; until then a `gs://`
location is refused with a clear message instead of failing somewhere deep in a download.
"""

from __future__ import annotations

from pathlib import Path

from tunebench.config import Config
from tunebench.errors import StorageError

__all__ = ["fetch_model_folder"]


def fetch_model_folder(uri: str, config: Config) -> Path:
    """Return a local, verified copy of the model folder at `uri`."""
    raise StorageError(f"{uri}: gs:// locations are not supported by this tunebench yet; "
                       "copy the folder locally and register its path")
