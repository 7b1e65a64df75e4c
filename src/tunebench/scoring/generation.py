"""Timed generation: chat template, greedy decoding, the model's own eos ids, warm-up, repeats.

Timings of one run (all `time.perf_counter`, after tokenization, around `model.generate`):

- latency: from calling `generate` to its return (on CUDA, after a synchronize);
- TTFT (time to first token): from calling `generate` to the moment the first new token reaches the
  streamer (prefill plus one decoding step; transformers hands tokens to the streamer on the host);
- decode tokens/s: the tokens after the first over the time after the first,
  `(new_tokens - 1) / (latency - ttft)`; None for a one-token answer.

Over `repeats` timed runs the summary is TTFT = median of the runs' TTFTs, latency median and p90
(linear interpolation), and decode tokens/s from the two medians by the formula above, so the three
published numbers always agree with each other. `new_tokens` counts the eos token when the model stopped
on one (stop reason "eos"); a run that produced `max_new_tokens` tokens without eos stops for "length".
Greedy decoding ignores the model's sampling settings (temperature, top-p, repetition penalty); pass
`generate_kwargs` to override.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["GenerationResult", "timed_generate", "eos_token_ids", "percentile"]


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's answer and timings over the repeats (see the module docstring for the definitions)."""

    text: str
    prompt_tokens: int
    new_tokens: int
    stop_reason: str  # "eos" or "length"
    ttft_runs_s: tuple[float, ...]
    latency_s: tuple[float, ...]
    token_ids: tuple[int, ...] = ()
    # Served engines: the gaps between content chunks of the first timed run (inter-token latency).
    itl_s: tuple[float, ...] = ()

    @property
    def ttft_s(self) -> float:
        """Median time to first token over the timed runs."""
        return statistics.median(self.ttft_runs_s)

    @property
    def latency_median_s(self) -> float:
        """Median total latency over the timed runs."""
        return statistics.median(self.latency_s)

    @property
    def latency_p90_s(self) -> float:
        """90th percentile of total latency over the timed runs (linear interpolation)."""
        return percentile(self.latency_s, 90)

    @property
    def decode_s(self) -> float:
        """Time spent after the first token: median latency minus median TTFT."""
        return self.latency_median_s - self.ttft_s

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Tokens after the first per second after the first; None when there is nothing after the first."""
        if self.new_tokens < 2 or self.decode_s <= 0:
            return None
        return (self.new_tokens - 1) / self.decode_s

    @property
    def time_per_output_token_s(self) -> float | None:
        """Seconds per token after the first (TPOT, 1 / decode tokens/s): speed without the answer's length."""
        rate = self.decode_tokens_per_s
        return None if rate is None else 1 / rate


def percentile(values: Any, q: float) -> float:
    """Return the q-th percentile of `values`, interpolating linearly between order statistics (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


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
    if repeats < 1:
        raise ValueError(f"repeats: expected at least 1, found {repeats}")
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
