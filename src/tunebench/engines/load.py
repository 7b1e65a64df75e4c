"""The probes' load phase: N concurrent streams, and the serving figures `vllm bench serve` reports.

Each request is one greedy streamed generation (no warm-up inside the phase: one warm-up request runs
first, alone). Per request: TTFT (first content chunk), TPOT = (end-to-end - TTFT) / (output tokens - 1),
the inter-token latencies (gaps between content chunks; for in-process hf, none are measured), and
end-to-end latency. Over the phase: p50/p90/p99 of each (linear interpolation) and output tokens/s =
all output tokens / the phase's wall time. Figures at one concurrency are comparable only with figures at
the same concurrency on the same engine.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunebench.engines.base import Engine
from tunebench.scoring.generation import GenerationResult
from tunebench.stats import percentiles

__all__ = ["load_phase", "summarize"]


def load_phase(
    engine: Engine,
    conversations: Sequence[list[dict[str, str]]],
    concurrency: int,
    max_new_tokens: int,
    requests: int | None = None,
) -> dict[str, Any]:
    """Run `requests` (default: 4 per stream, at least one per conversation) generations, `concurrency` at once."""
    if concurrency < 1:
        raise ValueError(f"concurrency: expected at least 1, found {concurrency}")
    if not conversations:
        raise ValueError("load phase: no conversations to send")
    total = requests or max(4 * concurrency, len(conversations))
    work = [conversations[i % len(conversations)] for i in range(total)]
    engine.generate(work[0], max_new_tokens, repeats=1, warmup=0)  # warm-up, alone

    def one(messages: list[dict[str, str]]) -> GenerationResult:
        return engine.generate(messages, max_new_tokens, repeats=1, warmup=0)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, work))
    wall = time.perf_counter() - start
    return summarize(results, concurrency, wall)


def summarize(results: Sequence[GenerationResult], concurrency: int, wall_s: float) -> dict[str, Any]:
    """Return the load record: concurrency, requests, wall, p50/p90/p99 of TTFT/TPOT/ITL/e2e, output tokens/s."""
    ttft = [r.ttft_runs_s[0] for r in results]
    e2e = [r.latency_s[0] for r in results]
    tpot = [(r.latency_s[0] - r.ttft_runs_s[0]) / (r.new_tokens - 1) for r in results if r.new_tokens > 1]
    itl = [gap for r in results for gap in r.itl_s]
    tokens = sum(r.new_tokens for r in results)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "wall_s": round(wall_s, 6),
        "output_tokens": tokens,
        "output_tokens_per_s": round(tokens / wall_s, 6) if wall_s > 0 else None,
        "ttft_s": _figures(ttft),
        "tpot_s": _figures(tpot),
        "itl_s": _figures(itl),
        "e2e_s": _figures(e2e),
    }


def _figures(values: Sequence[float]) -> dict[str, float | int | None]:
    # The load record's shape: stats.percentiles without n and max.
    summary = percentiles(values)
    return {key: summary[key] for key in ("p50", "p90", "p99", "mean")}
