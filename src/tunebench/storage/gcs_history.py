"""The history on `gs://`: records as create-only objects, and the rendered log replaced without losing an update.

`GCSHistoryBackend` serves `tunebench.history.store.open_store("gs://...")`; `publish_text_replacing`
replaces one object (the rendered benchmark log) without losing a concurrent writer's update.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunebench.errors import ConflictError, StorageError
from tunebench.storage.checksums import Digest, FileDigest, crc32c_b64
from tunebench.storage.gcs import gcs_errors, list_names, make_client, read_object, retry_policy, write_object
from tunebench.storage.location import GcsLocation
from tunebench.storage.transfer import TransferSettings

__all__ = ["GCSHistoryBackend", "publish_text_replacing"]


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
        try:
            self._write(name, data, if_generation_match=0)
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
        return list(self.versions())

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
        self._write(name, data, if_generation_match=self._derived_generation.get(name, 0))

    def _write(self, name: str, data: bytes, if_generation_match: int) -> None:
        digest = Digest()
        digest.update(data)
        write_object(
            self.bucket,
            self.root.key(name),
            data,
            digest.result(),
            self.settings,
            if_generation_match=if_generation_match,
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
