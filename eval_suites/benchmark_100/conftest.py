"""The benchmark's items: one per question, and the one batched scoring pass they all read from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.config import load_config
from tunebench.errors import SuiteError
from tunebench.suites import Question, load_files, load_questions, node_param, resolve_files, suite_name
from tunebench_pytest.terminal import progress

SHIPPED = Path(__file__).parent / "questions.jsonl"
SHIPPED_PER_DOMAIN = 20  # benchmark_100: 20 questions in each of the five domains
_QUESTIONS = pytest.StashKey[list[Question]]()


def selected_questions(config: pytest.Config) -> list[Question]:
    """Return this run's questions (loaded and validated once, before any model loads)."""
    if _QUESTIONS not in config.stash:
        settings = load_config(config.rootpath).eval
        paths = resolve_files(
            config.getoption("tunebench_suites"), config.invocation_params.dir, settings.suites, SHIPPED
        )

        def load(path: Path) -> list[Question]:
            per_domain = SHIPPED_PER_DOMAIN if path == SHIPPED.resolve() else settings.per_domain
            return load_questions(path, per_domain=per_domain)

        try:
            questions = load_files(paths, load)
        except SuiteError as exc:
            # `from None`: the report shows the suite's problems alone, not an exception chain.
            raise pytest.fail.Exception(f"tunebench suite:\n{exc}", pytrace=False) from None
        config.stash[_QUESTIONS] = questions
    return config.stash[_QUESTIONS]


def pytest_configure(config: pytest.Config) -> None:
    # Registered by pytest-xdist when it is installed; registered here too so --strict-markers passes without it.
    config.addinivalue_line("markers", "xdist_group(name): run the items of a group on one pytest-xdist worker")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "question" not in metafunc.fixturenames:
        return
    # xdist_group: under `-n N --dist loadgroup` all questions run on one worker, scored in one pass there
    # (with plain `--dist load` each worker scores the selected questions once; the outcomes are the same).
    params = [
        pytest.param(
            q,
            id=node_param(q, SHIPPED),
            marks=[
                pytest.mark.domain(q.domain),
                pytest.mark.difficulty(q.difficulty),
                pytest.mark.tunebench_suite(suite_name(q.source)),
                pytest.mark.xdist_group("tunebench_questions"),
            ],
        )
        for q in selected_questions(metafunc.config)
    ]
    metafunc.parametrize("question", params)


def pytest_itemcollected(item: pytest.Item) -> None:
    # `-k estate_planning` and `-k hard` match on these names (mark arguments are not keywords by themselves).
    question = getattr(item, "callspec", None) and item.callspec.params.get("question")
    if isinstance(question, Question):
        item.extra_keyword_matches.update({question.domain, question.difficulty, suite_name(question.source)})


@pytest.fixture(scope="session")
def benchmark_results(request: pytest.FixtureRequest, tb_engine, tb_config) -> dict:
    """Score every selected question in one batched pass on the engine; return {(file, id): ChoiceResult}.

    An engine error (server down, no logprobs, HTTP 500 mid-run) fails every question's item: none is
    recorded as answered, and the run is recorded incomplete.
    """
    from tunebench.errors import TunebenchError

    selected = [
        item.callspec.params["question"]
        for item in request.session.items
        if isinstance(getattr(item, "callspec", None) and item.callspec.params.get("question"), Question)
    ]
    report = progress(request.config, "scored", "questions")
    try:
        results = tb_engine.score_choices(selected, batch_size=tb_config.eval.batch_size, progress=report)
    except TunebenchError as exc:
        pytest.fail(f"tunebench: multiple choice on engine {tb_engine.name} failed: {exc}", pytrace=False)
    return {(q.source, q.id): r for q, r in zip(selected, results, strict=True)}
