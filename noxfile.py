"""nox sessions: tests (what CI runs), lint, eval, train, log, bench."""

from __future__ import annotations

import os

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# torch is pinned at install time so a CPU machine takes the CPU build, not several GB of CUDA.
TORCH = os.environ.get("TUNEBENCH_TORCH", "torch==2.13.0")


def _install(session: nox.Session) -> None:
    session.install(TORCH, "-e", ".[dev]")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite, as CI does."""
    _install(session)
    session.run("pytest", *session.posargs, env=OFFLINE)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff")
    paths = ("src", "plugins", "tests", "eval_suites", "benchmarks", "noxfile.py", "conftest.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session
def eval(session: nox.Session) -> None:
    """Run the evaluation suites: `nox -s eval -- --model dora-v3`."""
    _install(session)
    session.run("pytest", "eval_suites", *session.posargs, env=OFFLINE)


@nox.session
def train(session: nox.Session) -> None:
    """Train a recipe: `nox -s train -- RECIPE [--set KEY=VALUE] [--resume | --new-version | --overwrite]`.

    Without arguments it trains recipes/tiny-dora-curriculum.toml with --new-version, so it works again and
    again: the first run registers `tiny-dora-curriculum`, the next ones `tiny-dora-curriculum-v2`, `-v3`, ...
    """
    _install(session)
    default = ["recipes/tiny-dora-curriculum.toml", "--new-version"]
    session.run("tunebench", "train", *(session.posargs or default), env=OFFLINE)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks (tunebench vs baselines, same run) and print one table: `nox -s bench`."""
    _install(session)
    os.makedirs(".benchmarks", exist_ok=True)
    result = ".benchmarks/bench.json"
    if os.path.exists(result):
        os.remove(result)  # never report a previous run's figures
    try:
        session.run(
            "pytest",
            "benchmarks",
            "-p",
            "no:cacheprovider",
            f"--benchmark-json={result}",
            *session.posargs,
            env=OFFLINE,
        )
    finally:
        # The table of what did run is worth seeing even when a benchmark failed.
        if os.path.exists(result):
            session.run("python", "benchmarks/report.py", result, env=OFFLINE)


@nox.session
def log(session: nox.Session) -> None:
    """Render BENCHMARK_LOG.md and its plots from the history: `nox -s log` (`-- --out PATH`, `-- --no-plots`)."""
    _install(session)
    session.run("tunebench", "log", "render", *session.posargs, env=OFFLINE)
