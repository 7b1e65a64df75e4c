"""The baseline search: which recorded run a run is compared with (`auto`, a model name, a record id, `none`).

`auto` is the newest complete run of a production model on the same suite files, served alike (engine,
concurrency, workers); a model name is the newest such run of that model; both only among runs finished by
the judged run's end, so the plugin, `tunebench gate` and `tunebench report` find the same one. The search
returns every candidate, newest first, so a caller can pass over one whose file turns out damaged
(`tunebench.gate.judge`). A run is never its own baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tunebench.errors import RecordError
from tunebench.gate.comparability import Serving, eval_summary, serving_of
from tunebench.history.records import parse_utc
from tunebench.history.store import ReadResult, is_future
from tunebench.history.typed import EvalRecordData, Record

__all__ = ["BaselineSearch", "search_baseline"]


@dataclass(frozen=True)
class BaselineSearch:
    """Every usable baseline for a spec, newest first, how they were looked for, and whether one was named.

    The candidates are the history's summaries as the store read them (`ReadResult.records`): the caller
    reads each one's record in full (`HistoryStore.get`) by its run id."""

    candidates: list[dict[str, Any]]
    how: str
    explicit: bool = False  # a record id: no other run may stand in for it

    @property
    def record(self) -> dict[str, Any] | None:
        """The newest candidate, the one `judge_run` reads first (None: no baseline)."""
        return self.candidates[0] if self.candidates else None


def _suite_hashes(run: EvalRecordData) -> set[str]:
    return {suite.sha256 for suite in run.suites or [] if suite.sha256}


def _usable(
    candidate: EvalRecordData, stored: dict[str, Any], current: EvalRecordData, here: Serving, now: datetime | None
) -> bool:
    hashes = _suite_hashes(current)
    return (
        candidate.status == "complete"
        and candidate.run_id != current.run_id
        and not is_future(stored, now)
        and bool(hashes)
        and hashes <= _suite_hashes(candidate)
        # Another engine or another concurrency is another measurement: auto never picks it.
        and serving_of(candidate).alike(here)
    )


def _named_record(spec: str, history: ReadResult, now: datetime | None) -> dict[str, Any]:
    record = next(r for r in history.records if r["run_id"] == spec)
    kind = Record.from_dict(record, partial=True).kind  # the header any record has
    if kind != "eval":
        raise RecordError(f"baseline {spec}: that is a {kind} record, not an eval run")
    run = eval_summary(record)
    if run.status != "complete":
        raise RecordError(f"baseline {spec}: that run is {run.status}; an incomplete run is never a baseline")
    if is_future(record, now):
        raise RecordError(f"baseline {spec}: that record is stamped in the future ({run.finished_at})")
    return record


def _of_models(summary: Mapping[str, Any], names: set[str]) -> bool:
    """True for an eval run of one of `names`, read off the stored summary before it is typed: typing every
    summary of a 10,000-run history takes about 1 s, the search's whole budget (benchmarks/test_bench_history.py),
    so only the shortlisted runs of the named models are."""
    return summary.get("kind") == "eval" and summary["model"]["name"] in names


def search_baseline(
    spec: str,
    current: EvalRecordData | Mapping[str, object],
    history: ReadResult,
    production: list[str],
    models: list[str],
    now: datetime | None = None,
    finished_by: datetime | None = None,
) -> BaselineSearch:
    """Return the baselines `spec` allows for `current`, newest first (see the module docstring).

    RecordError (bad input) for the judged run itself, an untrusted, incomplete, non-eval or future record id,
    or a spec that is none of auto, none, a model name or a record id."""
    run = eval_summary(current)
    if spec == run.run_id:
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
    shortlist = [(eval_summary(r), r) for r in history.records if _of_models(r, names)]
    here = serving_of(run)
    found = [(c, r) for c, r in shortlist if _usable(c, r, run, here, now)]
    if finished_by is not None:
        found = [(c, r) for c, r in found if parse_utc(c.finished_at) <= finished_by]
    found.sort(key=lambda pair: (parse_utc(pair[0].finished_at), pair[0].run_id), reverse=True)
    candidates = [r for _, r in found]
    if not candidates:
        return BaselineSearch([], f"none found ({how} on the same suite files)")
    return BaselineSearch(candidates, f"{how} on the same suite files")
