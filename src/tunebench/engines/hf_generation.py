"""The hf engine's timed generation: chat template, greedy `model.generate`, the model's own eos ids, warm-up.

Timings follow `scoring.generation` (all `time.perf_counter`, after tokenization, around `model.generate`):
TTFT is the moment the first new token reaches the streamer (transformers hands tokens to the streamer on
the host). Greedy decoding ignores the model's sampling settings (temperature, top-p, repetition penalty);
pass `generate_kwargs` to override.
"""

from __future__ import annotations

import time
from typing import Any

from tunebench.engines.base import check_repeats
from tunebench.scoring.generation import GenerationResult

__all__ = ["timed_generate", "eos_token_ids"]


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Return the ids generation stops on: the generation config's eos ids (Qwen2.5 has two), else the tokenizer's."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if configured is None:
        configured = tokenizer.eos_token_id
    ids = configured if isinstance(configured, list | tuple) else [configured]
    return [int(i) for i in ids if i is not None]


def timed_generate(
    model: Any,
    tokenizer: Any,
    messages: list[dict[str, str]],
    max_new_tokens: int,
    repeats: int = 1,
    warmup: int = 1,
    **generate_kwargs: Any,
) -> GenerationResult:
    """Return the greedy answer to chat `messages` and its timings over `repeats` runs after `warmup` runs."""
    check_repeats(repeats)
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(model.device)
    eos = eos_token_ids(model, tokenizer)
    pad = getattr(model.generation_config, "pad_token_id", None)
    settings = {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "repetition_penalty": 1.0,
        "eos_token_id": eos,
        "pad_token_id": pad if pad is not None else eos[0],
        **generate_kwargs,
    }
    for _ in range(warmup):
        _run(model, inputs, settings)
    runs = [_run(model, inputs, settings) for _ in range(repeats)]
    prompt_tokens = int(inputs["input_ids"].shape[1])
    new = runs[0][0][prompt_tokens:].tolist()
    stop_reason = "eos" if new and new[-1] in eos else "length"
    text = tokenizer.decode(new, skip_special_tokens=True)
    return GenerationResult(
        text=text,
        prompt_tokens=prompt_tokens,
        new_tokens=len(new),
        stop_reason=stop_reason,
        ttft_runs_s=tuple(r[1] for r in runs),
        latency_s=tuple(r[2] for r in runs),
        token_ids=tuple(new),
    )


class _FirstTokenClock:
    """A transformers streamer that notes when the first new token arrives (the first `put` is the prompt)."""

    def __init__(self) -> None:
        self.puts = 0
        self.first_token_at: float | None = None

    def put(self, value: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()


def _run(model: Any, inputs: Any, settings: dict[str, Any]) -> tuple[Any, float, float]:
    """One generation: (output token ids of the single sequence, ttft seconds, total seconds)."""
    import torch

    clock = _FirstTokenClock()
    _synchronize(torch, model)
    start = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(**inputs, **settings, streamer=clock)
    _synchronize(torch, model)
    total = time.perf_counter() - start
    ttft = min(clock.first_token_at - start, total) if clock.first_token_at else total
    return output[0].cpu(), ttft, total


def _synchronize(torch: Any, model: Any) -> None:
    if getattr(model.device, "type", "cpu") == "cuda":
        torch.cuda.synchronize(model.device)
