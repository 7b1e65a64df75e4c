"""After a recorded pytest run: the run's HTML report is written beside the log, and the log links it."""

import re

from plugin_support import records, write_answers, write_project

pytest_plugins = ["pytester"]

N = 12


def test_a_recorded_run_writes_its_html_report_and_the_log_links_it(pytester):
    questions = write_project(pytester, n=N)
    answers = {q["id"]: q["answer"] for q in questions}
    answers["q003"] = "D" if answers["q003"] != "D" else "A"
    write_answers(pytester, {"prod": answers})
    first = pytester.runpytest("--model", "prod")
    [run] = records(pytester)
    page = pytester.path / "reports" / f"{run['run_id']}.html"
    first.stdout.fnmatch_lines([f"tunebench: HTML report: file://{page}"])
    html = page.read_text(encoding="utf-8")
    assert len(re.findall(r'<tr class="question ', html)) == N
    assert 'data-id="q003" data-domain' in html and 'data-result="wrong"' in html
    log = (pytester.path / "LOG.md").read_text(encoding="utf-8")
    assert f"[`{run['run_id']}`](reports/{run['run_id']}.html)" in log

    # The second run is gated against the first: its page is the compare view of the two.
    answers["q003"] = questions[3]["answer"]
    write_answers(pytester, {"prod": answers})
    pytester.runpytest("--model", "prod")
    second = records(pytester)[-1]
    html = (pytester.path / "reports" / f"{second['run_id']}.html").read_text(encoding="utf-8")
    assert f"Compared with {run['run_id']}" in html
    assert re.search(r'data-id="q003"[^>]*data-flipped="yes"', html)


def test_a_run_not_recorded_writes_no_report(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": {q["id"]: q["answer"] for q in questions}})
    pytester.runpytest("--model", "prod", "--no-record")
    assert not (pytester.path / "reports").exists()
