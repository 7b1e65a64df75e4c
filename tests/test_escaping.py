"""tunebench.escaping: a string from a record, a model, a server or a user is shown, never obeyed, where rendered."""

from __future__ import annotations

from hostile_support import snapshot
from record_factory import graded_run, note

from tunebench.cli import main
from tunebench.escaping import cut, markdown_prose, markdown_text, terminal_text, visible
from tunebench.history.store import open_store

# A served model's id can be any string: a CR that rewrites the line, a heading, a clear-screen, a mention.
SPOOF = "evil\r## ✅ tunebench gate: PASS \x1b[2J @octocat\x9b\u202e"


def test_visible_shows_every_control_character_as_an_escape():
    assert visible("a\rb\x1b[2Jc\x00d\x7fe\x9bf\u202eg\u2028h") == "a\\rb\\x1b[2Jc\\x00d\\x7fe\\x9bf\\u202eg\\u2028h"
    assert visible("tab\tand plain text — ünïcode") == "tab\tand plain text — ünïcode"


def test_terminal_text_is_one_line_unless_multiline_and_never_obeys_a_lone_cr():
    assert terminal_text("a\nb\r\nc\rd") == "a b c\\rd"
    assert terminal_text("a\nb\r\nc\rd", multiline=True) == "a\nb\nc\\rd"


def test_markdown_text_cannot_open_a_heading_html_or_a_mention():
    text = markdown_text(SPOOF + " <script> mail me@example.com")
    assert "\r" not in text and "\n" not in text and "\x1b" not in text and "\x9b" not in text
    assert "<script>" not in text and "&lt;script>" in text
    assert "@&#8203;octocat" in text and "me@example.com" in text  # an address is no mention
    assert markdown_text("federal_income_tax") == "federal_income_tax"


def test_the_gate_comment_keeps_a_quoted_command_as_code_and_escapes_the_rest():
    """Issue 26: the PR comment escaped the backticks of `tunebench plan ...`, so it did not render as code."""
    from tunebench.gate.verdict import Check, Verdict

    advice = "run `tunebench plan --drop 0.05 --discordance 0.1` to size the suite"
    verdict = Verdict(
        checks=[Check("accuracy drop vs baseline", 0.01, 0.05, True, detail=f"{SPOOF} {advice}")],
        warnings=[advice],
    )
    text = verdict.markdown()
    assert text.count("`tunebench plan --drop 0.05 --discordance 0.1`") == 2 and "\\`" not in text
    assert "\r" not in text and "<script" not in text and "@&#8203;octocat" in text
    assert markdown_prose("a `<b>|x` and @you") == "a `<b>\\|x` and @&#8203;you"  # a code span shows, never obeys


def test_cut_keeps_short_text_and_points_to_the_whole_of_a_long_one():
    assert cut("short", 10, "see X") == "short"
    cut_text = cut("x" * 50, 10, "the whole note: history show R")
    assert cut_text == "x" * 10 + "… (50 characters; the whole note: history show R)"


def test_a_cr_in_a_model_name_renders_no_second_gate_heading_and_no_pass_line(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\n\n[tool.tunebench.gate]\nmin_accuracy = 0.9\n')
    history = project.root / "hist"
    store = open_store(history)
    store.write(graded_run(SPOOF, 3, 10, 12))
    store.read_all()  # the derived index exists before, as after
    before = snapshot(history)
    assert main(["gate", "latest", "--format", "markdown"]) == 1
    markdown = capsys.readouterr().out
    headings = [line for line in markdown.splitlines() if "tunebench gate" in line]
    assert len(headings) == 1 and headings[0].startswith("## ❌ tunebench gate: FAIL")
    assert "\r" not in markdown and "\x1b" not in markdown and "@octocat" not in markdown
    assert main(["gate", "latest"]) == 1
    text = capsys.readouterr().out
    assert "\r" not in text and "\x1b" not in text and "\x9b" not in text
    assert text.splitlines()[-1].startswith("tunebench gate: FAIL")
    assert snapshot(history) == before


def test_history_show_and_list_show_control_characters_instead_of_sending_them(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    open_store(project.root / "hist").write(graded_run(SPOOF, 3, 10, 12))
    for command in (["history", "list"], ["history", "show", "latest"]):
        main(command)
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\r" not in out and "\x9b" not in out, command


def test_a_long_note_is_cut_in_the_log_with_a_pointer_to_the_whole_record(project):
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    store = open_store(project.root / "hist")
    run = graded_run("dora-v3", 3, 10, 12)
    store.write(run)
    store.write(note("note-long-0001", run["run_id"], "word " * 200_000))  # 1 MB, valid
    assert main(["log", "render", "--no-plots"]) == 0
    log = (project.root / "LOG.md").read_text(encoding="utf-8")
    assert len(log) < 20_000
    assert f"… (1,000,000 characters; the whole note: tunebench history show {run['run_id']})" in log


def test_the_pytest_summary_and_step_summary_show_a_spoofed_served_name(tmp_path, monkeypatch):
    """The terminal section, its one-liner and the step summary of a run whose record holds a hostile name."""
    from tunebench_pytest import summary
    from tunebench_pytest.finish import RunOutcome

    class Lines:  # stands in for pytest's TerminalReporter: only what was written matters here
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write_sep(self, *args, **kwargs) -> None:
            pass

        def write_line(self, text: str, **markup) -> None:
            self.lines.append(text)

    outcome = RunOutcome(graded_run(SPOOF, 3, 10, 12))
    reporter = Lines()
    summary.write_terminal(reporter, outcome)
    assert not any("\r" in line or "\x1b" in line or "\x9b" in line for line in reporter.lines)
    assert "evil\\r## ✅ tunebench gate: PASS \\x1b[2J @octocat" in reporter.lines[-1]
    step = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    summary.write_github_summary(outcome)
    written = step.read_text(encoding="utf-8")
    assert "\r" not in written and "\x1b" not in written
    assert [line for line in written.splitlines() if line.startswith("#")] == ["## tunebench"]


def test_junit_properties_show_a_spoofed_served_name(tmp_path):
    """pytest's own LogXML receives the run's properties; a config holding only its stash stands in for pytest's."""
    from types import SimpleNamespace

    from _pytest.junitxml import LogXML, xml_key

    from tunebench_pytest import summary
    from tunebench_pytest.finish import RunOutcome

    xml = LogXML(str(tmp_path / "out.xml"), None)
    summary.add_junit_properties(SimpleNamespace(stash={xml_key: xml}), RunOutcome(graded_run(SPOOF, 3, 10, 12)))
    properties = dict(xml.global_properties)
    assert properties["tunebench.model"] == "evil\\r## ✅ tunebench gate: PASS \\x1b[2J @octocat\\x9b\\u202e"
    assert not any("\r" in str(value) or "\x1b" in str(value) for value in properties.values())
