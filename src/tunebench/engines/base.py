"""The engine base class, its registration, its provenance record, and multiple choice on log-likelihoods.

An engine is registered by name with `@register_engine("name")` on its class (lm-eval's `register_model`);
`engines.registry` imports the built-in engine modules and answers every "which engines are there" question.
The base class holds what every engine shares: multiple choice from `loglikelihood` (lm-eval's
`TemplateLM`), lm-eval's pair encoding for engines that tokenize here, and the argument checks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from tunebench.errors import TunebenchError
from tunebench.scoring.choice import TARGET_DELIMITER, ChoiceResult, format_prompt, result_of
from tunebench.scoring.generation import GenerationResult
from tunebench.suites import LETTERS, Question

if TYPE_CHECKING:
    from tunebench.loading import LoadedModel
    from tunebench.registry import ModelEntry

__all__ = [
    "UNKNOWN",
    "Engine",
    "EngineError",
    "EngineInfo",
    "EngineOptions",
    "Progress",
    "register_engine",
    "registered_engines",
    "score_choices",
    "choice_requests",
    "encode_pair",
    "check_repeats",
]

Progress = Callable[[int, int], None]
UNKNOWN = "unknown"  # what a record says of a fact the engine could not learn (a server that does not say its dtype)
E = TypeVar("E", bound="type[Engine]")
_REGISTERED: dict[str, type[Engine]] = {}


class EngineError(TunebenchError):
    """An engine cannot do what was asked (no server, unknown model, no logprobs, timeout, server error)."""


@dataclass(frozen=True)
class EngineInfo:
    """What ran the model, for the record: `model.engine` in the EvalRecord."""

    engine: str  # the registered engine name
    engine_version: str | None  # transformers', the server's vLLM version, or vllm's
    model_id: str  # the served model id (openai), else the local folder or hub id; "BASE + ADAPTER" with one
    dtype: str | None = None
    tensor_parallel_size: int | None = None
    max_length: int | None = None
    endpoint: str | None = None
    server: str | None = None  # what the server says it is, when it says (e.g. "vllm")
    concurrency: int = 1
    root: str | None = None  # served: the base weights the server says it loaded (`/v1/models` root)
    adapter: str | None = None  # the adapter on the base: the registry's (merged), or the one a server serves
    generation_mode: str | None = None  # hf: how generate decodes, "eager" or "compiled" (static cache)

    def to_dict(self) -> dict[str, Any]:
        """Return the record's `model.engine` (eval_record.schema.json $defs/engine)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineInfo:
        """Return a record's `model.engine` as stored; a key older records lack takes its default (the schema
        requires only `engine` and `model_id`: a missing `engine_version` is None)."""
        known = {f.name for f in fields(cls)}
        return cls(**{"engine_version": None, **{key: value for key, value in data.items() if key in known}})


@dataclass(frozen=True)
class EngineOptions:
    """What opening an engine may use; an engine asks only for what it needs (the model is loaded on demand)."""

    batch_size: int = 16
    timeout_s: float = 120.0  # served engines: per request
    loaded: Callable[[], LoadedModel] | None = None  # the model loaded in this process (tunebench.loading)
    location: Callable[[], str] | None = None  # the weights' local folder (or hub id)
    generation_mode: str = "auto"  # in-process generation: auto, eager or compiled (engines.hf_generation)


class Engine(ABC):
    """A model behind lm-eval's LM shape, with timing. Every engine gives the same scores for the same weights.

    Traits (class attributes) tell callers what an engine needs without naming it: `needs_weights` (the
    weights are read on this machine), `served` (it talks to a server at an endpoint), `uses_loaded_model`
    (it runs the model `tunebench.loading` loaded in this process: the plugin's `tb_model`).
    """

    name: ClassVar[str]
    needs_weights: ClassVar[bool] = True
    served: ClassVar[bool] = False
    uses_loaded_model: ClassVar[bool] = False
    load_seconds: float | None = None  # None when this process loaded nothing (a served model)

    @classmethod
    @abstractmethod
    def open(cls, entry: ModelEntry, options: EngineOptions) -> Engine:
        """Return the engine for registry entry `entry` (the one constructor `make_engine` calls)."""

    @abstractmethod
    def info(self) -> EngineInfo:
        """Return what ran the model, for the record."""

    @abstractmethod
    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        """Return (log P(continuation | context), is the continuation the greedy one) per request."""

    @abstractmethod
    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        """Greedy chat reply, streamed and timed over `repeats` runs after `warmup` runs."""

    def score_choices(
        self, questions: Sequence[Question], batch_size: int | None = None, progress: Progress | None = None
    ) -> list[ChoiceResult]:
        """Multiple choice by log-likelihood (lm-eval's `multiple_choice`), one result per question."""
        return score_choices(self, questions, progress=progress)

    def generate_until(
        self, requests: Sequence[tuple[str, dict[str, Any]]], progress: Progress | None = None
    ) -> list[str]:
        """lm-eval's `generate_until`: the greedy continuation of each (context, gen_kwargs), cut at its stop strings.

        Used by lm-eval tasks of `output_type: generate_until` (tunebench.lmeval); an engine without it refuses them.
        """
        raise EngineError(f"engine {self.name} cannot run generate_until (lm-eval generation tasks)")

    def decode_floor(self) -> dict[str, object] | None:
        """Return the record's `model.decode_floor` where the engine alone knows it (a served model); else None.

        In process, the plugin takes the floor from the weights it loaded (`tunebench.efficiency.decode_floor`).
        """
        return None

    def close(self) -> None:
        """Release what the engine holds (a client's connections); the default holds nothing."""
        return None


def register_engine(name: str) -> Callable[[E], E]:
    """Class decorator: register an Engine subclass under `name` (its `name` attribute is set to it)."""

    def register(cls: E) -> E:
        if name in _REGISTERED and _REGISTERED[name] is not cls:
            twice = f"{_REGISTERED[name].__qualname__}, {cls.__qualname__}"
            raise ValueError(f"engine {name!r} is registered twice ({twice})")
        cls.name = name
        _REGISTERED[name] = cls
        return cls

    return register


def registered_engines() -> dict[str, type[Engine]]:
    """Return name -> class of the engines registered so far (`engines.registry` loads the built-in ones)."""
    return dict(_REGISTERED)


STOP_REASONS = {"stop": "eos", "length": "length"}  # a server's or vLLM's finish_reason, as a record says it
DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HFLM.max_gen_toks


def until_request(index: int, gen_kwargs: Mapping[str, Any]) -> tuple[list[str], int]:
    """Return (stop strings, max new tokens) of one lm-eval `generate_until` request; EngineError unless greedy."""
    kwargs = dict(gen_kwargs)
    if kwargs.pop("do_sample", False) or kwargs.pop("temperature", 0) not in (0, 0.0, None):
        raise EngineError(f"request {index}: only greedy generation is supported, found {dict(gen_kwargs)}")
    until = kwargs.pop("until", None) or []
    max_tokens = kwargs.pop("max_gen_toks", None) or kwargs.pop("max_tokens", None) or DEFAULT_MAX_GEN_TOKS
    return ([until] if isinstance(until, str) else list(until)), int(max_tokens)


def check_repeats(repeats: int) -> None:
    """Raise ValueError unless `repeats` (timed runs of a generation) is at least 1."""
    if repeats < 1:
        raise ValueError(f"repeats: expected at least 1, found {repeats}")


def choice_requests(questions: Sequence[Question]) -> list[tuple[str, str]]:
    """Return the (context, continuation) pairs of the questions: four per question, " A" .. " D"."""
    return [(format_prompt(q), TARGET_DELIMITER + letter) for q in questions for letter in LETTERS]


def score_choices(
    engine: Engine, questions: Sequence[Question], progress: Progress | None = None
) -> list[ChoiceResult]:
    """Multiple choice through `engine.loglikelihood`: the four choices of each question, then acc/acc_norm picks.

    `progress` counts questions, as every engine's multiple choice does (the requests go four per question).
    """
    n = len(LETTERS)
    per_question = (lambda done, total: progress(done // n, total // n)) if progress else None
    scores = engine.loglikelihood(choice_requests(questions), progress=per_question)
    return [result_of(q, scores[i * n : (i + 1) * n]) for i, q in enumerate(questions)]


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-eval's `_encode_pair` for causal models: trailing context spaces move to the continuation."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = _encode(tokenizer, context + continuation)
    context_tokens = _encode(tokenizer, context)
    return context_tokens, whole[len(context_tokens) :]


def _encode(tokenizer: Any, text: str) -> list[int]:
    # As lm-eval's HFLM.tok_encode: the tokenizer's default special tokens, unless the text already has BOS.
    bos = getattr(tokenizer, "bos_token", None)
    kwargs = {"add_special_tokens": False} if bos and text.startswith(bos) else {}
    return list(tokenizer.encode(text, **kwargs))
