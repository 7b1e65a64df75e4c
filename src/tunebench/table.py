"""Plain aligned text tables for the terminal (no colour codes, so logs and CI scrapers read them)."""

from __future__ import annotations

from collections.abc import Sequence

from tunebench.escaping import terminal_text

__all__ = ["format_table"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Return `rows` under `headers` as left-aligned columns separated by two spaces."""
    cells = [[_one_line(h) for h in headers]] + [["" if c is None else _one_line(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _one_line(value: object) -> str:
    # A record's text must not break a row or drive the terminal: tabs fold to a space, line breaks too, and
    # every other control character (a lone CR, ESC) is shown as an escape (tunebench.escaping).
    return terminal_text(str(value).replace("\t", " "))
