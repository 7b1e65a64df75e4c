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

from tunebench.gate.paired import Choices, mcnemar_check, prob_drop_check
from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import Check
from tunebench.history.typed import EvalRecordData, LmEvalDocument, LmEvalSection, LmEvalTask, Proportion, given

__all__ = ["task_checks", "task_floors", "task_regressions", "paired_task_outcomes", "lm_eval_of"]

# A record's `lm_eval` section typed (tunebench.history.lm_eval_parts), or None: the run scored no lm-eval task.
Section = LmEvalSection | None


def lm_eval_of(record: EvalRecordData | Mapping[str, object]) -> Section:
    """Return the `lm_eval` section of an eval record (typed, or as stored: its section typed here), or None."""
    section = record.lm_eval if isinstance(record, EvalRecordData) else record.get("lm_eval")
    if isinstance(section, LmEvalSection):
        return section
    return LmEvalSection.from_dict(section) if isinstance(section, Mapping) else None


def task_checks(run: EvalRecordData, rules: GateRules, base: EvalRecordData | None = None) -> list[Check]:
    """Return the per-task checks of `run` (none when it ran no lm-eval task)."""
    checks = task_floors(run, rules)
    if base is not None:
        checks += task_regressions(run, base, rules)
    return checks


def task_floors(run: EvalRecordData, rules: GateRules) -> list[Check]:
    """Return each task's availability check and, under `min_task_accuracy`, its floor check."""
    tasks = _tasks(lm_eval_of(run))
    checks = [
        Check(f"task[{name}] ran", "unavailable", "scored", False, detail=given(task.reason, ""))
        for name, task in tasks.items()
        if task.status == "unavailable"
    ]
    floor = rules.min_task_accuracy
    if floor is None:
        return checks
    limits = sorted(floor.items()) if isinstance(floor, dict) else [(n, floor) for n in tasks if tasks[n].scored]
    for name, limit in limits:
        task = tasks.get(name)
        accuracy = Proportion.of(given(task.accuracy)) if task is not None else None
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
    now, before = lm_eval_of(run), lm_eval_of(base)
    now_tasks, before_tasks = _tasks(now), _tasks(before)
    for name, task in now_tasks.items():
        if not task.scored:
            continue
        earlier = before_tasks.get(name)
        if earlier is None or not earlier.scored or given(earlier.config_sha256) != given(task.config_sha256):
            why = "not in the baseline" if earlier is None else "the baseline ran it under another lm-eval config"
            checks.append(Check(f"task[{name}] drop vs baseline", None, "-", True, base.run_id, why))
            continue
        n, b, c = paired_task_outcomes(now, before, name)
        checks.append(mcnemar_check(f"task[{name}] drop vs baseline", n, b, c, rules, base.run_id, "documents"))
        if task.output_type == "multiple_choice" and rules.prob_drop:
            rule = f"task[{name}] prob_drop vs baseline"
            choices = _choices(before, name), _choices(now, name)
            checks.append(prob_drop_check(rule, *choices, rules, base.run_id, "documents"))
    return checks


def paired_task_outcomes(now_section: Section, before_section: Section, task: str) -> tuple[int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right) on one task's documents
    (the sections of the run and of its baseline, `lm_eval_of`)."""
    before, now = _outcomes(before_section, task), _outcomes(now_section, task)
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c


def _tasks(section: Section) -> dict[str, LmEvalTask]:
    return {t.name: t for t in section.tasks} if section and section.tasks else {}


def _documents(section: Section, task: str) -> list[LmEvalDocument]:
    docs = section.documents if section and section.documents else []
    return [d for d in docs if d.task == task and given(d.status, "answered") == "answered"]


def _outcomes(section: Section, task: str) -> dict[int, bool]:
    return {d.doc_id: d.correct for d in _documents(section, task) if isinstance(d.correct, bool)}


def _choices(section: Section, task: str) -> dict[int, Choices]:
    found: dict[int, Choices] = {}
    for doc in _documents(section, task):
        scores, gold = given(doc.loglikelihoods), given(doc.gold)
        if scores and len(scores) >= 2 and isinstance(gold, int) and 0 <= gold < len(scores):
            found[doc.doc_id] = (scores, gold)
    return found
