"""The baseline search: which recorded run a run is compared with (`auto`, a model name, a record id, `none`).

`auto` is the newest complete run of a production model on the same suite files, served alike (engine,
concurrency, workers); a model name is the newest such run of that model; both only among runs finished by
the judged run's end, so the plugin, `tunebench gate` and `tunebench report` find the same one. The search
returns every candidate, newest first, so a caller can pass over one whose file turns out damaged
(`tunebench.gate.judge`). A run is never its own baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.eval_record import serving
from tunebench.history.records import parse_utc
from tunebench.history.store import ReadResult, is_future

__all__ = ["BaselineSearch", "search_baseline"]


@dataclass(frozen=True)
class BaselineSearch:
    """Every usable baseline for a spec, newest first, how they were looked for, and whether one was named."""

    candidates: list[dict[str, Any]]
    how: str
    explicit: bool = False  # a record id: no other run may stand in for it

    @property
    def record(self) -> dict[str, Any] | None:
        """The newest candidate, the one `judge_run` reads first (None: no baseline)."""
        return self.candidates[0] if self.candidates else None


def _suite_hashes(record: dict[str, Any]) -> set[str]:
    return {s["sha256"] for s in record.get("suites", []) if s.get("sha256")}


def _usable(candidate: dict[str, Any], current: dict[str, Any], now: datetime | None) -> bool:
    hashes = _suite_hashes(current)
    return (
        candidate.get("kind") == "eval"
        and candidate.get("status") == "complete"
        and candidate["run_id"] != current["run_id"]
        and not is_future(candidate, now)
        and bool(hashes)
        and hashes <= _suite_hashes(candidate)
        # Another engine or another concurrency is another measurement: auto never picks it.
        and serving(candidate) == serving(current)
    )


def _named_record(spec: str, history: ReadResult, now: datetime | None) -> dict[str, Any]:
    record = next(r for r in history.records if r["run_id"] == spec)
    if record.get("kind") != "eval":
        raise RecordError(f"baseline {spec}: that is a {record.get('kind')} record, not an eval run")
    if record.get("status") != "complete":
        raise RecordError(f"baseline {spec}: that run is {record.get('status')}; an incomplete run is never a baseline")
    if is_future(record, now):
        raise RecordError(f"baseline {spec}: that record is stamped in the future ({record['finished_at']})")
    return record


def search_baseline(
    spec: str,
    current: dict[str, Any],
    history: ReadResult,
    production: list[str],
    models: list[str],
    now: datetime | None = None,
    finished_by: datetime | None = None,
) -> BaselineSearch:
    """Return the baselines `spec` allows for `current`, newest first (see the module docstring).

    RecordError (bad input) for the judged run itself, an untrusted, incomplete, non-eval or future record id,
    or a spec that is none of auto, none, a model name or a record id."""
    if spec == current.get("run_id"):
        raise RecordError(f"baseline {spec}: that is the judged run itself; a run is never its own baseline")
    if spec == "none":
        return BaselineSearch([], "none requested")
    rejected = history.problem_for(spec)
    if rejected is not None and spec not in history.locations:
        raise RecordError(f"baseline {spec}: the record at {rejected.location} cannot be trusted: {rejected.reason}")
    if spec in history.locations:
        return BaselineSearch([_named_record(spec, history, now)], f"record {spec}", explicit=True)
    if spec == "auto" and not production:
        return BaselineSearch([], "none found (no model in the registry has status production)")
    if spec == "auto":
        names, how = set(production), f"newest complete run of production model(s) {', '.join(sorted(production))}"
    elif spec in models:
        names, how = {spec}, f"newest complete run of {spec}"
    else:
        raise RecordError(f"baseline {spec!r}: expected auto, none, a model name or a record id in the history")
    # Only eval runs are baselines: training, imported and note records share the history.
    evals = (r for r in history.records if r.get("kind") == "eval")
    candidates = [r for r in evals if r["model"]["name"] in names and _usable(r, current, now)]
    if finished_by is not None:
        candidates = [r for r in candidates if parse_utc(r["finished_at"]) <= finished_by]
    candidates.sort(key=lambda r: (parse_utc(r["finished_at"]), r["run_id"]), reverse=True)
    if not candidates:
        return BaselineSearch([], f"none found ({how} on the same suite files)")
    return BaselineSearch(candidates, f"{how} on the same suite files")
