"""The gate's per-task rules (lm-eval tasks) judge a task with the benchmark's own tests, not a copy of them."""

from __future__ import annotations

from typing import Any

from record_factory import graded_run

from tunebench.gate import GateRules, Verdict
from tunebench.gate.evaluate import eval_run
from tunebench.gate.paired import accuracy_regression, probability_regression
from tunebench.gate.tasks import task_checks
from tunebench.history.typed import EvalRecordData

TASK = "mc_task"


def _as_task(record: dict[str, Any]) -> EvalRecordData:
    """The record with its questions also scored as one multiple-choice lm-eval task (gold: the answer A)."""
    documents = [
        {"task": TASK, "doc_id": i, "correct": q["correct"], "loglikelihoods": q["loglikelihoods"], "gold": 0}
        for i, q in enumerate(record["questions"])
    ]
    task = {"name": TASK, "status": "scored", "output_type": "multiple_choice", "config_sha256": "c" * 64}
    return eval_run({**record, "lm_eval": {"tasks": [task], "documents": documents}})


def _worse(right: int, shift: float) -> dict[str, Any]:
    run = graded_run("candidate", right, 12, 30)
    for q in run["questions"]:  # the right answer (A) `shift` nats less likely on every question
        q["loglikelihoods"] = [q["loglikelihoods"][0] - shift, *q["loglikelihoods"][1:]]
    return run


def _same_check(task_check: Any, benchmark_check: Any) -> None:
    assert task_check.value == benchmark_check.value
    assert task_check.passed == benchmark_check.passed
    assert task_check.comparable == benchmark_check.comparable
    assert task_check.detail == benchmark_check.detail.replace("questions", "documents")


def test_a_task_is_judged_by_the_benchmarks_mcnemar_and_log_odds_tests_with_the_same_figures():
    base = _as_task(graded_run("prod", 20, 10, 30))
    rules = GateRules()
    for right, shift in ((20, 0.0), (20, 0.3), (14, 0.0), (14, 2.0)):
        now = _as_task(_worse(right, shift))
        checks = {c.rule: c for c in task_checks(now, rules, base)}
        _same_check(checks[f"task[{TASK}] drop vs baseline"], accuracy_regression(now, base, rules, Verdict()))
        prob = checks[f"task[{TASK}] prob_drop vs baseline"]
        # Was: the task's test ran on the probabilities ("mean p(right choice)"), the benchmark's on log-odds.
        _same_check(prob, probability_regression(now, base, rules))
        if right == 20:  # the same answers, the right one `shift` nats less likely: a log-odds drop of `shift`
            assert f"log-odds of the right answer: drop +{shift:.3f}" in prob.detail


def test_a_task_with_fewer_than_two_paired_documents_is_not_compared_like_the_benchmark():
    base, now = _as_task(graded_run("prod", 1, 10, 1)), _as_task(graded_run("candidate", 0, 11, 1))
    checks = {c.rule: c for c in task_checks(now, GateRules(), base)}
    prob = checks[f"task[{TASK}] prob_drop vs baseline"]
    assert prob.passed and not prob.comparable and "not compared" in prob.detail
