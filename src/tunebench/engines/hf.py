"""The `hf` engine: a model loaded in this process with transformers (tunebench.loading), the default.

Multiple choice is the batched one-pass scorer of `scoring.choice`; generation is `scoring.generation`'s
timed greedy `generate`. Results are those of the scorers called directly (tests/test_engines.py checks).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tunebench.engines.base import EngineInfo, Progress
from tunebench.scoring.choice import ChoiceResult, score_pairs, score_questions
from tunebench.scoring.generation import GenerationResult, timed_generate
from tunebench.suites import Question

__all__ = ["HFEngine"]


class HFEngine:
    """A `tunebench.loading.LoadedModel` behind the engine interface."""

    name = "hf"

    def __init__(self, loaded: Any, batch_size: int = 16):
        self.loaded = loaded
        self.batch_size = batch_size
        self.load_seconds = loaded.load_seconds

    def info(self) -> EngineInfo:
        import transformers

        config = getattr(self.loaded.model, "config", None)
        return EngineInfo(
            engine="hf",
            engine_version=transformers.__version__,
            # As given (registry base, folder or hub id), not this machine's cache path of it.
            model_id=self.loaded.entry.base or self.loaded.base_path,
            dtype=self.loaded.dtype,
            tensor_parallel_size=1,
            max_length=getattr(config, "max_position_embeddings", None),
        )

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        return score_pairs(self.loaded.model, self.loaded.tokenizer, requests, self.batch_size, progress)

    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        return timed_generate(
            self.loaded.model, self.loaded.tokenizer, messages, max_new_tokens, repeats=repeats, warmup=warmup
        )

    def score_choices(
        self, questions: Sequence[Question], batch_size: int | None = None, progress: Progress | None = None
    ) -> list[ChoiceResult]:
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        return score_questions(model, tokenizer, questions, batch_size=batch_size or self.batch_size, progress=progress)

    def close(self) -> None:
        pass
