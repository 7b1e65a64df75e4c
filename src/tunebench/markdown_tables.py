"""Markdown tables and their cells, as a person typed them: split rows, find tables, read a cell's number.

Shared by the importer (which reads the hand-written seed log) and the renderer (which totals imported
cells). A cell becomes `{text, value, unit, approximate, missing}`: `text` is the cell as typed, `value`
the number parsed from it (None when it is not one number), `approximate` says it was written with `~`,
and `missing` that it was "TBD", "-" or empty (never zero).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MarkdownTable", "parse_cell", "cell_sum", "split_row", "markdown_tables", "is_table_start", "plain_text"]

_MISSING = {"", "tbd", "-", "—", "–", "n/a", "na", "pending?"}
_NUMBER = re.compile(
    r"^(?P<approx>~|≈|about\s+)?\s*(?P<dollar>\$)?\s*(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"\s*(?P<unit>%|s|sec|min|mins|minutes|h|hours|GB|MB|KB|TB|B)?$"
)
_SEPARATOR_CELL = re.compile(r":?-{3,}:?")


@dataclass
class MarkdownTable:
    """One Markdown table: the line of its header row, its column titles and its rows of cell texts."""

    line: int
    columns: list[str]
    rows: list[list[str]]


def parse_cell(text: str) -> dict[str, Any]:
    """Return `{text, value[, unit][, approximate][, missing]}` for one cell as written (flags only when true)."""
    written = text.strip()
    plain = plain_text(written)
    cell: dict[str, Any] = {"text": written, "value": None}
    match = _NUMBER.match(plain)
    if match:
        cell["value"] = _number(match["num"])
        unit = "$" if match["dollar"] else match["unit"]
        if unit:
            cell["unit"] = unit
        if match["approx"]:
            cell["approximate"] = True
    if plain.lower() in _MISSING:
        cell["missing"] = True
    return cell


def cell_sum(cells: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the sum of numeric cells as a cell (approximate if any part is), or None if none is numeric."""
    numeric = [c for c in cells if c.get("value") is not None]
    if not numeric:
        return None
    total = round(sum(c["value"] for c in numeric), 10)
    approximate = any(c.get("approximate") for c in numeric)
    unit = numeric[0].get("unit")
    cell: dict[str, Any] = {"text": None, "value": total, "unit": unit}
    if approximate:
        cell["approximate"] = True
    return cell


def split_row(line: str) -> list[str]:
    """Return the cells of a Markdown table row `| a | b |` (pipes inside backticks stay in the cell)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    for char in body:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    cells.append("".join(current).strip())
    return cells


def markdown_tables(lines: list[str], start: int = 1) -> Iterator[MarkdownTable]:
    """Yield every table in `lines` (numbered from `start`), skipping fenced code blocks."""
    index, in_fence = 0, False
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and is_table_start(lines, index):
            columns = split_row(line)
            rows, end = [], index + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                rows.append(split_row(lines[end]))
                end += 1
            yield MarkdownTable(start + index, columns, rows)
            index = end
            continue
        index += 1


def is_table_start(lines: list[str], index: int) -> bool:
    """Return whether `lines[index]` is a table's header row (a `|` row followed by a `|---|` separator)."""
    if not lines[index].lstrip().startswith("|") or index + 1 >= len(lines):
        return False
    separator = split_row(lines[index + 1])
    return bool(separator) and all(_SEPARATOR_CELL.fullmatch(cell) for cell in separator)


def plain_text(text: str) -> str:
    """Return `text` without Markdown emphasis and code marks."""
    return text.replace("**", "").replace("`", "").strip()


def _number(text: str) -> int | float:
    number = float(text.replace(",", ""))
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
