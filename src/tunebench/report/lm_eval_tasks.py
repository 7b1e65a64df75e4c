"""lm-eval tasks in the reports: per-task accuracy with its 95% interval, in the log and in `history compare`.

Reads the record's `lm_eval` section (tunebench.lmeval.record) typed (history.lm_eval_parts: `task.accuracy`,
`document.gold`), parsed once per record. Every string from a record goes through the Markdown escaper of
`report.formatting`; the comparison pairs documents the way the gate does (tunebench.gate.tasks): by (task,
doc id), under the same lm-eval config.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunebench.gate.tasks import lm_eval_of, paired_task_outcomes
from tunebench.history.typed import EvalRecordData, LmEvalDocument, LmEvalSection, LmEvalTask, given
from tunebench.report.formatting import (
    DASH,
    format_interval,
    format_percent,
    markdown_code,
    markdown_table,
    markdown_text,
)
from tunebench.report.views import EvalView
from tunebench.stats import mcnemar_exact, softmax_probability
from tunebench.table import format_table

__all__ = ["log_lines", "compare_rows", "format_task_comparison", "task_summaries", "TaskSection", "task_sections"]


def task_summaries(record: EvalRecordData | Mapping[str, object]) -> list[LmEvalTask]:
    """Return the record's lm-eval tasks, as recorded (empty for a run without any)."""
    return _tasks(lm_eval_of(record))


def _tasks(section: LmEvalSection | None) -> list[LmEvalTask]:
    return list(section.tasks) if section and section.tasks else []


def _accuracy_cell(task: LmEvalTask) -> tuple[str, str, str]:
    if task.status != "scored":
        return "unavailable", DASH, DASH
    accuracy = given(task.accuracy)
    if not accuracy:
        return format_percent(None), format_interval(None, None), "0/0"
    return (
        format_percent(given(accuracy.value)),
        format_interval(given(accuracy.low), given(accuracy.high)),
        f"{given(accuracy.k, 0)}/{given(accuracy.n, 0)}",
    )


def log_lines(runs: Iterable[EvalView]) -> list[str]:
    """The log's "lm-eval tasks" table: each run (as given, newest first) and task, accuracy and interval."""
    rows = []
    for run in runs:
        for task in task_summaries(run.run):
            value, interval, count = _accuracy_cell(task)
            cells = [markdown_text(run.model), markdown_code(run.run_id), markdown_text(given(task.name))]
            rows.append([*cells, value, interval, count, markdown_text(given(task.metric) or DASH)])
    if not rows:
        return []
    header = ["Model", "Run", "lm-eval task", "Accuracy", "95% Interval", "Documents", "Metric"]
    return ["", "### lm-eval Tasks (did it forget?)", "", *markdown_table(header, rows)]


def compare_rows(
    a: EvalRecordData | Mapping[str, object], b: EvalRecordData | Mapping[str, object]
) -> list[dict[str, Any]]:
    """Return one row per task either run scored: both accuracies (each task as recorded, JSON), the paired
    change and McNemar p."""
    return [{**row, "a": _plain(row["a"]), "b": _plain(row["b"])} for row in _compare(a, b)]


def _plain(task: LmEvalTask | None) -> dict[str, Any] | None:
    return None if task is None else task.to_dict()


def _compare(
    a: EvalRecordData | Mapping[str, object], b: EvalRecordData | Mapping[str, object]
) -> list[dict[str, Any]]:
    """`compare_rows` with each task typed (LmEvalTask)."""
    section_a, section_b = lm_eval_of(a), lm_eval_of(b)
    before = {t.name: t for t in _tasks(section_a)}
    after = {t.name: t for t in _tasks(section_b)}
    rows = []
    for name in sorted(before.keys() | after.keys()):
        row: dict[str, Any] = {"task": name, "a": before.get(name), "b": after.get(name)}
        same = _config(before.get(name)) == _config(after.get(name))
        if name in before and name in after and same:
            n, worse, better = paired_task_outcomes(section_b, section_a, name)
            row.update(paired=n, worse=worse, better=better, p=mcnemar_exact(worse, better) if n else None)
        rows.append(row)
    return rows


def _config(task: LmEvalTask | None) -> str | None:
    return None if task is None else given(task.config_sha256)


def format_task_comparison(a: EvalRecordData | Mapping[str, object], b: EvalRecordData | Mapping[str, object]) -> str:
    """Return `history compare`'s lm-eval table (B against A), or "" when neither run scored a task."""
    rows = []
    for row in _compare(a, b):
        before = _accuracy_cell(row["a"]) if row["a"] else (DASH, DASH, DASH)
        after = _accuracy_cell(row["b"]) if row["b"] else (DASH, DASH, DASH)
        if "paired" in row and row["paired"]:
            flips = f"{row['worse']} worse, {row['better']} better of {row['paired']}"
            p = f"{row['p']:.4g}"
        else:
            flips, p = "not paired (missing or another lm-eval config)", DASH
        rows.append([row["task"], f"{before[0]} {before[1]}", f"{after[0]} {after[1]}", flips, p])
    if not rows:
        return ""
    table = format_table(["lm-eval task", "A accuracy (95% CI)", "B accuracy (95% CI)", "documents", "McNemar p"], rows)
    return "lm-eval tasks:\n" + table


@dataclass(frozen=True)
class DocumentRow:
    """One document in the HTML report: its outcome and what the model answered."""

    doc_id: int
    correct: bool | None
    score: float | None
    target: str
    answer: str  # generate_until: the filtered generation; multiple choice: the chosen index
    p_right: float | None  # multiple choice: the probability of the right choice among the choices


@dataclass(frozen=True)
class TaskSection:
    """One lm-eval task's section of the HTML report."""

    name: str
    status: str
    reason: str
    output_type: str
    metric: str
    filter: str
    accuracy: str  # "75.0% [64.5%, 83.2%] (60/80)"
    documents: list[DocumentRow] = field(default_factory=list)


def task_sections(record: EvalRecordData) -> list[TaskSection]:
    """Return a section per lm-eval task of `record` (the template escapes every string)."""
    section = lm_eval_of(record)
    documents = section.documents if section and section.documents else []
    sections = []
    for task in _tasks(section):
        value, interval, count = _accuracy_cell(task)
        rows = [_document_row(d) for d in documents if d.task == task.name]
        sections.append(
            TaskSection(
                name=str(task.name),
                status=str(given(task.status, "")),
                reason=str(given(task.reason, "")),
                output_type=str(given(task.output_type, "")),
                metric=str(given(task.metric, "")),
                filter=str(given(task.filter, "")),
                accuracy=f"{value} {interval} ({count})" if task.status == "scored" else value,
                documents=rows,
            )
        )
    return sections


def _document_row(doc: LmEvalDocument) -> DocumentRow:
    scores, gold = given(doc.loglikelihoods), given(doc.gold)
    p_right = softmax_probability(scores, gold) if scores and isinstance(gold, int) and gold < len(scores) else None
    if scores:
        answer = str(max(range(len(scores)), key=lambda i: (scores[i], -i)))
    else:
        answer = str(given(doc.filtered_response) or "")
    target = str(given(doc.target, ""))
    return DocumentRow(doc.doc_id, given(doc.correct), given(doc.score), target, answer, p_right)
