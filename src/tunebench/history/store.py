"""The append-only history store: one immutable JSON file (or object) per record.

Records live at `runs/<YYYY>/<UTC stamp>_<run id>.json` under the store's root. A record is written
whole to a temporary file in the same folder, fsynced, then published with `os.link`, which fails
instead of overwriting; the folder is fsynced after. No file is ever rewritten, so concurrent writers,
`kill -9` and a full disk cannot lose or corrupt a published record: the worst they leave is a hidden
`.tmp-*.part` file that readers ignore and the next write removes once it is older than `STALE_TEMP`.
Every stored record is sealed with a content checksum and checked for consistent numbers on read
(`history.integrity`); one that fails is a problem reported by its location, never a record.

Backends are small: `create(name, data)`, `list()`, `read(name)`, `location(name)`. `open_store`
picks one by the URI's scheme; `gs://` is served by `tunebench.storage.gcs` (see `REMOTE_BACKENDS`).
A backend that also has `versions()`, `read_derived(name)` and `write_derived(name, data)` keeps the
summary index beside the records (`history.index`), which makes large histories cheap to read.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tunebench.errors import RecordError, StorageError
from tunebench.history.index import IndexEntry, SummaryIndex, summary_of
from tunebench.history.integrity import CHECKSUM_KEY, check_consistency, seal, unseal
from tunebench.history.records import parse_utc, to_json, utc_stamp, validate
from tunebench.storage.local import fsync_folder, write_atomic, write_temp

__all__ = [
    "Backend",
    "LocalBackend",
    "HistoryStore",
    "ReadResult",
    "Problem",
    "open_store",
    "parse_record_bytes",
    "keep_unwritten",
    "record_name",
    "is_future",
    "REMOTE_BACKENDS",
    "CLOCK_SKEW",
    "STALE_TEMP",
]

# scheme -> (module, class): the class is built with the URI and implements the Backend protocol.
REMOTE_BACKENDS: dict[str, tuple[str, str]] = {"gs": ("tunebench.storage.gcs_history", "GCSHistoryBackend")}
# A record stamped later than now + this is "from the future": flagged, and never a baseline.
CLOCK_SKEW = timedelta(minutes=5)
# A writer's temp file lives milliseconds; one this old was left by a killed writer and is removed.
STALE_TEMP = timedelta(minutes=10)


class Backend(Protocol):
    """Where record bytes live; names are relative POSIX paths like `runs/2026/..._id.json`."""

    def create(self, name: str, data: bytes) -> None:
        """Publish `data` under `name`, whole or not at all; raise StorageError if `name` exists."""

    def list(self) -> list[str]:
        """Return the names of the published records, sorted."""

    def read(self, name: str) -> bytes:
        """Return the bytes published under `name`."""

    def location(self, name: str) -> str:
        """Return a path or URI a person can use to find `name`."""


class LocalBackend:
    """A local folder: temp file + fsync + `os.link` (create-only) + fsync of the folder."""

    def __init__(self, root: Path | str):
        self.root = Path(root).expanduser()

    def location(self, name: str) -> str:
        """Return the file path of `name`."""
        return str(self.root / name)

    def create(self, name: str, data: bytes) -> None:
        """Publish `data` as the file `name`; never overwrite, never leave a partial file under `name`."""
        target = self.root / name
        try:
            self._make_folders(target.parent)
            self._remove_stale_temp_files()
        except OSError as exc:
            raise StorageError(
                f"{target}: cannot create the record's folder ({exc.strerror}); nothing was published"
            ) from exc
        try:
            tmp = write_temp(target.parent, data, prefix=".tmp-", suffix=".part")  # fsynced; removed on error
        except OSError as exc:
            raise StorageError(
                f"{target}: writing the record failed ({exc.strerror or exc}); nothing was "
                "published and the history is unchanged"
            ) from exc
        try:
            os.link(tmp, target)  # create-only, unlike a rename: an existing record is never replaced
        except FileExistsError:
            raise StorageError(
                f"{target}: a record with this name already exists; history records are never overwritten"
            ) from None
        except OSError as exc:
            raise StorageError(
                f"{target}: writing the record failed ({exc.strerror or exc}); nothing was "
                "published and the history is unchanged"
            ) from exc
        finally:
            _unlink_quietly(tmp)
        fsync_folder(target.parent)

    def list(self) -> list[str]:
        """Return `runs/**/*.json` names, sorted; hidden temp files are not records.

        Anything else named `*.json` (a folder, a socket) is listed too, so `read` can say what it is
        instead of it being skipped silently.
        """
        runs = self.root / "runs"
        if not runs.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in runs.rglob("*.json") if not p.name.startswith("."))

    def read(self, name: str) -> bytes:
        """Return the bytes of the file `name`."""
        path = self.root / name
        if path.is_dir():
            raise StorageError(f"{path}: a folder named like a record, not a record file")
        if path.exists() and not path.is_file():
            raise StorageError(f"{path}: not a regular file (a socket, pipe or device), not a record")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise StorageError(f"{path}: cannot read ({exc.strerror})") from exc

    def versions(self) -> dict[str, str]:
        """Return {name: version} of what `list` lists: size, modification time and inode, which any change moves."""
        runs = self.root / "runs"
        found = {}
        # os.walk, not Path.rglob: a 10,000-record history is listed in a tenth of the time.
        for folder, subfolders, files in os.walk(runs):
            prefix = os.path.relpath(folder, self.root).replace(os.sep, "/")
            for entry in (*subfolders, *files):
                if entry.endswith(".json") and not entry.startswith("."):
                    try:
                        stat = os.stat(os.path.join(folder, entry))
                        found[f"{prefix}/{entry}"] = f"{stat.st_size}-{stat.st_mtime_ns}-{stat.st_ino}"
                    except OSError:
                        found[f"{prefix}/{entry}"] = "unreadable"
        return dict(sorted(found.items()))

    def read_derived(self, name: str) -> bytes | None:
        """Return the derived file `name` (the summary index), or None when there is none."""
        try:
            return (self.root / name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_derived(self, name: str, data: bytes) -> None:
        """Replace the derived file `name` whole; its folder tells git to ignore it (it is not history)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ignore = target.parent / ".gitignore"
        if not ignore.exists():
            write_atomic(ignore, "# derived from ../runs by tunebench, rebuilt when missing: never commit it\n*\n")
        write_atomic(target, data)

    def check_writable(self) -> None:
        """Raise StorageError unless a record could be published here now; creates nothing that stays."""
        folder = self.root / "runs"
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # the folders a write would create are created in the nearest existing one
        try:
            if not folder.is_dir():
                raise NotADirectoryError(20, "a file where the history needs a folder", str(folder))
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-probe-", suffix=".part")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StorageError(
                f"{self.root}: the history cannot be written ({exc.strerror or exc}: {exc.filename or folder})"
            ) from exc

    def _remove_stale_temp_files(self) -> None:
        cutoff = time.time() - STALE_TEMP.total_seconds()
        for temp in (self.root / "runs").glob("*/.tmp-*.part"):
            try:
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
            except OSError:
                pass  # another writer removed it first, or it is not ours to remove: the write goes on

    def _make_folders(self, folder: Path) -> None:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        # A new folder's entry lives in its parent: fsync the parents so the folder survives a crash.
        for created in reversed(missing):
            fsync_folder(created.parent)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@dataclass(frozen=True)
class Problem:
    """A stored file that is not a usable record (or a record to distrust), with the reason."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass
class ReadResult:
    """Every valid record (oldest first), the files that are not valid records, and flagged records."""

    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    flagged: list[Problem] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)  # run_id -> location

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
        are read. Read the chosen record itself with `get`.
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
            return self.backend.versions()
        return dict.fromkeys(self.backend.list(), "")

    def _collect(self, versions: dict[str, str], read: Any, strict: bool, now: datetime | None) -> ReadResult:
        result = ReadResult()
        for name, version in versions.items():
            location = self.backend.location(name)
            try:
                record = read(name, version)
            except (RecordError, StorageError) as exc:
                result.problems.append(Problem(location, str(exc).removeprefix(f"{location}: ")))
                continue
            if record["run_id"] in result.locations:
                result.problems.append(
                    Problem(
                        location,
                        f"run id {record['run_id']} also stored at {result.locations[record['run_id']]}; ignored",
                    )
                )
                continue
            if is_future(record, now):
                result.flagged.append(
                    Problem(location, f"stamped in the future ({record['finished_at']}); never used as a baseline")
                )
            result.records.append(record)
            result.locations[record["run_id"]] = location
        if strict and result.problems:
            raise RecordError(
                f"history {self.uri}: {len(result.problems)} unreadable record(s):\n"
                + "\n".join(f"  {p}" for p in result.problems)
            )
        result.records.sort(key=lambda r: (parse_utc(r["started_at"]), r["run_id"]))
        return result

    def get(self, run_id: str) -> dict[str, Any]:
        """Return the record with `run_id`; RecordError if none."""
        for name in self.backend.list():
            if name.removesuffix(".json").endswith(f"_{run_id}"):
                return self._read_one(name, self.backend.location(name))
        raise RecordError(f"history {self.uri}: no record with run id {run_id!r}")

    def _read_full(self, name: str, version: str, index: SummaryIndex) -> dict[str, Any]:
        data = self.backend.read(name)
        digest = hashlib.sha256(data).hexdigest()
        entry = index.known(name, sha256=digest)
        if entry is None:
            entry = self._check(name, version, data, digest, index)
        if entry.problem is not None:
            raise RecordError(entry.problem)
        record = json.loads(data)  # these bytes passed every check before (the index says so)
        record.pop(CHECKSUM_KEY, None)
        return record

    def _read_summary(self, name: str, version: str, index: SummaryIndex) -> dict[str, Any]:
        entry = index.known(name, version=version)
        if entry is None:
            data = self.backend.read(name)
            entry = self._check(name, version, data, hashlib.sha256(data).hexdigest(), index)
        if entry.problem is not None:
            raise RecordError(entry.problem)
        return entry.summary

    def _check(self, name: str, version: str, data: bytes, digest: str, index: SummaryIndex) -> IndexEntry:
        """Check `data` in full and remember the outcome in the index."""
        try:
            entry = IndexEntry(version, digest, summary_of(self._check_bytes(name, data)), None)
        except RecordError as exc:
            entry = IndexEntry(version, digest, None, str(exc))
        index.put(name, entry)
        return entry

    def _read_one(self, name: str, location: str) -> dict[str, Any]:
        return self._check_bytes(name, self.backend.read(name))

    def _check_bytes(self, name: str, data: bytes) -> dict[str, Any]:
        record = unseal(parse_record_bytes(data), where="record", data=data)
        validate(record, where="record")
        check_consistency(record, where="record")
        if not name.removesuffix(".json").endswith(f"_{record['run_id']}"):
            raise RecordError(f"file name does not match its run id {record['run_id']!r}")
        return record


def keep_unwritten(record: dict[str, Any], folder: Path) -> Path:
    """Save a record the history refused to `folder` (sealed, named as in the history); return its path.

    Copied into the history's `runs/<YYYY>/` later, it reads back as if it had been written there.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(record_name(record)).name
    write_atomic(path, to_json(seal(record)))
    return path


def parse_record_bytes(data: bytes) -> Any:
    """Return the JSON value in `data`; RecordError saying what the bytes are when they are not JSON text."""
    if not data:
        raise RecordError("an empty file (0 bytes), not a record")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        binary = b"\0" in data[:4096]
        what = "binary data" if binary else "text that is not UTF-8"
        raise RecordError(
            f"{what} ({len(data)} bytes; byte {exc.start} is {data[exc.start]:#04x}), not a record"
        ) from None
    if not text.strip():
        raise RecordError(f"only whitespace ({len(data)} bytes), not a record")
    if "\0" in text:
        raise RecordError(f"binary data ({len(data)} bytes, contains NUL bytes), not a record")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise RecordError(f"not JSON (text starting {text.lstrip()[:20]!r}), not a record") from None
        stripped = text.rstrip()
        if exc.pos >= len(stripped) or not stripped.endswith(("}", "]")):
            raise RecordError(
                f"line {exc.lineno}: truncated: the JSON ends before the record does ({exc.msg})"
            ) from None
        raise RecordError(f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}") from None


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
