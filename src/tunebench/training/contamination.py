"""Training data vs the evaluation suites: the check `train` runs and what it records.

`check_training_data` refuses examples that overlap a suite unless the run allows them on purpose
(`--allow-contamination`), and returns the record's `data.contamination`: which suite files were checked (by
hash), the status (`clean`, `overlapping`, `unchecked`) and the overlaps. `write_summary` puts the same summary
beside the adapter (`tunebench_training.json`), so it travels with the model; how an evaluation of that model
is marked is `tunebench.contamination`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunebench.contamination import SUMMARY_FILE
from tunebench.data import Example, find_contamination, load_suite_texts
from tunebench.errors import DataError
from tunebench.storage.checksums import file_sha256

__all__ = ["check_training_data", "write_summary"]

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


def write_summary(adapter_dir: Path, run_id: str, contamination: dict[str, Any]) -> None:
    """Write the run id and the contamination result beside the adapter (it travels with the model)."""
    summary = {"run_id": run_id, "contamination": contamination}
    (adapter_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _suite_of(where: str, files: Sequence[Path]) -> str | None:
    from tunebench.suites import suite_name

    file = where.rsplit(":", 1)[0]
    for path in files:
        if file in (str(path), path.name) or Path(file).resolve() == path.resolve():
            return suite_name(path)
    return None
