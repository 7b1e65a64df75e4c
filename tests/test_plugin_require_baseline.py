"""Nothing to judge is not a pass, through real pytest runs: a run without baseline or floor says so, and
require_baseline (config or --require-baseline) makes it fail."""

import pytest
from plugin_support import assert_answered, write_answers, write_project

pytest_plugins = ["pytester"]


def _all_wrong(pytester, extra=""):
    questions = write_project(pytester, n=6, extra=extra)
    write_answers(pytester, {"candidate": {q["id"]: "D" if q["answer"] != "D" else "A" for q in questions}})


def test_a_zero_accuracy_run_without_baseline_or_floor_says_nothing_to_judge(pytester):
    _all_wrong(pytester)
    result = pytester.runpytest("--model", "candidate")
    assert_answered(result, 6)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["nothing to judge *nothing to judge*the run was not judged*", "*gate: nothing to judge*"]
    )
    # issue 26: the row's detail repeated the line above it ("gate (baseline: none found (...)):"); it says
    # "no baseline" now, and the record's stored verdict keeps the whole detail.
    out = result.stdout.str()
    how = out.split("gate (baseline: ", 1)[1].split("):\n", 1)[0]
    assert how.startswith("none found (") and out.count(how) == 1, out
    result.stdout.fnmatch_lines(["nothing to judge *nothing to judge  no baseline and no floor or budget*"])


def test_require_baseline_in_the_config_fails_a_zero_accuracy_run_without_baseline(pytester):
    _all_wrong(pytester, extra="[tool.tunebench.gate]\nrequire_baseline = true")
    result = pytester.runpytest("--model", "candidate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["baseline * required *FAIL*nothing to judge*(require_baseline)*"])


def test_the_require_baseline_option_fails_it_too(pytester):
    _all_wrong(pytester)
    result = pytester.runpytest("--model", "candidate", "--require-baseline", "--no-record")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*gate FAIL (baseline)*"])
