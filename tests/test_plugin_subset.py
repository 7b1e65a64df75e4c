"""Runs that say what they are: a `-k` or node-id run is a subset, never a full result, a plot point or a baseline."""

import pytest
from plugin_support import assert_answered, records, write_answers, write_project

from tunebench.history.store import open_store
from tunebench.report.compare import resolve_run
from tunebench.report.history_view import History

pytest_plugins = ["pytester"]

N = 12


def test_a_k_selected_run_is_recorded_as_a_subset_and_never_an_auto_baseline(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": {q["id"]: q["answer"] for q in questions}})
    result = pytester.runpytest("--model", "prod", "-k", "q001 or q002 or q003")
    # The gate judges a subset as no full result: it fails "run complete" and says why.
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert_answered(result, 3, deselected=N - 3, gate=1)  # "1 gate failed (run complete)"
    result.stdout.fnmatch_lines(
        [
            "run complete*subset*complete*FAIL*3 of 12 selected (-k or node ids); a subset is never a full result*",
            "tunebench: model prod,*run * subset (3 of 12 selected)*",
        ]
    )
    [subset] = records(pytester)
    assert subset["status"] == "subset" and subset["selection"] == {"selected": 3, "total": N}

    log = (pytester.path / "LOG.md").read_text(encoding="utf-8")
    results = log.split("## Benchmark Evaluation Results", 1)[1]
    table, listed = results.split("Subset runs (part of the suites selected; not benchmark results):", 1)
    assert subset["run_id"] not in table and subset["run_id"] in listed.split("##", 1)[0]
    assert f"`{subset['run_id']}`](reports/{subset['run_id']}.html) prod" in log and "3 of 12 selected" in log

    full = pytester.runpytest("--model", "prod")
    assert full.ret == pytest.ExitCode.OK
    full.stdout.fnmatch_lines(["gate (baseline: none found*"])  # the subset is no baseline
    assert records(pytester)[-1]["status"] == "complete"

    pytester.runpytest("--model", "prod", f"test_suite.py::test_question[{questions[0]['id']}]")
    after = records(pytester)
    assert after[-1]["status"] == "subset" and after[-1]["selection"]["selected"] == 1
    assert after[-1]["baseline"]["run_id"] == after[1]["run_id"]  # the full run, not the newer subset
    history = History.of(after)
    assert [r.run_id for r in history.evals] == [after[1]["run_id"]]
    assert resolve_run("prod", open_store(pytester.path / "hist").read_all().records)["run_id"] == after[1]["run_id"]


def test_a_run_of_every_item_is_complete(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": {q["id"]: q["answer"] for q in questions}})
    pytester.runpytest("--model", "prod")
    [run] = records(pytester)
    assert run["status"] == "complete" and run["selection"] == {"selected": N, "total": N}
