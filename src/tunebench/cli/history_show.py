"""`tunebench history show RUN`: one record, and with --questions or --probes every question or probe of a run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunebench.cli.history_common import _clip, _print_json, _read, _store, find_record, summarize
from tunebench.errors import RecordError
from tunebench.escaping import terminal_text
from tunebench.table import fit_line, format_table

if TYPE_CHECKING:
    from tunebench.history.store import HistoryStore
    from tunebench.report.html_rows import ProbeRow, QuestionRow


def _refuse_untrusted(store: HistoryStore, run_id: str) -> None:
    """Raise RecordError naming the file when `run_id` is stored but failed its checksum or consistency check."""
    problem = store.read_all().problem_for(run_id)
    if problem is not None:
        raise RecordError(f"run id {run_id!r}: the record at {problem.location} cannot be trusted: {problem.reason}")


def show_record(args: argparse.Namespace) -> int:
    """Print one record: a summary, its key figures, and the notes attached to it."""
    store = _store(args)
    records = _read(store, args)
    try:
        record = _find(args.run_id, records)
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
    # A record's text (a served model's id, a note) is shown, never obeyed: a CR or an escape sequence is visible.
    for key, value in summary.items():
        print(f"{key.ljust(width)}  {terminal_text(value)}")
    for line in _details(record):
        print(terminal_text(line, multiline=True))
    for note in notes:
        print(terminal_text(f"note ({note['section']}, {note['started_at'][:10]}): {note['text']}", multiline=True))
    return 0


def _find(reference: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The record `reference` names (history.reference.resolve_run); for `latest`, what else the history holds.

    `latest` is the newest eval run, as for gate, report and compare. With no eval run (a history that holds only
    what `tunebench train` recorded), `show latest` shows the newest record of any kind instead of refusing; when
    a newer record than the eval run shown exists, a line on stderr names it and how to show it.
    """
    from tunebench.history.reference import newest

    if reference != "latest" or any(r.get("run_id") == reference for r in records):
        return find_record(reference, records)
    others = [r for r in records if r.get("kind") != "note" and r.get("finished_at")]  # a note shows with its run
    if not any(r.get("kind") == "eval" for r in records):
        if not others:
            return find_record(reference, records)  # its error: nothing recorded
        record = newest(others)
        _remark(
            f"latest: no eval run in the history; showing its newest record, {_what(record)} (gate, report and "
            "compare read latest as the newest eval run)"
        )
        return record
    record = find_record(reference, records)
    last = newest(others)
    if last["run_id"] != record["run_id"]:
        _remark(
            f"latest: the newest eval run, {record['run_id']}; the newest record is {_what(last)}: "
            f"tunebench history show {last['run_id']}"
        )
    return record


def _what(record: dict[str, Any]) -> str:
    return f"{str(record.get('kind', 'unknown')).replace('_', ' ')} run {record['run_id']}"


def _remark(text: str) -> None:
    print(fit_line(f"tunebench: {text}"), file=sys.stderr)


def _details(record: dict[str, Any]) -> list[str]:
    from tunebench.history.typed import ImportedSessionData

    kind = record.get("kind")
    if kind == "eval":
        return _eval_details(record)
    if kind == "training":
        return _training_details(record)
    if kind == "imported_session":
        session = ImportedSessionData.from_dict(record, partial=True)
        where = session.imported_from
        return [
            f"imported from {where['file']} line {where['line']}; "
            f"{len(session.blocks)} block(s): " + ", ".join(b["title"] or "attributes" for b in session.blocks)
        ]
    return []


def _eval_details(record: dict[str, Any]) -> list[str]:
    """The per-domain table, the decode floor, the load figures (--concurrency N) and a contamination mark."""
    from tunebench.contamination import label
    from tunebench.efficiency import decode_line
    from tunebench.report.formatting import format_grade, format_interval, format_percent, format_seconds
    from tunebench.report.load_figures import load_table
    from tunebench.report.views import EvalView

    view = EvalView(record)
    rows: list[Sequence[object]] = [
        (
            d,
            format_percent(p.value),
            format_interval(p.low, p.high),
            f"{p.k}/{p.n}",
            format_seconds(view.latency_by_domain_s.get(d)),  # as the log writes it
            format_grade(view.quality_by_domain.get(d)),
        )
        for d, p in view.by_domain.items()
    ]
    table = format_table(["domain", "accuracy", "95% interval", "right", "latency", "quality (1-5)"], rows)
    mark = label(view.training_data)
    decode = decode_line(view.run)
    load = view.run.load
    lines = ["", table] + ([fit_line(decode)] if decode else []) + (["", load_table(load)] if load else [])
    return lines + ([f"WARNING: {mark}"] if mark else [])


def _training_details(record: dict[str, Any]) -> list[str]:
    """The phases' table (as `tunebench train` prints it) and what the run hit."""
    from tunebench.contamination import describe
    from tunebench.report.training_table import phase_table
    from tunebench.report.views import TrainingView

    view = TrainingView(record)  # parses the record once; its typed run serves the phases' table too
    lines = ["", phase_table(view.run), "", f"contamination check: {describe(view.contamination)}"]
    return lines + [f"difficulty: {d}" for d in view.difficulties]


def _show_answers(record: dict[str, Any], args: argparse.Namespace) -> int:
    """`show RUN --questions/--probes`: the run's answers, as tables (or JSON)."""
    from tunebench.config import load_config
    from tunebench.report.formatting import format_seconds, format_tokens_per_s
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
        rows: list[Sequence[object]] = [
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
                format_seconds(p.ttft_s),  # each as the log and the HTML report write it
                format_tokens_per_s(p.tokens_per_s),
                format_seconds(p.latency_s),
                _fmt(p.grade),
                _clip(_one_line("".join(s.text for s in p.reply)), 50),
            )
            for p in probes
        ]
        columns = ["probe", "domain", "stop", "tokens", "TTFT", "tok/s", "latency", "grade (1-5)", "reply"]
        print(format_table(columns, rows))
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split()) if text.strip() else repr(text)


def _probability(question: Any) -> str:
    chosen = next((c.probability for c in question.choices if c.is_chosen), None)
    return "—" if chosen is None else f"{chosen:.3f}"


# What --json prints of each question and probe (the rows' own fields; choices and the reply are spelled out).
_QUESTION_JSON = ("id", "domain", "difficulty", "status", "text", "chosen", "answer", "correct")
_PROBE_JSON = ("id", "domain", "status", "prompt", "stop_reason", "new_tokens", "ttft_s", "tokens_per_s", "latency_s")
_PROBE_JSON_EVIDENCE = ("grade", "hit", "missed", "forbidden_found")


def _question_data(question: QuestionRow) -> dict[str, Any]:
    choices = [{"letter": c.letter, "text": c.text, "probability": c.probability} for c in question.choices]
    return {**{name: getattr(question, name) for name in _QUESTION_JSON}, "choices": choices}


def _probe_data(probe: ProbeRow) -> dict[str, Any]:
    reply = "".join(s.text for s in probe.reply)
    return {**{name: getattr(probe, name) for name in _PROBE_JSON + _PROBE_JSON_EVIDENCE}, "reply": reply}


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
