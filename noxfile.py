"""nox sessions: tests (what CI runs), lint, eval, train, log, bench, compat.

tests, eval, train, bench and log need the same packages, so they share one environment (.nox/tunebench), built
once and rebuilt only when pyproject.toml or the torch pin changes; compat builds its own, one per version set.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tomllib
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# torch is pinned at install time so a CPU machine takes the CPU build, not several GB of CUDA.
TORCH = os.environ.get("TUNEBENCH_TORCH", "torch==2.13.0")


SHARED_ENV = Path(".nox") / "tunebench"


def _shared_env(session: nox.Session) -> Path:
    """Return the bin folder of the environment tests/eval/train/bench/log share, installing it when stale."""
    stamp = SHARED_ENV / "installed-from"
    want = hashlib.sha256(Path("pyproject.toml").read_bytes() + TORCH.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != want:
        session.run(sys.executable, "-m", "venv", str(SHARED_ENV), external=True)
        session.run(str(SHARED_ENV / "bin" / "python"), "-m", "pip", "install", TORCH, "-e", ".[dev]", external=True)
        stamp.write_text(want, encoding="utf-8")
    return SHARED_ENV / "bin"


def _run(session: nox.Session, command: str, *args: str) -> None:
    """Run `command` from the shared environment, offline."""
    session.run(str(_shared_env(session) / command), *args, env=OFFLINE, external=True)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Run the test suite, as CI does."""
    _run(session, "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check, and mypy on src/tunebench ([tool.mypy] in pyproject.toml)."""
    session.install("ruff", "mypy")
    paths = ("src", "plugins", "tests", "eval_suites", "benchmarks", "noxfile.py", "conftest.py")
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")


@nox.session(venv_backend="none")
def eval(session: nox.Session) -> None:
    """Run the evaluation suites: `nox -s eval -- --model dora-v3`."""
    _run(session, "pytest", "eval_suites", *session.posargs)


@nox.session(venv_backend="none")
def train(session: nox.Session) -> None:
    """Train a recipe: `nox -s train -- RECIPE [--set KEY=VALUE] [--resume | --new-version | --overwrite]`.

    Without arguments it trains recipes/tiny-dora-curriculum.toml with --new-version, so it works again and
    again: the first run registers `tiny-dora-curriculum`, the next ones `tiny-dora-curriculum-v2`, `-v3`, ...
    """
    default = ["recipes/tiny-dora-curriculum.toml", "--new-version"]
    _run(session, "tunebench", "train", *(session.posargs or default))


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Run the benchmarks (tunebench vs baselines, same run) and print one table: `nox -s bench`."""
    os.makedirs(".benchmarks", exist_ok=True)
    result = ".benchmarks/bench.json"
    if os.path.exists(result):
        os.remove(result)  # never report a previous run's figures
    try:
        _run(session, "pytest", "benchmarks", "-p", "no:cacheprovider", f"--benchmark-json={result}", *session.posargs)
    finally:
        # The table of what did run is worth seeing even when a benchmark failed.
        if os.path.exists(result):
            _run(session, "python", "benchmarks/report.py", result)


@nox.session(venv_backend="none")
def log(session: nox.Session) -> None:
    """Render BENCHMARK_LOG.md and its plots from the history: `nox -s log` (`-- --out PATH`, `-- --no-plots`)."""
    _run(session, "tunebench", "log", "render", *session.posargs)


# --- compat: the declared ranges are true --------------------------------------------------------------------

# The runtime dependencies whose APIs tunebench calls; `nox -s compat` installs each at its declared lower bound.
# torch is the exception: PyPI's Linux torch is a CUDA build of several GB, so both sets use the CPU pin (TORCH);
# pyproject.toml says which torch releases are tested where.
COMPAT_PACKAGES = ("transformers", "peft", "trl", "datasets", "accelerate", "lm-eval")
# The GPU machine's own image (issue 23's H200): its torch is 2.11.0, CUDA; the CPU pin stands in for it here.
GPU_IMAGE = (
    "transformers==5.17.0",
    "peft==0.21.0",
    "trl==1.16.0",
    "accelerate==1.15.0",
    "datasets==5.2.0",
    "pyarrow==25.0.1",
)
# The tests that call these libraries: training (trl, peft, transformers, datasets, accelerate), the API probes of
# doctor and preflight, loading and the hf engine, choice scoring against lm-eval, generation, and the plugin's
# record of an eval run on tiny. Storage, history, gate and report tests call none of them and are left out.
COMPAT_TESTS = (
    "tests/test_compat.py",
    "tests/test_training.py",
    "tests/test_preflight.py",
    "tests/test_tiny.py",
    "tests/test_loading.py",
    "tests/test_engines.py",
    "tests/test_choice.py",
    "tests/test_generation.py",
    "tests/test_plugin_record.py",
)


def lower_bounds() -> list[str]:
    """Return `name==X` for each COMPAT_PACKAGES requirement `name>=X` in pyproject.toml (the declared floors)."""
    with open("pyproject.toml", "rb") as f:
        requirements = tomllib.load(f)["project"]["dependencies"]
    pins = []
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][A-Za-z0-9.]*)", requirement.replace(" ", ""))
        if match and match[1].lower() in COMPAT_PACKAGES:
            pins.append(f"{match[1]}=={match[2]}")
    missing = set(COMPAT_PACKAGES) - {p.split("==")[0].lower() for p in pins}
    if missing:
        raise ValueError(f"pyproject.toml: no `NAME>=VERSION` requirement for {sorted(missing)}")
    return pins


@nox.session
@nox.parametrize("deps", ["lower", "gpu-image"])
def compat(session: nox.Session, deps: str) -> None:
    """The library-calling tests on the declared lower bounds and the GPU image's set: `nox -s compat`.

    One set: `nox -s "compat(deps='lower')"` (what .ci/run runs) or `nox -s "compat(deps='gpu-image')"`.
    """
    pins = lower_bounds() if deps == "lower" else list(GPU_IMAGE)
    session.install(TORCH, "-e", ".[dev]", *pins)
    session.run("python", "-m", "pip", "check")
    session.run("python", "-c", "import tunebench.compat as c; print('checkpointing keyword:', c.checkpointing_arg())")
    # Test paths among the arguments replace COMPAT_TESTS (.ci/run runs fewer); other arguments go to pytest.
    paths = [a for a in session.posargs if a.startswith("tests/")]
    options = [a for a in session.posargs if not a.startswith("tests/")]
    session.run("pytest", "-p", "no:cacheprovider", *(paths or COMPAT_TESTS), *options, env=OFFLINE)
