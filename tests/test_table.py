"""Terminal tables: one record's text cannot break a row or send escape sequences to the terminal."""

from tunebench.table import format_table


def test_a_cell_with_a_newline_or_a_terminal_escape_stays_on_its_row():
    text = format_table(["model", "run"], [["x|y\n## Injected", "r1"], ["\x1b[31mred\x1b[0m", "r2"]])
    lines = text.splitlines()
    assert len(lines) == 4 and lines[2].startswith("x|y ## Injected") and lines[2].endswith("r1")
    assert "\x1b" not in text and lines[3].startswith("\\x1b[31mred\\x1b[0m")  # shown, not obeyed


def test_a_table_wider_than_the_terminal_wraps_its_widest_column_and_loses_no_text(monkeypatch):
    detail = "11 of 12 selected (-k or node ids); a subset is never a full result or a baseline: run every item"
    rows = [["run complete", "subset", detail * 3], ["accuracy", "0.250", "short"]]
    monkeypatch.setenv("COLUMNS", "80")
    lines = format_table(["rule", "value", "detail"], rows).splitlines()
    assert max(len(line) for line in lines) <= 80 and len(lines) > 4
    assert lines[-1].startswith("accuracy      0.250   short")
    assert " ".join(line[22:].strip() for line in lines[2:-1]) == " ".join((detail * 3).split())
    # Piped without $COLUMNS (a log scraper): one line per row, as before.
    monkeypatch.delenv("COLUMNS")
    assert len(format_table(["rule", "value", "detail"], rows).splitlines()) == 4
