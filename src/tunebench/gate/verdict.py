"""The verdict: every check of one run, its one status word, and how it is written (table, Markdown, JSON).

One vocabulary everywhere (terminal, JUnit, JSON, Markdown, the step summary, the HTML badge, the log):

    pass              every rule that applied passed, and something was judged
    fail              a rule failed (exit status 1)
    nothing to judge  no baseline and no floor or budget: the run was not judged (never a pass)
    not comparable    a baseline was there, but nothing could be compared with it: no question in
                      common, or latency measured under other serving conditions (engine, concurrency,
                      workers, hardware), and no floor or budget judged the run

`passed` is true only for "pass"; `failing` (a rule failed) is what sets the exit status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tunebench.escaping import markdown_prose, markdown_text  # the gate's Markdown escapes as the log does
from tunebench.history.record_parts import GateResult, given
from tunebench.table import fit_line, format_table

__all__ = [
    "Check",
    "Verdict",
    "markdown_text",
    "status_word",
    "recorded_status",
    "PASS",
    "FAIL",
    "NOTHING_TO_JUDGE",
    "NOT_COMPARABLE",
    "STATUSES",
    "POWER",
]

PASS, FAIL, NOTHING_TO_JUDGE, NOT_COMPARABLE = "pass", "fail", "nothing to judge", "not comparable"
STATUSES = (PASS, FAIL, NOTHING_TO_JUDGE, NOT_COMPARABLE)
POWER = 0.8  # the power at which a comparison states its smallest detectable drop
_WORDS = {PASS: "PASS", FAIL: "FAIL", NOTHING_TO_JUDGE: NOTHING_TO_JUDGE, NOT_COMPARABLE: NOT_COMPARABLE}


def status_word(status: str | None) -> str:
    """Return how a status is shown to a person: PASS, FAIL, nothing to judge, not comparable ("not gated": None)."""
    return "not gated" if status is None else _WORDS.get(status, status)


def recorded_status(gate: GateResult | Mapping[str, object] | None) -> str | None:
    """Return the status of a record's `gate`, typed or as stored (None: not gated); older records have only
    `passed`."""
    if not gate:
        return None
    verdict = gate if isinstance(gate, GateResult) else GateResult.from_dict(gate)
    return str(given(verdict.status) or (PASS if given(verdict.passed) else FAIL))


@dataclass
class Check:
    """One rule's outcome: what was measured, the limit, the baseline's value, pass or fail, and why.

    `comparable` False: the rule was not applied: nothing to pair, or the runs were measured under other conditions.
    `terse`: the detail for a text table printed under a line that says how the baseline was looked for, where
    `detail` would repeat that line ("" : the detail is shown); never stored (`Verdict.to_dict`)."""

    rule: str
    value: Any
    limit: Any
    passed: bool
    baseline: Any = None
    detail: str = ""
    comparable: bool = True
    terse: str = ""

    @property
    def result(self) -> str:
        """Return the check's status: pass, fail, nothing to judge or not comparable."""
        if not self.passed:
            return FAIL
        if not self.comparable:
            return NOT_COMPARABLE
        return NOTHING_TO_JUDGE if self.rule == NOTHING_TO_JUDGE else PASS


@dataclass
class Verdict:
    """All checks of one run and its status; only "pass" passes, only "fail" fails the exit status."""

    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detectable_drop: float | None = None  # smallest drop the accuracy comparison detects at POWER (None: no baseline)

    @property
    def failing(self) -> bool:
        """True when a rule failed: the exit status is 1."""
        return any(not check.passed for check in self.checks)

    @property
    def judged(self) -> bool:
        """True when some rule beyond "the run is complete" applied and was comparable."""
        return any(check.result in (PASS, FAIL) and check.rule != "run complete" for check in self.checks)

    @property
    def status(self) -> str:
        """Return "pass", "fail", "nothing to judge" or "not comparable" (see the module docstring)."""
        if self.failing:
            return FAIL
        if self.judged:
            return PASS
        if any(check.result == NOT_COMPARABLE for check in self.checks):
            return NOT_COMPARABLE
        return NOTHING_TO_JUDGE

    @property
    def passed(self) -> bool:
        """True only for "pass": nothing to judge and not comparable are not passes."""
        return self.status == PASS

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as stored in the record's `gate` field."""
        return {
            "passed": self.passed,
            "status": self.status,
            "checks": [_stored(check) for check in self.checks],
            "warnings": list(self.warnings),
            "detectable_drop": self.detectable_drop,
        }

    def table(self, baseline_shown: bool = False) -> str:
        """Return the verdict as a text table: rule, value, limit, baseline, result, detail.

        `baseline_shown`: the caller prints how the baseline was looked for just above the table, so a check's
        detail that would repeat it is written tersely (the JSON, JUnit and Markdown keep the whole detail)."""
        rows = [
            (c.rule, _show(c.value), _show(c.limit), _show(c.baseline), _cell(c.result), _detail(c, baseline_shown))
            for c in self.checks
        ]
        table = format_table(["rule", "value", "limit", "baseline", "result", "detail"], rows)
        return "\n".join([table, *(fit_line(f"warning: {warning}") for warning in self.warnings)])

    def markdown(self) -> str:
        """Return the verdict as a Markdown table (for $GITHUB_STEP_SUMMARY and pull-request comments)."""
        lines = ["| rule | value | limit | baseline | result | detail |", "| --- | --- | --- | --- | --- | --- |"]
        for c in self.checks:
            cells = [c.rule, _show(c.value), _show(c.limit), _show(c.baseline), c.detail]
            result = "**FAIL**" if c.result == FAIL else c.result
            escaped = [markdown_text(x) for x in cells[:4]]
            lines.append("| " + " | ".join([*escaped, result, markdown_prose(cells[4])]) + " |")
        lines += [f"\n> **warning:** {markdown_prose(warning)}" for warning in self.warnings]
        return "\n".join(lines)


def _stored(check: Check) -> dict[str, Any]:
    """The check as the record's `gate.checks` stores it: every field but `terse`."""
    return {name: value for name, value in asdict(check).items() if name != "terse"}


def _detail(check: Check, baseline_shown: bool) -> str:
    return check.terse if baseline_shown and check.terse else check.detail


def _cell(result: str) -> str:
    """A check's result in a table: pass, FAIL (loud: the one a reader looks for), nothing to judge, not comparable."""
    return "FAIL" if result == FAIL else result


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
