"""What the `history` subcommands share: the store named by --history, its trusted records, a run by id, its summary."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunebench.history.store import HistoryStore

# The key `history list` marks an unsealed record with (its location): such records are listed, never used.
UNSEALED = "unsealed_at"


def _store(args: argparse.Namespace) -> HistoryStore:
    from tunebench.config import load_config
    from tunebench.history.store import open_store

    if args.history:
        # A local folder given on the command line is relative to where the command runs, not to the config.
        return open_store(args.history if "://" in args.history else Path(args.history).resolve())
    return open_store(load_config().history_uri)


def _read(
    store: HistoryStore, args: argparse.Namespace, summaries: bool = False, unsealed: bool = False
) -> list[dict[str, Any]]:
    """Return the trusted records, warning about the rest; `unsealed`: those too, marked (for the listing)."""
    # Summaries (no per-question lists, from the history's index) are enough for listings.
    result = (store.read_summaries if summaries else store.read_all)(strict=args.strict)
    listed = {u.location for u in result.unsealed} if unsealed else set()
    for problem in result.problems:
        if problem.location not in listed:
            print(f"tunebench: warning: history record skipped: {problem}", file=sys.stderr)
    if not unsealed:
        return result.records
    marked = [{**u.record, UNSEALED: u.location} for u in result.unsealed]
    return sorted([*result.records, *marked], key=lambda r: (r.get("started_at", ""), r.get("run_id", "")))


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


# -- list ---------------------------------------------------------------------------------------------------
def summarize(record: dict[str, Any]) -> dict[str, str]:
    """Return {run_id, kind, source, date, model, summary} for one record of any kind."""
    from tunebench.history.typed import ImportedRowData, ImportedSessionData, NoteRecordData
    from tunebench.report.formatting import dollars, format_interval, format_loss, format_percent
    from tunebench.report.views import EvalView, TrainingView

    kind = record.get("kind", "?")
    model: Any = ""  # an imported record's name as the log wrote it
    text = ""
    if kind == "eval":
        run = EvalView(record)
        accuracy = run.accuracy
        model = run.model
        if accuracy is not None:
            text = f"accuracy {format_percent(accuracy.value)} {format_interval(accuracy.low, accuracy.high)}"
        text += f", gate {run.gate_verdict}" + ("" if run.status == "complete" else f", {run.status}")
        if run.status == "subset" and run.selection:
            text += f" ({run.selection})"
    elif kind == "training":
        training = TrainingView(record)
        model = training.output_name
        loss = format_loss(training.final_loss)
        text = f"{len(training.phases)} phase(s), final loss {loss}, cost {dollars(training.cost_usd)}"
    elif kind == "imported_session":
        session = ImportedSessionData.from_dict(record, partial=True)  # the listing reads index summaries
        model = session.get("output_model", "")
        text = f"Session {session.session}: {session.title}"
    elif kind == "imported_row":
        row = ImportedRowData.from_dict(record, partial=True)
        model = row.get("label", "")
        text = f"{row.get('section', row.table)}: " + " | ".join(c["text"] for c in row.cells[1:])
    elif kind == "note":
        note = NoteRecordData.from_dict(record, partial=True)
        model = ""
        text = f"{note.section} on {note.target_run_id}: {note.text}"
    elif kind == "seal":
        text = f"sealed {record.get('target_run_id')} ({record.get('target_kind')}) by {record.get('sealed_by')}"
    if UNSEALED in record:
        text = f"UNSEALED: {text}"
    return {
        "run_id": record.get("run_id", "?"),
        "kind": kind,
        "source": record.get("source", "?"),
        "date": "date unknown"
        if kind == "imported_row" and record.get("date", "") is None
        else record.get("started_at", "")[:10],
        "model": model,
        "summary": text,
    }


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- show ---------------------------------------------------------------------------------------------------
def find_record(reference: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the record `reference` names (tunebench.history.reference.resolve_run: id, prefix, model, latest)."""
    from tunebench.history.reference import resolve_run

    return resolve_run(reference, records)
