"""The per-run HTML report: rendered with autoescaping, self-contained, and checked in a real headless Chromium.

The browser is Debian's Chromium (`.ci/run` installs it), driven by Playwright for Python pointed at that
executable: Playwright's own browser download cannot run here. Screenshots are kept under pytest's
temporary folder and their paths printed (`-s` shows them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from report_support import PROBES, shipped_record

from tunebench.cli import main
from tunebench.history.records import validate
from tunebench.history.store import open_store
from tunebench.report.formatting import format_seconds
from tunebench.report.html import build_page, choice_probabilities, evidence_spans, render_report
from tunebench.suites import load_probes

CHROMIUM = os.environ.get("TUNEBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCRIPT_NAME = 'evil</td><script>window.pwned = 1</script> "model" & co'
SCRIPT_REPLY = "<script>window.pwned = 2</script> Contribute 6% to get the employer match, free money; limit $23,000."
WRONG_A = {"ret-001", "tax-003", "est-002", "inv-004", "cmp-005"}
WRONG_B = {"ret-001", "tax-001", "est-002", "est-003", "inv-010"}


def _first_probe_id() -> str:
    return load_probes(PROBES)[0].id


# -- rendering (no browser) ---------------------------------------------------------------------------------
def test_probabilities_are_the_softmax_of_the_loglikelihoods():
    probabilities = choice_probabilities([-1.0, -2.0, -3.0, -4.0])
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities[0] / probabilities[1] == pytest.approx(2.718281828, rel=1e-6)
    assert choice_probabilities(None) == [None] * 4


def test_record_strings_are_escaped_and_the_page_needs_no_network():
    record = shipped_record("r-escape", model=SCRIPT_NAME, replies={_first_probe_id(): SCRIPT_REPLY})
    record["notes"] = ["note with <b>markup</b> | pipe\nand a $x$"]
    html = render_report(record)
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert "&lt;script&gt;window.pwned = 2&lt;/script&gt;" in html
    assert "&lt;b&gt;markup&lt;/b&gt;" in html
    # Self-contained: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.count("<script>") == 1  # the page's own inline script, nothing else


def test_evidence_spans_highlight_the_reply_where_the_rubric_matched():
    probe = load_probes(PROBES)[0]
    html = render_report(shipped_record("r-spans", replies={probe.id: SCRIPT_REPLY}))
    page = build_page(shipped_record("r-spans", replies={probe.id: SCRIPT_REPLY}))
    row = next(p for p in page.probes if p.id == probe.id)
    marked = [s for s in row.reply if s.kind == "hit"]
    assert marked, "the rubric hit key points in the reply; they must be highlighted"
    assert "".join(s.text for s in row.reply) == SCRIPT_REPLY  # the pieces are the whole reply, in order
    assert any("23,000" in s.text for s in marked)
    assert '<mark class="hit"' in html


def test_a_judge_graded_probe_still_highlights_the_rubrics_spans():
    # With a judge configured the probe's evidence is the judge's, and the rubric's sits under "rubric".
    probe = load_probes(PROBES)[0]
    record = shipped_record("r-judged", replies={probe.id: SCRIPT_REPLY})
    entry = next(p for p in record["probes"] if p["id"] == probe.id)
    entry["evidence"] = {"judge_model": "judge", "reason": "fine", "rubric": entry["evidence"]}
    row = next(p for p in build_page(record).probes if p.id == probe.id)
    assert any("23,000" in s.text for s in row.reply if s.kind == "hit")
    assert row.hit


def test_evidence_without_offsets_highlights_nothing():
    assert evidence_spans({"hit": ["employer match"], "missed": []}, 40) == []
    assert evidence_spans({"key_points": [{"point": "x", "hit": True, "spans": [[0, 99]]}]}, 40) == []


def test_compare_page_lists_flips_first_with_the_comparisons_p_value():
    a = shipped_record("run-a", wrong=WRONG_A, started_at="2026-02-01T10:00:00Z")
    b = shipped_record("run-b", wrong=WRONG_B, started_at="2026-02-02T10:00:00Z", latency=0.7)
    page = build_page(b, baseline=a)
    expected = WRONG_A ^ WRONG_B
    assert set(page.flipped_ids) == expected
    assert [q.id for q in page.questions[: len(expected)]] == page.flipped_ids  # flipped first
    assert page.comparison.p_value is not None
    html = render_report(b, baseline=a)
    assert f"{page.comparison.p_value:.4g}" in html
    # The power and the latency split are compare_runs' own figures, shown as computed there.
    assert f"{100 * page.comparison.detectable_drop:.1f} points or more" in html
    delta = page.comparison.latency.delta  # signed, in seconds as the log writes them
    assert 'id="latency-split"' in html and ("+" if delta >= 0 else "-") + format_seconds(abs(delta)) in html


# -- in a real browser --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """A Playwright page in Debian's headless Chromium with a fresh profile."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            offline=True,  # the page must need no network
        )
        page = context.new_page()
        yield page
        context.close()


def _visible_ids(page) -> list[str]:
    return page.eval_on_selector_all("#questions > tbody > tr:not([hidden])", "rows => rows.map(r => r.dataset.id)")


def _history_with_two_runs(project) -> Path:
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')  # the working directory, config cache cleared
    tmp_path = project.root
    store = open_store(tmp_path / "hist")
    for record in (
        shipped_record("run-a", wrong=WRONG_A, started_at="2026-02-01T10:00:00Z"),
        shipped_record(
            "run-b",
            model=SCRIPT_NAME,
            wrong=WRONG_B,
            replies={_first_probe_id(): SCRIPT_REPLY},
            started_at="2026-02-02T10:00:00Z",
        ),
    ):
        validate(record, where=record["run_id"])
        store.write(record)
    return tmp_path


@pytest.mark.slow
def test_report_opens_from_file_url_with_every_question_and_probe(browser_page, project, tmp_path, capsys):
    root = _history_with_two_runs(project)
    assert main(["report", "run-a"]) == 0
    path = root / "reports" / "run-a.html"
    browser_page.goto(path.as_uri())
    assert browser_page.title().startswith("tunebench run run-a")
    assert browser_page.locator("#questions > tbody > tr").count() == 100
    assert browser_page.locator("#probes > tbody > tr").count() == 10
    assert browser_page.text_content("#count") == "showing 100 of 100"
    browser_page.select_option("#f-result", "wrong")
    assert sorted(_visible_ids(browser_page)) == sorted(WRONG_A)
    browser_page.select_option("#f-result", "")
    browser_page.select_option("#f-domain", "estate_planning")
    assert browser_page.locator("#questions > tbody > tr:not([hidden])").count() == 20
    browser_page.select_option("#f-domain", "")
    browser_page.fill("#f-search", "tax-003")
    assert _visible_ids(browser_page) == ["tax-003"]
    shot = tmp_path / "report-run-a.png"
    browser_page.fill("#f-search", "")
    browser_page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    with capsys.disabled():
        print(f"\nscreenshot of the run report: {shot}")


@pytest.mark.slow
def test_flipped_filter_shows_exactly_the_flips_history_compare_lists(browser_page, project, tmp_path, capsys):
    root = _history_with_two_runs(project)
    assert main(["history", "compare", "run-a", "run-b", "--json"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    listed = sorted(f["id"] for f in comparison["right_to_wrong"] + comparison["wrong_to_right"])
    assert listed == sorted(WRONG_A ^ WRONG_B)
    out = root / "compare.html"
    assert main(["report", "run-b", "--compare", "run-a", "--out", str(out)]) == 0
    browser_page.goto(out.as_uri())
    browser_page.check("#f-flipped")
    assert sorted(_visible_ids(browser_page)) == listed
    assert browser_page.text_content("#mcnemar") == f"{comparison['p_value']:.4g}"
    shot = tmp_path / "report-compare.png"
    browser_page.screenshot(path=str(shot), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot of the compare report: {shot}")


@pytest.mark.slow
def test_model_name_and_reply_with_script_render_as_text(browser_page, project, tmp_path):
    _history_with_two_runs(project)
    out = tmp_path / "b.html"
    assert main(["report", "run-b", "--out", str(out)]) == 0
    browser_page.goto(out.as_uri())
    assert browser_page.evaluate("window.pwned === undefined")  # no injected script ran
    assert SCRIPT_NAME in browser_page.text_content("h1")
    reply = browser_page.text_content(f'#probes tr[data-id="{_first_probe_id()}"] .reply')
    assert reply == SCRIPT_REPLY
    assert browser_page.locator("#probes mark.hit").count() >= 1


def test_report_baseline_auto_compares_with_the_production_models_newest_full_run(project, capsys):
    project.write(
        '[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n\n'
        '[tool.tunebench.models.prod]\nbase = "builtin:tiny"\nstatus = "production"\n'
    )
    tmp_path = project.root
    store = open_store(tmp_path / "hist")
    store.write(shipped_record("run-prod", model="prod", wrong=WRONG_A, started_at="2026-02-01T10:00:00Z"))
    subset = shipped_record("run-prod-subset", model="prod", wrong=WRONG_B, started_at="2026-02-01T12:00:00Z")
    subset["status"] = "subset"  # newer, but a subset is never a baseline
    store.write(subset)
    store.write(shipped_record("run-new", wrong=WRONG_B, started_at="2026-02-02T10:00:00Z"))
    out = tmp_path / "auto.html"
    assert main(["report", "run-new", "--baseline", "auto", "--out", str(out)]) == 0
    assert "compared with run-prod)" in capsys.readouterr().out
    assert "Compared with run-prod (prod)" in out.read_text(encoding="utf-8")


def test_the_run_table_says_how_far_decoding_ran_from_the_bandwidth_floor():
    record = shipped_record("r-floor")
    assert "<th>decode vs floor</th><td>—</td>" in render_report(record)  # nothing recorded: a dash
    record["model"]["decode_floor"] = {
        "weight_bytes": 100_000_000,
        "floor_ms": 0.5,
        "peak": {"device": "cpu", "flops": 1e10, "bandwidth_bytes_s": 2e11, "source": "measured"},
    }
    record["aggregates"]["time_per_output_token_s"] = {"n": 2, "p50": 0.002}
    validate(record)
    html = render_report(record)
    assert "decode 2.0 ms/token (median), 4.0x the memory-bandwidth floor 0.5 ms (weights / measured bandwidth)" in html
