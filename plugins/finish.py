"""Session finish on the controller: build the EvalRecord, pick the baseline, gate, write, render the log."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tunebench.contamination import eval_mark
from tunebench.errors import TunebenchError
from tunebench.gate import Verdict, evaluate, judge_run, rules_for
from tunebench.history.eval_record import build_eval_record, model_record
from tunebench.history.records import utc_now, validate
from tunebench.history.store import keep_unwritten, open_store
from tunebench.provenance import collect
from tunebench.registry import Registry
from tunebench_pytest.collect import RunCollector, deselected
from tunebench_pytest.options import Settings
from tunebench_pytest.resources import combine

__all__ = ["RunOutcome", "finish_run"]


@dataclass
class RunOutcome:
    """What the session finish did: the record, the verdict, where it was written, and what went wrong."""

    record: dict[str, Any]
    verdict: Verdict | None = None
    location: str | None = None
    log_path: str | None = None
    report_path: str | None = None  # this run's HTML page (beside the log, linked from it)
    baseline_record: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    baseline_how: str = ""


def finish_run(
    session: pytest.Session, collector: RunCollector, settings: Settings, started_at: str
) -> RunOutcome | None:
    """Build, gate, write and render this run's record; None when no item recorded an outcome."""
    items = collector.results()
    recorded = ("question", "probe", "lm_eval_doc", "lm_eval_task")
    if not any(o.get("kind") in recorded for item in items for o in item.outcomes):
        return None
    interrupted = session.exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR)
    record = build_eval_record(
        model=collector.model or _registry_model(settings),
        items=items,
        started_at=started_at,
        finished_at=utc_now(),
        provenance=_provenance(session.config),
        expected=len(collector.expected),
        interrupted=interrupted,
        # Processes that ran items at once: probe latency under `-n 2` is another measurement than serial.
        workers=max(1, len(collector.resources)) if session.config.pluginmanager.hasplugin("dsession") else 1,
        notes=collector.notes,
        root=session.config.rootpath,
        # -k, node ids: what was deselected still counts in the selection's total (the workers' under xdist)
        deselected=collector.deselected if collector.deselected is not None else deselected(session.config),
    )
    # A model tunebench trained carries its contamination check beside the adapter: mark overlapping/unchecked.
    training_data = eval_mark(record["model"].get("adapter"), record["suites"])
    if training_data is not None:
        record["model"]["training_data"] = training_data
    measured = combine(collector.resources)
    if measured is not None:
        record["resources"] = measured
    outcome = RunOutcome(record)
    store = open_store(settings.history) if (settings.record or settings.gate) else None
    if settings.gate:
        try:
            _gate(outcome, settings, store, bool(session.config.getoption("tunebench_require_baseline", None)))
        except Exception as exc:  # noqa: BLE001 - whatever the history holds, this run's record is still written
            outcome.errors.append(f"the gate could not judge this run ({type(exc).__name__}: {exc}); recorded unjudged")
    try:
        validate(record, where=f"record {record['run_id']}")
    except TunebenchError as exc:
        outcome.errors.append(f"the record is invalid and was not written: {exc}")
        return outcome
    if settings.record:
        _write(outcome, settings, store)
    return outcome


def _provenance(config: pytest.Config) -> dict[str, Any]:
    return collect(command=["pytest", *config.invocation_params.args], root=config.rootpath)


def _registry_model(settings: Settings) -> dict[str, Any]:
    # --model may name a folder, a hub id or a served model rather than a registry entry.
    entry = settings.entry or Registry(settings.config).get(settings.model)
    return model_record(entry)


def _gate(outcome: RunOutcome, settings: Settings, store, require_baseline: bool = False) -> None:
    """Judge the run with `tunebench.gate.judge_run` (the one judge `tunebench gate` and `report` use too)."""
    record = outcome.record
    rules = rules_for(settings.config.gate, settings.model, require_baseline)
    try:
        history = store.read_summaries()  # the search needs no question lists; judge_run reads the chosen one
    except TunebenchError as exc:
        outcome.errors.append(f"cannot read the history {settings.history} for a baseline: {exc}")
        history = None
    judgement = None
    if history is not None:
        outcome.warnings.extend(f"history record skipped: {problem}" for problem in history.problems)
        outcome.warnings.extend(f"history record flagged: {problem}" for problem in history.flagged)
        try:
            judgement = judge_run(
                record,
                store,
                spec=settings.baseline,
                rules=rules,
                production=list(settings.production),
                models=list(settings.models),
                history=history,
            )
        except TunebenchError as exc:
            outcome.errors.append(f"--baseline: {exc}")
    if judgement is None:
        outcome.verdict = evaluate(record, rules, None, "")
    else:
        outcome.verdict, outcome.baseline_how = judgement.verdict, judgement.how
        outcome.baseline_record = judgement.baseline
        if judgement.baseline is not None:
            record["baseline"] = judgement.baseline_entry()
    record["gate"] = outcome.verdict.to_dict()


def _write(outcome: RunOutcome, settings: Settings, store) -> None:
    try:
        outcome.location = store.write(outcome.record)
    except Exception as exc:  # noqa: BLE001 - any failure: the record goes to the fallback file, never lost
        what = str(exc) if isinstance(exc, TunebenchError) else f"{type(exc).__name__}: {exc}"
        outcome.errors.append(f"the record was NOT written: {what}")
        _keep_unwritten(outcome, settings)
        return
    _render_log(outcome, settings)


def _write_report(outcome: RunOutcome, settings: Settings) -> None:
    """Write this run's HTML page beside the log (compared with the gate's baseline when there was one)."""
    from tunebench.report.html import report_path, write_report

    target = report_path(settings.config.log, outcome.record["run_id"])
    try:
        path = write_report(outcome.record, target, baseline=outcome.baseline_record, root=settings.config.root)
    except Exception as exc:  # noqa: BLE001 - the record is written; a render bug must not hide that
        outcome.warnings.append(f"the HTML report was not written: {type(exc).__name__}: {exc}")
        return
    outcome.report_path = str(path)


def _keep_unwritten(outcome: RunOutcome, settings: Settings) -> None:
    """The history refused the record: keep it in a local file (project first, else the temp folder)."""
    root = settings.config.root
    for folder in (root / ".tunebench" / "unwritten", Path(tempfile.gettempdir()) / "tunebench-unwritten"):
        try:
            path = keep_unwritten(outcome.record, folder)
        except (OSError, TunebenchError):
            continue
        outcome.errors.append(
            f"the record is kept in {path}; copy it into {settings.history}/runs/{path.name[:4]}/ "
            "once the history can be written"
        )
        return
    outcome.errors.append("the record could not be kept in a fallback file either: it is lost")


def _render_log(outcome: RunOutcome, settings: Settings) -> None:
    _write_report(outcome, settings)  # first: the log links the pages it finds beside it
    try:
        from tunebench.report.publishing import render_log_file
    except ImportError:
        return  # the log renderer is optional: the record is the source of truth
    if settings.history != settings.config.history_uri:
        if settings.history.startswith("gs://"):
            _publish_remote_log(outcome, settings)
            return
        # The configured log shows the configured history; a run recorded elsewhere must not overwrite it.
        outcome.warnings.append(
            f"the benchmark log {settings.config.log} was not rendered: --history "
            f"{settings.history} is not the configured history {settings.config.history_uri}"
        )
        return
    try:
        outcome.log_path = str(render_log_file(settings.config))
    except Exception as exc:  # noqa: BLE001 - the record is written; a render bug must not hide that
        outcome.warnings.append(f"the benchmark log was not rendered: {type(exc).__name__}: {exc}")


def _publish_remote_log(outcome: RunOutcome, settings: Settings) -> None:
    """`--history gs://...`: the shared log beside that history is replaced; the local log is left alone."""
    from tunebench.report.publishing import publish_remote_log

    try:
        outcome.log_path = publish_remote_log(replace(settings.config, history=settings.history))[0]
    except Exception as exc:  # noqa: BLE001 - the record is written; a render bug must not hide that
        outcome.warnings.append(f"the shared benchmark log was not published: {type(exc).__name__}: {exc}")
