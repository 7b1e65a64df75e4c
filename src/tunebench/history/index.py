"""The summary index: a derived file beside the records that makes reading a large history cheap.

For each stored record file it keeps what reading the file found: the sha256 of its bytes and either the
record's summary (`summary_of`: no provenance, per-question and per-probe lists or detailed aggregates)
or the problem it has. It is never the source of truth:

- a full read (`HistoryStore.read_all`) still reads and parses every file; a file whose bytes hash to
  the digest the index holds was checked before (checksum, schema, consistency) by the same rules, so it
  is not checked again. Any other file is checked in full, and its entry replaced.
- a summary read (`HistoryStore.read_summaries`, for `history list` and the baseline search) reads only
  the files whose listing version (size, modification time and inode; the object generation on gs://)
  differs from the index's, so it never reads the 100-question lists it does not use.

The index is thrown away (rebuilt from the records) when it is missing, unreadable, of another format, or
was made by other rules: its fingerprint covers the record schemas and the modules that check records.
It is written whole (temp file and rename; one object upload on gs://), so concurrent writers can only
lose each other's new entries, which the next read recomputes; a history that cannot be written is read
without one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Any

__all__ = ["INDEX_NAME", "IndexEntry", "SummaryIndex", "summary_of", "fingerprint"]

INDEX_NAME = "index/records.json"
FORMAT = 4
# What a summary leaves out: an eval record's per-item lists (its bulk), its aggregates other than the
# overall and per-domain figures, and every record's provenance: none of it is read by `history list` or
# the baseline search (they read the model, suites, status, gate and overall accuracy).
_BULK = ("questions", "probes")
_NOT_SUMMARIZED = ("provenance",)
_SUMMARY_AGGREGATES = ("accuracy", "accuracy_norm", "by_domain", "quality")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexEntry:
    """What reading one stored file found: its listing version, bytes digest, summary or problem, and
    whether it carries its checksum (an unsealed record needs a seal on purpose: `history.seals`)."""

    version: str
    sha256: str
    summary: dict[str, Any] | None
    problem: str | None
    sealed: bool = True


def summary_of(record: dict[str, Any]) -> dict[str, Any]:
    """Return the record without its provenance; an eval record whose aggregates stand for its questions
    also without its per-question and per-probe lists and its detailed aggregates (latency, difficulty).

    An older eval record, whose readers fall back to its questions, keeps them.
    """
    aggregates = record.get("aggregates") or {}
    whole = record.get("kind") != "eval" or "accuracy" not in aggregates or "by_domain" not in aggregates
    left_out = _NOT_SUMMARIZED if whole else (*_NOT_SUMMARIZED, *_BULK)
    summary = {key: value for key, value in record.items() if key not in left_out}
    if not whole:
        summary["aggregates"] = {k: v for k, v in aggregates.items() if k in _SUMMARY_AGGREGATES}
    return summary


@functools.cache
def fingerprint() -> str:
    """Return a digest of the rules a record is checked by: the schemas and the checking modules' source."""
    digest = hashlib.sha256(f"format {FORMAT}".encode())
    package = resources.files("tunebench.history")
    parts = sorted((p for p in (package / "schema").iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    checkers = ("records.py", "integrity.py", "store.py", "layout.py", "seals.py")
    for part in [*parts, *(package / name for name in checkers)]:
        try:
            digest.update(part.name.encode() + b"\0" + part.read_bytes())
        except OSError:  # an install without sources: the version stands for them
            digest.update(_installed_version().encode())
    return "sha256:" + digest.hexdigest()


def _installed_version() -> str:
    """tunebench's installed version (read here, not from the package, which would import back into history)."""
    try:
        return metadata.version("tunebench")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _loads(data: bytes) -> Any:
    try:
        import orjson  # twice as fast on the index of a large history (derived data; records use json)
    except ImportError:
        return json.loads(data)
    return orjson.loads(data)


def _dumps(content: Any) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    data: bytes = orjson.dumps(content)  # typed where orjson is installed, Any where mypy runs without it
    return data


class SummaryIndex:
    """The entries of one history's index, loaded from its backend and saved back when they changed."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.entries: dict[str, IndexEntry] = {}
        self.changed = False
        self.usable = hasattr(backend, "read_derived") and hasattr(backend, "write_derived")
        if self.usable:
            self.entries = self._load()

    def _load(self) -> dict[str, IndexEntry]:
        try:
            data = self.backend.read_derived(INDEX_NAME)
            if data is None:
                return {}
            content = _loads(data)
            if content.get("format") != FORMAT or content.get("fingerprint") != fingerprint():
                self.changed = True  # other rules made it: rebuild
                return {}
            entries = {name: IndexEntry(*fields) for name, fields in content["entries"].items()}
            for name, entry in entries.items():
                if (entry.summary is None) == (entry.problem is None):
                    raise ValueError(f"entry {name}: expected a summary or a problem, found both or neither")
            return entries
        except Exception as exc:  # noqa: BLE001 - a damaged index is rebuilt, never trusted or fatal
            log.warning("history index %s unusable (%s); rebuilding it from the records", INDEX_NAME, exc)
            self.changed = True
            return {}

    def known(self, name: str, version: str | None = None, sha256: str | None = None) -> IndexEntry | None:
        """Return the entry of `name` when it matches the listing `version` or the bytes `sha256` given."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        if version is not None and entry.version != version:
            return None
        if sha256 is not None and entry.sha256 != sha256:
            return None
        return entry

    def put(self, name: str, entry: IndexEntry) -> None:
        """Record what reading `name` found."""
        if self.entries.get(name) != entry:
            self.entries[name] = entry
            self.changed = True

    def forget(self, name: str) -> None:
        """Drop the entry of `name`: its bytes no longer read as it says; the next read checks them again."""
        if self.entries.pop(name, None) is not None:
            self.changed = True

    def keep_only(self, names: set[str]) -> None:
        """Drop the entries of files no longer listed."""
        gone = set(self.entries) - names
        for name in gone:
            del self.entries[name]
        self.changed = self.changed or bool(gone)

    def save(self) -> None:
        """Write the index when it changed; a history that cannot be written keeps none (not an error)."""
        if not (self.usable and self.changed):
            return
        content = {
            "format": FORMAT,
            "fingerprint": fingerprint(),
            "entries": {
                name: [e.version, e.sha256, e.summary, e.problem, e.sealed] for name, e in sorted(self.entries.items())
            },
        }
        try:
            self.backend.write_derived(INDEX_NAME, _dumps(content))
            self.changed = False
        except Exception as exc:  # noqa: BLE001 - derived data: reads go on without it
            log.info("history index %s not written (%s)", INDEX_NAME, exc)
