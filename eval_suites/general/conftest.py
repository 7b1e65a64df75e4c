"""lm-eval tasks as items: one per document of each task, scored together in one batched pass.

Which tasks: `--lm-eval-task NAME` (repeatable) > `[tool.tunebench.eval] lm_eval_tasks` > this folder's
`suite.toml` (the shipped forgetting set) when this folder is named on the command line
(`pytest eval_suites/general`) > none, and then this folder collects nothing, so `pytest eval_suites` runs
as before. `--lm-eval-include DIR` (or `lm_eval_include`) adds task YAMLs; `--lm-eval-limit N` (or
`lm_eval_limit`) takes the first N documents of each task, as lm-eval's `--limit`.

A task that cannot load here (unknown name, data set not reachable and not cached) becomes one item,
`test_document[TASK/unavailable]`, that fails with the reason in one line and records the task as
unavailable: the run is incomplete, never a pass with the task silently missing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunebench.config import load_config
from tunebench.lmeval.tasks import LoadedTask, TaskProblem

HERE = Path(__file__).parent
SHIPPED = HERE / "suite.toml"
_TASKS = pytest.StashKey["LmEvalSelection"]()


@dataclass(frozen=True)
class LmEvalDoc:
    """One item: a document of a loaded task."""

    task: LoadedTask
    doc_id: int


@dataclass
class LmEvalSelection:
    """The run's lm-eval tasks: loaded ones, and named ones that cannot run here."""

    names: tuple[str, ...]
    tasks: list[LoadedTask]
    problems: list[TaskProblem]


def task_names(config: pytest.Config) -> tuple[tuple[str, ...], tuple[str, ...], int | None]:
    """Return (task names, include folders, limit) for this run, from options, config, or the shipped set."""
    settings = load_config(config.rootpath).eval
    names = config.getoption("tunebench_lm_eval_tasks") or list(settings.lm_eval_tasks)
    include = config.getoption("tunebench_lm_eval_include") or [str(p) for p in settings.lm_eval_include]
    limit = config.getoption("tunebench_lm_eval_limit") or settings.lm_eval_limit
    if not names and _named_on_command_line(config):
        shipped = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
        names, limit = shipped["tasks"], limit or shipped.get("limit")
    base = config.invocation_params.dir
    return tuple(names), tuple(str((base / p).resolve()) for p in include), limit


def selection(config: pytest.Config) -> LmEvalSelection:
    """Load the run's tasks once (before any model loads) and build their requests."""
    if _TASKS not in config.stash:
        from tunebench.lmeval.tasks import load_tasks

        names, include, limit = task_names(config)
        tasks, problems = load_tasks(names, include, limit) if names else ([], [])
        config.stash[_TASKS] = LmEvalSelection(names, tasks, problems)
    return config.stash[_TASKS]


def _named_on_command_line(config: pytest.Config) -> bool:
    base = config.invocation_params.dir
    for arg in config.invocation_params.args:
        path = (base / str(arg).split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # No task asked for: this folder adds no item (not even an empty-parameter skip).
    if collection_path.name.startswith("test_") and not task_names(config)[0]:
        return True
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "lm_eval_doc" not in metafunc.fixturenames:
        return
    chosen = selection(metafunc.config)
    params = [
        pytest.param(
            LmEvalDoc(task, doc_id),
            id=f"{task.name}/{doc_id}",
            marks=[pytest.mark.tunebench_suite(task.name), pytest.mark.xdist_group("tunebench_lm_eval")],
        )
        for task in chosen.tasks
        for doc_id in task.doc_ids
    ]
    params += [pytest.param(problem, id=f"{problem.name}/unavailable") for problem in chosen.problems]
    metafunc.parametrize("lm_eval_doc", params)


def pytest_itemcollected(item: pytest.Item) -> None:
    doc = getattr(item, "callspec", None) and item.callspec.params.get("lm_eval_doc")
    if isinstance(doc, LmEvalDoc):
        item.extra_keyword_matches.add(doc.task.name)  # `-k arc_easy`


@pytest.fixture(scope="session")
def lm_eval_results(request: pytest.FixtureRequest, tb_engine, tb_config) -> dict:
    """Score every selected document on the engine in one batched pass; return {(task, doc id): DocOutcome}."""
    from tunebench.errors import TunebenchError
    from tunebench.lmeval.score import score_documents

    docs = [
        doc
        for item in request.session.items
        if isinstance(doc := getattr(item, "callspec", None) and item.callspec.params.get("lm_eval_doc"), LmEvalDoc)
    ]
    selected: dict[str, list[int]] = {}
    for doc in docs:
        selected.setdefault(doc.task.name, []).append(doc.doc_id)
    tasks = [task for task in selection(request.config).tasks if task.name in selected]
    try:
        return score_documents(tasks, tb_engine, selected)
    except (TunebenchError, ValueError) as exc:
        pytest.fail(f"tunebench: lm-eval tasks on engine {tb_engine.name} failed: {exc}", pytrace=False)
