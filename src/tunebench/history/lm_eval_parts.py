"""The eval record's `lm_eval` section typed: each lm-eval task and each document (each a `Part`).

The section is written by tunebench.lmeval.record (`lm_eval_section`) and read by the gate's per-task rules
(tunebench.gate.tasks) and the reports (tunebench.report.lm_eval_tasks) as attributes: `task.accuracy.low`,
`document.correct`, `given(document.gold)`. Each class names its schema's keys (eval_record.schema.json's
`lm_eval`, `$defs/lm_eval_task`, `$defs/lm_eval_document`, closed in every version), ABSENT where the object
lacks one; tests/test_typed_records.py checks them against the schema field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tunebench.history.json_object import ABSENT, Part
from tunebench.history.record_parts import Proportion

__all__ = ["LmEvalTask", "LmEvalDocument", "LmEvalSection"]


@dataclass(frozen=True, kw_only=True)
class LmEvalTask(Part):
    """One lm-eval task of the run: what ran (lm-eval's config, its hash) and its accuracy with a 95% interval."""

    SCHEMA: ClassVar[str] = "/$defs/lm_eval_task"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"accuracy": ("one", Proportion)}

    name: str
    status: str  # scored, or unavailable: it could not load here (`reason` says why)
    reason: str = ABSENT
    output_type: str = ABSENT  # multiple_choice or generate_until
    metric: str = ABSENT
    filter: str = ABSENT
    version: str | None = ABSENT
    config_sha256: str = ABSENT  # runs pair documents only under the same lm-eval config
    limit: int | None = ABSENT
    documents: int = ABSENT  # how many documents the task has in this run (after limit)
    accuracy: Proportion = ABSENT
    mean: float | None = ABSENT

    @property
    def scored(self) -> bool:
        """True when the task ran here (its documents were scored)."""
        return self.status == "scored"


@dataclass(frozen=True, kw_only=True)
class LmEvalDocument(Part):
    """One document's outcome: its primary metric (`score`, and `correct` where that is 0 or 1) and the answer."""

    SCHEMA: ClassVar[str] = "/$defs/lm_eval_document"

    task: str
    doc_id: int
    status: str  # answered
    score: float | None
    correct: bool | None
    metrics: dict[str, float] = ABSENT
    target: str = ABSENT
    loglikelihoods: list[float] = ABSENT  # multiple_choice: one per choice
    gold: int | None = ABSENT
    response: str = ABSENT  # generate_until: the greedy generation
    filtered_response: str | None = ABSENT  # generate_until: after the primary filter


@dataclass(frozen=True, kw_only=True)
class LmEvalSection(Part):
    """The eval record's `lm_eval`: its tasks and documents (the record lacks the key when no task ran)."""

    SCHEMA: ClassVar[str] = "/properties/lm_eval"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        "tasks": ("list", LmEvalTask),
        "documents": ("list", LmEvalDocument),
    }

    tasks: list[LmEvalTask]
    documents: list[LmEvalDocument]
