"""How a run shows in pytest's own reporting: wrong answers as their own status, the gate as a test case.

A wrong answer is an outcome, not a failure: its item passes, and `pytest_report_teststatus` files it
under `wrong` (`WRONG` with -v, "75 wrong, 35 passed" in the last line). The gate judges the run after
the last item; its verdict joins the last line ("1 gate failed (rule, ...)") and the JUnit XML as the
test case `tunebench::gate`, failing with the rule table when the gate fails, so dashboards that read
only counts see it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunebench.gate import Verdict
from tunebench_pytest.fixtures import RECORD_KEY

__all__ = ["WRONG", "answer_status", "gate_category", "add_gate_to_terminal", "add_gate_to_junit", "GATE_NODEID"]

WRONG = ("wrong", "w", ("WRONG", {"yellow": True}))
GATE_NODEID = "tunebench::gate"


def answer_status(report: pytest.TestReport) -> tuple[str, str, Any] | None:
    """Return pytest's (category, letter, word) for a passed item that recorded a wrong answer, else None."""
    if report.when != "call" or not report.passed:
        return None
    for name, value in report.user_properties:
        if name != RECORD_KEY:
            continue
        outcome = json.loads(value)
        if outcome.get("kind") in ("question", "lm_eval_doc") and outcome.get("correct") is False:
            return WRONG
    return None


def gate_category(verdict: Verdict) -> str:
    """Return the last line's word for a failed gate: "gate failed (accuracy drop vs baseline)"."""
    return "gate failed (" + ", ".join(check.rule for check in verdict.failed) + ")"


def add_gate_to_terminal(reporter: Any, verdict: Verdict | None) -> None:
    """Put a failed gate into the counts of pytest's last line, coloured as a failure."""
    if verdict is None or not verdict.failing:
        return
    reporter.stats.setdefault(gate_category(verdict), []).append(_gate_report(verdict, "call"))
    # pytest colours the last line red only when a "failed" key exists; the gate's failure is one.
    reporter.stats.setdefault("failed", [])


def add_gate_to_junit(config: pytest.Config, verdict: Verdict | None) -> None:
    """Add the test case `tunebench::gate` to the JUnit XML (when --junitxml is on): failed with the rules."""
    if verdict is None:
        return
    try:
        from _pytest.junitxml import xml_key  # no public accessor to the LogXML instance
    except ImportError:
        return
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return
    for when in ("setup", "call", "teardown"):
        xml.pytest_runtest_logreport(_gate_report(verdict, when))


def _gate_report(verdict: Verdict, when: str) -> pytest.TestReport:
    failed = when == "call" and verdict.failing
    longrepr = None
    if failed:
        lines = [f"gate FAILED: {check.rule}: {check.detail or check.value}" for check in verdict.failed]
        longrepr = "\n".join(lines) + "\n\n" + verdict.table()
    properties = [(f"gate.{c.rule}", c.result if c.passed else f"FAIL: {c.detail}") for c in verdict.checks]
    return pytest.TestReport(
        nodeid=GATE_NODEID,
        location=("tunebench", None, "gate"),
        keywords={"gate": 1},
        outcome="failed" if failed else "passed",
        longrepr=longrepr,
        when=when,
        user_properties=properties if when == "call" else [],
        duration=0.0,
    )
