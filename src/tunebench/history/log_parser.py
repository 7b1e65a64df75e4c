"""Parse a hand-written benchmark log (the seed's Markdown) into imported records, and the lines it cannot parse.

Values are kept exactly as written: every table cell becomes `{text, value, unit, approximate, missing}`,
where `text` is the cell as typed, `value` the number parsed from it (None when it is not one number),
`approximate` says it was written with `~`, and `missing` that it was "TBD", "-" or empty (never zero).

What becomes a record, and why these kinds (not `training`/`eval`): the seed's sessions have tables of
different shapes, approximate times and prose instead of numbers, and no per-question outcomes, so they
cannot satisfy the strict measured schemas. `imported_session` holds one session's blocks in order;
`imported_row` holds one row of a summary table (model comparison, benchmark, registry, cost). Run ids
come from the content (sha256), so importing the same file twice adds nothing. Writing them into a
history is `history.importer`'s job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tunebench.history.store import Problem
from tunebench.markdown_tables import MarkdownTable, cell_sum, is_table_start, markdown_tables, parse_cell, plain_text
from tunebench.provenance import tunebench_version

__all__ = ["LineProblem", "ImportResult", "parse_log", "SUMMARY_TABLES"]

# The seed's summary sections (its `##` titles) and the table name each becomes in `imported_row.table`.
SUMMARY_TABLES = {
    "Model Comparison": "model_comparison",
    "Benchmark Evaluation Results": "benchmark",
    "GCS Model Registry": "model_registry",
    "Model Registry": "model_registry",
    "Training Cost Tracking": "cost",
}
_SKIPPED_SECTIONS = {"How to Log a Training Session"}
_SESSION = re.compile(
    r"^###\s+Session\s+(?P<number>\d+)\s*:\s*(?P<title>.*?)\s*\((?P<date>\d{4}-\d{2}-\d{2})\)\s*"
    r"(?P<status>.*)$"
)
_FIELD = re.compile(r"^\*\*(?P<name>[^*]+?):\*\*\s*(?P<value>.*)$")
_LAST_UPDATED = re.compile(r"^\*Last Updated:\s*(?P<date>\d{4}-\d{2}-\d{2})\s*\*$")
_SESSION_LABEL = re.compile(r"Session\s+(\d+)")
_WORDS = re.compile(r"[a-z0-9]+")
_PATH = re.compile(r"gs://[^\s`|]+")
# Session attributes kept as headline fields. Not `model`: measured records use that key for an object.
_ATTRIBUTES = {"Model": "base_model", "Method": "method", "GPU": "gpu", "VM": "vm"}


@dataclass(frozen=True)
class LineProblem(Problem):
    """A history `Problem` at a line of the imported log: its number (1-based) and text; `location` is "line N"."""

    line: int = 0
    text: str = ""

    @classmethod
    def at(cls, line: int, text: str, reason: str) -> LineProblem:
        """Return the problem of line `line` (1-based), whose text is `text`."""
        return cls(f"line {line}", reason, line, text)

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}: {self.text!r}"


@dataclass
class ImportResult:
    """The records parsed from a log, and the lines that could not be parsed."""

    records: list[dict[str, Any]]
    problems: list[LineProblem] = field(default_factory=list)


def parse_log(text: str, source: str = "TRAINING_BENCHMARK_LOG.md") -> ImportResult:
    """Return the records in a benchmark log's text, and every line that could not be parsed."""
    return _Parser(text.splitlines(), source, hashlib.sha256(text.encode()).hexdigest()).parse()


def _run_id(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"imp-{digest[:16]}"


class _Parser:
    """One pass over the log's lines: sessions, summary tables, and the lines nothing explains."""

    def __init__(self, lines: list[str], source: str, file_sha256: str):
        self.lines = lines
        self.source = source
        self.file_sha256 = file_sha256
        self.problems: list[LineProblem] = []
        self.sessions: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.last_updated: str | None = None
        self.cost_total: tuple[int, list[dict[str, Any]]] | None = None

    def parse(self) -> ImportResult:
        for title, start, end in self._sections():
            if title is None:
                self._preamble(start, end)
            elif title in _SKIPPED_SECTIONS:
                continue
            elif title == "Training Sessions":
                self._sessions(start, end)
            elif title in SUMMARY_TABLES:
                self._summary(title, start, end)
            else:
                self._problem(
                    start - 1,
                    f"unknown section {title!r}: expected one of Training Sessions, " + ", ".join(SUMMARY_TABLES),
                )
        self._check_cost_total()
        records = self.sessions + [self._dated(row) for row in self.rows]
        for record in records:
            record.setdefault("imported_from", {})["file_sha256"] = self.file_sha256
        return ImportResult(records, sorted(self.problems, key=lambda p: p.line))

    # -- structure ---------------------------------------------------------------------------------------
    def _sections(self) -> Iterator[tuple[str | None, int, int]]:
        """Yield (`##` title or None for the preamble, first body line index, end index), fences skipped."""
        title, start, in_fence = None, 0, False
        for index, line in enumerate(self.lines):
            if line.lstrip().startswith("```"):
                in_fence = not in_fence
            if not in_fence and line.startswith("## "):
                yield title, start, index
                title, start = line[3:].strip(), index + 1
        yield title, start, len(self.lines)

    def _problem(self, index: int, reason: str) -> None:
        self.problems.append(LineProblem.at(index + 1, self.lines[index], reason))

    def _preamble(self, start: int, end: int) -> None:
        for index in range(start, end):
            line = self.lines[index].strip()
            if line and not (line.startswith(("# ", ">", "---")) or _FIELD.match(line)):
                self._problem(index, "unexpected text before the first section")

    def _trailer(self, index: int) -> bool:
        """Consume the separators and the `*Last Updated*` line that may follow any section."""
        line = self.lines[index].strip()
        match = _LAST_UPDATED.match(line)
        if match:
            self.last_updated = match["date"]
        return not line or line == "---" or bool(match)

    # -- sessions ----------------------------------------------------------------------------------------
    def _sessions(self, start: int, end: int) -> None:
        heads = [i for i in range(start, end) if self.lines[i].startswith("### ")]
        for index in range(start, heads[0] if heads else end):
            if not self._trailer(index):
                self._problem(index, "text outside any session")
        for number, head in enumerate(heads):
            stop = heads[number + 1] if number + 1 < len(heads) else end
            match = _SESSION.match(self.lines[head].strip())
            if not match:
                self._problem(head, "session heading: expected '### Session N: Title (YYYY-MM-DD)'")
                continue
            self.sessions.append(self._session(match, head, stop))

    def _session(self, head: re.Match[str], first: int, stop: int) -> dict[str, Any]:
        while stop > first + 1 and self.lines[stop - 1].strip() in ("", "---"):
            stop -= 1
        blocks = list(self._blocks(first + 1, stop))
        text = "\n".join(self.lines[first:stop])
        date = head["date"]
        record = {
            "kind": "imported_session",
            "schema_version": 1,
            "run_id": _run_id("imported_session", text),
            "started_at": f"{date}T00:00:00Z",
            "finished_at": f"{date}T00:00:00Z",
            "source": "imported",
            "provenance": self._provenance(),
            "notes": [],
            "session": int(head["number"]),
            "title": head["title"],
            "date": date,
            "status": head["status"].strip() or None,
            "blocks": blocks,
            "imported_from": {"file": self.source, "line": first + 1},
        }
        record.update(_session_summary(blocks))
        return record

    def _blocks(self, start: int, stop: int) -> Iterator[dict[str, Any]]:
        index, title = start, None
        while index < stop:
            line = self.lines[index].strip()
            field_match = _FIELD.match(line)
            if not line or line == "---":
                index += 1
            elif is_table_start(self.lines, index):
                table = next(markdown_tables(self.lines[index:stop], start=index + 1))
                yield {
                    "type": "table",
                    "title": title,
                    "line": index + 1,
                    "columns": table.columns,
                    "rows": [[parse_cell(c) for c in self._fit(row, table, r)] for r, row in enumerate(table.rows)],
                }
                index, title = index + 2 + len(table.rows), None
            elif line.startswith("- "):
                items, first = [], index
                while index < stop and self.lines[index].strip().startswith("- "):
                    items.append(self.lines[index].strip()[2:].strip())
                    index += 1
                yield {"type": "list", "title": title, "line": first + 1, "items": items}
                title = None
            elif field_match and field_match["value"]:
                yield {
                    "type": "field",
                    "title": field_match["name"].strip(),
                    "line": index + 1,
                    "value": parse_cell(field_match["value"]),
                }
                index += 1
            elif field_match:
                title = field_match["name"].strip()
                index += 1
            elif line.startswith("**") and line.endswith(":**"):
                title = line[2:-3].strip()
                index += 1
            else:
                self._problem(index, "expected a table, a '- ' list or a '**Name:** value' line")
                index += 1

    def _fit(self, row: list[str], table: MarkdownTable, number: int) -> list[str]:
        """Return `row` with as many cells as the header; a mismatch is reported and padded or cut."""
        if len(row) != len(table.columns):
            line = table.line + 2 + number
            self.problems.append(
                LineProblem.at(
                    line, self.lines[line - 1], f"table row has {len(row)} cells, header has {len(table.columns)}"
                )
            )
        return (row + [""] * len(table.columns))[: len(table.columns)]

    # -- summary tables ----------------------------------------------------------------------------------
    def _summary(self, title: str, start: int, end: int) -> None:
        name = SUMMARY_TABLES[title]
        tables = list(markdown_tables(self.lines[start:end], start=start + 1))
        covered: set[int] = set()
        for table in tables:
            covered.update(range(table.line - 1, table.line + 1 + len(table.rows)))
        subtitle = None
        for index in range(start, end):
            line = self.lines[index].strip()
            if index in covered or self._trailer(index):
                continue
            if line.startswith("### "):
                subtitle = line[4:].strip()
                continue
            self._problem(index, f"{title}: expected only a table here")
        if not tables:
            self._problem(start - 1, f"{title}: no table found")
        for table in tables:
            self._summary_rows(name, title, subtitle if len(tables) == 1 else None, table)

    def _summary_rows(self, name: str, title: str, subtitle: str | None, table: MarkdownTable) -> None:
        seen: dict[str, int] = {}
        for position, row in enumerate(table.rows):
            line_index = table.line + 1 + position
            cells = [parse_cell(c) for c in self._fit(row, table, position)]
            label = plain_text(cells[0]["text"]) if cells else ""
            if name == "cost" and label.lower() == "total":
                self.cost_total = (line_index, cells)
                continue
            text = self.lines[line_index]
            seen[text] = seen.get(text, 0) + 1
            record = {
                "kind": "imported_row",
                "schema_version": 1,
                "run_id": _run_id("imported_row", name, text, str(seen[text])),
                "source": "imported",
                "provenance": self._provenance(),
                "notes": [],
                "table": name,
                "section": title,
                "subtitle": subtitle,
                "columns": table.columns,
                "cells": cells,
                "position": position,
                "label": label,
                "imported_from": {"file": self.source, "line": line_index + 1},
            }
            session = _SESSION_LABEL.search(label)
            if session:
                record["session"] = int(session.group(1))
            self.rows.append(record)

    def _check_cost_total(self) -> None:
        if self.cost_total is None:
            return
        line_index, cells = self.cost_total
        written = next((c for c in reversed(cells) if c["value"] is not None), None)
        cost_rows = [r for r in self.rows if r["table"] == "cost"]
        column = len(cells) - 1 - next((i for i, c in enumerate(reversed(cells)) if c["value"] is not None), 0)
        total = cell_sum(r["cells"][column] for r in cost_rows)
        if written is None or total is None or abs(written["value"] - total["value"]) > 0.005:
            found = written["text"] if written else "nothing"
            self.problems.append(
                LineProblem.at(
                    line_index + 1,
                    self.lines[line_index],
                    f"cost total: rows sum to {total and total['value']}, the log says {found}",
                )
            )

    def _dated(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return the row with the date of the session it is about, or `date: None` where the log does not say.

        A summary row has no date of its own; its session does. Without one, `started_at` is the log's
        `Last Updated` date (else its newest session's), which orders the row but is not its date.
        """
        session = _row_session(row, self.sessions)
        if session is None:
            date = self.last_updated or max((s["date"] for s in self.sessions), default="1970-01-01")
            return {**row, "date": None, "started_at": f"{date}T00:00:00Z", "finished_at": f"{date}T00:00:00Z"}
        stamp = f"{session['date']}T00:00:00Z"
        return {
            **row,
            "session": session["session"],
            "date": session["date"],
            "started_at": stamp,
            "finished_at": stamp,
        }

    def _provenance(self) -> dict[str, Any]:
        return {
            "tunebench_version": tunebench_version(),
            "packages": {},
            "git_commit": None,
            "hardware": None,
            "command": f"tunebench history import-log {self.source}",
        }


def _session_summary(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the session's headline values (model, method, GPU, output, commit, loss, time) found in its blocks."""
    summary: dict[str, Any] = {}
    for block in blocks:
        if block["type"] == "field":
            key = {"Output Model": "output_model", "Commit Hash": "commit"}.get(block["title"])
            if key:
                summary[key] = plain_text(block["value"]["text"])
        elif block["type"] == "table" and block["title"] is None and len(block["columns"]) == 2:
            for name_cell, value_cell in block["rows"]:
                key = _ATTRIBUTES.get(plain_text(name_cell["text"]))
                if key:
                    summary[key] = plain_text(value_cell["text"])
    return summary


def _row_session(row: dict[str, Any], sessions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the one session a summary row is about, or None: "Session N" in its label; else its label is the
    session's title ("DoRA v2"), or a gs:// path in it ends in the session's output folder, or every word of its
    label is a word of that folder ("wealth-dora-v2" in "wealth-dora-elson14b-h100-v2")."""
    if "session" in row:
        return next((s for s in sessions if s["session"] == row["session"]), None)
    label = row["label"].strip().lower()
    words = set(_WORDS.findall(label))
    paths = {_folder(found) for cell in row["cells"][1:] for found in _PATH.findall(cell["text"])}
    for rule in (
        lambda s: s["title"].strip().lower() == label,
        lambda s: _folder(s.get("output_model")) in paths,
        lambda s: len(words) >= 2 and words <= set(_WORDS.findall((_folder(s.get("output_model")) or "").lower())),
    ):
        matches = [s for s in sessions if rule(s)]
        if matches:
            return matches[0] if len(matches) == 1 else None
    return None


def _folder(path: str | None) -> str | None:
    """The last folder of a path or gs:// URI ("wealth-dora-elson14b-h100-v2"), or None."""
    return path.strip().strip("`").rstrip("/").rsplit("/", 1)[-1] or None if path else None
