"""Options of the evaluation suites: which question and probe files to run (each default from the config).

Precedence for questions: `--suite PATH` (repeatable) > `[tool.tunebench.eval] suites` > the shipped
`benchmark_100/questions.jsonl`; for probes: `--probes PATH` > `[tool.tunebench.eval] probes` > the shipped
`domain_probes/probes.jsonl`. Registered here (not in the plugin) because only these suites read them, so
they exist when `eval_suites` (or a path below it) is on the command line.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunebench", "tunebench evaluation")
    group.addoption("--suite", dest="tunebench_suites", action="append", metavar="PATH", default=None,
                    help="question file (JSONL, tunebench's question schema) to run instead of the shipped "
                         "benchmark; repeatable (default: [tool.tunebench.eval] suites, else benchmark_100)")
    group.addoption("--probes", dest="tunebench_probes", action="append", metavar="PATH", default=None,
                    help="probe file (JSONL, tunebench's probe schema) to run instead of the shipped probes; "
                         "repeatable (default: [tool.tunebench.eval] probes, else domain_probes)")

