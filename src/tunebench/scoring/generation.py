"""Timed generation's result: one prompt's greedy answer and its timings, whatever engine produced it.

Timings of one run, as every engine measures them (`time.perf_counter`):

- latency: from sending the request (after tokenization) to the last token (on CUDA, after a synchronize);
- TTFT (time to first token): to the moment the first new token reaches the caller (prefill plus one
  decoding step);
- decode tokens/s: the tokens after the first over the time after the first,
  `(new_tokens - 1) / (latency - ttft)`; None for a one-token answer.

Over `repeats` timed runs the summary is TTFT = median of the runs' TTFTs, latency median and p90
(linear interpolation), and decode tokens/s from the two medians by the formula above, so the three
published numbers always agree with each other. `new_tokens` counts the eos token when the model stopped
on one (stop reason "eos"); a run that produced `max_new_tokens` tokens without eos stops for "length".
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from tunebench.stats import percentile

__all__ = ["GenerationResult"]


@dataclass(frozen=True)
class GenerationResult:
    """One prompt's answer and timings over the repeats (see the module docstring for the definitions)."""

    text: str
    prompt_tokens: int
    new_tokens: int
    stop_reason: str | None  # "eos" or "length"; None when a server gives no finish_reason
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
    def latency_p90_s(self) -> float | None:
        """90th percentile of total latency over the timed runs (linear interpolation); None with no runs."""
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
