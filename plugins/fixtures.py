"""Fixtures a suite author uses: configuration, the model (loaded once), scorers, and `record`."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from tunebench.config import Config
from tunebench.errors import EXIT_CANNOT_START, TunebenchError
from tunebench.escaping import terminal_text
from tunebench.history.eval_record import check_outcome, model_record
from tunebench_pytest.terminal import quiet_library_bars

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
    "tb_engine",
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
    from tunebench.efficiency import decode_floor

    return model_record(
        loaded.entry,
        hashes=dict(loaded.hashes),
        device=loaded.device,
        dtype=loaded.dtype,
        merged=loaded.merged,
        load_s=round(loaded.load_seconds, 6),
        decode_floor=decode_floor(loaded.model, loaded.device),
    )


@pytest.fixture(scope="session")
def tb_model(tb_model_name: str, tb_settings, tb_config: Config, pytestconfig: pytest.Config):
    """The model under evaluation, loaded once per run, adapter merged (`tunebench.loading.LoadedModel`)."""
    from tunebench.engines.registry import engine_class
    from tunebench.loading import load_model

    if not engine_class(tb_settings.engine).needs_weights:
        pytest.fail(
            f"tunebench: model {tb_model_name!r} is served (--engine {tb_settings.engine}); this test needs the "
            "weights in-process (tb_model): use tb_engine",
            pytrace=False,
        )
    # A gs:// pull shows its progress (bytes, rate, ETA) on the terminal, past pytest's output capture.
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    try:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext(), quiet_library_bars():
            loaded = load_model(tb_settings.entry or tb_model_name, tb_config, with_hashes=True)
    except (TunebenchError, OSError, ValueError) as exc:  # transformers: OSError/ValueError for a broken folder
        message = terminal_text(f"tunebench: cannot load model {tb_model_name!r}: {exc}")
        if not hasattr(pytestconfig, "workerinput"):
            # One cause, one message: stop the session (exit 4, errors.EXIT_CANNOT_START) instead of failing
            # every test that needs the model with the same error. (xdist workers fail the test as before.)
            pytest.exit(message, returncode=EXIT_CANNOT_START)
        pytest.fail(message, pytrace=False)
    pytestconfig.stash[MODEL_INFO] = model_info(loaded)
    return loaded


@pytest.fixture(scope="session")
def tb_engine(tb_settings, tb_config: Config, request: pytest.FixtureRequest, pytestconfig: pytest.Config):
    """The engine the model runs on (`--engine`): `score_choices(questions)`, `generate(messages, ...)`, `info()`.

    Each engine takes what it needs: hf wraps `tb_model`; openai connects to the server (no weights here);
    vllm loads `vllm.LLM` from the weights' local folder. Its `info()` goes into the record as `model.engine`.
    """
    from tunebench.engines.base import EngineOptions
    from tunebench.engines.registry import engine_class, make_engine
    from tunebench.loading import resolve_location
    from tunebench.registry import Registry

    settings, entry = tb_settings, tb_settings.entry
    options = EngineOptions(
        batch_size=tb_config.eval.batch_size,
        timeout_s=tb_config.eval.request_timeout_s,
        loaded=lambda: request.getfixturevalue("tb_model"),
        location=lambda: resolve_location(entry.base, Registry(tb_config)),
        generation_mode=settings.generation_mode,
    )
    try:
        engine = make_engine(settings.engine, entry, options)
        if engine_class(settings.engine).served:
            _probe_served(engine)
    except TunebenchError as exc:
        message = terminal_text(f"tunebench: engine {settings.engine} for model {settings.model!r}: {exc}")
        if not hasattr(pytestconfig, "workerinput"):
            # One cause, one message (exit 4): not one setup error per item, each with the same exception chain.
            pytest.exit(message, returncode=EXIT_CANNOT_START)
        pytest.fail(message, pytrace=False)
    info = {**engine.info().to_dict(), "concurrency": settings.concurrency}
    base = pytestconfig.stash.get(MODEL_INFO, None) or model_record(
        entry,
        # Served: the weights the server says it loaded (its /v1/models root), else where it was reached.
        base=entry.base or info["root"] or entry.endpoint or "",
        adapter=entry.adapter or info["adapter"],
        registry_status=entry.status if entry.origin != "--model" else None,
        dtype=info["dtype"],
        load_s=None if engine.load_seconds is None else round(engine.load_seconds, 6),
        decode_floor=engine.decode_floor(),
    )
    pytestconfig.stash[MODEL_INFO] = {**base, "engine": info}
    yield engine
    engine.close()


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


def _probe_served(engine: Any) -> None:
    """Ask a served engine for one continuation's log-likelihood, so that a server that cannot score (HTTP 500 on
    /v1/completions, no prompt logprobs, garbage) fails the session at its start, not every item after it."""
    engine.loglikelihood([("The answer is", " yes")])


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Recorder:
    """Call `record(**outcome)` to attach this test's outcome to the run's record."""
    return Recorder(request.node)


@pytest.fixture(scope="session")
def tb_score_questions(tb_engine, tb_config: Config):
    """`score(questions) -> list[ChoiceResult]`: log-likelihood multiple choice on the engine, batched."""

    def score(questions):
        return tb_engine.score_choices(questions, batch_size=tb_config.eval.batch_size)

    return score


@pytest.fixture(scope="session")
def tb_generate(tb_engine, tb_config: Config):
    """`generate(messages) -> GenerationResult`: timed generation with the configured length, repeats, warmup."""

    def generate(messages, **overrides):
        settings = {
            "max_new_tokens": tb_config.eval.max_new_tokens,
            "repeats": tb_config.eval.repeats,
            "warmup": tb_config.eval.warmup,
            **overrides,
        }
        return tb_engine.generate(messages, **settings)

    return generate


@pytest.fixture(scope="session")
def tb_grade():
    """`grade(answer, probe) -> Grade(score, evidence)`: the 1-5 quality grade of a probe answer."""
    from tunebench.scoring.quality import grade

    return grade
