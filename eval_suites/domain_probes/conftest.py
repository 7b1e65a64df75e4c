"""The probes' items: one per probe, with the optional judge model loaded once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.config import load_config
from tunebench.errors import SuiteError
from tunebench.storage.checksums import file_sha256
from tunebench.suites import Probe, load_files, load_probes, load_questions, node_param, resolve_files, suite_name
from tunebench_pytest.fixtures import SETTINGS

SHIPPED = Path(__file__).parent / "probes.jsonl"
SHIPPED_QUESTIONS = Path(__file__).parents[1] / "benchmark_100" / "questions.jsonl"
SHIPPED_MIN_PER_DOMAIN = 2
_PROBES = pytest.StashKey[list[Probe]]()
_NARROWED = pytest.StashKey["list[str] | None"]()


def selected_probes(config: pytest.Config) -> list[Probe]:
    """Return this run's probes (loaded and validated once, before any model loads).

    The shipped probes, when no probe file is named, follow the run's questions: only the probes of the
    domains its question files use run (`--suite crypto.jsonl` runs no retirement probe beside its crypto
    questions). A probe file named on the command line or in the config runs whole.
    """
    if _PROBES not in config.stash:
        settings = load_config(config.rootpath).eval
        given = config.getoption("tunebench_probes")
        paths = resolve_files(given, config.invocation_params.dir, settings.probes, SHIPPED)

        def load(path: Path) -> list[Probe]:
            return load_probes(path, min_per_domain=SHIPPED_MIN_PER_DOMAIN if path == SHIPPED.resolve() else None)

        try:
            probes = load_files(paths, load)
        except SuiteError as exc:
            # `from None`: the report shows the suite's problems alone, not an exception chain.
            raise pytest.fail.Exception(f"tunebench probes:\n{exc}", pytrace=False) from None
        domains = None if given or settings.probes else _question_domains(config)
        if domains is not None and not {p.domain for p in probes} <= domains:
            probes = [p for p in probes if p.domain in domains]
            config.stash[_NARROWED] = sorted(domains)
        config.stash[_PROBES] = probes
    return config.stash[_PROBES]


def _question_domains(config: pytest.Config) -> set[str] | None:
    """Return the domains of the run's question files; None when one cannot be read (its own items say why)."""
    settings = load_config(config.rootpath).eval
    option = config.getoption("tunebench_suites", None)
    paths = resolve_files(option, config.invocation_params.dir, settings.suites, SHIPPED_QUESTIONS)
    try:
        return {q.domain for path in paths for q in load_questions(path)}
    except SuiteError:
        return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "probe" not in metafunc.fixturenames:
        return
    params = [
        pytest.param(
            p,
            id=node_param(p, SHIPPED),
            marks=[pytest.mark.domain(p.domain), pytest.mark.tunebench_suite(suite_name(p.source))],
        )
        for p in selected_probes(metafunc.config)
    ]
    if not params:  # the run's questions use no domain the shipped probes cover
        domains = ", ".join(metafunc.config.stash.get(_NARROWED, None) or [])
        why = f"no shipped probe covers the domains of this run's questions ({domains}); --probes FILE runs yours"
        params = [pytest.param(None, id="no-probes", marks=pytest.mark.skip(reason=why))]
    metafunc.parametrize("probe", params)


def pytest_itemcollected(item: pytest.Item) -> None:
    probe = getattr(item, "callspec", None) and item.callspec.params.get("probe")
    if isinstance(probe, Probe):
        item.extra_keyword_matches.update({probe.domain, suite_name(probe.source)})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The load phase runs only at --concurrency N > 1; otherwise it is not an item of the run at all.
    settings = config.stash.get(SETTINGS, None)
    if settings is not None and settings.concurrency > 1:
        return
    kept = [item for item in items if getattr(item, "originalname", item.name) != "test_load_phase"]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def probe_domains(request: pytest.FixtureRequest) -> list[str] | None:
    """The domains the shipped probes were narrowed to (the questions' domains), or None when all run."""
    selected_probes(request.config)
    return request.config.stash.get(_NARROWED, None)


@pytest.fixture(scope="session")
def probes_for_load(request: pytest.FixtureRequest):
    """The selected probes (the load phase sends their prompts)."""
    return selected_probes(request.config)


@pytest.fixture(scope="session")
def judge(tb_config):
    """The `[tool.tunebench.eval.judge]` model as a `scoring.judge.Judge`, or None when not configured."""
    settings = tb_config.eval
    if not settings.judge:
        return None
    from tunebench.engines.select import load_judge
    from tunebench.errors import TunebenchError

    try:
        return load_judge(settings.judge, tb_config, n=settings.judge_n, max_new_tokens=settings.judge_max_new_tokens)
    except TunebenchError as exc:
        pytest.fail(f"tunebench: cannot load the judge model {settings.judge!r}: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def grader_calibration(judge, tb_config):
    """The active grader's agreement with the shipped calibration replies (recorded with every probe).

    The rubric's figures always; the judge's when a judge is configured (its replies graded once per run,
    unless `calibrate = false`).
    """
    from tunebench.scoring.calibration import SHIPPED_NAME, calibrate, load_calibration
    from tunebench.scoring.judge import judge_grade
    from tunebench.scoring.quality import RUBRIC_VERSION, grade

    probes = load_probes(SHIPPED)
    path = SHIPPED.parent / SHIPPED_NAME
    replies = load_calibration(path, probes)
    source = {"file": f"{SHIPPED.parent.name}/{SHIPPED_NAME}", "sha256": file_sha256(path)}
    rubric = calibrate(replies, probes, grade, RUBRIC_VERSION)
    figures = {RUBRIC_VERSION: {**rubric.figures(), "by_split": rubric.figures_by_split()}}
    if judge is not None:
        name = f"judge:{judge.name}"
        if tb_config.eval.judge_calibrate:
            judged = calibrate(replies, probes, lambda a, p: judge_grade(a, p, judge), name)
            figures[name] = {**judged.figures(), "by_split": judged.figures_by_split()}
        else:
            figures[name] = {"not_measured": "calibrate = false in [tool.tunebench.eval.judge]"}
    return {**source, "graders": figures}
