"""A history's records split by kind: imported sessions and rows, training and eval runs, notes by their run."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tunebench.report.views import EvalView, TrainingView

__all__ = ["History"]


@dataclass
class History:
    """The records of a history split by kind, notes grouped by the run they annotate."""

    sessions: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    trainings: list[TrainingView] = field(default_factory=list)
    evals: list[EvalView] = field(default_factory=list)
    subsets: list[EvalView] = field(default_factory=list)  # runs over part of their suites: no full results
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    latest_evals: dict[str, EvalView] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Iterable[dict[str, Any]]) -> History:
        """Split `records` (any order) into a History, each list oldest first."""
        history = cls()
        notes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in sorted(records, key=lambda r: (r.get("started_at", ""), r.get("run_id", ""))):
            kind = record.get("kind")
            if kind == "imported_session":
                history.sessions.append(record)
            elif kind == "imported_row":
                history.rows.append(record)
            elif kind == "training":
                history.trainings.append(TrainingView(record))
            elif kind == "eval":
                view = EvalView(record)
                (history.subsets if view.status == "subset" else history.evals).append(view)
            elif kind == "note":
                notes[record["target_run_id"]].append(record)
        history.notes = dict(notes)
        history.sessions = _newest_imports(history.sessions, lambda r: (r["session"],))
        history.rows = _newest_imports(history.rows, lambda r: (r["table"], r["label"]))
        # Oldest first, so the last complete run of each model wins.
        history.latest_evals = {e.model: e for e in history.evals if e.status == "complete"}
        return history

    def session_numbers(self) -> dict[str, int]:
        """Number sessions by run id: imported ones keep theirs; measured training runs follow, oldest first."""
        numbers = {s["run_id"]: s["session"] for s in self.sessions}
        following = max(numbers.values(), default=0)
        for training in self.trainings:
            following += 1
            numbers[training.run_id] = following
        return numbers

    def notes_for(self, run_id: str, section: str) -> list[str]:
        """Return the texts of the notes on `run_id` in `section`, oldest first."""
        return [n["text"] for n in self.notes.get(run_id, []) if n.get("section") == section]

    def rows_of(self, table: str) -> list[dict[str, Any]]:
        """Return the imported rows of one summary table, as written: newest import first, then by position."""
        rows = [r for r in self.rows if r["table"] == table]
        # Not by started_at: a row is dated by its session (history.log_parser), not by its import.
        return sorted(
            rows, key=lambda r: (_negated(r["imported_from"].get("imported_at", "")), r["position"], r["run_id"])
        )

    def latest_eval_of(self, model: str) -> EvalView | None:
        """Return the newest complete eval run of `model`, or None."""
        return self.latest_evals.get(model)


def _newest_imports(
    records: list[dict[str, Any]], key: Callable[[dict[str, Any]], tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """Keep, per imported file and `key`, the newest import: re-importing an edited session corrects it."""
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in records:
        slot = (record["imported_from"]["file"], *key(record))
        stamp = (record["imported_from"].get("imported_at", ""), record["run_id"])
        kept = newest.get(slot)
        if kept is None or stamp > (kept["imported_from"].get("imported_at", ""), kept["run_id"]):
            newest[slot] = record
    kept_ids = {id(r) for r in newest.values()}
    return [r for r in records if id(r) in kept_ids]


def _negated(text: str) -> tuple[int, ...]:
    """Sort key that orders ISO timestamps newest first."""
    return tuple(-ord(c) for c in text)
