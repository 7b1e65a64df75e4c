"""Fixtures a suite author uses: configuration, the model (loaded once), scorers, and `record`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tunebench.config import Config
from tunebench.errors import TunebenchError
from tunebench.history.eval_record import check_outcome

__all__ = [
    "RECORD_KEY",
    "MODEL_KEY",
    "Recorder",
    "SETTINGS",
    "MODEL_INFO",
    "tb_settings",
    "tb_config",
    "tb_model_name",
    "tb_model",
    "record",
    "tb_score_questions",
    "tb_generate",
    "tb_grade",
    "model_info",
]

# user_properties names: they travel with each report to the xdist controller and into --junitxml.
RECORD_KEY = "tunebench"
MODEL_KEY = "tunebench_model"

SETTINGS = pytest.StashKey[Any]()  # options.Settings
MODEL_INFO = pytest.StashKey[dict]()  # set once the model is loaded in this process
_MODEL_INFO_SENT = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def tb_settings(pytestconfig: pytest.Config):
    """This run's resolved tunebench settings (`tunebench_pytest.options.Settings`)."""
    return pytestconfig.stash[SETTINGS]


@pytest.fixture(scope="session")
def tb_config(tb_settings) -> Config:
    """The validated tunebench configuration for this run."""
    return tb_settings.config


@pytest.fixture(scope="session")
def tb_model_name(tb_settings) -> str:
    """The registry name of the model under evaluation (`--model`)."""
    return tb_settings.model


def model_info(loaded: Any) -> dict[str, Any]:
    """Return the record's `model` fields for a `tunebench.loading.LoadedModel`."""
    entry = loaded.entry
    return {
        "name": entry.name,
        "base": entry.base,
        "adapter": entry.adapter,
        "registry_status": entry.status,
        "hashes": dict(loaded.hashes),
        "device": loaded.device,
        "dtype": loaded.dtype,
        "merged": loaded.merged,
        "load_s": round(loaded.load_seconds, 6),
    }


@pytest.fixture(scope="session")
def tb_model(tb_model_name: str, tb_config: Config, pytestconfig: pytest.Config):
    """The model under evaluation, loaded once per run, adapter merged (`tunebench.loading.LoadedModel`)."""
    from tunebench.loading import load_model

    try:
        loaded = load_model(tb_model_name, tb_config, with_hashes=True)
    except TunebenchError as exc:
        pytest.fail(f"tunebench: cannot load model {tb_model_name!r}: {exc}", pytrace=False)
    pytestconfig.stash[MODEL_INFO] = model_info(loaded)
    return loaded


class Recorder:
    """Attaches a test's outcome to its report, where the controller (also under xdist) collects it."""

    def __init__(self, node: pytest.Item):
        self._node = node

    def __call__(self, **outcome: Any) -> None:
        """Attach `outcome` (JSON-serializable; questions and probes with their contract fields) to this test."""
        try:
            text = json.dumps(outcome, sort_keys=True, allow_nan=False)
            check_outcome(outcome)
        except (TypeError, ValueError, TunebenchError) as exc:
            pytest.fail(f"record(): outcome of {self._node.nodeid} is not valid: {exc}", pytrace=False)
        self._node.user_properties.append((RECORD_KEY, text))
        self._send_model_info()

    def _send_model_info(self) -> None:
        # Under xdist only workers load the model: the first outcome of each process carries what was loaded.
        stash = self._node.config.stash
        if MODEL_INFO in stash and not stash.get(_MODEL_INFO_SENT, False):
            self._node.user_properties.append((MODEL_KEY, json.dumps(stash[MODEL_INFO], sort_keys=True)))
            stash[_MODEL_INFO_SENT] = True


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Recorder:
    """Call `record(**outcome)` to attach this test's outcome to the run's record."""
    return Recorder(request.node)


@pytest.fixture(scope="session")
def tb_score_questions(tb_model, tb_config: Config):
    """`score(questions) -> list[ChoiceResult]`: log-likelihood multiple choice on the loaded model, batched."""
    from tunebench.scoring.choice import score_questions

    def score(questions):
        return score_questions(tb_model.model, tb_model.tokenizer, questions, batch_size=tb_config.eval.batch_size)

    return score


@pytest.fixture(scope="session")
def tb_generate(tb_model, tb_config: Config):
    """`generate(messages) -> GenerationResult`: timed generation with the configured length, repeats, warmup."""
    from tunebench.scoring.generation import timed_generate

    def generate(messages, **overrides):
        settings = {
            "max_new_tokens": tb_config.eval.max_new_tokens,
            "repeats": tb_config.eval.repeats,
            "warmup": tb_config.eval.warmup,
            **overrides,
        }
        return timed_generate(tb_model.model, tb_model.tokenizer, messages, **settings)

    return generate


@pytest.fixture(scope="session")
def tb_grade():
    """`grade(answer, probe) -> Grade(score, evidence)`: the 1-5 quality grade of a probe answer."""
    from tunebench.scoring.quality import grade

    return grade
