"""How the report writes a value: percentages, intervals, numbers, durations, dollars and table cells.

A value nobody measured is written as `DASH`. These are shared by the Markdown log, the HTML report, the
terminal tables (`tunebench history`, `compare`, `train`) and the plots, so a figure reads the same everywhere:
one formatter per quantity.

| quantity | formatter | reads |
| --- | --- | --- |
| accuracy, any proportion or share (MFU too) | `format_percent` | 25.0% |
| its 95% interval | `format_interval` | [17.5%, 34.3%] |
| a loss | `format_loss` | 0.0577 |
| a mean quality grade (1-5 scale) | `format_grade` | 3.40 |
| seconds (latency, TTFT) | `format_seconds` | 1.43s, 0.0026s |
| a time per token | `format_ms` | 22.4 ms |
| a duration (training time) | `format_duration` | 1.8 min, 42.0 s |
| tokens per second | `format_tokens_per_s` | 1,612 |
| a cost | `dollars` | $1.75, $0.0029 |
| a count | `format_number` | 7,198 |

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

DASH = "—"
# A 10,000-record log escapes ~6,600 distinct strings ~270,000 times (model names, phases, hyperparameters):
# the two escapers below are tunebench.escaping's, remembered for strings up to this length.
_REMEMBERED = 512
# Characters of a note the log shows; a longer one (a 50 MB note is valid) is cut with a pointer to the record.
NOTE_LIMIT = 2000


def format_percent(value: float | None, digits: int = 1) -> str:
    """Return a proportion 0..1 as "62.0%", or "—"."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def format_interval(low: float | None, high: float | None) -> str:
    """Return a 95% interval as "[52.2%, 71.0%]", or "—"."""
    return DASH if low is None or high is None else f"[{format_percent(low)}, {format_percent(high)}]"


def format_number(value: float | None, digits: int = 4) -> str:
    """Return "12,345" for a whole number from 1000 up (and for any int), else `digits` decimals, or "—"."""
    if value is None:
        return DASH
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def format_seconds(value: float | None) -> str:
    """Return seconds as "1.25s", under 0.1 s to two significant digits ("0.0026s", never "0.00s"), or "—"."""
    if value is None:
        return DASH
    return f"{value:.2f}s" if value >= 0.1 or value == 0 else f"{value:#.2g}s"


def format_loss(value: float | None) -> str:
    """Return a loss as "0.0577" (four decimals), or "—"."""
    return DASH if value is None else f"{value:.4f}"


def format_grade(value: float | None) -> str:
    """Return a (mean) quality grade on the 1-5 scale as "3.40", or "—"."""
    return DASH if value is None else f"{value:.2f}"


def format_ms(seconds: float | None) -> str:
    """Return a short time (seconds) in milliseconds as "22.4 ms", or "—"."""
    return DASH if seconds is None else f"{1000 * seconds:.1f} ms"


def format_tokens_per_s(value: float | None) -> str:
    """Return tokens per second as "1,612", or "—"."""
    return DASH if value is None else f"{value:,.0f}"


def format_duration(seconds: float | None) -> str:
    """Return a duration as "12.5 min" from a minute up, else "42.0 s", or "—"."""
    if seconds is None:
        return DASH
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def dollars(value: float | None, approximate: bool = False) -> str:
    """Return USD as "$1.75" (or "$0.0012" below a cent, "~$1.75" when approximate), or "—"."""
    if value is None:
        return DASH
    text = f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
    return ("~" if approximate else "") + text


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
