"""Plain aligned text tables for the terminal (no colour codes, so logs and CI scrapers read them).

A table fits the terminal: when its columns are wider than the terminal ($COLUMNS, else the terminal
standard output is), the widest columns wrap onto continuation lines, down to their longest word; a word is
cut only where whole words cannot fit (the full text of a row is also in each command's `--json`). Output to
a file or pipe without $COLUMNS keeps one line per row, for scrapers.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from collections.abc import Sequence

from tunebench.escaping import terminal_text

__all__ = ["fit_line", "format_table", "terminal_width"]

_DEFAULT_WIDTH = 120  # a terminal that does not say its width
_MIN_COLUMN = 12  # where whole words cannot fit, a column is cut no narrower than this (a name stays readable)
_GAP = "  "


def terminal_width() -> int | None:
    """Return the terminal's width in columns ($COLUMNS first); None when output is no terminal and no $COLUMNS."""
    if not os.environ.get("COLUMNS", "").strip().isdigit() and not (sys.stdout and sys.stdout.isatty()):
        return None
    return shutil.get_terminal_size((_DEFAULT_WIDTH, 24)).columns


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], width: int | None = None, whole: Sequence[int] = ()
) -> str:
    """Return `rows` under `headers` as left-aligned columns separated by two spaces, at most `width` wide.

    `width` None: the terminal's (`terminal_width`), unbounded without one. Wide columns wrap, widest first, down
    to their longest word, then (only where whole words cannot fit) to 12 characters; the columns numbered in
    `whole` (a run id someone copies) never wrap.
    """
    cells = [[_one_line(h) for h in headers]] + [["" if c is None else _one_line(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    width = width or terminal_width()
    if width:
        words = [max((len(word) for row in cells for word in row[i].split()), default=0) for i in range(len(headers))]
        widths = _fit(widths, width, whole, words)
    header, *body = [_row_lines(row, widths) for row in cells]
    rule = _GAP.join("-" * w for w in widths)  # under the whole header, however many lines it wrapped onto
    lines = [*header, rule, *(line for row in body for line in row)]
    return "\n".join(lines)


def fit_line(line: str, width: int | None = None) -> str:
    """Return a line of prose wrapped to `width` (None: the terminal's, unbounded without one), continuation
    lines indented two spaces, as the tables beside it fit; words are never cut."""
    width = width or terminal_width()
    if not width or len(line) <= width:
        return line
    return textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)


def _fit(widths: list[int], width: int, whole: Sequence[int] = (), words: Sequence[int] = ()) -> list[int]:
    """Narrow the widest column (not in `whole`) a character at a time until the table is `width` wide (or none
    can narrow). First no column narrower than its longest word (`words`: a model name or a gs:// address is read
    whole); only where that is not enough, down to 12 characters, cutting the longest words."""
    widths = list(widths)
    narrowable = [i for i in range(len(widths)) if i not in whole]
    for floor in (list(words), [_MIN_COLUMN] * len(widths)):
        if floor:
            widths = _narrow(widths, width, narrowable, floor)
    return widths


def _narrow(widths: list[int], width: int, narrowable: list[int], floor: list[int]) -> list[int]:
    while sum(widths) + len(_GAP) * (len(widths) - 1) > width:
        can = [i for i in narrowable if widths[i] > floor[i]]
        if not can:
            break
        widths[max(can, key=lambda i: widths[i])] -= 1
    return widths


def _row_lines(row: list[str], widths: list[int]) -> list[str]:
    wrapped = [
        textwrap.wrap(cell, w, break_on_hyphens=False) or [""] if len(cell) > w else [cell]
        for cell, w in zip(row, widths, strict=True)
    ]
    height = max(len(parts) for parts in wrapped)
    return [
        _GAP.join(
            (parts[k] if k < len(parts) else "").ljust(w) for parts, w in zip(wrapped, widths, strict=True)
        ).rstrip()
        for k in range(height)
    ]


def _one_line(value: object) -> str:
    # A record's text must not break a row or drive the terminal: tabs fold to a space, line breaks too, and
    # every other control character (a lone CR, ESC) is shown as an escape (tunebench.escaping).
    return terminal_text(str(value).replace("\t", " "))
