"""Where a model folder or history lives: a local folder or `gs://bucket/prefix`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tunebench.errors import StorageError

__all__ = ["GcsLocation", "is_gcs_uri"]

# GCS bucket names: 3-63 characters of lowercase letters, digits, '-', '_' and '.', starting and ending
# with a letter or digit (https://cloud.google.com/storage/docs/buckets#naming).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


def is_gcs_uri(uri: str) -> bool:
    """Return True for a `gs://` URI."""
    return uri.startswith("gs://")


@dataclass(frozen=True)
class GcsLocation:
    """A folder-like prefix in a GCS bucket; `prefix` has no leading or trailing slash."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, uri: str) -> GcsLocation:
        """Return the location of `gs://bucket/prefix`; a malformed URI is a StorageError naming it."""
        if not is_gcs_uri(uri):
            raise StorageError(f"{uri!r}: expected a gs://bucket/prefix URI")
        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        if not _BUCKET.match(bucket):
            raise StorageError(
                f"{uri!r}: bucket name {bucket!r} is not valid: expected 3-63 lowercase letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise StorageError(f"{uri!r}: '.' and '..' are not allowed in a gs:// path")
        return cls(bucket, "/".join(parts))

    @property
    def uri(self) -> str:
        """The location as `gs://bucket/prefix/`."""
        return f"gs://{self.bucket}/{self.prefix}/" if self.prefix else f"gs://{self.bucket}/"

    def key(self, name: str) -> str:
        """Return the object name of `name` (a relative path) under this prefix."""
        return f"{self.prefix}/{name}" if self.prefix else name

    def relative(self, key: str) -> str:
        """Return `key` relative to this prefix (the inverse of `key`)."""
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def child(self, name: str) -> GcsLocation:
        """Return the location of the sub-prefix `name`."""
        return GcsLocation(self.bucket, self.key(name.strip("/")))

    def __str__(self) -> str:
        return self.uri
