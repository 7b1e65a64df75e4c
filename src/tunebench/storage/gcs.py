"""GCS objects through google-cloud-storage: the client, create-only and compare-and-swap writes, reads.

Every write here carries a precondition (`if_generation_match`: 0 to create, the generation read to
replace), which is what makes retrying it safe: a retried create can never overwrite someone else's
object. The one ambiguous case is a write that committed but whose response was lost: its retry gets
412 (or, for a finished resumable session, an error). That counts as success only when the stored
object's crc32c and size equal ours; otherwise it is a ConflictError and nothing was overwritten.

The history's own use of these (its backend, the rendered log's replacement) is in `gcs_history.py`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.errors import ChecksumError, ConflictError, StorageError
from tunebench.storage.checksums import FileDigest
from tunebench.storage.transfer import Progress, TransferSettings

__all__ = [
    "make_client",
    "storage_module",
    "gcs_errors",
    "retry_policy",
    "write_object",
    "read_object",
    "list_names",
    "StoredObject",
]

_INSTALL = 'gs:// locations need the Google Cloud Storage client: pip install "tunebench[gcs]"'
_CREDENTIALS_HELP = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file with access to the bucket"
)
_MAX_MULTIPART = 8 * 1024 * 1024  # the client's own limit for single-request uploads


def storage_module() -> Any:
    """Return `google.cloud.storage`; StorageError telling how to install it when it is missing."""
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise StorageError(f"{_INSTALL} ({exc})") from None
    return storage


def make_client() -> Any:
    """Return a storage client: anonymous against `STORAGE_EMULATOR_HOST`, else the default credentials."""
    storage = storage_module()
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import AnonymousCredentials

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        project = os.environ.get("GOOGLE_CLOUD_PROJECT", "tunebench-emulator")
        return storage.Client(project=project, credentials=AnonymousCredentials())
    try:
        # Object reads and writes need no project; None keeps the client from demanding one.
        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT"))
    except auth_exceptions.GoogleAuthError as exc:
        raise StorageError(f"no usable Google Cloud credentials ({exc}); {_CREDENTIALS_HELP}") from None


@contextlib.contextmanager
def gcs_errors(uri: str) -> Iterator[None]:
    """Turn the client's exceptions into StorageError naming `uri` and what to do about it."""
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth_exceptions
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

    try:
        yield
    except api.PreconditionFailed:
        raise  # the caller decides: a lost response of our own write, or a conflict
    except DataCorruption as exc:
        raise ChecksumError(f"{uri}: the bytes received do not match the server's checksum ({_short(exc)})") from None
    except InvalidResponse as exc:
        raise StorageError(f"{uri}: unexpected response from the server ({_short(exc)})") from None
    except (api.Unauthorized, auth_exceptions.RefreshError, auth_exceptions.DefaultCredentialsError) as exc:
        raise StorageError(
            f"{uri}: the Google Cloud credentials were refused ({_short(exc)}); {_CREDENTIALS_HELP}"
        ) from None
    except api.Forbidden as exc:
        raise StorageError(
            f"{uri}: permission denied ({_short(exc)}); the credentials in use need "
            "storage.objects.get/create/list on this bucket"
        ) from None
    except api.RetryError as exc:
        raise StorageError(f"{uri}: gave up after retrying transient errors: {_short(exc.cause or exc)}") from None
    except api.GoogleAPICallError as exc:
        raise StorageError(f"{uri}: {_short(exc)}") from None
    except auth_exceptions.TransportError as exc:
        raise StorageError(f"{uri}: cannot reach Google Cloud Storage ({_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def retry_policy(settings: TransferSettings) -> Any:
    """Return the client's DEFAULT_RETRY (503, 429, resets, timeouts) with our back-off and deadline."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_delay(
        initial=settings.retry_initial_s, maximum=settings.retry_maximum_s, multiplier=2.0
    ).with_timeout(settings.retry_timeout_s)


@dataclass(frozen=True)
class StoredObject:
    """The size, crc32c and generation of an object as the server reports them."""

    name: str
    size: int
    crc32c: str | None
    generation: int

    @classmethod
    def of(cls, blob: Any) -> StoredObject:
        """Return what `blob` (after an upload or a metadata read) says is stored."""
        return cls(blob.name, int(blob.size or 0), blob.crc32c, int(blob.generation))

    def matches(self, digest: FileDigest) -> bool:
        """Return True when the stored size and crc32c equal `digest`'s."""
        return self.size == digest.size and self.crc32c == digest.crc32c


class _CountingReader(io.RawIOBase):
    """A seekable reader over a file that reports new bytes read (a retry re-reading counts once)."""

    def __init__(self, handle: Any, progress: Progress | None):
        self._handle, self._progress, self._high = handle, progress, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._handle.read(size)
        position = self._handle.tell()
        if self._progress is not None and position > self._high:
            self._progress.add(position - self._high)
        self._high = max(self._high, position)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._handle.seek(offset, whence))

    def tell(self) -> int:
        return int(self._handle.tell())


def write_object(
    bucket: Any,
    name: str,
    source: Path | bytes,
    digest: FileDigest,
    settings: TransferSettings,
    *,
    if_generation_match: int,
    content_type: str = "application/octet-stream",
    progress: Progress | None = None,
) -> StoredObject:
    """Write `source` to `name` only if its generation is `if_generation_match` (0: only if absent).

    Returns the stored object, verified to have our size and crc32c. Raises ConflictError when the
    precondition fails because of someone else's object, StorageError when the stored bytes differ.
    """
    from google.api_core import exceptions as api

    blob = bucket.blob(name)
    where = f"gs://{bucket.name}/{name}"
    retry = retry_policy(settings)
    try:
        with gcs_errors(where):
            _upload(blob, source, digest, settings, if_generation_match, content_type, retry, progress)
        stored = StoredObject.of(blob)
    except api.PreconditionFailed:
        stored = _stored_after_conflict(bucket, name, digest, retry, where)
    except ChecksumError:
        raise
    except StorageError:
        # The write may have committed with its response lost (a finished resumable session then answers
        # 404; a connection dropped on every retry exhausts them): our exact bytes there mean success.
        ours = _stored_if_ours(bucket, name, digest, retry)
        if ours is None:
            raise
        stored = ours
    if not stored.matches(digest):
        raise StorageError(
            f"{where}: stored {stored.size} bytes with crc32c {stored.crc32c}, expected "
            f"{digest.size} bytes with crc32c {digest.crc32c}; the upload was damaged"
        )
    return stored


def _upload(
    blob: Any,
    source: Path | bytes,
    digest: FileDigest,
    settings: TransferSettings,
    if_generation_match: int,
    content_type: str,
    retry: Any,
    progress: Progress | None,
) -> None:
    if isinstance(source, bytes):
        blob.upload_from_string(
            source, content_type=content_type, if_generation_match=if_generation_match, checksum="crc32c", retry=retry
        )
        if progress is not None:
            progress.add(len(source))
        return
    resumable = digest.size > settings.resumable_threshold
    if resumable:
        blob.chunk_size = settings.chunk_size
    # The client picks a single-request upload for a known size up to 8 MiB; an unknown size forces a
    # resumable one, which is what a lowered threshold asks for.
    size = None if resumable and digest.size <= _MAX_MULTIPART else digest.size
    with open(source, "rb") as handle:
        blob.upload_from_file(
            _CountingReader(handle, progress),
            size=size,
            content_type=content_type,
            if_generation_match=if_generation_match,
            checksum="crc32c",
            retry=retry,
            crc32c_checksum_value=digest.crc32c if resumable else None,
        )


def _stored_if_ours(bucket: Any, name: str, digest: FileDigest, retry: Any) -> StoredObject | None:
    """Return the stored object if it holds exactly our bytes (size and crc32c), else None."""
    try:
        with gcs_errors(f"gs://{bucket.name}/{name}"):
            blob = bucket.get_blob(name, retry=retry)
    except StorageError:
        return None
    return StoredObject.of(blob) if blob is not None and StoredObject.of(blob).matches(digest) else None


def _stored_after_conflict(bucket: Any, name: str, digest: FileDigest, retry: Any, where: str) -> StoredObject:
    """On 412: our own create whose response was lost (same crc32c) is success; anything else a conflict."""
    with gcs_errors(where):
        blob = bucket.get_blob(name, retry=retry)
    if blob is not None and StoredObject.of(blob).matches(digest):
        return StoredObject.of(blob)
    found = "nothing" if blob is None else f"generation {blob.generation} with crc32c {blob.crc32c}"
    raise ConflictError(f"{where}: changed by someone else (found {found}); nothing was overwritten")


def read_object(bucket: Any, name: str, settings: TransferSettings | None = None) -> tuple[bytes, int] | None:
    """Return (bytes, generation) of the object `name`, checked against its crc32c; None if absent."""
    from google.api_core import exceptions as api

    settings = settings or TransferSettings()
    blob = bucket.blob(name)
    with gcs_errors(f"gs://{bucket.name}/{name}"):
        try:
            data = blob.download_as_bytes(checksum="crc32c", retry=retry_policy(settings))
        except api.NotFound:
            return None
    return data, int(blob.generation)


def list_names(bucket: Any, prefix: str, settings: TransferSettings | None = None) -> list[Any]:
    """Return the blobs (with size, crc32c, generation) whose names start with `prefix`."""
    settings = settings or TransferSettings()
    with gcs_errors(f"gs://{bucket.name}/{prefix}"):
        return list(bucket.list_blobs(prefix=prefix, retry=retry_policy(settings)))
