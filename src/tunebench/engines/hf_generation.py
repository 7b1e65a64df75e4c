"""The hf engine's timed generation: chat template, greedy `model.generate`, the model's own eos ids, warm-up.

Timings follow `scoring.generation` (all `time.perf_counter`, after tokenization, around `model.generate`):
TTFT is the moment the first new token reaches the streamer (transformers hands tokens to the streamer on
the host). Greedy decoding ignores the model's sampling settings (temperature, top-p, repetition penalty);
pass `generate_kwargs` to override.

Decoding runs one of two ways (`Decoding`): "eager", transformers' dynamic cache and plain forward calls;
or "compiled", as transformers documents fast generation: a static KV cache (`cache_implementation=
"static"`) and the decoding step `torch.compile`d by `generate` itself (`compile_config`; CUDA graphs with
mode "reduce-overhead" on a GPU). The static cache is sized in powers of two (`max_cache_len`), so a
model compiles once per size; the first call at a new size runs untimed warm-ups first, so compiling
never lands in a timed run or its TTFT. Prefill stays eager in both. "auto" is compiled on CUDA, eager
elsewhere (on a CPU compiling costs more than it saves for small models; `benchmarks/test_bench_decode.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tunebench.engines.base import check_repeats
from tunebench.scoring.generation import GenerationResult

__all__ = ["GENERATION_MODES", "Decoding", "decoding_for", "timed_generate", "eos_token_ids"]

GENERATION_MODES = ("auto", "eager", "compiled")
_MIN_CACHE = 256  # the smallest static cache: short probes share one compiled size
_NEW_SIZE_WARMUPS = 2  # compile, then (CUDA graphs) record: both before the first timed run


@dataclass
class Decoding:
    """How `model.generate` decodes: "eager" or "compiled" (static cache, compiled step); what is warmed."""

    mode: str
    warmed: set[int] = field(default_factory=set)  # static cache sizes already compiled and run

    def settings(self, model: Any, tokens: int) -> dict[str, Any]:
        """Return `generate` kwargs for a run of `tokens` (prompt + new) tokens: none when eager."""
        if self.mode != "compiled":
            return {}
        from transformers import CompileConfig

        cuda = getattr(model.device, "type", "cpu") == "cuda"
        config = CompileConfig(mode="reduce-overhead" if cuda else "default")
        if not cuda:
            config._compile_all_devices = True  # transformers' switch to compile off CUDA (its own tests use it)
        return {"cache_implementation": "static", "compile_config": config, "max_cache_len": cache_size(tokens)}

    def warmups(self, model: Any, tokens: int, asked: int) -> int:
        """Return the warm-up runs before timing: `asked`, at least two at a static cache size not yet run."""
        if self.mode != "compiled" or cache_size(tokens) in self.warmed:
            return asked
        return max(asked, _NEW_SIZE_WARMUPS)


def cache_size(tokens: int) -> int:
    """Return the static cache length for `tokens`: the power of two at or above it, at least _MIN_CACHE."""
    size = _MIN_CACHE
    while size < tokens:
        size *= 2
    return size


def decoding_for(mode: str, device_type: str) -> Decoding:
    """Return the decoding for option `mode` (auto, eager, compiled) on `device_type`; ValueError otherwise."""
    if mode not in GENERATION_MODES:
        raise ValueError(f"generation mode {mode!r}: expected one of {', '.join(GENERATION_MODES)}")
    if mode == "auto":
        mode = "compiled" if device_type == "cuda" and _can_compile() else "eager"
    elif mode == "compiled" and not _can_compile():
        raise ValueError(
            "generation mode compiled: this transformers has no CompileConfig for generate (or torch no "
            "torch.compile); use eager"
        )
    return Decoding(mode)


def _can_compile() -> bool:
    try:
        import torch
        from transformers import CompileConfig  # noqa: F401
    except ImportError:
        return False
    return hasattr(torch, "compile")


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
    decoding: Decoding | None = None,
    **generate_kwargs: Any,
) -> GenerationResult:
    """Return the greedy answer to chat `messages` and its timings over `repeats` runs after `warmup` runs.

    `decoding` (default: eager) says how `generate` decodes; a compiled one warms a new cache size first.
    """
    check_repeats(repeats)
    decoding = decoding or Decoding("eager")
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(model.device)
    eos = eos_token_ids(model, tokenizer)
    pad = getattr(model.generation_config, "pad_token_id", None)
    tokens = int(inputs["input_ids"].shape[1]) + max_new_tokens
    settings = {
        **decoding.settings(model, tokens),
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "repetition_penalty": 1.0,
        "eos_token_id": eos,
        "pad_token_id": pad if pad is not None else eos[0],
        **generate_kwargs,
    }
    for _ in range(decoding.warmups(model, tokens, warmup)):
        _run(model, inputs, settings)
    if decoding.mode == "compiled":
        decoding.warmed.add(cache_size(tokens))
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
