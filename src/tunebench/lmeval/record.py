"""The eval record's `lm_eval` section: each task (what ran, its accuracy with a 95% interval) and each document.

Items attach `kind="lm_eval_doc"` outcomes (`doc_outcome`) and, for a task that could not load,
`kind="lm_eval_task"` with status `unavailable`; `lm_eval_section` gathers them. A task's accuracy is
the share of its documents whose primary metric is 1 (acc, exact_match: right/wrong), with the Wilson
interval the benchmark uses; `mean` is the primary metric's mean for any metric.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tunebench.errors import RecordError
from tunebench.lmeval.score import DocOutcome
from tunebench.lmeval.tasks import LoadedTask
from tunebench.stats import mean, proportion

__all__ = [
    "DOC_KIND",
    "TASK_KIND",
    "doc_outcome",
    "check_doc_outcome",
    "lm_eval_section",
    "lm_eval_suites",
    "doc_key",
]

DOC_KIND = "lm_eval_doc"
TASK_KIND = "lm_eval_task"
_DOC_FIELDS = ("task", "doc_id", "score", "correct")


def doc_outcome(task: LoadedTask, outcome: DocOutcome) -> dict[str, Any]:
    """Return what a document's item records (JSON-serializable): its outcome and its task's description."""
    entry: dict[str, Any] = {
        "kind": DOC_KIND,
        "task": task.name,
        "task_info": task.info(),
        "doc_id": outcome.doc_id,
        "score": outcome.score,
        "correct": outcome.correct,
        "metrics": dict(outcome.metrics),
        "target": outcome.target,
    }
    if outcome.loglikelihoods is not None:
        entry["loglikelihoods"] = list(outcome.loglikelihoods)
        entry["gold"] = outcome.gold
    if outcome.response is not None:
        entry["response"] = outcome.response
        entry["filtered_response"] = outcome.filtered_response
    return entry


def check_doc_outcome(outcome: dict[str, Any]) -> None:
    """Raise RecordError unless an lm_eval_doc outcome has its contract fields with the right types."""
    missing = [key for key in _DOC_FIELDS if key not in outcome]
    if missing:
        raise RecordError(
            f"lm_eval_doc outcome: missing key(s) {', '.join(missing)}; found {', '.join(sorted(outcome))}"
        )
    if outcome["correct"] is not None and not isinstance(outcome["correct"], bool):
        raise RecordError(
            f"lm_eval_doc {outcome['task']}/{outcome['doc_id']}: key correct: expected true, false or null"
        )


def doc_key(entry: dict[str, Any]) -> tuple[str, int]:
    """The key two runs pair a document by: (task, doc id)."""
    return str(entry["task"]), int(entry["doc_id"])


def lm_eval_section(outcomes: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the record's `lm_eval` section from the items' outcomes, or None when no lm-eval task ran."""
    tasks: dict[str, dict[str, Any]] = {}
    documents: dict[tuple[str, int], dict[str, Any]] = {}
    for outcome in outcomes:
        if outcome.get("kind") == TASK_KIND:
            tasks.setdefault(outcome["task"], {"name": outcome["task"], "status": outcome.get("status", "unavailable")})
            tasks[outcome["task"]]["reason"] = outcome.get("reason", "")
        elif outcome.get("kind") == DOC_KIND:
            info = outcome.get("task_info") or {"name": outcome["task"]}
            tasks.setdefault(outcome["task"], {**info, "status": "scored"})
            entry = {k: v for k, v in outcome.items() if k not in ("kind", "task_info")}
            documents.setdefault(doc_key(entry), {**entry, "status": "answered"})
    if not tasks:
        return None
    for name, task in tasks.items():
        docs = [d for d in documents.values() if d["task"] == name]
        if task["status"] == "scored":
            task["accuracy"] = proportion(sum(1 for d in docs if d.get("correct") is True), len(docs))
            average = mean([d["score"] for d in docs if d.get("score") is not None])
            task["mean"] = None if average is None else round(average, 6)
    return {
        "tasks": [tasks[name] for name in sorted(tasks)],
        "documents": [documents[key] for key in sorted(documents)],
    }


def lm_eval_suites(section: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the record's `suites` entries of the scored tasks: named `lm-eval:TASK`, hashed by their config."""
    return [
        {"name": task["name"], "file": f"lm-eval:{task['name']}", "sha256": task["config_sha256"]}
        for task in section["tasks"]
        if task.get("status") == "scored" and task.get("config_sha256")
    ]
