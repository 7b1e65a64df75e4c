"""`tunebench history import-log|list|show|compare|note|seal`: the benchmark history from the terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tunebench.cli.history_common import _clip, _print_json, _read, _store, find_record, summarize
from tunebench.cli.history_show import show_record
from tunebench.errors import RecordError
from tunebench.table import format_table

if TYPE_CHECKING:
    from tunebench.history.aliases import ModelLinker

__all__ = ["register", "summarize"]

RECORD_KINDS = ("eval", "training", "imported_session", "imported_row", "note", "seal")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `history` and its subcommands."""
    parser = subparsers.add_parser("history", help="import, list, show, compare, seal and annotate history records")
    commands = parser.add_subparsers(dest="history_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--history", metavar="URI", help="history location (default: the configured one)")
        sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
        sub.add_argument(
            "--strict",
            action="store_true",
            help="fail (exit 2) when any history record is corrupt or violates its schema",
        )
        sub.set_defaults(func=func)
        return sub

    importing = command("import-log", import_log, "import a hand-written Markdown benchmark log (values as written)")
    importing.add_argument("file", help="the Markdown log, e.g. TRAINING_BENCHMARK_LOG.md")
    importing.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="the log's name OLD is the registry model NEW (repeatable); names are otherwise linked by gs:// path",
    )
    importing.add_argument(
        "--partial",
        action="store_true",
        help="import what parses even when some lines do not (default: import nothing then)",
    )

    listing = command("list", list_records, "list records, oldest first")
    listing.add_argument("--model", help="only records of this model (eval/training model, or imported label)")
    listing.add_argument("--kind", choices=RECORD_KINDS, help="only records of this kind")
    listing.add_argument("--since", metavar="DATE", help="only records started at or after DATE (YYYY-MM-DD)")

    show = command("show", show_record, "print one record: a run id (or a unique prefix), or latest")
    show.add_argument(
        "run_id",
        metavar="RUN",
        help="run id (or a unique prefix), or latest (the newest eval run; without one, the newest record)",
    )
    show.add_argument("--questions", action="store_true", help="eval runs: every question, chosen vs answer")
    show.add_argument("--wrong", action="store_true", help="with --questions: only the wrong answers")
    show.add_argument("--domain", metavar="D", help="with --questions or --probes: only this domain")
    show.add_argument("--probes", action="store_true", help="eval runs: every probe, its reply, timings and grade")

    compare = command("compare", compare_records, "compare two eval runs question by question")
    compare.add_argument("a", help="run id, or model name (its newest complete eval run)")
    compare.add_argument("b", help="run id, or model name (its newest complete eval run)")

    from tunebench.cli.history_seal import add_seal_command

    add_seal_command(command)

    note = command("note", add_note, "attach a note to a run (appended as its own record, never edited)")
    note.add_argument("run_id")
    note.add_argument("text")
    note.add_argument(
        "--section",
        choices=("difficulties", "improvements", "notes"),
        default="notes",
        help="where the log lists it: Difficulties Encountered, Areas for Improvement, or Notes",
    )


# -- import-log ---------------------------------------------------------------------------------------------
def import_log(args: argparse.Namespace) -> int:
    """Import a Markdown log; unparseable lines are reported with their numbers (exit 1 if any)."""
    from tunebench.history.importer import import_log as run_import

    store = _store(args)
    history = store.read_all(strict=args.strict)
    summary = run_import(
        args.file,
        store,
        existing_ids={r["run_id"] for r in history.records},
        partial=args.partial,
        linker=_linker(args.alias),
        unsealed=history.unsealed,  # an import from before checksums, imported again, is sealed
    )
    if args.json:
        _print_json(
            {
                "added": summary.added,
                "skipped": summary.skipped,
                "sealed": summary.sealed,
                "problems": [{"line": p.line, "text": p.text, "reason": p.reason} for p in summary.problems],
            }
        )
    else:
        for problem in summary.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        if summary.problems and not args.partial:
            print(
                f"nothing imported: {len(summary.problems)} line(s) of {args.file} could not be parsed; fix them "
                "(or pass --partial to import the rest)",
                file=sys.stderr,
            )
        else:
            print(
                f"imported {len(summary.added)} record(s) from {args.file} into {store.uri}; "
                f"{len(summary.skipped)} already in the history"
                + (f"; sealed {len(summary.sealed)} imported before checksums" if summary.sealed else "")
            )
    return 1 if summary.problems else 0


def _linker(aliases: list[str]) -> ModelLinker:
    """Return the ModelLinker for the configured registry and `--alias OLD=NEW` pairs."""
    from tunebench.config import load_config
    from tunebench.history.aliases import ModelLinker, parse_aliases
    from tunebench.registry import Registry

    entries = Registry(load_config()).entries()
    return ModelLinker(entries, parse_aliases(aliases, (e.name for e in entries)))


def _matches(record: dict[str, Any], args: argparse.Namespace, linker: ModelLinker | None) -> bool:
    if args.kind and record.get("kind") != args.kind:
        return False
    if args.since and record.get("started_at", "") < args.since:
        return False
    if not args.model or summarize(record)["model"] == args.model:
        return True
    # Imported rows name models as the log did; their registry name was linked at import (or is linked now).
    linked = record.get("registry_model")
    if linked is None and linker is not None and record.get("kind") in ("imported_row", "imported_session"):
        linked = linker.link(record.get("output_model") or record.get("label"))
    return bool(linked == args.model)


def list_records(args: argparse.Namespace) -> int:
    """Print the records that pass the filters."""
    if args.since:
        _check_date(args.since)
    records = _read(_store(args), args, summaries=True, unsealed=True)
    linker = None
    if args.model:
        linker = _linker([])
        linker.learn(records)
    rows = [summarize(r) for r in records if _matches(r, args, linker)]
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no records match")
        return 0
    print(
        format_table(
            ["run id", "kind", "source", "date", "model", "summary"],
            [
                (r["run_id"], r["kind"], r["source"], r["date"], _clip(r["model"], 40), _clip(r["summary"], 70))
                for r in rows
            ],
            whole=[0],  # a run id is copied into the next command: never wrapped
        )
    )
    unsealed = sum(r["summary"].startswith("UNSEALED") for r in rows)
    if unsealed:
        print(
            f"{unsealed} UNSEALED record(s): no checksum, so never a baseline or a log row; if you trust one, "
            "seal it on purpose: tunebench history seal RUN_ID"
        )
    return 0


def _check_date(text: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(text[:10])
    except ValueError:
        raise RecordError(f"--since: expected a date YYYY-MM-DD, found {text!r}") from None


# -- compare ------------------------------------------------------------------------------------------------
def compare_records(args: argparse.Namespace) -> int:
    """Print the comparison of two eval runs (B minus A)."""
    from tunebench.history.reference import resolve_pair
    from tunebench.report.compare import compare_runs, format_comparison
    from tunebench.report.lm_eval_tasks import compare_rows, format_task_comparison

    records = _read(_store(args), args)
    a, b = resolve_pair(args.a, args.b, records, what="history compare")
    comparison = compare_runs(a, b)
    if args.json:
        _print_json({**comparison.to_dict(), "lm_eval_tasks": compare_rows(a, b)})
    else:
        print(format_comparison(comparison))
        tasks = format_task_comparison(a, b)
        if tasks:
            print("\n" + tasks)
    return 0


# -- note ---------------------------------------------------------------------------------------------------
def add_note(args: argparse.Namespace) -> int:
    """Write a note record on an existing run."""
    from tunebench.history.records import new_run_id, utc_now
    from tunebench.provenance import collect

    if not args.text.strip():
        raise RecordError("note: expected some text, found an empty string")
    store = _store(args)
    target = find_record(args.run_id, _read(store, args))
    if target.get("kind") == "note":
        raise RecordError(f"run {target['run_id']} is itself a note: attach notes to a training, eval or imported run")
    now = utc_now()
    record = {
        "kind": "note",
        "schema_version": 1,
        "run_id": new_run_id(),
        "started_at": now,
        "finished_at": now,
        "source": "measured",
        "provenance": collect(),
        "notes": [],
        "target_run_id": target["run_id"],
        "section": args.section,
        "text": args.text.strip(),
    }
    location = store.write(record)
    if args.json:
        _print_json({"run_id": record["run_id"], "target_run_id": target["run_id"], "location": location})
    else:
        print(f"noted on {target['run_id']} ({args.section}): {location}")
    return 0
