"""GCS objects through google-cloud-storage: the client, create-only and compare-and-swap writes, reads.

Every write here carries a precondition (`if_generation_match`: 0 to create, the generation read to
replace), which is what makes retrying it safe: a retried create can never overwrite someone else's
object. The one ambiguous case is a write that committed but whose response was lost: its retry gets
412 (or, for a finished resumable session, an error). That counts as success only when the stored
object's crc32c and size equal ours; otherwise it is a ConflictError and nothing was overwritten.

`GCSHistoryBackend` serves `tunebench.history.store.open_store("gs://...")`; `publish_text_replacing`
replaces one object (the rendered benchmark log) without losing a concurrent writer's update.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.errors import ChecksumError, ConflictError, StorageError
from tunebench.storage.checksums import Digest, FileDigest, crc32c_b64
from tunebench.storage.location import GcsLocation
from tunebench.storage.transfer import Progress, TransferSettings

__all__ = [
    "make_client",
    "storage_module",
    "gcs_errors",
    "retry_policy",
    "write_object",
    "read_object",
    "list_names",
    "publish_text_replacing",
    "StoredObject",
    "GCSHistoryBackend",
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
        data = self._handle.read(size)
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
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


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
        stored = _stored_if_ours(bucket, name, digest, retry)
        if stored is None:
            raise
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


def publish_text_replacing(
    uri: str,
    text_fn: Callable[[str | None], str],
    *,
    attempts: int = 30,
    settings: TransferSettings | None = None,
    client: Any = None,
) -> int:
    """Replace the object at `uri` with `text_fn(current text or None)`; return the new generation.

    The write is conditional on the generation just read, so a concurrent replacement makes it fail
    (412) and the whole read-render-write runs again. `text_fn` must read its own inputs (the history)
    when called, after the object was read: then the last writer to succeed has seen every record
    published before any earlier writer succeeded, and no run drops out of the log.
    """
    location = GcsLocation.parse(uri)
    if not location.prefix:
        raise StorageError(f"{uri!r}: expected gs://bucket/path/to/object, found no object name")
    settings = settings or TransferSettings()
    bucket = (client or make_client()).bucket(location.bucket)
    for attempt in range(attempts):
        current = read_object(bucket, location.prefix, settings)
        text, generation = (current[0].decode("utf-8"), current[1]) if current else (None, 0)
        data = text_fn(text).encode("utf-8")
        digest = FileDigest(len(data), crc32c_b64(data), "")
        try:
            return write_object(
                bucket,
                location.prefix,
                data,
                digest,
                settings,
                if_generation_match=generation,
                content_type="text/markdown; charset=utf-8",
            ).generation
        except ConflictError:
            # Someone replaced it between our read and write: back off a little, with jitter so the
            # writers spread out, then read their version and render again.
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise ConflictError(
        f"{uri}: still being replaced by other writers after {attempts} attempts; nothing of ours was written"
    )


class GCSHistoryBackend:
    """History records as objects under `gs://bucket/prefix/`, each created create-only.

    Readers go through the names in listing order, so `read` fetches the next `READ_AHEAD` records of
    the last listing in parallel: a CI job reading hundreds of records waits for a few round trips,
    not hundreds. Records are never rewritten, so a read-ahead copy cannot be stale.
    """

    READ_AHEAD = 32

    def __init__(self, uri: str, settings: TransferSettings | None = None):
        self.root = GcsLocation.parse(uri)
        self.settings = settings or TransferSettings()
        self._bucket: Any = None
        self._listed: list[str] = []
        self._ahead: dict[str, bytes | StorageError | None] = {}
        self._derived_generation: dict[str, int] = {}

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            self._bucket = make_client().bucket(self.root.bucket)
        return self._bucket

    def location(self, name: str) -> str:
        """Return the gs:// URI of `name`."""
        return f"gs://{self.root.bucket}/{self.root.key(name)}"

    def create(self, name: str, data: bytes) -> None:
        """Publish `data` as `name` with `if_generation_match=0`; StorageError if `name` exists."""
        digest = Digest()
        digest.update(data)
        try:
            write_object(
                self.bucket,
                self.root.key(name),
                data,
                digest.result(),
                self.settings,
                if_generation_match=0,
                content_type="application/json",
            )
        except ConflictError:
            raise StorageError(
                f"{self.location(name)}: a record with this name already exists; history records are never overwritten"
            ) from None

    def check_writable(self) -> None:
        """Raise StorageError now for what would refuse the record at the end: no credentials, no such bucket.

        One listing request (at most one name): whether objects may be created is only known by creating one.
        """
        prefix = self.root.key("runs/")
        with gcs_errors(self.location("runs/")):
            list(self.bucket.list_blobs(prefix=prefix, max_results=1, retry=retry_policy(self.settings)))

    def list(self) -> list[str]:
        """Return the names of `runs/**/*.json` records, sorted."""
        blobs = list_names(self.bucket, self.root.key("runs/"), self.settings)
        self._listed = sorted(
            self.root.relative(b.name)
            for b in blobs
            if b.name.endswith(".json") and not b.name.rsplit("/", 1)[-1].startswith(".")
        )
        return list(self._listed)

    def versions(self) -> dict[str, str]:
        """Return {name: generation} of the `runs/**/*.json` records (one listing; a rewrite changes it)."""
        blobs = list_names(self.bucket, self.root.key("runs/"), self.settings)
        found = {
            self.root.relative(b.name): str(b.generation)
            for b in blobs
            if b.name.endswith(".json") and not b.name.rsplit("/", 1)[-1].startswith(".")
        }
        self._listed = sorted(found)
        return {name: found[name] for name in self._listed}

    def read_derived(self, name: str) -> bytes | None:
        """Return the derived object `name` (the summary index), or None; its generation is kept for the rewrite."""
        found = read_object(self.bucket, self.root.key(name), self.settings)
        self._derived_generation[name] = found[1] if found else 0
        return found[0] if found else None

    def write_derived(self, name: str, data: bytes) -> None:
        """Replace the derived object `name`, only if nobody replaced it since `read_derived` (ConflictError)."""
        digest = Digest()
        digest.update(data)
        write_object(
            self.bucket,
            self.root.key(name),
            data,
            digest.result(),
            self.settings,
            if_generation_match=self._derived_generation.get(name, 0),
            content_type="application/json",
        )

    def read(self, name: str) -> bytes:
        """Return the bytes of `name` (crc32c-checked by the client)."""
        if name not in self._ahead:
            self._read_ahead(name)
        data = self._ahead.pop(name, None)
        if isinstance(data, StorageError):
            raise data
        if data is None:
            raise StorageError(f"{self.location(name)}: no such record")
        return data

    def _read_ahead(self, name: str) -> None:
        start = self._listed.index(name) if name in self._listed else len(self._listed)
        batch = [name, *self._listed[start + 1 : start + self.READ_AHEAD]]

        def fetch(item: str) -> tuple[str, bytes | StorageError | None]:
            try:
                found = read_object(self.bucket, self.root.key(item), self.settings)
            except StorageError as exc:  # kept for the read of that record, which reports it by name
                return item, exc
            return item, found[0] if found else None

        with ThreadPoolExecutor(max_workers=min(self.settings.workers, len(batch))) as pool:
            self._ahead.update(pool.map(fetch, batch))
