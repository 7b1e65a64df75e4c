"""Import a hand-written benchmark log (the seed's Markdown) into history records marked `source: imported`.

`history.log_parser` reads the Markdown into records (values kept exactly as written, run ids from the
content); this module writes the ones the history does not hold yet, so importing the same file twice adds
nothing, and seals a user's own earlier unsealed import instead of writing it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.errors import DataError
from tunebench.history.log_parser import SUMMARY_TABLES, ImportResult, LineProblem, parse_log
from tunebench.history.records import utc_now

__all__ = [
    "LineProblem",
    "ImportResult",
    "ImportSummary",
    "parse_log",
    "import_log",
    "SUMMARY_TABLES",
]


@dataclass
class ImportSummary:
    """What `import_log` did: ids written, ids already in the history, unparsed lines, ids it sealed."""

    added: list[str]
    skipped: list[str]
    problems: list[LineProblem]
    sealed: list[str] = field(default_factory=list)


def import_log(
    path: Path | str,
    store: Any,
    existing_ids: Iterable[str] | None = None,
    *,
    partial: bool = False,
    linker: Any = None,
    unsealed: Iterable[Any] | None = None,
) -> ImportSummary:
    """Parse the log at `path` and write the records whose run id `store` does not hold yet.

    When a line cannot be parsed nothing is written (unless `partial`): a session imported without that
    line would get a different run id than the same session imported once the line is fixed.

    `unsealed` (the store's `ReadResult.unsealed`; read here when `existing_ids` is None): an imported
    record stored without a checksum (an import from before checksums) whose run id and content are what
    this import gives is the user's own import, so it is sealed with a seal record (`history.seals`)
    rather than written again; one whose content differs is left unsealed and skipped.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the log: {exc}") from exc
    result = parse_log(text, source=path.name)
    if result.problems and not partial:
        return ImportSummary([], [], result.problems)
    if linker is not None:  # history.aliases.ModelLinker: names in the log -> registry names (not in run ids)
        from tunebench.history.aliases import link_records

        link_records(result.records, linker)
    if existing_ids is None:
        read = store.read_all()
        existing_ids, unsealed = {r.get("run_id") for r in read.records}, read.unsealed
    stored_unsealed = {u.record["run_id"]: u for u in unsealed or ()}
    known = set(existing_ids)
    added, skipped, sealed = [], [], []
    imported_at = utc_now()
    for record in result.records:
        old = stored_unsealed.get(record["run_id"])
        if old is not None:
            if _same_import(old.record, record):
                _seal_import(store, old, path)
                sealed.append(record["run_id"])
            else:
                skipped.append(record["run_id"])
            continue
        if record["run_id"] in known:
            skipped.append(record["run_id"])
            continue
        # Not part of the run id: it tells a later re-import of an edited session from the first one.
        record["imported_from"]["imported_at"] = imported_at
        store.write(record)
        known.add(record["run_id"])
        added.append(record["run_id"])
    return ImportSummary(added, skipped, result.problems, sealed)


def _same_import(stored: dict[str, Any], parsed: dict[str, Any]) -> bool:
    """True when `stored` holds what importing gives now, but for provenance and the import's own time."""

    def content(record: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in record.items() if k not in ("provenance", "checksum")}
        kept["imported_from"] = {k: v for k, v in record.get("imported_from", {}).items() if k != "imported_at"}
        return kept

    return stored.get("source") == "imported" and content(stored) == content(parsed)


def _seal_import(store: Any, unsealed: Any, path: Path) -> None:
    from tunebench.history.seals import seal_record
    from tunebench.provenance import collect

    name = next(n for n in store.backend.list() if store.backend.location(n) == unsealed.location)
    reason = f"import-log {path.name}: the user's own import, the same content importing it again gives"
    store.write(
        seal_record(unsealed.record, unsealed.sha256, name, reason, collect(command=["tunebench", "import-log"]))
    )
