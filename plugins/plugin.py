"""Hooks and fixtures: translate pytest events into tunebench library calls (nothing more)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunebench.config import Config, load_config
from tunebench.errors import TunebenchError
from tunebench.registry import Registry

RECORD_KEY = "tunebench"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tunebench", "tunebench evaluation")
    group.addoption("--model", dest="tunebench_model", metavar="NAME", default=None,
                    help="registry model to evaluate (default: [tool.tunebench] default_model, else tiny)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tunebench_suite(name): the test belongs to this evaluation suite")
    config.addinivalue_line("markers", "domain(name): the finance domain a question or probe covers")
    config.addinivalue_line("markers", "difficulty(level): easy, medium, hard or extreme")
    try:
        tb_config = load_config(config.rootpath)
        name = config.getoption("tunebench_model") or tb_config.default_model
        Registry(tb_config).get(name)
    except TunebenchError as exc:
        raise pytest.UsageError(f"--model: {exc}") from None
    config.stash[_CONFIG] = tb_config
    config.stash[_MODEL_NAME] = name


_CONFIG = pytest.StashKey[Config]()
_MODEL_NAME = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def tb_config(pytestconfig: pytest.Config) -> Config:
    """The validated tunebench configuration for this run."""
    return pytestconfig.stash[_CONFIG]


@pytest.fixture(scope="session")
def tb_model_name(pytestconfig: pytest.Config) -> str:
    """The registry name of the model under evaluation (`--model`)."""
    return pytestconfig.stash[_MODEL_NAME]


@pytest.fixture(scope="session")
def tb_model(tb_model_name: str, tb_config: Config):
    """The model under evaluation, loaded once per run, adapter merged (`tunebench.loading.LoadedModel`)."""
    from tunebench.loading import load_model

    return load_model(tb_model_name, tb_config, with_hashes=True)


class Recorder:
    """Attaches a test's outcome to its report, where the controller (also under xdist) collects it."""

    def __init__(self, node: pytest.Item):
        self._node = node

    def __call__(self, **outcome: Any) -> None:
        """Attach `outcome` (JSON-serializable values) to this test's report."""
        try:
            text = json.dumps(outcome, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            pytest.fail(f"record(): outcome of {self._node.nodeid} is not JSON-serializable: {exc}",
                        pytrace=False)
        self._node.user_properties.append((RECORD_KEY, text))


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Recorder:
    """Call `record(**outcome)` to attach this test's outcome to the run's record."""
    return Recorder(request.node)
