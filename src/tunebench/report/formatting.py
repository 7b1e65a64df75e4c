"""How the report writes a value: percentages, intervals, numbers, durations, dollars and table cells.

A value nobody measured is written as `DASH`. These are shared by the Markdown log, the HTML report, the
terminal tables (`tunebench history`, `compare`, `train`) and the plots, so a figure reads the same everywhere:
one formatter per quantity.

The quantities' formatters live in `tunebench.units` (one table there: which formatter writes which
quantity, and how it reads) and are re-exported here.

Every string that comes from a user or a record (model and output names, notes, paths, labels) goes
into Markdown through `tunebench.escaping`'s `markdown_text` (plain text: no markup, no HTML, one line),
`markdown_code` (a code span) or `markdown_link` (a relative or http(s) target only); `escape_cell` then only protects
the table around already-safe text. Imported log text keeps its Markdown but loses its HTML
(`markdown_imported`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from tunebench import escaping

# The escaping itself lives in tunebench.escaping (one module for Markdown, the terminal, the log and JUnit).
from tunebench.escaping import cut, markdown_code, markdown_imported, markdown_link
from tunebench.units import (
    DASH,
    dollars,
    format_duration,
    format_grade,
    format_interval,
    format_loss,
    format_ms,
    format_number,
    format_percent,
    format_seconds,
    format_tokens_per_s,
)

__all__ = [
    "DASH",
    "format_percent",
    "format_interval",
    "format_number",
    "format_seconds",
    "format_duration",
    "format_loss",
    "format_grade",
    "format_ms",
    "format_tokens_per_s",
    "dollars",
    "escape_cell",
    "cell_text",
    "markdown_text",
    "markdown_table",
    "markdown_bold",
    "markdown_code",
    "markdown_link",
    "markdown_imported",
    "note_text",
    "NOTE_LIMIT",
]

# A 10,000-record log escapes ~6,600 distinct strings ~270,000 times (model names, phases, hyperparameters):
# the two escapers below are tunebench.escaping's, remembered for strings up to this length.
_REMEMBERED = 512
# Characters of a note the log shows; a longer one (a 50 MB note is valid) is cut with a pointer to the record.
NOTE_LIMIT = 2000


@lru_cache(maxsize=1 << 16)
def _markdown_text(text: str) -> str:
    return escaping.markdown_text(text)


@lru_cache(maxsize=1 << 16)
def _escape_cell(text: str) -> str:
    return escaping.escape_cell(text)


def markdown_text(value: Any) -> str:
    """Return `value` as literal Markdown text (`tunebench.escaping.markdown_text`, remembered for short strings)."""
    text = str(value)
    return _markdown_text(text) if len(text) <= _REMEMBERED else escaping.markdown_text(text)


def escape_cell(text: Any) -> str:
    """Return already-safe Markdown as a table cell (`tunebench.escaping.escape_cell`, remembered for short strings)."""
    text = str(text)
    return _escape_cell(text) if len(text) <= _REMEMBERED else escaping.escape_cell(text)


def note_text(text: Any, run_id: str) -> str:
    """Return a note as Markdown text, cut at NOTE_LIMIT characters with where to read it whole."""
    return markdown_text(cut(str(text), NOTE_LIMIT, f"the whole note: tunebench history show {run_id}"))


def cell_text(cell: dict[str, Any] | None) -> str:
    """Return an imported cell as it was written, or "—" where the row has no such column."""
    return DASH if cell is None else cell["text"]


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Return a Markdown table's lines: `rows` are Markdown already made safe; column names are ours or imported."""
    columns = [escape_cell(markdown_imported(c)) for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("-" * max(3, len(c) + 2) for c in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def markdown_bold(text: str) -> str:
    """Return `text` in bold, or as it is when empty or a dash."""
    return f"**{text}**" if text and text != DASH else text
