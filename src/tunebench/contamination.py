"""Contamination of an evaluation: the mark a result carries when its model's training data overlapped the suites.

An evaluation of a model tunebench trained reads the summary written beside its adapter (`read_summary`),
looks up the suites it ran (`eval_mark`, the eval record's `model.training_data`) and marks its results when
the training data overlapped them or was never checked against them (`label`); `describe` says in one line
what a training run's check found. Reports, the plugin and the CLI read it here, not from `training/`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["SUMMARY_FILE", "describe", "read_summary", "eval_mark", "label"]


SUMMARY_FILE = "tunebench_training.json"


def describe(contamination: Mapping[str, Any] | None) -> str:
    """One line for `train` and `history show`: what was checked and what was found."""
    if not contamination:
        return "not recorded (a record from before the check was kept)"
    status = contamination.get("status")
    if status is None:  # an older record: only the count
        checked = contamination.get("items_checked", 0)
        return f"{checked} suite item(s) checked" if checked else "not checked: no evaluation suite files found"
    names = ", ".join(s["name"] for s in contamination.get("checked", [])) or "none"
    if status == "unchecked":
        return "NOT CHECKED: no evaluation suite files found; evaluations of this model are marked unchecked"
    if status == "overlapping":
        return (
            f"{contamination['overlapping_examples']} training example(s) OVERLAP the suites ({names}); trained on "
            "them on purpose (--allow-contamination); evaluations on those suites are marked"
        )
    return f"clean: {contamination['items_checked']} item(s) of {names} checked, no overlap"


def read_summary(adapter: str | None) -> dict[str, Any] | None:
    """The training summary beside a local adapter, or None (no adapter, remote, or not trained by tunebench)."""
    if not adapter or "://" in adapter:
        return None
    path = Path(adapter) / SUMMARY_FILE
    try:
        summary: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return summary
    except (OSError, ValueError):
        return None


def eval_mark(adapter: str | None, suites: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The eval record's `model.training_data`: how the model's training data relates to the suites it ran.

    `status` is `overlapping` when the training data overlapped an evaluated suite, `unchecked` when an
    evaluated suite (by content hash) was never checked, else `clean`; None for a model tunebench did not train.
    """
    summary = read_summary(adapter)
    if summary is None:
        return None
    contamination = summary.get("contamination") or {}
    checked = {s["sha256"]: s["name"] for s in contamination.get("checked", [])}
    overlapped = {o.get("suite") for o in contamination.get("overlaps", [])}
    unchecked = [s["name"] for s in suites if _hex(s.get("sha256") or "") not in checked]
    overlapping = [s["name"] for s in suites if checked.get(_hex(s.get("sha256") or "")) in overlapped]
    status = "overlapping" if overlapping else "unchecked" if unchecked else "clean"
    return {
        "run_id": summary.get("run_id"),
        "status": status,
        "overlapping_suites": overlapping,
        "unchecked_suites": unchecked,
    }


def label(training_data: Mapping[str, Any] | None) -> str | None:
    """A short mark for a result of a model trained on overlapping or unchecked data; None when clean or unknown."""
    data = training_data or {}
    if data.get("status") == "overlapping":
        return "trained on data overlapping " + ", ".join(data["overlapping_suites"])
    if data.get("status") == "unchecked":
        return "training data not checked against " + ", ".join(data["unchecked_suites"])
    return None


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")
