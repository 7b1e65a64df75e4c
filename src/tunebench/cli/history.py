"""`tunebench history import-log|list|show|compare|note`: the benchmark history from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tunebench.errors import RecordError
from tunebench.table import format_table

__all__ = ["register", "summarize"]

RECORD_KINDS = ("eval", "training", "imported_session", "imported_row", "note")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `history` and its subcommands."""
    parser = subparsers.add_parser("history", help="import, list, show, compare and annotate history records")
    commands = parser.add_subparsers(dest="history_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
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

    show = command("show", show_record, "print one record (run id or a unique prefix of one)")
    show.add_argument("run_id")
    show.add_argument("--questions", action="store_true", help="eval runs: every question, chosen vs answer")
    show.add_argument("--wrong", action="store_true", help="with --questions: only the wrong answers")
    show.add_argument("--domain", metavar="D", help="with --questions or --probes: only this domain")
    show.add_argument("--probes", action="store_true", help="eval runs: every probe, its reply, timings and grade")

    compare = command("compare", compare_records, "compare two eval runs question by question")
    compare.add_argument("a", help="run id, or model name (its newest complete eval run)")
    compare.add_argument("b", help="run id, or model name (its newest complete eval run)")

    note = command("note", add_note, "attach a note to a run (appended as its own record, never edited)")
    note.add_argument("run_id")
    note.add_argument("text")
    note.add_argument(
        "--section",
        choices=("difficulties", "improvements", "notes"),
        default="notes",
        help="where the log lists it: Difficulties Encountered, Areas for Improvement, or Notes",
    )


def _store(args: argparse.Namespace):
    from tunebench.config import load_config
    from tunebench.history.store import open_store

    if args.history:
        # A local folder given on the command line is relative to where the command runs, not to the config.
        return open_store(args.history if "://" in args.history else Path(args.history).resolve())
    return open_store(load_config().history_uri)


def _read(store, args: argparse.Namespace, summaries: bool = False) -> list[dict[str, Any]]:
    # Summaries (no per-question lists, from the history's index) are enough for listings.
    result = (store.read_summaries if summaries else store.read_all)(strict=args.strict)
    for problem in result.problems:
        print(f"tunebench: warning: history record skipped: {problem}", file=sys.stderr)
    return result.records


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


# -- import-log ---------------------------------------------------------------------------------------------
def import_log(args: argparse.Namespace) -> int:
    """Import a Markdown log; unparseable lines are reported with their numbers (exit 1 if any)."""
    from tunebench.history.importer import import_log as run_import

    store = _store(args)
    summary = run_import(
        args.file,
        store,
        existing_ids={r["run_id"] for r in _read(store, args)},
        partial=args.partial,
        linker=_linker(args.alias),
    )
    if args.json:
        _print_json(
            {
                "added": summary.added,
                "skipped": summary.skipped,
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
            )
    return 1 if summary.problems else 0


# -- list ---------------------------------------------------------------------------------------------------
def summarize(record: dict[str, Any]) -> dict[str, str]:
    """Return {run_id, kind, source, date, model, summary} for one record of any kind."""
    from tunebench.history.typed import ImportedRowData, ImportedSessionData, NoteRecordData
    from tunebench.report.formatting import dollars, format_interval, format_percent
    from tunebench.report.views import EvalView, TrainingView

    kind = record.get("kind", "?")
    model, text = "", ""
    if kind == "eval":
        view = EvalView(record)
        accuracy = view.accuracy
        model = view.model
        if accuracy is not None:
            text = f"accuracy {format_percent(accuracy.value)} {format_interval(accuracy.low, accuracy.high)}"
        text += f", gate {view.gate_verdict}" + ("" if view.status == "complete" else f", {view.status}")
        if view.status == "subset" and view.selection:
            text += f" ({view.selection})"
    elif kind == "training":
        view = TrainingView(record)
        model = view.output_name
        loss = f"{view.final_loss:.4f}" if view.final_loss is not None else "—"
        text = f"{len(view.phases)} phase(s), final loss {loss}, cost {dollars(view.cost_usd)}"
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
    return {
        "run_id": record.get("run_id", "?"),
        "kind": kind,
        "source": record.get("source", "?"),
        "date": record.get("started_at", "")[:10],
        "model": model,
        "summary": text,
    }


def _linker(aliases: list[str]):
    """Return the ModelLinker for the configured registry and `--alias OLD=NEW` pairs."""
    from tunebench.config import load_config
    from tunebench.history.aliases import ModelLinker, parse_aliases
    from tunebench.registry import Registry

    entries = Registry(load_config()).entries()
    return ModelLinker(entries, parse_aliases(aliases, (e.name for e in entries)))


def _matches(record: dict[str, Any], args: argparse.Namespace, linker) -> bool:
    if args.kind and record.get("kind") != args.kind:
        return False
    if args.since and record.get("started_at", "") < args.since:
        return False
    if not args.model or summarize(record)["model"] == args.model:
        return True
    # Imported rows name models as the log did; their registry name was linked at import (or is linked now).
    linked = record.get("registry_model")
    if linked is None and record.get("kind") in ("imported_row", "imported_session"):
        linked = linker.link(record.get("output_model") or record.get("label"))
    return linked == args.model


def list_records(args: argparse.Namespace) -> int:
    """Print the records that pass the filters."""
    if args.since:
        _check_date(args.since)
    records = _read(_store(args), args, summaries=True)
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
        )
    )
    return 0


def _check_date(text: str) -> None:
    from datetime import date

    try:
        date.fromisoformat(text[:10])
    except ValueError:
        raise RecordError(f"--since: expected a date YYYY-MM-DD, found {text!r}") from None


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- show ---------------------------------------------------------------------------------------------------
def find_record(reference: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the record `reference` names (tunebench.history.reference.resolve_run: id, prefix, model, latest)."""
    from tunebench.history.reference import resolve_run

    return resolve_run(reference, records)


def _refuse_untrusted(store, run_id: str) -> None:
    """Raise RecordError naming the file when `run_id` is stored but failed its checksum or consistency check."""
    problem = store.read_all().problem_for(run_id)
    if problem is not None:
        raise RecordError(f"run id {run_id!r}: the record at {problem.location} cannot be trusted: {problem.reason}")


def show_record(args: argparse.Namespace) -> int:
    """Print one record: a summary, its key figures, and the notes attached to it."""
    store = _store(args)
    records = _read(store, args)
    try:
        record = find_record(args.run_id, records)
    except RecordError:
        _refuse_untrusted(store, args.run_id)
        raise
    if args.questions or args.probes:
        return _show_answers(record, args)
    if args.wrong or args.domain:
        raise RecordError("--wrong and --domain filter --questions or --probes: add one of them")
    notes = [n for n in records if n.get("kind") == "note" and n.get("target_run_id") == record["run_id"]]
    if args.json:
        _print_json({"record": record, "attached_notes": notes})
        return 0
    summary = summarize(record)
    width = max(map(len, summary))
    for key, value in summary.items():
        print(f"{key.ljust(width)}  {value}")
    for line in _details(record):
        print(line)
    for note in notes:
        print(f"note ({note['section']}, {note['started_at'][:10]}): {note['text']}")
    return 0


def _details(record: dict[str, Any]) -> list[str]:
    from tunebench.history.typed import ImportedSessionData
    from tunebench.report.formatting import format_interval, format_percent
    from tunebench.report.views import EvalView, TrainingView
    from tunebench.training.contamination import describe, label

    kind = record.get("kind")
    if kind == "eval":
        view = EvalView(record)
        rows = [
            (
                d,
                format_percent(p.value),
                format_interval(p.low, p.high),
                f"{p.k}/{p.n}",
                _fmt(view.latency_by_domain_s.get(d)),
                _fmt(view.quality_by_domain.get(d)),
            )
            for d, p in view.by_domain.items()
        ]
        table = format_table(["domain", "accuracy", "95% interval", "right", "latency s", "quality"], rows)
        mark = label(view.training_data)
        return ["", table] + ([f"WARNING: {mark}"] if mark else [])
    if kind == "training":
        view = TrainingView(record)
        rows = [
            (p.name, p.get("kind"), p.get("examples"), p.get("steps"), _fmt(p.get("final_loss")), _fmt(p.get("wall_s")))
            for p in view.phases
        ]
        table = format_table(["phase", "kind", "examples", "steps", "final loss", "seconds"], rows)
        lines = ["", table, "", f"contamination check: {describe(view.contamination)}"]
        return lines + [f"difficulty: {d}" for d in view.difficulties]
    if kind == "imported_session":
        session = ImportedSessionData.from_dict(record, partial=True)
        where = session.imported_from
        return [
            f"imported from {where['file']} line {where['line']}; "
            f"{len(session.blocks)} block(s): " + ", ".join(b["title"] or "attributes" for b in session.blocks)
        ]
    return []


def _show_answers(record: dict[str, Any], args: argparse.Namespace) -> int:
    """`show RUN --questions/--probes`: the run's answers, as tables (or JSON)."""
    from tunebench.config import load_config
    from tunebench.report.html import build_page

    if record.get("kind") != "eval":
        raise RecordError(f"--questions/--probes: run {record['run_id']} is a {record.get('kind')} record, not an eval")
    page = build_page(record, root=load_config().root)
    domains = sorted({q.domain for q in page.questions} | {p.domain for p in page.probes})
    if args.domain and args.domain not in domains:
        raise RecordError(f"--domain: expected one of {', '.join(domains) or '(none)'}, found {args.domain!r}")
    questions = [
        q for q in page.questions if (not args.wrong or not q.correct) and (not args.domain or q.domain == args.domain)
    ]
    probes = [p for p in page.probes if not args.domain or p.domain == args.domain]
    if args.json:
        data = {}
        if args.questions:
            data["questions"] = [_question_data(q) for q in questions]
        if args.probes:
            data["probes"] = [_probe_data(p) for p in probes]
        _print_json(data)
        return 0
    if args.questions:
        rows = [
            (
                q.id,
                q.domain,
                q.difficulty,
                q.chosen or "—",
                q.answer or "—",
                "right" if q.correct else "WRONG" if q.status == "answered" else q.status,
                _probability(q),
                _clip(_one_line(q.text) if q.text is not None else "(suite file not found here)", 60),
            )
            for q in questions
        ]
        print(format_table(["question", "domain", "difficulty", "chose", "answer", "result", "P(chose)", "text"], rows))
        right = sum(q.correct for q in questions)
        print(f"{len(questions)} question(s) shown: {right} right, {len(questions) - right} wrong")
    if args.probes:
        if args.questions:
            print()
        rows = [
            (
                p.id,
                p.domain,
                p.stop_reason or "—",
                _fmt(p.new_tokens),
                _fmt(p.ttft_s),
                _fmt(p.tokens_per_s),
                _fmt(p.latency_s),
                _fmt(p.grade),
                _clip(_one_line("".join(s.text for s in p.reply)), 50),
            )
            for p in probes
        ]
        print(
            format_table(["probe", "domain", "stop", "tokens", "TTFT s", "tok/s", "latency s", "grade", "reply"], rows)
        )
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) if text.strip() else repr(text)


def _probability(question: Any) -> str:
    chosen = next((c.probability for c in question.choices if c.is_chosen), None)
    return "—" if chosen is None else f"{chosen:.3f}"


def _question_data(question: Any) -> dict[str, Any]:
    return {
        "id": question.id,
        "domain": question.domain,
        "difficulty": question.difficulty,
        "status": question.status,
        "text": question.text,
        "choices": [{"letter": c.letter, "text": c.text, "probability": c.probability} for c in question.choices],
        "chosen": question.chosen,
        "answer": question.answer,
        "correct": question.correct,
    }


def _probe_data(probe: Any) -> dict[str, Any]:
    return {
        "id": probe.id,
        "domain": probe.domain,
        "status": probe.status,
        "prompt": probe.prompt,
        "reply": "".join(s.text for s in probe.reply),
        "stop_reason": probe.stop_reason,
        "new_tokens": probe.new_tokens,
        "ttft_s": probe.ttft_s,
        "tokens_per_s": probe.tokens_per_s,
        "latency_s": probe.latency_s,
        "grade": probe.grade,
        "hit": probe.hit,
        "missed": probe.missed,
        "forbidden_found": probe.forbidden_found,
    }


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


# -- compare ------------------------------------------------------------------------------------------------
def compare_records(args: argparse.Namespace) -> int:
    """Print the comparison of two eval runs (B minus A)."""
    from tunebench.report.compare import compare_runs, format_comparison, resolve_run

    records = _read(_store(args), args)
    comparison = compare_runs(resolve_run(args.a, records), resolve_run(args.b, records))
    if args.json:
        _print_json(comparison.to_dict())
    else:
        print(format_comparison(comparison))
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
