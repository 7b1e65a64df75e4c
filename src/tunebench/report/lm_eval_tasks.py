"""lm-eval tasks in the reports: per-task accuracy with its 95% interval, in the log and in `history compare`.

Reads the record's `lm_eval` section (tunebench.lmeval.record). Every string from a record goes through
the Markdown escaper of `report.formatting`; the comparison pairs documents the way the gate does
(tunebench.gate.tasks): by (task, doc id), under the same lm-eval config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tunebench.gate.tasks import paired_task_outcomes
from tunebench.report.formatting import (
    DASH,
    format_interval,
    format_percent,
    markdown_code,
    markdown_table,
    markdown_text,
)
from tunebench.stats import mcnemar_exact, softmax_probability
from tunebench.table import format_table

__all__ = ["log_lines", "compare_rows", "format_task_comparison", "task_summaries", "TaskSection", "task_sections"]


def task_summaries(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the record's lm-eval tasks, as recorded (empty for a run without any)."""
    return list((record.get("lm_eval") or {}).get("tasks", []))


def _accuracy_cell(task: dict[str, Any]) -> tuple[str, str, str]:
    if task.get("status") != "scored":
        return "unavailable", DASH, DASH
    accuracy = task.get("accuracy") or {}
    return (
        format_percent(accuracy.get("value")),
        format_interval(accuracy.get("low"), accuracy.get("high")),
        f"{accuracy.get('k', 0)}/{accuracy.get('n', 0)}",
    )


def log_lines(runs: Iterable[Any]) -> list[str]:
    """The log's "lm-eval tasks" table: each run (as given, newest first) and task, accuracy and interval."""
    rows = []
    for run in runs:
        for task in task_summaries(run.record):
            value, interval, count = _accuracy_cell(task)
            cells = [markdown_text(run.model), markdown_code(run.run_id), markdown_text(task.get("name"))]
            rows.append([*cells, value, interval, count, markdown_text(task.get("metric") or DASH)])
    if not rows:
        return []
    header = ["Model", "Run", "lm-eval task", "Accuracy", "95% Interval", "Documents", "Metric"]
    return ["", "### lm-eval Tasks (did it forget?)", "", *markdown_table(header, rows)]


def compare_rows(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per task either run scored: both accuracies, the paired change and McNemar p."""
    before = {t["name"]: t for t in task_summaries(a)}
    after = {t["name"]: t for t in task_summaries(b)}
    rows = []
    for name in sorted(before.keys() | after.keys()):
        row: dict[str, Any] = {"task": name, "a": before.get(name), "b": after.get(name)}
        same = before.get(name, {}).get("config_sha256") == after.get(name, {}).get("config_sha256")
        if name in before and name in after and same:
            n, worse, better = paired_task_outcomes(b, a, name)
            row.update(paired=n, worse=worse, better=better, p=mcnemar_exact(worse, better) if n else None)
        rows.append(row)
    return rows


def format_task_comparison(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Return `history compare`'s lm-eval table (B against A), or "" when neither run scored a task."""
    rows = []
    for row in compare_rows(a, b):
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


def task_sections(record: dict[str, Any]) -> list[TaskSection]:
    """Return a section per lm-eval task of `record` (the template escapes every string)."""
    documents = (record.get("lm_eval") or {}).get("documents", [])
    sections = []
    for task in task_summaries(record):
        value, interval, count = _accuracy_cell(task)
        rows = [_document_row(d) for d in documents if d["task"] == task["name"]]
        sections.append(
            TaskSection(
                name=str(task["name"]),
                status=str(task.get("status", "")),
                reason=str(task.get("reason", "")),
                output_type=str(task.get("output_type", "")),
                metric=str(task.get("metric", "")),
                filter=str(task.get("filter", "")),
                accuracy=f"{value} {interval} ({count})" if task.get("status") == "scored" else value,
                documents=rows,
            )
        )
    return sections


def _document_row(doc: dict[str, Any]) -> DocumentRow:
    scores, gold = doc.get("loglikelihoods"), doc.get("gold")
    p_right = softmax_probability(scores, gold) if scores and isinstance(gold, int) and gold < len(scores) else None
    if scores:
        answer = str(max(range(len(scores)), key=lambda i: (scores[i], -i)))
    else:
        answer = str(doc.get("filtered_response") or "")
    return DocumentRow(doc["doc_id"], doc.get("correct"), doc.get("score"), str(doc.get("target", "")), answer, p_right)
