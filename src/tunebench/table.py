"""Plain aligned text tables for the terminal (no colour codes, so logs and CI scrapers read them)."""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["format_table"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return `rows` under `headers` as left-aligned columns separated by two spaces."""
    cells = [[_one_line(h) for h in headers]] + [["" if c is None else _one_line(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# Line breaks, tabs and other control characters (terminal escapes among them) from a record's text would
# break a row or drive the terminal: each becomes a visible "?" or a space.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _one_line(value: object) -> str:
    text = re.sub(r"[\r\n\t\u2028\u2029]+", " ", str(value))
    return _CONTROL.sub("?", text)
