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


def test_a_column_narrows_to_its_longest_word_before_any_word_is_cut():
    # The gate's detail named 'elson-finance-trading-14b' split as 'elson-financ' / 'e-trading-14b': the widest
    # columns took turns narrowing down to 12 characters, cutting a name while another column's short words
    # could have wrapped further.
    name = "elson-finance-trading-14b"
    rule = " ".join("abcdefghijklmnopqrstuvwxyz" * 4)  # short words: wraps anywhere
    lines = format_table(["rule", "detail"], [[rule, f"baseline {name} found"]], width=40).splitlines()
    assert max(len(line) for line in lines) <= 40
    assert any(line.endswith(name) for line in lines[2:])  # the name whole, on one line
    # Where whole words cannot fit, the longest are cut to 12 characters as before rather than overflow.
    narrow = format_table(["a", "b", "c"], [["x" * 30, "y" * 30, "z" * 30]], width=40).splitlines()
    assert max(len(line) for line in narrow) <= 40 and narrow[2] == "x" * 12 + "  " + "y" * 12 + "  " + "z" * 12


def test_a_wrapped_header_stays_above_its_rule():
    # At 80 columns train's 'final loss' header wrapped, and its second line 'loss' came out under the dashes.
    lines = format_table(["phase", "final loss"], [["A", "6.2163"]], width=15).splitlines()
    assert lines == ["phase  final", "       loss", "-----  --------", "A      6.2163"]


def test_a_column_wraps_down_to_its_longest_word_before_another_is_cut():
    # 'domain_blocks' (13 characters) was cut to 12 at 100 columns while the MFU column's cells, '11.6% (measured)',
    # could wrap to their longest word: columns shrink as a browser's table does (min-content) before any cut.
    row = ["A", "domain_blocks", "6.2163", "11.6% (measured)"]
    lines = format_table(["phase", "kind", "loss", "MFU"], [row], width=40).splitlines()  # one line: 46
    assert any("domain_blocks" in line for line in lines) and any(line.endswith("(measured)") for line in lines)
