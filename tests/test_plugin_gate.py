"""The gate through real pytest runs: baselines from the history, exit status set by the verdict."""

import json

import pytest
from plugin_support import LETTERS, assert_answered, records, write_answers, write_project

pytest_plugins = ["pytester"]

N = 30


def _key_answers(questions):
    return {q["id"]: q["answer"] for q in questions}


def test_the_same_model_twice_passes_against_the_auto_baseline(pytester):
    questions = write_project(pytester, n=N)
    answers = _key_answers(questions)
    answers["q004"] = "D" if answers["q004"] != "D" else "A"
    write_answers(pytester, {"prod": answers})
    assert_answered(pytester.runpytest("--model", "prod"), N)
    result = pytester.runpytest("--model", "prod")
    assert result.ret == pytest.ExitCode.OK
    first, second = records(pytester)
    assert second["baseline"]["run_id"] == first["run_id"]
    assert second["gate"]["passed"] is True
    result.stdout.fnmatch_lines(["accuracy drop vs baseline*0.000*pass*drop +0.0 points on 30 paired*(b=0, c=0)*p=1*"])


def test_a_run_made_worse_on_purpose_fails_the_gate_though_every_item_passed(pytester):
    questions = write_project(pytester, n=N)
    write_answers(pytester, {"prod": _key_answers(questions)})
    assert_answered(pytester.runpytest("--model", "prod"), N)
    [good] = records(pytester)
    # Permute the answer key: same questions, the model's unchanged choices are now mostly wrong.
    write_project(pytester, n=N, key=[LETTERS[(LETTERS.index(q["answer"]) + 1) % 4] for q in questions])
    auto = pytester.runpytest("--model", "prod")
    assert auto.ret == pytest.ExitCode.OK  # another suite file: auto finds no baseline on these files
    auto.stdout.fnmatch_lines(["gate (baseline: none found (*on the same suite files)*"])
    worse = pytester.runpytest("--model", "prod", "--baseline", good["run_id"])
    assert_answered(worse, N, gate=1)  # "1 gate failed (accuracy drop vs baseline)"
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    worse.stdout.fnmatch_lines(
        [
            "accuracy drop vs baseline*1.000*FAIL*b=30, c=0*larger than allowed and significant*",
            "tunebench: model prod, accuracy 0.0%*gate FAIL (accuracy drop vs baseline)",
        ]
    )
    last = records(pytester)[-1]
    assert last["gate"]["passed"] is False and last["baseline"]["run_id"] == good["run_id"]


def test_a_drop_inside_the_noise_passes_with_the_p_value_shown(pytester):
    questions = write_project(pytester, n=20, extra="[tool.tunebench.gate]\nmax_drop = 0.05\nalpha = 0.05")
    good = _key_answers(questions)
    worse = dict(
        good,
        q003="D" if good["q003"] != "D" else "A",
        q007="A" if good["q007"] != "A" else "B",
        q011="B" if good["q011"] != "B" else "C",
    )
    write_answers(pytester, {"prod": good, "candidate": worse})
    assert_answered(pytester.runpytest("--model", "prod"), 20)
    result = pytester.runpytest("--model", "candidate", "--baseline", "prod")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["accuracy drop vs baseline*0.150*pass*b=3, c=0*p=0.25: within noise*"])


def test_per_model_gate_rules_override_the_defaults(pytester):
    questions = write_project(
        pytester,
        n=4,
        extra="[tool.tunebench.gate]\nmin_accuracy = 0.9\n[tool.tunebench.gate.models.candidate]\nmin_accuracy = 0.2",
    )
    answers = {q["id"]: "A" for q in questions}  # one in four right
    write_answers(pytester, {"prod": answers, "candidate": answers})
    assert pytester.runpytest("--model", "prod", "--no-record").ret == pytest.ExitCode.TESTS_FAILED
    assert pytester.runpytest("--model", "candidate", "--no-record").ret == pytest.ExitCode.OK


def test_no_gate_records_without_judging(pytester):
    questions = write_project(pytester, n=4, extra="[tool.tunebench.gate]\nmin_accuracy = 0.9")
    write_answers(pytester, {"tiny": {q["id"]: "A" for q in questions}})
    result = pytester.runpytest("--no-gate")
    assert result.ret == pytest.ExitCode.OK
    [record] = records(pytester)
    assert record["gate"] is None
    result.stdout.fnmatch_lines(["*gate off"])


def test_corrupt_history_files_are_reported_by_path_and_never_used(pytester):
    questions = write_project(pytester, n=4)
    write_answers(pytester, {"prod": _key_answers(questions)})
    broken = pytester.path / "hist" / "runs" / "2026" / "20260101T000000Z_deadbeef.json"
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps({"kind": "eval"})[:-3])
    result = pytester.runpytest("--model", "prod")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"tunebench: warning: history record skipped: {broken}: line 1: truncated*"])
    result.stdout.no_fnmatch_line("*log was not rendered*")
    assert (pytester.path / "LOG.md").is_file()
