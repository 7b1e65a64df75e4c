"""Training data vs the evaluation suites: the check `train` runs, what it records, and how evaluations show it.

`check_training_data` refuses examples that overlap a suite unless the run allows them on purpose
(`--allow-contamination`), and returns the record's `data.contamination`: which suite files were checked (by
hash), the status (`clean`, `overlapping`, `unchecked`) and the overlaps. The same summary is written beside
the adapter (`tunebench_training.json`), so it travels with the model; an evaluation of that model looks up
the suites it ran (`eval_mark`) and marks its results when the training data overlapped them or was never
checked against them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunebench.data import Example, find_contamination, load_suite_texts
from tunebench.errors import DataError
from tunebench.storage.checksums import file_sha256

__all__ = ["check_training_data", "describe", "write_summary", "read_summary", "eval_mark", "label", "SUMMARY_FILE"]

SUMMARY_FILE = "tunebench_training.json"
_SHOWN = 100  # overlaps kept in the record; the count is always exact


def check_training_data(examples: Sequence[Example], suite_paths: Sequence[Path], allow: bool) -> dict[str, Any]:
    """Check `examples` against the suite files; raise DataError on an overlap unless `allow`."""
    from tunebench.data import check_contamination
    from tunebench.suites import suite_name

    existing = [Path(p) for p in suite_paths if Path(p).is_file()]
    if allow:
        suite = load_suite_texts(existing)
        overlaps = find_contamination(examples, suite)
        items = len(suite)
    else:
        try:
            items = check_contamination(examples, existing)
        except DataError as exc:
            raise DataError(
                f"{exc}\nTo train on them on purpose, pass --allow-contamination: the run records it and every "
                "evaluation of the model is marked."
            ) from None
        overlaps = []
    status = "unchecked" if not items else "overlapping" if overlaps else "clean"
    return {
        "suites": [str(p) for p in existing],
        "checked": [{"name": suite_name(p), "file": str(p), "sha256": file_sha256(p)} for p in existing],
        "items_checked": items,
        "status": status,
        "allowed": allow,
        "overlapping_examples": len({o.example_id for o in overlaps}),
        "overlaps": [
            {
                "example": o.example_id,
                "suite_item": o.suite_id,
                "suite": _suite_of(o.suite_where, existing),
                "how": o.how,
            }
            for o in overlaps[:_SHOWN]
        ],
    }


def describe(contamination: dict[str, Any] | None) -> str:
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


def write_summary(adapter_dir: Path, run_id: str, contamination: dict[str, Any]) -> None:
    """Write the run id and the contamination result beside the adapter (it travels with the model)."""
    summary = {"run_id": run_id, "contamination": contamination}
    (adapter_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_summary(adapter: str | None) -> dict[str, Any] | None:
    """The training summary beside a local adapter, or None (no adapter, remote, or not trained by tunebench)."""
    if not adapter or "://" in adapter:
        return None
    path = Path(adapter) / SUMMARY_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
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


def label(training_data: dict[str, Any] | None) -> str | None:
    """A short mark for a result of a model trained on overlapping or unchecked data; None when clean or unknown."""
    status = (training_data or {}).get("status")
    if status == "overlapping":
        return "trained on data overlapping " + ", ".join(training_data["overlapping_suites"])
    if status == "unchecked":
        return "training data not checked against " + ", ".join(training_data["unchecked_suites"])
    return None


def _hex(digest: str) -> str:
    return digest.removeprefix("sha256:")


def _suite_of(where: str, files: Sequence[Path]) -> str | None:
    from tunebench.suites import suite_name

    file = where.rsplit(":", 1)[0]
    for path in files:
        if file in (str(path), path.name) or Path(file).resolve() == path.resolve():
            return suite_name(path)
    return None
