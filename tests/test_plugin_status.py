"""pytest says what happened: wrong answers are their own status, and a failed gate shows in the last line and JUnit."""

import xml.etree.ElementTree as ET

import pytest
from plugin_support import LETTERS, records, write_answers, write_project

pytest_plugins = ["pytester"]

N = 12


def _answers(questions, wrong=()):
    return {
        q["id"]: (LETTERS[(LETTERS.index(q["answer"]) + 1) % 4] if q["id"] in wrong else q["answer"]) for q in questions
    }


def test_wrong_answers_are_reported_as_wrong_without_failing_the_items(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": _answers(questions, wrong={"q001", "q004", "q007"})})
    result = pytester.runpytest("--model", "prod", "-v", "--no-gate")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_question?q001? WRONG*", "*test_question?q002? PASSED*"])
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("wrong"), outcomes.get("failed")) == (9, 3, None)
    assert "3 wrong" in result.stdout.lines[-1] and "9 passed" in result.stdout.lines[-1]


def test_a_failed_gate_names_its_rule_in_the_last_line_and_fails_a_junit_case(pytester):
    questions = write_project(pytester, n=30)
    write_answers(pytester, {"prod": _answers(questions)})
    pytester.runpytest("--model", "prod")
    [good] = records(pytester)
    write_answers(pytester, {"prod": _answers(questions, wrong={q["id"] for q in questions[:20]})})
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--model", "prod", "--baseline", good["run_id"], f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    last = result.stdout.lines[-1]
    assert "1 gate failed (accuracy drop vs baseline)" in last and "20 wrong" in last and "10 passed" in last
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "1"
    [gate] = [case for case in suite.iter("testcase") if case.get("name") == "gate"]
    failure = gate.find("failure")
    assert failure is not None and "accuracy drop vs baseline" in failure.get("message")
    assert "b=20, c=0" in failure.text  # the rule's details, as the terminal's gate table shows them
    # Wrong answers are outcomes: no test case but the gate fails.
    assert [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None] == ["gate"]


def test_a_passing_gate_is_a_passing_junit_case(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": _answers(questions)})
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("--model", "prod", f"--junitxml={junit}")
    assert result.ret == pytest.ExitCode.OK
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite.get("failures") == "0"
    [gate] = [case for case in suite.iter("testcase") if case.get("name") == "gate"]
    assert gate.find("failure") is None
