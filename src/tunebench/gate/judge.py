"""`judge_run`: the one function that judges a run (baseline search, fallback, comparability, rules, verdict).

The pytest plugin (a run that just finished), `tunebench gate` and `tunebench report --baseline` (a recorded
run) all call it, so they cannot disagree: the same summaries are searched, the same candidates are read
in full newest first, one whose file cannot be read or trusted is passed over (named in a warning) for the
next, and the run is judged as when it finished (only baselines finished by then).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tunebench.errors import RecordError, TunebenchError
from tunebench.gate.baseline import search_baseline
from tunebench.gate.evaluate import eval_run, evaluate
from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import Verdict
from tunebench.history.records import parse_utc
from tunebench.history.store import HistoryStore, ReadResult
from tunebench.history.typed import EvalRecordData

if TYPE_CHECKING:
    from tunebench.config import Config

__all__ = ["Judgement", "judge_run", "judge_recorded", "rules_for"]


@dataclass(frozen=True)
class Judgement:
    """A judged run: the record, its baseline (read in full, or None) and how it was chosen, the verdict.

    `record` and `baseline` are as stored (what the plugin writes back and the report renders); `run` and
    `base` are the same records typed, each read once by `judge_run`."""

    record: dict[str, Any]
    baseline: dict[str, Any] | None
    how: str
    verdict: Verdict
    run: EvalRecordData  # `record` typed
    base: EvalRecordData | None  # `baseline` typed (None: no baseline)
    passed_over: list[str] = field(default_factory=list)  # baseline candidates that could not be read, and why

    def baseline_entry(self) -> dict[str, str] | None:
        """Return the record's `baseline` field: {run_id, model, how}, or None."""
        if self.base is None:
            return None
        return {"run_id": self.base.run_id, "model": self.base.model.name, "how": self.how}


def rules_for(gate: dict[str, Any], model: str, require_baseline: bool = False) -> GateRules:
    """Return `[tool.tunebench.gate]`'s rules for `model`; `require_baseline` (a command-line flag) on top."""
    rules = GateRules.from_config(gate, model)
    return replace(rules, require_baseline=True) if require_baseline else rules


def judge_run(
    record: dict[str, Any],
    store: HistoryStore,
    *,
    spec: str,
    rules: GateRules,
    production: list[str],
    models: list[str],
    history: ReadResult | None = None,
    now: datetime | None = None,
    run: EvalRecordData | None = None,
) -> Judgement:
    """Return the judgement of eval `record` against the baseline `spec` names in `store` (see the module).

    `history`: the store's summaries when the caller has read them already; `run`: `record` typed, when the
    caller has typed it already. RecordError (bad input) for a baseline spec that names the run itself, or a
    record id that cannot be used or read."""
    history = history if history is not None else store.read_summaries(now=now)
    run = run if run is not None else eval_run(record)  # read once: the search and the rules read it typed
    finished_by = parse_utc(run.finished_at)
    search = search_baseline(spec, run, history, production, models, now=now, finished_by=finished_by)
    baseline, passed_over = None, []
    for candidate in search.candidates:
        try:
            baseline = store.get(candidate["run_id"])
            break
        except TunebenchError as exc:
            if search.explicit:
                raise RecordError(f"baseline {spec}: the record cannot be read: {exc}") from exc
            passed_over.append(f"baseline candidate {candidate['run_id']} passed over: {exc}")
    how = search.how
    if passed_over:
        how += f"; {len(passed_over)} newer candidate(s) unreadable, passed over" if baseline else "; none readable"
    base = None if baseline is None else eval_run(baseline)  # read once: the rules and the report read it typed
    verdict = evaluate(run, rules, base, how)
    verdict.warnings.extend(passed_over)
    return Judgement(record, baseline, how, verdict, run, base, passed_over)


def judge_recorded(
    record: dict[str, Any],
    store: HistoryStore,
    *,
    spec: str,
    config: Config,
    history: ReadResult,
    require_baseline: bool = False,
    run: EvalRecordData | None = None,
) -> Judgement:
    """Return `judge_run` of a recorded run under `config`: its gate rules for the run's model, its registry's
    production models and model names (how `tunebench gate` and `tunebench report --baseline` judge).
    `run`: `record` typed, when the caller has typed it already."""
    from tunebench.registry import Registry

    entries = Registry(config).entries()
    run = run if run is not None else eval_run(record)
    return judge_run(
        record,
        store,
        spec=spec,
        rules=rules_for(config.gate, run.model.name, require_baseline),
        production=[e.name for e in entries if e.status == "production"],
        models=[e.name for e in entries],
        history=history,
        run=run,
    )
