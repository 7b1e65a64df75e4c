"""The append-only history store: one immutable JSON file (or object) per record.

Records live at `runs/<YYYY>/<UTC stamp>_<run id>.json` under the store's root (`history.layout`); the
local folder backend is `history.folder`, `gs://` is served by `tunebench.storage.gcs` (see
`REMOTE_BACKENDS`). No file is ever rewritten, so concurrent writers, `kill -9` and a full disk cannot
lose or corrupt a published record.

What is trusted: every record the store writes is sealed with a content checksum and checked for
consistent numbers on read (`history.integrity`); a file that fails, or that is not in the history's
layout (another name, a link, a huge or binary file, JSON nested past what a parser follows), is a
problem reported by its location, never a record, and never quoted. A valid record without a checksum
is *unsealed* (`history.seals`): a problem too, and in `ReadResult.unsealed`, until a person seals it.

Backends are small: `create(name, data)`, `list()`, `read(name)`, `location(name)`. A backend that also
has `versions()`, `read_derived(name)` and `write_derived(name, data)` keeps the summary index beside the
records (`history.index`), which makes large histories cheap to read; `get` rereads a record's bytes in
full, so nothing the index remembers becomes a baseline without being checked again.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tunebench.errors import RecordError, StorageError, UntrustedRecordError
from tunebench.history.folder import STALE_TEMP_SECONDS, LocalBackend
from tunebench.history.index import IndexEntry, SummaryIndex, summary_of
from tunebench.history.integrity import CHECKSUM_KEY, check_consistency, seal, unseal
from tunebench.history.layout import name_problem, parse_record_bytes
from tunebench.history.records import parse_utc, to_json, utc_stamp, validate
from tunebench.history.seals import sealed_on_purpose, seals_by_target, unsealed_reason
from tunebench.storage.local import write_atomic

__all__ = [
    "Backend",
    "LocalBackend",
    "HistoryStore",
    "ReadResult",
    "Problem",
    "Unsealed",
    "open_store",
    "parse_record_bytes",
    "keep_unwritten",
    "record_name",
    "is_future",
    "sha256_of",
    "REMOTE_BACKENDS",
    "CLOCK_SKEW",
    "STALE_TEMP",
]

# scheme -> (module, class): the class is built with the URI and implements the Backend protocol.
REMOTE_BACKENDS: dict[str, tuple[str, str]] = {"gs": ("tunebench.storage.gcs_history", "GCSHistoryBackend")}
# A record stamped later than now + this is "from the future": flagged, and never a baseline.
CLOCK_SKEW = timedelta(minutes=5)
# A writer's temp file lives milliseconds; one this old was left by a killed writer and is removed.
STALE_TEMP = timedelta(seconds=STALE_TEMP_SECONDS)


class Backend(Protocol):
    """Where record bytes live; names are relative POSIX paths like `runs/2026/..._id.json`."""

    def create(self, name: str, data: bytes) -> None:
        """Publish `data` under `name`, whole or not at all; raise StorageError if `name` exists."""

    def list(self) -> list[str]:
        """Return the names of the published records (and of anything else stored beside them), sorted."""

    def read(self, name: str) -> bytes:
        """Return the bytes published under `name`."""

    def location(self, name: str) -> str:
        """Return a path or URI a person can use to find `name`."""


@dataclass(frozen=True)
class Problem:
    """A stored file that is not a usable record (or a record to distrust), with the reason."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass(frozen=True)
class Unsealed:
    """A valid record without a checksum that nobody sealed on purpose: listed, never used (`history.seals`)."""

    record: dict[str, Any]
    location: str
    sha256: str  # of its bytes as read: what a seal pins


@dataclass
class ReadResult:
    """Every trusted record (oldest first), the files that are not (problems), and flagged records.

    An unsealed record is both a problem (it is skipped wherever records are used) and in `unsealed`
    (so `history list` can show it with that word and `history seal` can find it).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    flagged: list[Problem] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)  # run_id -> location
    unsealed: list[Unsealed] = field(default_factory=list)
    seals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # target run id -> its seal records

    def problem_for(self, run_id: str) -> Problem | None:
        """Return the problem of the file stored under `run_id` (its name ends in `_<run id>.json`), if any."""
        suffix = f"_{run_id}.json"
        return next((p for p in self.problems if p.location.endswith(suffix)), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Return the records of one kind ("eval", "training"), oldest first."""
        return [r for r in self.records if r.get("kind") == kind]


def record_name(record: dict[str, Any]) -> str:
    """Return the name a record is stored under: `runs/<YYYY>/<UTC stamp>_<run id>.json`."""
    stamp = utc_stamp(record["started_at"])
    return f"runs/{stamp[:4]}/{stamp}_{record['run_id']}.json"


def is_future(record: dict[str, Any], now: datetime | None = None) -> bool:
    """Return True when the record claims to start or finish later than now (plus clock skew)."""
    limit = (now or datetime.now(UTC)) + CLOCK_SKEW
    return any(parse_utc(record[key]) > limit for key in ("started_at", "finished_at") if key in record)


@dataclass(frozen=True)
class _Found:
    location: str
    record: dict[str, Any]
    entry: IndexEntry


class HistoryStore:
    """Append-only history of eval and training records over one backend."""

    def __init__(self, backend: Backend, uri: str):
        self.backend = backend
        self.uri = uri

    def write(self, record: dict[str, Any]) -> str:
        """Validate `record`, publish it create-only, and return where it went."""
        where = f"record {record.get('run_id', '?')}"
        validate(record, where=where)
        check_consistency(record, where=where)
        name = record_name(record)
        self.backend.create(name, to_json(seal(record)))
        return self.backend.location(name)

    def check_writable(self) -> None:
        """Raise StorageError when the backend knows now that a write would fail (local folders; else no-op)."""
        check = getattr(self.backend, "check_writable", None)
        if check is not None:
            check()

    def read_all(self, strict: bool = False, now: datetime | None = None) -> ReadResult:
        """Return every record, validated; bad files go to `problems` (with `strict`, raise RecordError).

        Every file is read and parsed; one whose bytes the summary index saw checked already is not
        checked again (see `history.index`).
        """
        index = SummaryIndex(self.backend)
        versions = self._versions(index)
        result = self._collect(versions, lambda name, version: self._read_full(name, version, index), strict, now)
        index.keep_only(set(versions))
        index.save()
        return result

    def read_summaries(self, strict: bool = False, now: datetime | None = None) -> ReadResult:
        """Return `read_all`'s result with records summarized: no provenance, questions or probes (`index.summary_of`).

        For listings and the baseline search: only files new or changed since the summary index saw them
        are read. Read the chosen record itself with `get`, which rechecks its bytes.
        """
        index = SummaryIndex(self.backend)
        if not index.usable or not hasattr(self.backend, "versions"):
            return self.read_all(strict, now)
        versions = self.backend.versions()
        result = self._collect(versions, lambda name, version: self._read_summary(name, version, index), strict, now)
        index.keep_only(set(versions))
        index.save()
        return result

    def _versions(self, index: SummaryIndex) -> dict[str, str]:
        if index.usable and hasattr(self.backend, "versions"):
            versions: dict[str, str] = self.backend.versions()
            return versions
        return dict.fromkeys(self.backend.list(), "")

    def _collect(self, versions: dict[str, str], read: Any, strict: bool, now: datetime | None) -> ReadResult:
        result = ReadResult()
        found: dict[str, _Found] = {}
        for name, version in versions.items():
            location = self.backend.location(name)
            reason = self._name_problem(name)
            if reason is not None:
                result.problems.append(Problem(location, reason))
                continue
            try:
                record, entry = read(name, version)
            except (RecordError, StorageError) as exc:
                result.problems.append(Problem(location, str(exc).removeprefix(f"{location}: ")))
                continue
            earlier = found.get(record["run_id"])
            if earlier is not None:
                result.problems.append(
                    Problem(location, f"run id {record['run_id']} also stored at {earlier.location}; ignored")
                )
                continue
            found[record["run_id"]] = _Found(location, record, entry)
        self._trust(result, list(found.values()), now)
        if strict and result.problems:
            raise RecordError(
                f"history {self.uri}: {len(result.problems)} unreadable record(s):\n"
                + "\n".join(f"  {p}" for p in result.problems)
            )
        result.records.sort(key=lambda r: (parse_utc(r["started_at"]), r["run_id"]))
        result.unsealed.sort(key=lambda u: (parse_utc(u.record["started_at"]), u.record["run_id"]))
        return result

    @staticmethod
    def _trust(result: ReadResult, found: list[_Found], now: datetime | None) -> None:
        """Split valid records into trusted ones (sealed, or unsealed with a matching seal) and unsealed ones."""
        result.seals = seals_by_target(f.record for f in found if f.entry.sealed)
        for item in found:
            record = item.record
            if not item.entry.sealed and sealed_on_purpose(result.seals, record["run_id"], item.entry.sha256) is None:
                result.unsealed.append(Unsealed(record, item.location, item.entry.sha256))
                result.problems.append(Problem(item.location, unsealed_reason(record["run_id"])))
                continue
            if is_future(record, now):
                result.flagged.append(
                    Problem(item.location, f"stamped in the future ({record['finished_at']}); never used as a baseline")
                )
            result.records.append(record)
            result.locations[record["run_id"]] = item.location

    def _name_problem(self, name: str) -> str | None:
        reason = name_problem(name)
        if reason is not None and hasattr(self.backend, "entry_problem"):
            return self.backend.entry_problem(name) or reason  # a link or folder is named for what it is
        return reason

    def get(self, run_id: str) -> dict[str, Any]:
        """Return the full record with `run_id`, its bytes read and checked now (not as the index remembers them).

        UntrustedRecordError (a RecordError) when the file is damaged, fails its checks, or is unsealed
        and was not sealed on purpose; the summary index then forgets it, so the next listing names the
        problem. RecordError when no file holds `run_id`. The baseline search reads its candidates with
        this, newest first, passing over the ones that raise.
        """
        for name in self.backend.list():
            if name_problem(name) is None and name.removesuffix(".json").endswith(f"_{run_id}"):
                return self._verified(name)
        raise RecordError(f"history {self.uri}: no record with run id {run_id!r}")

    def _verified(self, name: str) -> dict[str, Any]:
        location = self.backend.location(name)
        try:
            data = self.backend.read(name)
            record, sealed = self._check_bytes(name, data)
            if not sealed:
                seals = self.read_summaries().seals  # only for the rare unsealed record: its seals, by bytes
                if sealed_on_purpose(seals, record["run_id"], sha256_of(data)) is None:
                    raise RecordError(unsealed_reason(record["run_id"]))
        except (RecordError, StorageError) as exc:
            index = SummaryIndex(self.backend)
            index.forget(name)  # the listing's summary was of other bytes: the next summary read rechecks them
            index.save()
            raise UntrustedRecordError(location, str(exc).removeprefix(f"{location}: ")) from None
        return record

    def _read_full(self, name: str, version: str, index: SummaryIndex) -> tuple[dict[str, Any], IndexEntry]:
        data = self.backend.read(name)
        digest = sha256_of(data)
        entry = index.known(name, sha256=digest)
        if entry is None:
            entry = self._check(name, version, data, digest, index)
        if entry.problem is not None:
            raise RecordError(entry.problem)
        record = json.loads(data)  # these bytes passed every check before (the index says so)
        record.pop(CHECKSUM_KEY, None)
        return record, entry

    def _read_summary(self, name: str, version: str, index: SummaryIndex) -> tuple[dict[str, Any], IndexEntry]:
        entry = index.known(name, version=version)
        if entry is None:
            data = self.backend.read(name)
            entry = self._check(name, version, data, sha256_of(data), index)
        if entry.problem is not None:
            raise RecordError(entry.problem)
        assert entry.summary is not None  # an entry has a summary or a problem (SummaryIndex checks a loaded one)
        return entry.summary, entry

    def _check(self, name: str, version: str, data: bytes, digest: str, index: SummaryIndex) -> IndexEntry:
        """Check `data` in full and remember the outcome in the index."""
        try:
            record, sealed = self._check_bytes(name, data)
            entry = IndexEntry(version, digest, summary_of(record), None, sealed)
        except RecordError as exc:
            entry = IndexEntry(version, digest, None, str(exc), False)
        index.put(name, entry)
        return entry

    def _check_bytes(self, name: str, data: bytes) -> tuple[dict[str, Any], bool]:
        """Return the record in `data` and whether it carries its checksum; RecordError when it fails a check."""
        try:
            parsed = parse_record_bytes(data)
            sealed = isinstance(parsed, dict) and CHECKSUM_KEY in parsed
            record = unseal(parsed, where="record", data=data)
            validate(record, where="record")
            check_consistency(record, where="record")
        except RecursionError:  # nested just shallow enough to parse, too deep to check
            raise RecordError(f"JSON nested deeper than any record ({len(data)} bytes), not a record") from None
        if not name.removesuffix(".json").endswith(f"_{record['run_id']}"):
            raise RecordError(f"file name does not match its run id {record['run_id']!r}")
        return record, sealed


def sha256_of(data: bytes) -> str:
    """Return `sha256:<hex>` of `data`: what the index remembers and a seal pins."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def keep_unwritten(record: dict[str, Any], folder: Path) -> Path:
    """Save a record the history refused to `folder` (sealed, named as in the history); return its path.

    Copied into the history's `runs/<YYYY>/` later, it reads back as if it had been written there.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(record_name(record)).name
    write_atomic(path, to_json(seal(record)))
    return path


def open_store(uri: str | Path) -> HistoryStore:
    """Return the history store at `uri`: a local folder (default) or a `gs://bucket/prefix`."""
    text = str(uri)
    scheme, sep, rest = text.partition("://")
    if not sep or scheme == "file":
        path = Path(rest if sep else text).expanduser()
        if path.exists() and not path.is_dir():
            raise StorageError(
                f"history {path}: is a file; expected a history folder (created if missing) or gs://bucket/prefix"
            )
        return HistoryStore(LocalBackend(path), str(path))
    if scheme not in REMOTE_BACKENDS:
        raise StorageError(
            f"history {text}: unknown scheme {scheme}://; expected a local folder or "
            + ", ".join(f"{s}://" for s in REMOTE_BACKENDS)
        )
    module_name, class_name = REMOTE_BACKENDS[scheme]
    try:
        backend_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise StorageError(
            f"history {text}: {scheme}:// history needs {module_name}.{class_name} (install tunebench[gcs]): {exc}"
        ) from exc
    return HistoryStore(backend_class(text), text)
