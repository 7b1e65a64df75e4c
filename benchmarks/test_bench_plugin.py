"""Per-test overhead of the tunebench plugin: 100 trivial recorded items, with the plugin vs without it.

Both sides run the same 100 parametrized items in an in-process pytest session. Without the plugin, a
`record` fixture in the suite's conftest does what a plain pytest user would (JSON into user_properties);
with it, the plugin also checks each outcome, builds, validates and writes the EvalRecord, gates it and
renders the log. The row is the ratio of whole-session times.
"""

from __future__ import annotations

# pytester's in-process sessions forget the modules imported inside them, and numpy's and torch's C
# extensions cannot be imported twice in one process: import what the log renderer draws with (numpy,
# matplotlib, PIL) and what PeakMemory probes (torch) once, out here, so every round reuses them.
import matplotlib  # noqa: E402, I001

matplotlib.use("Agg")
import matplotlib.backends.backend_agg  # noqa: E402, F401
import matplotlib.pyplot  # noqa: E402, F401
import PIL.Image  # noqa: E402, F401
import pytest
import torch  # noqa: E402, F401

import tunebench.report.plots  # noqa: E402, F401

pytest_plugins = ["pytester"]

N_ITEMS = 100
GROUP = "plugin-overhead-100-items"

SUITE = """
import pytest

DOMAINS = ["retirement_planning", "federal_income_tax", "estate_planning", "investment", "compliance"]


@pytest.mark.parametrize("i", range({n}))
def test_question(i, record):
    record(kind="question", suite="bench", id=f"q{{i:03d}}", domain=DOMAINS[i % 5], difficulty="easy",
           answer="A", chosen="AB"[i % 2], correct=i % 2 == 0, loglikelihoods=[-1.0, -2.0, -3.0, -4.0])
"""

PLAIN_RECORD = """
import json
import pytest


@pytest.fixture
def record(request):
    def attach(**outcome):
        request.node.user_properties.append(("tunebench", json.dumps(outcome, sort_keys=True)))
    return attach
"""


@pytest.fixture
def suite(pytester):
    pytester.makefile(".toml", pyproject='[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    pytester.makepyfile(test_suite=SUITE.format(n=N_ITEMS))
    return pytester


def _run(pytester, *args):
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", *args)
    assert result.ret == 0, result.outlines[-5:]
    assert not any("not rendered" in line for line in result.outlines), result.outlines[-5:]
    return result


def test_plugin_overhead_baseline_without_plugin(suite, paired_benchmark):
    suite.makeconftest(PLAIN_RECORD)
    paired_benchmark(_run, suite, "-p", "no:tunebench_pytest.plugin", side="baseline", group=GROUP, rounds=5)
    assert not (suite.path / "hist").exists()


def test_plugin_overhead_collect_and_gate(suite, paired_benchmark):
    paired_benchmark(
        _run,
        suite,
        "--no-record",
        side="tunebench",
        group=GROUP,
        goal="<= 1.5",
        goal_note="per-item collection, record build, validation and gate; nothing written",
        rounds=5,
    )
    assert not (suite.path / "hist").exists()


def test_plugin_overhead_with_record_write_and_log_render(suite, paired_benchmark):
    # Informational: most of this row is the log renderer drawing its plots (matplotlib), once per run.
    paired_benchmark(
        _run,
        suite,
        side="tunebench",
        group=GROUP,
        goal_note="+ record write, history read, BENCHMARK_LOG.md and plots",
        rounds=5,
    )
    # warmup + 5 rounds, one record each; the summary index (index/records.json) is derived data, not a record
    assert len(list((suite.path / "hist" / "runs").rglob("*.json"))) == 6
