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
  the benchmark's prob_drop rule runs too (`prob_drop`, `max_prob_drop`, `prob_alpha`): the mean probability
  of the right choice (softmax over its recorded choice log-likelihoods), tested on its log-odds. Both are
  the benchmark's own functions (`tunebench.gate.paired`): a task and the benchmark are judged by one test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunebench.gate.paired import Choices, mcnemar_check, prob_drop_check
from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import Check
from tunebench.history.typed import EvalRecordData, Proportion, given

__all__ = ["task_checks", "task_floors", "task_regressions", "paired_task_outcomes"]

# A record's `lm_eval` section as stored ({tasks, documents}; tunebench.lmeval.record), or None: not typed yet
# (EvalRecordData.lm_eval is a plain dict), so its tasks and documents are read by key; a task's accuracy is
# read as a Proportion.
Section = Mapping[str, Any] | None


def task_checks(run: EvalRecordData, rules: GateRules, base: EvalRecordData | None = None) -> list[Check]:
    """Return the per-task checks of `run` (none when it ran no lm-eval task)."""
    checks = task_floors(run, rules)
    if base is not None:
        checks += task_regressions(run, base, rules)
    return checks


def task_floors(run: EvalRecordData, rules: GateRules) -> list[Check]:
    """Return each task's availability check and, under `min_task_accuracy`, its floor check."""
    tasks = _tasks(given(run.lm_eval))
    checks = [
        Check(f"task[{name}] ran", "unavailable", "scored", False, detail=task.get("reason", ""))
        for name, task in tasks.items()
        if task.get("status") == "unavailable"
    ]
    floor = rules.min_task_accuracy
    if floor is None:
        return checks
    limits = sorted(floor.items()) if isinstance(floor, dict) else [(n, floor) for n in tasks if _scored(tasks[n])]
    for name, limit in limits:
        accuracy = Proportion.of((tasks.get(name) or {}).get("accuracy"))
        if accuracy is None or accuracy.value is None:
            checks.append(Check(f"task[{name}] accuracy", None, f">= {limit}", False, detail="the task did not run"))
            continue
        value = accuracy.value
        detail = f"{accuracy.k}/{accuracy.n}, 95% CI [{accuracy.low:.3f}, {accuracy.high:.3f}]"
        if value < limit:
            detail += f"; {limit - value:.3f} below the floor"
        checks.append(Check(f"task[{name}] accuracy", value, f">= {limit}", value >= limit, detail=detail))
    return checks


def task_regressions(run: EvalRecordData, base: EvalRecordData, rules: GateRules) -> list[Check]:
    """Return each scored task's drop check against `base` (and its prob_drop check for multiple choice)."""
    checks = []
    now, before = given(run.lm_eval), given(base.lm_eval)
    now_tasks, before_tasks = _tasks(now), _tasks(before)
    for name, task in now_tasks.items():
        if not _scored(task):
            continue
        earlier = before_tasks.get(name)
        if earlier is None or not _scored(earlier) or earlier.get("config_sha256") != task.get("config_sha256"):
            why = "not in the baseline" if earlier is None else "the baseline ran it under another lm-eval config"
            checks.append(Check(f"task[{name}] drop vs baseline", None, "-", True, base.run_id, why))
            continue
        n, b, c = _task_outcomes(now, before, name)
        checks.append(mcnemar_check(f"task[{name}] drop vs baseline", n, b, c, rules, base.run_id, "documents"))
        if task.get("output_type") == "multiple_choice" and rules.prob_drop:
            rule = f"task[{name}] prob_drop vs baseline"
            choices = _choices(before, name), _choices(now, name)
            checks.append(prob_drop_check(rule, *choices, rules, base.run_id, "documents"))
    return checks


def paired_task_outcomes(
    record: Mapping[str, object], baseline: Mapping[str, object], task: str
) -> tuple[int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right) on one task's documents."""
    return _task_outcomes(_section(record), _section(baseline), task)


def _section(record: Mapping[str, object]) -> Section:
    section = record.get("lm_eval")
    return section if isinstance(section, Mapping) else None


def _task_outcomes(now_section: Section, before_section: Section, task: str) -> tuple[int, int, int]:
    before, now = _outcomes(before_section, task), _outcomes(now_section, task)
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c


def _tasks(section: Section) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (section or {}).get("tasks", [])}


def _scored(task: dict[str, Any]) -> bool:
    return task.get("status") == "scored"


def _documents(section: Section, task: str) -> list[dict[str, Any]]:
    docs = (section or {}).get("documents", [])
    return [d for d in docs if d["task"] == task and d.get("status", "answered") == "answered"]


def _outcomes(section: Section, task: str) -> dict[int, bool]:
    return {d["doc_id"]: d["correct"] for d in _documents(section, task) if isinstance(d.get("correct"), bool)}


def _choices(section: Section, task: str) -> dict[int, Choices]:
    found = {}
    for doc in _documents(section, task):
        scores, gold = doc.get("loglikelihoods"), doc.get("gold")
        if scores and len(scores) >= 2 and isinstance(gold, int) and 0 <= gold < len(scores):
            found[doc["doc_id"]] = (scores, gold)
    return found
