"""The machine's own speed: a fixed reference workload timed beside the probes, so a busy runner is not a slower model.

The gate compares a run's latency with a baseline run's, often measured on another day, on a runner other
jobs share. A probe that took twice as long may mean a slower model or a busier machine. So every probe's
timed repeats are interleaved with a fixed reference workload (`REFERENCE_WORKLOAD`: four forward passes
of 16 tokens through a Qwen2 of the built-in `tiny`'s shape with seeded random weights, about 10 ms on an
idle core: the same kind of work as a small model's decoding, transformers' Python overhead included):
reference, repeat 1, reference, repeat 2, ..., reference. The reference sees the load the probe saw, and
the gate judges latency relative to it (`tunebench.gate.slowdown`). A plain matrix-product loop tracked the
model less well under load (measured on a busy 2-core machine: 1.1-1.2x bias on TTFT against about 1.0).

The reference runs on the CPU with torch's current thread setting, as an in-process model on the CPU does
(and as the client of a served model does). A change of the workload changes `REFERENCE_WORKLOAD`, and
runs with different workloads are not compared.
"""

from __future__ import annotations

import time
from typing import Any

from tunebench.history.typed import SpeedReference

__all__ = ["REFERENCE_WORKLOAD", "reference_seconds", "generate_beside_reference"]

REFERENCE_WORKLOAD = "qwen2-tiny-shape-random-forward-16tok-x4-v1"
_PASSES, _TOKENS, _VOCAB = 4, 16, 1024  # about 10 ms on one idle CPU core: long enough to span scheduler slices
_state: dict[str, Any] = {}


def reference_seconds() -> float:
    """Return the seconds one run of the fixed reference workload took now (the machine's speed at this moment)."""
    import torch

    model, input_ids = _reference_model()
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(_PASSES):
            model(input_ids=input_ids, use_cache=False)
    return time.perf_counter() - start


def _reference_model() -> tuple[Any, Any]:
    """The reference: a Qwen2 of `tiny`'s shape with seeded random weights, built once per process (no files)."""
    if "model" not in _state:
        import torch
        from transformers import Qwen2Config, Qwen2ForCausalLM

        from tunebench.tiny import TINY_CONFIG

        with torch.random.fork_rng(devices=[]):  # seeded, without moving the caller's random state
            torch.manual_seed(0)
            model = Qwen2ForCausalLM(Qwen2Config(**TINY_CONFIG, vocab_size=_VOCAB)).eval()
            _state["model"] = model
            _state["input_ids"] = torch.randint(0, _VOCAB, (1, _TOKENS))
    return _state["model"], _state["input_ids"]


def generate_beside_reference(
    engine: Any, messages: list[dict[str, str]], *, max_new_tokens: int, repeats: int, warmup: int
) -> tuple[Any, SpeedReference]:
    """Return the engine's timed reply over `repeats` runs, and the reference timed before, between and after them.

    Each repeat is one `engine.generate` call of one timed run (the warm-up runs only before the first), so
    the reply's `ttft_runs_s` and `latency_s` are those of `engine.generate(..., repeats=repeats)`.
    """
    from dataclasses import replace

    if repeats < 1:
        raise ValueError(f"repeats: expected at least 1, found {repeats}")
    reference_seconds()  # the workload's first run pays for its own set-up
    timings, runs = [], []
    for index in range(repeats):
        timings.append(reference_seconds())
        first_warmup = warmup if index == 0 else 0
        runs.append(engine.generate(messages, max_new_tokens=max_new_tokens, repeats=1, warmup=first_warmup))
    timings.append(reference_seconds())
    first = runs[0]
    reply = replace(
        first,
        ttft_runs_s=tuple(t for run in runs for t in run.ttft_runs_s),
        latency_s=tuple(t for run in runs for t in run.latency_s),
    )
    return reply, SpeedReference(REFERENCE_WORKLOAD, tuple(round(t, 9) for t in timings))
