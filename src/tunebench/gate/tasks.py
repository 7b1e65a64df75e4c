"""The gate's per-task rules for lm-eval tasks: a floor for each task, and a drop rule for each task.

Each lm-eval task a run scored (the record's `lm_eval` section, tunebench.lmeval.record) is judged on its
own, with the benchmark's statistics:

- `min_task_accuracy` (one number for every task, or a {task: floor} table): the task's accuracy (the share
  of its documents whose primary metric is 1) must reach it; a task the table names that did not run fails.
- A task that could not load here (`unavailable`) fails `task[NAME] ran`, naming why.
- Against the baseline, documents pair by (task, doc id) when both runs ran the task under the same lm-eval
  config (`config_sha256`: prompt, few-shot, filters, metrics). The task's drop fails only when it is
  larger than `max_drop` AND the exact McNemar test on the paired right/wrong outcomes gives p < `alpha`;
  the detail states the smallest drop that comparison detects at 80% power. For `multiple_choice` tasks
  the paired t test on each document's probability of the right choice (softmax over its recorded choice
  log-likelihoods) runs too (`prob_drop`, `max_prob_drop`, `prob_alpha`), as the benchmark's prob_drop rule.
"""

from __future__ import annotations

from typing import Any

from tunebench.gate.verdict import POWER, Check
from tunebench.power import detectable_drop, t_detectable_drop
from tunebench.stats import mcnemar_exact, paired_t_drop, softmax_probability

__all__ = ["task_checks", "task_floors", "task_regressions", "paired_task_outcomes"]


def task_checks(record: dict[str, Any], rules: Any, baseline: dict[str, Any] | None = None) -> list[Check]:
    """Return the per-task checks of `record` (none when it ran no lm-eval task)."""
    checks = task_floors(record, rules)
    if baseline is not None:
        checks += task_regressions(record, baseline, rules)
    return checks


def task_floors(record: dict[str, Any], rules: Any) -> list[Check]:
    """Return each task's availability check and, under `min_task_accuracy`, its floor check."""
    tasks = _tasks(record)
    checks = [
        Check(f"task[{name}] ran", "unavailable", "scored", False, detail=task.get("reason", ""))
        for name, task in tasks.items()
        if task.get("status") == "unavailable"
    ]
    floor = getattr(rules, "min_task_accuracy", None)
    if floor is None:
        return checks
    limits = sorted(floor.items()) if isinstance(floor, dict) else [(n, floor) for n in tasks if _scored(tasks[n])]
    for name, limit in limits:
        accuracy = (tasks.get(name) or {}).get("accuracy") or {}
        if accuracy.get("value") is None:
            checks.append(Check(f"task[{name}] accuracy", None, f">= {limit}", False, detail="the task did not run"))
            continue
        value = accuracy["value"]
        detail = f"{accuracy['k']}/{accuracy['n']}, 95% CI [{accuracy['low']:.3f}, {accuracy['high']:.3f}]"
        if value < limit:
            detail += f"; {limit - value:.3f} below the floor"
        checks.append(Check(f"task[{name}] accuracy", value, f">= {limit}", value >= limit, detail=detail))
    return checks


def task_regressions(record: dict[str, Any], baseline: dict[str, Any], rules: Any) -> list[Check]:
    """Return each scored task's drop check against `baseline` (and its prob_drop check for multiple choice)."""
    checks = []
    now_tasks, before_tasks = _tasks(record), _tasks(baseline)
    for name, task in now_tasks.items():
        if not _scored(task):
            continue
        before = before_tasks.get(name)
        if before is None or not _scored(before) or before.get("config_sha256") != task.get("config_sha256"):
            why = "not in the baseline" if before is None else "the baseline ran it under another lm-eval config"
            checks.append(Check(f"task[{name}] drop vs baseline", None, "-", True, baseline["run_id"], why))
            continue
        checks.append(_drop(name, record, baseline, rules))
        if task.get("output_type") == "multiple_choice" and getattr(rules, "prob_drop", True):
            checks.append(_probability_drop(name, record, baseline, rules))
    return checks


def paired_task_outcomes(record: dict[str, Any], baseline: dict[str, Any], task: str) -> tuple[int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right) on one task's documents."""
    before, now = _outcomes(baseline, task), _outcomes(record, task)
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c


def _drop(name: str, record: dict[str, Any], baseline: dict[str, Any], rules: Any) -> Check:
    rule, limit = f"task[{name}] drop vs baseline", f"<= {rules.max_drop} or p >= {rules.alpha}"
    n, b, c = paired_task_outcomes(record, baseline, name)
    if n == 0:
        return Check(rule, None, limit, True, baseline["run_id"], "no right/wrong document in common with the baseline")
    drop, p = (b - c) / n, mcnemar_exact(b, c)
    passed = not (drop > rules.max_drop and p < rules.alpha)
    reach = detectable_drop(n, (b + c) / n, rules.alpha, POWER)
    power = (
        f"detects a drop of {100 * reach:.1f} points at {POWER:.0%} power"
        if reach is not None
        else f"no drop is detectable at {POWER:.0%} power on {n} documents"
    )
    detail = (
        f"drop {drop:+.3f} on {n} paired documents (b={b}, c={c}), exact McNemar p={p:.4g}: "
        f"{_why(passed, drop > rules.max_drop)}; {power}"
    )
    return Check(rule, round(drop, 6), limit, passed, baseline["run_id"], detail)


def _probability_drop(name: str, record: dict[str, Any], baseline: dict[str, Any], rules: Any) -> Check:
    rule, limit = f"task[{name}] prob_drop vs baseline", f"<= {rules.max_prob_drop} or p >= {rules.prob_alpha}"
    before, now = _probabilities(baseline, name), _probabilities(record, name)
    paired = sorted(before.keys() & now.keys())
    if len(paired) < 2:
        detail = "fewer than 2 paired documents with recorded choice log-likelihoods: not compared"
        return Check(rule, None, limit, True, baseline["run_id"], detail)
    test = paired_t_drop([before[k] for k in paired], [now[k] for k in paired], rules.prob_alpha)
    passed = not (test.drop > rules.max_prob_drop and test.p_value < rules.prob_alpha)
    reach = t_detectable_drop(test.n, test.sd, rules.prob_alpha, POWER)
    detects = "" if reach is None else f"; detects a mean drop of {reach:.3f} at {POWER:.0%} power"
    detail = (
        f"mean p(right choice) {test.before:.3f} -> {test.after:.3f}: drop {test.drop:+.3f}, "
        f"{test.confidence:.0%} CI [{test.low:+.3f}, {test.high:+.3f}] on {test.n} paired documents, "
        f"paired t one-sided p={test.p_value:.4g}: {_why(passed, test.drop > rules.max_prob_drop)}{detects}"
    )
    return Check(rule, round(test.drop, 6), limit, passed, baseline["run_id"], detail)


def _why(passed: bool, over: bool) -> str:
    if not passed:
        return "larger than allowed and significant"
    return "within noise" if over else "within the allowed drop"


def _tasks(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (record.get("lm_eval") or {}).get("tasks", [])}


def _scored(task: dict[str, Any]) -> bool:
    return task.get("status") == "scored"


def _documents(record: dict[str, Any], task: str) -> list[dict[str, Any]]:
    docs = (record.get("lm_eval") or {}).get("documents", [])
    return [d for d in docs if d["task"] == task and d.get("status", "answered") == "answered"]


def _outcomes(record: dict[str, Any], task: str) -> dict[int, bool]:
    return {d["doc_id"]: d["correct"] for d in _documents(record, task) if isinstance(d.get("correct"), bool)}


def _probabilities(record: dict[str, Any], task: str) -> dict[int, float]:
    found = {}
    for doc in _documents(record, task):
        scores, gold = doc.get("loglikelihoods"), doc.get("gold")
        if scores and isinstance(gold, int) and 0 <= gold < len(scores):
            found[doc["doc_id"]] = softmax_probability(scores, gold)
    return found
