"""The `hf` engine: a model loaded in this process with transformers (tunebench.loading), the default.

It owns its compute: multiple choice is the batched one-pass forward scorer of `engines.hf_choice` (each
(context, continuation) on its own row for `loglikelihood`), generation `engines.hf_generation`'s timed
greedy `model.generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunebench.engines.base import Engine, EngineError, EngineInfo, EngineOptions, Progress, register_engine
from tunebench.engines.hf_choice import score_pairs, score_questions
from tunebench.engines.hf_generation import decoding_for, timed_generate
from tunebench.scoring.choice import ChoiceResult
from tunebench.scoring.generation import GenerationResult
from tunebench.suites import Question

if TYPE_CHECKING:
    from tunebench.loading import LoadedModel
    from tunebench.registry import ModelEntry

__all__ = ["HFEngine"]


@register_engine("hf")
class HFEngine(Engine):
    """A `tunebench.loading.LoadedModel` behind the engine interface."""

    uses_loaded_model = True

    def __init__(self, loaded: LoadedModel, batch_size: int = 16, generation_mode: str = "auto"):
        self.loaded = loaded
        self.batch_size = batch_size
        self.load_seconds = loaded.load_seconds
        try:
            self.decoding = decoding_for(generation_mode, getattr(loaded.model.device, "type", "cpu"))
        except ValueError as exc:
            raise EngineError(f"engine hf: {exc}") from None

    @classmethod
    def open(cls, entry: ModelEntry, options: EngineOptions) -> HFEngine:
        if options.loaded is None:
            raise EngineError(f"model {entry.name!r}: engine hf needs the model loaded in this process")
        return cls(options.loaded(), batch_size=options.batch_size, generation_mode=options.generation_mode)

    def info(self) -> EngineInfo:
        import transformers

        config = getattr(self.loaded.model, "config", None)
        # As given (registry base, folder or hub id), not this machine's cache path of it.
        base, adapter = self.loaded.entry.base or self.loaded.base_path, self.loaded.entry.adapter
        return EngineInfo(
            engine=self.name,
            engine_version=transformers.__version__,
            model_id=f"{base} + {adapter}" if adapter else base,
            dtype=self.loaded.dtype,
            tensor_parallel_size=1,
            max_length=getattr(config, "max_position_embeddings", None),
            adapter=adapter,
            generation_mode=self.decoding.mode,
        )

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        return score_pairs(self.loaded.model, self.loaded.tokenizer, requests, self.batch_size, progress)

    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        return timed_generate(
            model, tokenizer, messages, max_new_tokens, repeats=repeats, warmup=warmup, decoding=self.decoding
        )

    def generate_until(
        self, requests: Sequence[tuple[str, dict[str, Any]]], progress: Progress | None = None
    ) -> list[str]:
        """lm-eval's `generate_until`: greedy continuation of each (context, gen_kwargs), cut at its stop strings."""
        from tunebench.engines.hf_until import generate_until

        return generate_until(self.loaded.model, self.loaded.tokenizer, requests, self.batch_size, progress)

    def score_choices(
        self, questions: Sequence[Question], batch_size: int | None = None, progress: Progress | None = None
    ) -> list[ChoiceResult]:
        """One forward pass per question where the four continuations are one token each (see hf_choice)."""
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        return score_questions(model, tokenizer, questions, batch_size=batch_size or self.batch_size, progress=progress)
