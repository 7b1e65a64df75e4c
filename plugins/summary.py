"""How a finished run is reported: terminal section, one scrapeable line, GitHub step summary, JUnit XML."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tunebench.contamination import label
from tunebench.escaping import terminal_text
from tunebench.gate import NOTHING_TO_JUDGE, status_word
from tunebench.history.typed import Aggregates, EvalRecordData, given
from tunebench.report.formatting import format_grade, format_interval, format_percent, format_seconds
from tunebench.report.load_figures import load_table, milliseconds, throughput
from tunebench.table import fit_line, format_table
from tunebench_pytest.finish import RunOutcome
from tunebench_pytest.resources import describe

__all__ = ["one_line", "write_terminal", "write_github_summary", "add_junit_properties"]


def one_line(outcome: RunOutcome, run: EvalRecordData | None = None) -> str:
    """Return `tunebench: model M, accuracy 42.0% [32.7%, 51.8%] (42/100) ... gate PASS` for log scrapers (each
    figure as the log and `tunebench gate` write it: report/formatting). `run`: the record typed, where the
    caller has typed it already."""
    run = run if run is not None else EvalRecordData.from_dict(outcome.record)
    aggregates = run.aggregates
    parts = [f"model {run.model.name}"]
    accuracy = aggregates.accuracy
    if accuracy and accuracy.value is not None:
        interval = format_interval(accuracy.low, accuracy.high)
        parts.append(f"accuracy {format_percent(accuracy.value)} {interval} ({accuracy.k}/{accuracy.n})")
    if given(aggregates.quality) is not None:
        parts.append(f"quality {aggregates.quality:.2f} on a 1-5 scale")
    latency = given(aggregates.latency_s.p50) if aggregates.latency_s else None
    if latency is not None:
        parts.append(f"latency p50 {format_seconds(latency)}")
    if run.load:  # --concurrency N > 1: vLLM's serving figures at that load
        ttft = run.load.ttft_s.p50 if run.load.ttft_s else None
        parts.append(
            f"load at concurrency {run.load.concurrency}: TTFT p50 {milliseconds(ttft)}, "
            f"output token throughput {throughput(run.load.output_tokens_per_s)}"
        )
    memory = describe(run.resources or None)
    if memory:
        parts.append(memory)
    mark = label(given(run.model.training_data))
    if mark:
        parts.append(f"WARNING {mark}")
    selection = run.selection or {}
    shown = f" ({selection['selected']} of {selection['total']} selected)" if run.status == "subset" else ""
    parts.append(f"run {run.run_id} {run.status}{shown}")
    if run.baseline:
        parts.append(f"baseline {run.baseline['run_id']}")
    parts.append("not recorded" if outcome.location is None else "recorded")
    if outcome.verdict is None:
        gate = "gate off"
    elif outcome.verdict.status == NOTHING_TO_JUDGE:
        gate = f"gate: {NOTHING_TO_JUDGE} (no baseline, no floor)"
    elif outcome.verdict.failing:
        gate = "gate FAIL (" + "; ".join(check.rule for check in outcome.verdict.failed) + ")"
    else:
        gate = f"gate {status_word(outcome.verdict.status)}"
    return "tunebench: " + ", ".join(parts) + f"; {gate}"


def _breakdown(aggregates: Aggregates) -> str:
    latencies, qualities = aggregates.latency_by_domain_s or {}, aggregates.quality_by_domain or {}
    rows = []
    for group, proportions in (("domain", aggregates.by_domain), ("difficulty", aggregates.by_difficulty)):
        for name, acc in (proportions or {}).items():
            latency = given(latencies[name].p50) if group == "domain" and name in latencies else None
            quality = qualities.get(name) if group == "domain" else None
            rows.append(
                (
                    group,
                    name,
                    f"{acc.k}/{acc.n}",
                    format_percent(acc.value),
                    format_interval(acc.low, acc.high),
                    format_seconds(latency),
                    format_grade(quality),
                )
            )
    if not rows:
        return ""
    columns = ["group", "name", "correct", "accuracy", "95% interval", "latency p50", "quality (1-5)"]
    return format_table(columns, rows)


def write_terminal(reporter: Any, outcome: RunOutcome) -> None:
    """Write the tunebench section of the terminal summary; a record's text is shown, never obeyed (`_shown`)."""
    reporter.write_sep("=", "tunebench")
    run = EvalRecordData.from_dict(outcome.record)  # read once: the breakdown, the load table and the one-liner
    breakdown = _breakdown(run.aggregates)
    if breakdown:
        reporter.write_line(_shown(breakdown))
    load = run.load
    if load:
        reporter.write_line("")
        reporter.write_line(_shown(load_table(load)))
    if outcome.verdict is not None:
        reporter.write_line("")
        # wrapped as the tables are: "production model(s) A, B, C" can name many models
        reporter.write_line(_shown(fit_line(f"gate (baseline: {outcome.baseline_how or 'none'}):")))
        reporter.write_line(_shown(outcome.verdict.table(baseline_shown=True)))  # the line above says how
    for warning in outcome.warnings:
        reporter.write_line(_shown(fit_line(f"tunebench: warning: {warning}")), yellow=True)
    for error in outcome.errors:
        reporter.write_line(_shown(fit_line(f"tunebench: error: {error}")), red=True, bold=True)
    if outcome.location:
        reporter.write_line(_shown(f"tunebench: record written to {outcome.location}"))
    if outcome.log_path:
        reporter.write_line(_shown(f"tunebench: benchmark log rendered to {outcome.log_path}"))
    if outcome.report_path:
        reporter.write_line(_shown(f"tunebench: HTML report: file://{outcome.report_path}"))
    passed = outcome.verdict is None or not outcome.verdict.failing
    reporter.write_line(_shown(one_line(outcome, run)), green=passed and not outcome.errors, red=not passed, bold=True)


def _shown(text: str) -> str:
    """A model's name or a server's message can hold a CR or an escape sequence: shown as `\\r`, `\\x1b`."""
    return terminal_text(text, multiline=True)


def write_github_summary(outcome: RunOutcome) -> None:
    """Append the one-liner and the verdict table to `$GITHUB_STEP_SUMMARY` when it is set."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    from tunebench.escaping import markdown_code, markdown_text

    lines = ["## tunebench", "", markdown_code(one_line(outcome)), ""]
    if outcome.verdict is not None:
        lines += [outcome.verdict.markdown(), ""]
    lines += [f"- error: {markdown_text(error)}" for error in outcome.errors]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def add_junit_properties(config: pytest.Config, outcome: RunOutcome) -> None:
    """Add the run's results as <testsuite> properties when --junitxml is on (items carry their own)."""
    try:
        from _pytest.junitxml import xml_key  # the key record_testsuite_property uses; no public accessor
    except ImportError:
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    run = EvalRecordData.from_dict(outcome.record)
    aggregates = run.aggregates
    properties = {
        "tunebench.run_id": run.run_id,
        "tunebench.status": run.status,
        "tunebench.model": run.model.name,
        "tunebench.summary": one_line(outcome, run),
    }
    if aggregates.accuracy:
        for key in ("value", "low", "high", "k", "n"):
            properties[f"tunebench.accuracy.{key}"] = getattr(aggregates.accuracy, key)
    if run.load:  # --concurrency N > 1: the load phase's headline figures
        properties["tunebench.load.concurrency"] = run.load.concurrency
        properties["tunebench.load.output_tokens_per_s"] = run.load.output_tokens_per_s
    if run.resources:
        properties["tunebench.peak_memory_bytes"] = run.resources["peak_memory_bytes"]
        properties["tunebench.memory_measure"] = run.memory_measure
    if outcome.verdict is not None:
        properties["tunebench.gate"] = outcome.verdict.status  # pass, fail, nothing to judge or not comparable
        for check in outcome.verdict.failed:
            properties[f"tunebench.gate.failed.{check.rule}"] = check.detail or check.value
    for name, value in properties.items():
        xml.add_global_property(name, terminal_text(value) if isinstance(value, str) else value)
