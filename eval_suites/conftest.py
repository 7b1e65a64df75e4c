"""Options of the evaluation suites: which question and probe files to run (each default from the config).

Precedence for questions: `--suite PATH` (repeatable) > `[tool.tunebench.eval] suites` > the shipped
`benchmark_100/questions.jsonl`; for probes: `--probes PATH` > `[tool.tunebench.eval] probes` > the shipped
`domain_probes/probes.jsonl`. Registered here (not in the plugin) because only these suites read them, so
they exist when `eval_suites` (or a path below it) is on the command line.
"""

from __future__ import annotations

import pytest

from tunebench_pytest.fixtures import SETTINGS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunebench", "tunebench evaluation")
    group.addoption(
        "--suite",
        dest="tunebench_suites",
        action="append",
        metavar="PATH",
        default=None,
        help="question file (JSONL, tunebench's question schema) to run instead of the shipped "
        "benchmark; repeatable (default: [tool.tunebench.eval] suites, else benchmark_100)",
    )
    group.addoption(
        "--probes",
        dest="tunebench_probes",
        action="append",
        metavar="PATH",
        default=None,
        help="probe file (JSONL, tunebench's probe schema) to run instead of the shipped probes; "
        "repeatable (default: [tool.tunebench.eval] probes, else domain_probes)",
    )
    # lm-eval tasks as items (eval_suites/general/conftest.py says which tasks run when).
    group.addoption(
        "--lm-eval-task",
        dest="tunebench_lm_eval_tasks",
        action="append",
        metavar="NAME",
        default=None,
        help="an lm-eval task (or group) to run, one item per document; repeatable "
        "(default: [tool.tunebench.eval] lm_eval_tasks; `pytest eval_suites/general` runs the shipped forgetting set)",
    )
    group.addoption(
        "--lm-eval-include",
        dest="tunebench_lm_eval_include",
        action="append",
        metavar="DIR",
        default=None,
        help="a folder of lm-eval task YAMLs to look in besides lm-eval's own; repeatable",
    )
    group.addoption(
        "--lm-eval-limit",
        dest="tunebench_lm_eval_limit",
        metavar="N",
        type=int,
        default=None,
        help="the first N documents of each lm-eval task (lm-eval's --limit)",
    )


@pytest.fixture(scope="session", autouse=True)
def _tiny_runs_single_threaded(request: pytest.FixtureRequest):
    """Run the built-in `tiny` on one torch thread (real models keep torch's default).

    tiny's 64-wide matrices are far below one thread's useful work: extra intra-op threads only add
    synchronization, and on a busy 2-core machine they made `pytest eval_suites` several times slower.
    """
    from tunebench.engines.registry import engine_class
    from tunebench.registry import TINY_BASE

    in_process = engine_class(request.config.stash[SETTINGS].engine).uses_loaded_model
    model = request.getfixturevalue("tb_model") if in_process and _runs_a_model(request.session) else None
    if model is None or model.entry.base != TINY_BASE or model.device != "cpu":
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _runs_a_model(session: pytest.Session) -> bool:
    return any({"tb_model", "tb_engine"} & set(getattr(item, "fixturenames", ())) for item in session.items)
