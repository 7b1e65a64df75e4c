"""The engine interface, its provenance record, and multiple choice on any engine's log-likelihoods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from tunebench.errors import TunebenchError
from tunebench.scoring.choice import TARGET_DELIMITER, ChoiceResult, format_prompt, result_of
from tunebench.scoring.generation import GenerationResult
from tunebench.suites import LETTERS, Question

__all__ = ["ENGINES", "Engine", "EngineError", "EngineInfo", "score_choices", "choice_requests"]

ENGINES = ("hf", "openai", "vllm")
Progress = Callable[[int, int], None]


class EngineError(TunebenchError):
    """An engine cannot do what was asked (no server, unknown model, no logprobs, timeout, server error)."""


@dataclass(frozen=True)
class EngineInfo:
    """What ran the model, for the record: `model.engine` in the EvalRecord."""

    engine: str  # hf, openai, vllm
    engine_version: str | None  # transformers', the server's vLLM version, or vllm's
    model_id: str  # the served model id (openai), else the local folder or hub id loaded
    dtype: str | None = None
    tensor_parallel_size: int | None = None
    max_length: int | None = None
    endpoint: str | None = None
    server: str | None = None  # what the server says it is, when it says (e.g. "vllm")
    concurrency: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """A model behind lm-eval's LM shape, with timing. Every engine gives the same scores for the same weights."""

    load_seconds: float

    def info(self) -> EngineInfo: ...

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """Return (log P(continuation | context), is the continuation the greedy one) per request."""
        ...

    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        """Greedy chat reply, streamed and timed over `repeats` runs after `warmup` runs."""
        ...

    def score_choices(
        self, questions: Sequence[Question], batch_size: int = 16, progress: Progress | None = None
    ) -> list[ChoiceResult]:
        """Multiple choice by log-likelihood (lm-eval's `multiple_choice`), one result per question."""
        ...

    def close(self) -> None: ...


def choice_requests(questions: Sequence[Question]) -> list[tuple[str, str]]:
    """Return the (context, continuation) pairs of the questions: four per question, " A" .. " D"."""
    return [(format_prompt(q), TARGET_DELIMITER + letter) for q in questions for letter in LETTERS]


def score_choices(
    engine: Engine, questions: Sequence[Question], progress: Progress | None = None
) -> list[ChoiceResult]:
    """Multiple choice through `engine.loglikelihood`: the four choices of each question, then acc/acc_norm picks."""
    scores = engine.loglikelihood(choice_requests(questions), progress=progress)
    n = len(LETTERS)
    return [result_of(q, scores[i * n : (i + 1) * n]) for i, q in enumerate(questions)]
