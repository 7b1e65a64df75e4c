"""`tunebench gate RUN|latest`: judge a recorded run from the history (local or gs://) without loading a model.

The same rules (`[tool.tunebench.gate]`), baseline choice and verdict table as the pytest plugin: the run is
judged as it would have been when it finished (an `auto` or model baseline is the newest usable run before
it), by the same `tunebench.gate.judge_run` the plugin calls. Exit status 0 pass (or nothing to judge, not
comparable: the status says which; JSON `passed` is true only for pass), 1 fail, 2 bad input (a run given as
its own baseline, among others). `--format markdown` is written for a
pull-request comment or `$GITHUB_STEP_SUMMARY`: verdict, per-domain table, flipped questions.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Container
from dataclasses import dataclass, fields
from typing import Any

from tunebench.errors import RecordError
from tunebench.escaping import markdown_prose, markdown_text, terminal_text
from tunebench.gate import Judgement, status_word
from tunebench.gate.comparability import eval_summary
from tunebench.gate.evaluate import eval_run
from tunebench.history.typed import EvalRecordData, Record, given
from tunebench.table import fit_line
from tunebench.units import format_interval, format_percent

__all__ = ["register", "run_gate", "GateReport", "judge"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `gate`."""
    parser = subparsers.add_parser(
        "gate",
        help="judge a recorded eval run against the gate rules (no model is loaded)",
        description="Judge a recorded eval run with [tool.tunebench.gate]'s rules against a baseline from the "
        "history. Exit status 0: pass (or nothing to judge, not comparable), 1: fail, 2: bad input.",
    )
    parser.add_argument("run", metavar="RUN", help="run id (or a unique prefix), or latest (the newest eval run)")
    parser.add_argument("--model", help="with latest: the newest run of this model; with a run id: check it is")
    parser.add_argument(
        "--baseline",
        metavar="WHICH",
        help="auto (newest complete run of a production model on the same suite files before RUN), none, a model "
        "name, or a record id (default: the baseline RUN was judged against when it finished, where the history "
        "holds it; else [tool.tunebench] baseline)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format")
    parser.add_argument(
        "--require-baseline",
        action="store_true",
        help="fail when no baseline is found (default: [tool.tunebench.gate] require_baseline)",
    )
    parser.add_argument("--history", metavar="URI", help="history location: a folder or gs://bucket/prefix")
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) on a corrupt or invalid history record")
    parser.set_defaults(func=run_gate)


@dataclass(frozen=True)
class GateReport(Judgement):
    """A judged run (`tunebench.gate.Judgement`) and how `tunebench gate` writes it: text, Markdown, JSON."""

    @property
    def exit_status(self) -> int:
        return 1 if self.verdict.failing else 0

    def headline(self) -> str:
        """Return `tunebench gate: PASS|FAIL (rules)|nothing to judge|not comparable: model M, run R`."""
        verdict = self.verdict
        word = status_word(verdict.status)
        if verdict.failing:
            word += " (" + "; ".join(check.rule for check in verdict.failed) + ")"
        return f"tunebench gate: {word}: model {self.run.model.name}, run {self.run.run_id}"

    def text(self) -> str:
        """Return the verdict for the terminal."""
        lines = [fit_line(f"run: {_run_line(self.run)}"), fit_line(f"baseline: {self._baseline_line()}")]
        power = [fit_line(line) for line in self._power_lines()]  # prose wrapped as the table beside it fits
        return "\n".join([*lines, "", self.verdict.table(baseline_shown=True), *power])

    def markdown(self) -> str:
        """Return the verdict as Markdown for a pull-request comment: escaped, tables, flips folded away."""
        md = markdown_text
        icon = {"pass": "✅", "fail": "❌"}.get(self.verdict.status, "⚠️")
        lines = [
            f"## {icon} tunebench gate: {status_word(self.verdict.status)} — model {md(self.run.model.name)}",
            "",
            f"- run: {md(_run_line(self.run))}",
            f"- baseline: {md(self._baseline_line())}",
            *(f"- {markdown_prose(line)}" for line in self._power_lines()),
            "",
            self.verdict.markdown(),
        ]
        return "\n".join(lines + self._comparison_markdown()) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "run_id": self.run.run_id,
            "model": self.run.model.name,
            "baseline": None if self.base is None else {"run_id": self.base.run_id, "model": self.base.model.name},
            "baseline_how": self.how,
            "status": self.verdict.status,
            "passed": self.verdict.passed,
            "exit_status": self.exit_status,
            "verdict": self.verdict.to_dict(),
        }

    def _baseline_line(self) -> str:
        if self.base is None:
            return self.how or "none"
        return f"{self.base.run_id} (model {self.base.model.name}; {self.how})"

    def _power_lines(self) -> list[str]:
        drop = self.verdict.detectable_drop
        if self.base is None:
            return []
        if drop is None:
            return ["power: no drop is detectable at 80% power on these paired questions"]
        return [f"power: the smallest drop this comparison detects at 80% power is {100 * drop:.1f} points"]

    def _comparison_markdown(self) -> list[str]:
        from tunebench.report.compare import compare_runs

        md = markdown_text

        if self.baseline is None:
            return _domains_alone(self.run)
        comparison = compare_runs(self.baseline, self.record)  # report.compare reads the records as stored
        lines = [
            "",
            "### Per-domain accuracy",
            "",
            "| domain | baseline | this run | change |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {md(d.name)} | {_pct(d.a)} | {_pct(d.b)} | {_points(d.delta)} |" for d in comparison.domains]
        flips = [("right → wrong", comparison.right_to_wrong), ("wrong → right", comparison.wrong_to_right)]
        lines += ["", f"### Flipped questions ({', '.join(f'{len(f)} {t}' for t, f in flips)})"]
        for title, found in flips:
            if not found:
                continue
            lines += ["", f"<details><summary>{len(found)} {title}</summary>", ""]
            lines += ["| question | domain | difficulty | answer | baseline chose | this run chose |"]
            lines += ["| --- | --- | --- | --- | --- | --- |"]
            lines += [
                "| " + " | ".join(md(x if x is not None else "—") for x in row) + " |"
                for row in ((f.id, f.domain, f.difficulty, f.answer, f.chosen_a, f.chosen_b) for f in found)
            ]
            lines += ["", "</details>"]
        return lines


def _domains_alone(run: EvalRecordData) -> list[str]:
    md = markdown_text
    by_domain = run.aggregates.by_domain or {}
    if not by_domain:
        return []
    lines = ["", "### Per-domain accuracy", "", "| domain | accuracy | right |", "| --- | --- | --- |"]
    return lines + [f"| {md(d)} | {_pct(p.value)} | {p.k}/{p.n} |" for d, p in sorted(by_domain.items())]


def _pct(value: float | None) -> str:
    return format_percent(value)  # as every proportion is written


def _points(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:+.1f} points"


def _run_line(run: EvalRecordData) -> str:
    accuracy = given(run.aggregates.accuracy)
    figure = ""
    if accuracy and given(accuracy.value) is not None:
        interval = format_interval(accuracy.low, accuracy.high)
        figure = f", accuracy {_pct(accuracy.value)} {interval} ({accuracy.k}/{accuracy.n})"
    return f"{run.run_id} ({run.status}, finished {run.finished_at}{figure})"


def _pick_run(reference: str, model: str | None, records: list[dict[str, Any]]) -> str:
    """Return the run id of the eval run `reference` names among the history's summaries."""
    from tunebench.history.reference import resolve_run

    summary = resolve_run(reference, records, model=model)
    header = Record.from_dict(summary, partial=True)  # any kind's header: run id and kind
    if header.kind != "eval":
        raise RecordError(f"run {header.run_id} is a {given(header.kind)} record: only eval runs are gated")
    name = eval_summary(summary).model.name
    if model is not None and name != model:
        raise RecordError(f"run {header.run_id} is a run of {name!r}, not of {model!r}")
    return header.run_id


def judge(
    reference: str,
    *,
    model: str | None = None,
    baseline: str | None = None,
    require_baseline: bool = False,
    history: str | None = None,
    strict: bool = False,
    warn: Callable[[str], None] | None = None,
) -> GateReport:
    """Return the gate's report on the run `reference` names, judged against the history at `history`."""
    from tunebench.config import load_config
    from tunebench.gate import judge_recorded
    from tunebench.history.store import open_store

    config = load_config()
    store = open_store(config.history_at(history))
    result = store.read_summaries(strict=strict)
    for problem in result.problems:
        (warn or _warn)(f"history record skipped: {problem}")
    record = store.get(_pick_run(reference, model, result.records))
    run = eval_run(record)  # read once: the recorded baseline, the rules, the search and the report read it typed
    judgement = judge_recorded(
        record,
        store,
        spec=baseline or _recorded_baseline(run, result.locations) or config.baseline,
        config=config,
        history=result,
        require_baseline=require_baseline,
        run=run,
    )
    return GateReport(**{part.name: getattr(judgement, part.name) for part in fields(judgement)})


def _recorded_baseline(run: EvalRecordData, held: Container[str]) -> str | None:
    """Return the run id of the baseline `run` was judged against when it finished, where the history still
    holds it: `pytest eval_suites --baseline tiny` then `tunebench gate latest` repeat one verdict, not two."""
    recorded = run.baseline
    return recorded.run_id if recorded and recorded.run_id in held else None


def _warn(message: str) -> None:
    print(f"tunebench: warning: {message}", file=sys.stderr)


def run_gate(args: argparse.Namespace) -> int:
    """Print the verdict in the chosen format; return 0 pass, 1 fail."""
    report = judge(
        args.run,
        model=args.model,
        baseline=args.baseline,
        require_baseline=args.require_baseline,
        history=args.history,
        strict=args.strict,
    )
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    elif args.format == "markdown":
        print(report.markdown(), end="")
    else:
        # A served model's id can hold a CR or an escape sequence: shown, never obeyed (no "PASS" over "FAIL").
        print(terminal_text(report.text(), multiline=True))
        print(terminal_text(report.headline()))
    return report.exit_status
