"""Terminal tables: one record's text cannot break a row or send escape sequences to the terminal."""

from tunebench.table import format_table


def test_a_cell_with_a_newline_or_a_terminal_escape_stays_on_its_row():
    text = format_table(["model", "run"], [["x|y\n## Injected", "r1"], ["\x1b[31mred\x1b[0m", "r2"]])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[2].startswith("x|y ## Injected") and lines[2].endswith("r1")
    assert "\x1b" not in text and lines[3].startswith("\\x1b[31mred\\x1b[0m")  # shown, not obeyed
