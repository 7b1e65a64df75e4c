"""Controller-side collection: which items were expected, what each reported, which crashed.

Registered only in the controlling process (the serial run, or the xdist controller): workers attach
outcomes to their reports and never build anything. The one thing a worker keeps is which question and
probe items it deselected (`-k`, node ids): their suite files count in the run's selection total, and under
xdist only the workers collect, so each sends them in `workeroutput` as it does its peak memory.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunebench.history.eval_record import ItemResult
from tunebench.suites import Probe, Question
from tunebench_pytest.fixtures import MODEL_KEY, RECORD_KEY
from tunebench_pytest.resources import WORKER_OUTPUT_KEY

__all__ = ["RunCollector", "DESELECTED_KEY", "note_deselected", "deselected"]

DESELECTED_KEY = "tunebench_deselected"  # workeroutput: {suite file: [node ids]} a worker deselected
_DESELECTED = pytest.StashKey[dict[str, list[str]]]()


def note_deselected(items: list[pytest.Item]) -> None:
    """Keep, by suite file, the deselected items that are a suite's question or probe (`pytest_deselected`).

    Any process that collects calls it (a serial run, each xdist worker). Other deselected items (the load
    phase at concurrency 1, a project's own tests) are no suite's items and are not kept.
    """
    for item in items:
        file = _suite_file(item)
        if file is not None:
            item.config.stash.setdefault(_DESELECTED, {}).setdefault(file, []).append(item.nodeid)


def deselected(config: pytest.Config) -> dict[str, list[str]]:
    """Return the question and probe items this process deselected, {suite file: [node ids]}."""
    return config.stash.get(_DESELECTED, {})


def _suite_file(item: pytest.Item) -> str | None:
    """The file of the question or probe an item is parametrized with (as its outcome's `suite_file` says it)."""
    callspec = getattr(item, "callspec", None)
    for value in callspec.params.values() if callspec is not None else ():
        if isinstance(value, (Question, Probe)) and value.source is not None:
            return str(value.source)
    return None


class RunCollector:
    """Accumulates per-item results from reports (local or sent by xdist workers)."""

    def __init__(self) -> None:
        self.expected: list[str] = []
        self.items: dict[str, ItemResult] = {}
        self.model: dict[str, Any] | None = None
        self.notes: list[str] = []
        self.resources: list[dict[str, Any] | None] = []  # peak memory of each process that ran tests
        self.deselected: dict[str, list[str]] | None = None  # xdist: what the first worker to finish deselected

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Serial runs: the expected items are the collected ones (under xdist the controller collects none)."""
        if session.items:
            self._expect(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """xdist: every worker collects the same ids; the first list is the expected set."""
        if not self.expected:
            self._expect(ids)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """xdist: the item a worker died on is crashed (not a wrong answer); its report follows."""
        self._item(crashitem).status = "crashed"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist: a worker finished; keep the peak memory it measured (a crashed worker sends none).

        Every worker collects and deselects the same items: the first that says what it deselected is kept.
        """
        output = getattr(node, "workeroutput", {})
        self.resources.append(output.get(WORKER_OUTPUT_KEY))
        if self.deselected is None and output.get(DESELECTED_KEY) is not None:
            self.deselected = output[DESELECTED_KEY]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Take the outcomes attached to a report and the item's final status."""
        item = self._item(report.nodeid)
        if report.when == "???" or _is_crash(report):
            item.status = "crashed"
            item.message = str(report.longrepr)
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self._take_properties(item, report)
            if item.status != "crashed":
                item.status = "skipped" if report.skipped else "failed" if report.failed else "passed"
        elif report.when == "teardown" and report.failed and item.status == "passed":
            item.status = "failed"

    def results(self) -> list[ItemResult]:
        """Return one ItemResult per expected item (never-reported ones as `missing`), then any extras."""
        results = []
        for nodeid in self.expected:
            item = self.items.get(nodeid) or ItemResult(nodeid, status="missing")
            if item.status == "pending":
                item.status = "missing"
            results.append(item)
        expected = set(self.expected)
        return results + [item for nodeid, item in self.items.items() if nodeid not in expected]

    def _expect(self, ids) -> None:
        self.expected = list(dict.fromkeys(ids))

    def _item(self, nodeid: str) -> ItemResult:
        if nodeid not in self.items:
            self.items[nodeid] = ItemResult(nodeid, status="pending")
        return self.items[nodeid]

    def _take_properties(self, item: ItemResult, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == RECORD_KEY:
                item.outcomes.append(json.loads(value))
            elif name == MODEL_KEY and self.model is None:
                self.model = json.loads(value)


def _is_crash(report: pytest.TestReport) -> bool:
    text = str(report.longrepr or "")
    return report.failed and text.startswith("worker ") and " crashed" in text
