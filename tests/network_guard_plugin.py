"""pytest plugin: no test reaches past loopback; a test that tries fails, naming host:port.

Registered from tests/conftest.py. For the whole session the socket module refuses non-loopback connections
and look-ups (tests/network_guard.py) and so does every Python child a test starts: PYTHONPATH leads with
tests/network_guard_site, whose sitecustomize installs the same guard. Attempts are appended to one file per
session, each naming the test that ran (children inherit its node id through the environment), and the
test's report is turned into a failure even where the code under test swallowed the error.

A test marked `network` (the opt-in real-GCS tests) may go out. A test that proves the guard takes its own
attempts with the `blocked_connections` fixture, as `recwarn` takes warnings.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import network_guard
import pytest

SITE = Path(__file__).resolve().parent / "network_guard_site"


@dataclass(frozen=True)
class Attempt:
    """One refused connection or look-up: which test, where to, from which process, through which call."""

    test: str
    target: str
    pid: int
    how: str


class _Log:
    """The session's attempt file; `take` returns the attempts appended since the last take."""

    def __init__(self) -> None:
        handle, name = tempfile.mkstemp(prefix="tunebench-network-", suffix=".log")
        os.close(handle)
        self.path = Path(name)
        self._read = 0

    def take(self) -> list[Attempt]:
        with open(self.path, "rb") as log:
            log.seek(self._read)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]  # a child may be half-way through a line
        self._read += len(complete)
        return [_parse(line) for line in complete.decode("utf-8", "replace").splitlines() if line]


def _parse(line: str) -> Attempt:
    test, target, pid, how = (line.split("\t") + ["", "", "0", ""])[:4]
    return Attempt(test, target, int(pid) if pid.isdigit() else 0, how)


def _describe(attempts: list[Attempt]) -> str:
    lines = [f"  {a.how} {a.target} (pid {a.pid}, test {a.test})" for a in attempts]
    return "network access off this machine was attempted (tests run offline; only loopback is allowed):\n" + (
        "\n".join(lines)
    )


def _restore(saved: dict[str, str | None]) -> None:
    """Put environment variables back as they were (None: it was not set)."""
    for var, value in saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value


class NetworkGuard:
    def __init__(self) -> None:
        self.log = _Log()
        self.outside: list[Attempt] = []
        self._saved = {var: os.environ.get(var) for var in (network_guard.LOG_VAR, "PYTHONPATH")}
        os.environ[network_guard.LOG_VAR] = str(self.log.path)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")]))
        network_guard.install()

    def close(self) -> None:
        _restore(self._saved)
        self.log.path.unlink(missing_ok=True)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item):
        # Anything logged between tests (collection, a previous session fixture) is not this test's doing.
        self.outside += self.log.take()
        saved = {var: os.environ.get(var) for var in (network_guard.TEST_VAR, network_guard.ALLOW_VAR)}
        os.environ[network_guard.TEST_VAR] = item.nodeid
        os.environ[network_guard.ALLOW_VAR] = "1" if item.get_closest_marker("network") else "0"
        try:
            yield
        finally:
            _restore(saved)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        if call.when == "setup":
            return  # setup's attempts are reported with the call (or at teardown when setup failed)
        attempts = self.log.take()
        report = outcome.get_result()
        if attempts and not report.failed:
            report.outcome = "failed"
            report.longrepr = _describe(attempts)
            if hasattr(report, "wasxfail"):
                del report.wasxfail
        elif attempts:
            report.sections.append(("network guard", _describe(attempts)))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.outside += self.log.take()
        if self.outside and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.outside:
            terminalreporter.section("network guard", red=True)
            terminalreporter.line(_describe(self.outside))


@pytest.fixture
def blocked_connections(request: pytest.FixtureRequest):
    """A function returning the attempts this test (and its children) made so far; they no longer fail it."""
    guard: NetworkGuard = request.config.pluginmanager.get_plugin("network_guard_state")
    return guard.log.take


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "network: the test needs the internet; the network guard lets it out")
    config.pluginmanager.register(NetworkGuard(), "network_guard_state")


def pytest_unconfigure(config: pytest.Config) -> None:
    guard = config.pluginmanager.get_plugin("network_guard_state")
    if guard is not None:
        guard.close()
