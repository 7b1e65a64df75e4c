"""The GitHub step summary is Markdown too: the record's strings and the errors go in as text."""

from __future__ import annotations

from markdown_it import MarkdownIt
from record_factory import random_eval

from tunebench_pytest.finish import RunOutcome
from tunebench_pytest.summary import write_github_summary


def test_step_summary_shows_a_hostile_model_name_and_error_as_text(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    record = random_eval("run-summ-0001", "a`b <img src=x onerror=alert(1)>", 1)
    write_github_summary(RunOutcome(record, errors=["the record was NOT written: <script>alert(1)</script>\n# x"]))
    html = MarkdownIt("commonmark").render(summary.read_text(encoding="utf-8"))
    assert "<img" not in html and "<script" not in html and "<h1>" not in html
    assert "a`b &lt;img src=x onerror=alert(1)&gt;" in html  # shown whole inside its code span
