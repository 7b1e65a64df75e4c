"""Hooks: translate pytest events into tunebench library calls (the work lives in the sibling modules).

Workers (pytest-xdist) only attach outcomes to their reports through the `record` fixture. The
controlling process (a serial run, or the xdist controller) collects them in `pytest_runtest_logreport`
and alone builds, gates, writes and renders in `pytest_sessionfinish`.
"""

from __future__ import annotations

import pytest

from tunebench.history.records import utc_now
from tunebench.table import fit_line
from tunebench_pytest import collect, failures, options, parallel, resources, status, summary
from tunebench_pytest.collect import RunCollector
from tunebench_pytest.finish import finish_run

# Fixtures are defined in fixtures.py; importing them here is what registers them with pytest.
from tunebench_pytest.fixtures import (  # noqa: F401
    RECORD_KEY,
    SETTINGS,
    Recorder,
    record,
    tb_config,
    tb_engine,
    tb_generate,
    tb_grade,
    tb_model,
    tb_model_name,
    tb_score_questions,
    tb_settings,
)

_COLLECTOR = pytest.StashKey[RunCollector]()
_STARTED = pytest.StashKey[str]()
_OUTCOME = pytest.StashKey["RunOutcome | None"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tunebench_suite(name): the test belongs to this evaluation suite")
    config.addinivalue_line("markers", "domain(name): the finance domain a question or probe covers")
    config.addinivalue_line("markers", "difficulty(level): easy, medium, hard or extreme")
    config.stash[SETTINGS] = options.resolve_settings(config)
    resources.start(config)  # before any session fixture loads the model
    if not options.is_worker(config):
        config.stash[_STARTED] = utc_now()
        collector = RunCollector()
        config.stash[_COLLECTOR] = collector
        config.pluginmanager.register(collector, "tunebench-collector")


def _header(config: pytest.Config) -> str:
    settings = config.stash[SETTINGS]
    return fit_line(  # wrapped to the terminal as the summary's tables are
        f"tunebench: model {settings.model}, history {settings.history}, baseline {settings.baseline}, "
        f"record {'on' if settings.record else 'off'}, gate {'on' if settings.gate else 'off'}, "
        # says what pytest's "1 deselected" of eval_suites is: its load phase item, off at concurrency 1
        f"concurrency {settings.concurrency} (load phase {'on' if settings.concurrency > 1 else 'off'})"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    # Under xdist the controller collects nothing, so the settings are said here; serial runs say them once
    # collected, and only when an item evaluates (a repository's own tests record nothing).
    if not parallel.workers(config):
        return []
    slower = parallel.hint(config, config.stash[SETTINGS].engine)
    return [_header(config), fit_line(slower)] if slower else [_header(config)]


_EVAL_FIXTURES = {"record", "tb_engine", "tb_model", "tb_score_questions", "tb_generate"}


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    if parallel.workers(config) or not any(_evaluates(item) for item in items):
        return []
    return [_header(config)]


def _evaluates(item: pytest.Item) -> bool:
    """True when the item uses one of tunebench's evaluation fixtures: a parametrized argument or a project's own
    fixture that happens to be called `record` is not ours."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name in _EVAL_FIXTURES & set(info.names_closure):
        definitions = info.name2fixturedefs.get(name) or ()
        if definitions and getattr(definitions[-1].func, "__module__", "").startswith("tunebench_pytest"):
            return True
    return False


# tryfirst: junitxml writes its file in its own pytest_sessionfinish; the run's properties must be in first.
@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if options.is_worker(config):
        config.workeroutput[resources.WORKER_OUTPUT_KEY] = resources.finish(config)
        config.workeroutput[collect.DESELECTED_KEY] = collect.deselected(config)
        return
    if _COLLECTOR not in config.stash:
        return
    if not config.pluginmanager.hasplugin("dsession"):  # serial: this process ran the evaluation
        config.stash[_COLLECTOR].resources.append(resources.finish(config))
    outcome = finish_run(session, config.stash[_COLLECTOR], config.stash[SETTINGS], config.stash[_STARTED])
    config.stash[_OUTCOME] = outcome
    if outcome is None:
        return
    summary.add_junit_properties(config, outcome)
    status.add_gate_to_junit(config, outcome.verdict)
    summary.write_github_summary(outcome)
    if outcome.errors and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    elif outcome.verdict is not None and outcome.verdict.failing and session.exitstatus == pytest.ExitCode.OK:
        # Every item may have passed (a wrong answer is an outcome, not a failure): the gate judges the run.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_deselected(items: list[pytest.Item]) -> None:
    # `-k`, node ids: the suite files of deselected questions and probes still count in the selection total.
    collect.note_deselected(items)


def pytest_unconfigure(config: pytest.Config) -> None:
    resources.finish(config)  # closes the measurement if the session never finished (a no-op otherwise)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    outcome = config.stash.get(_OUTCOME, None)
    if outcome is not None:
        summary.write_terminal(terminalreporter, outcome)
        status.add_gate_to_terminal(terminalreporter, outcome.verdict)


# tryfirst: pytest's own hook would file a passed item under "passed" before this one is asked.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    failures.shorten(report, call)  # a tunebench error fails its item in one line, not a traceback
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    return status.answer_status(report)
