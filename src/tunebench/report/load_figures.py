"""The load phase's figures wherever latency is shown: `vllm bench serve`'s names and units (ms, tok/s).

A run at `--concurrency N > 1` records `load` (tunebench.engines.load; `LoadFigures` in the typed record):
TTFT, TPOT (excluding the first token), ITL and end-to-end latency (E2EL) at p50/p90/p99 and their mean,
and output token throughput. The pytest summary, `tunebench history show`, `history compare` and the HTML
report show them through this module, so each reads them the same way. Figures at one concurrency compare
only with figures at the same concurrency (vLLM's benchmarks say the same of theirs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tunebench.history.record_parts import LoadFigures, LoadPercentiles
from tunebench.report.formatting import DASH, format_duration, format_ms, format_tokens_per_s
from tunebench.table import format_table

__all__ = [
    "METRICS",
    "COLUMNS",
    "milliseconds",
    "throughput",
    "headline",
    "figure_rows",
    "load_table",
    "comparison_lines",
    "comparison_rows",
    "comparable",
    "where",
]

# (record key, vLLM's abbreviation, what it measures), in the order `vllm bench serve` prints them.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("ttft_s", "TTFT", "time to first token"),
    ("tpot_s", "TPOT", "time per output token, excl. 1st"),
    ("itl_s", "ITL", "inter-token latency"),
    ("e2e_s", "E2EL", "end-to-end latency"),
)
COLUMNS = ("mean", "p50", "p90", "p99")


def milliseconds(seconds: float | None) -> str:
    """Return a latency in milliseconds, vLLM's unit for it ("17.2 ms", report.formatting.format_ms), or "—"."""
    return format_ms(seconds)


def throughput(tokens_per_s: float | None) -> str:
    """Return output tokens per second as "256 tok/s" (report.formatting.format_tokens_per_s), or "—"."""
    return DASH if tokens_per_s is None else f"{format_tokens_per_s(tokens_per_s)} tok/s"


def headline(load: LoadFigures) -> str:
    """Return "load at concurrency 4: 16 requests in 3.21 s, 812 output tokens, output token throughput ..."."""
    return (
        f"load at concurrency {load.concurrency}: {load.requests} requests in {format_duration(load.wall_s)}, "
        f"{load.output_tokens} output tokens, output token throughput {throughput(load.output_tokens_per_s)}"
    )


def figure_rows(load: LoadFigures) -> list[tuple[str, ...]]:
    """Return one row per figure: ("TTFT (time to first token)", mean, p50, p90, p99), each in ms."""
    return [(f"{short} ({meaning})", *_cells(_figure(load, key))) for key, short, meaning in METRICS]


def load_table(load: LoadFigures) -> str:
    """Return the headline and the figures as an aligned text table (the terminal's view)."""
    table = format_table(["load figure", *COLUMNS], figure_rows(load))
    untimed = all(_value(load, "itl_s", column) is None for column in COLUMNS)
    # in process (hf) a reply comes whole: the dashes are not a failure, there were no chunks to time
    note = f"\nITL {DASH}: measured between a served stream's chunks (--engine openai)" if untimed else ""
    return headline(load) + "\n" + table + note


def comparison_lines(a: LoadFigures | None, b: LoadFigures | None) -> list[str]:
    """Return A's and B's load figures side by side (p50 and p99, B - A), or [] when neither run has them."""
    if a is None and b is None:
        return []
    lines = [f"load figures: A {where(a)}; B {where(b)}"]
    if not comparable(a, b):
        lines.append("not comparable: measured at another concurrency (each run's figures are shown)")
    return [*lines, format_table(["figure", "A", "B", "B - A"], comparison_rows(a, b))]


def comparison_rows(a: LoadFigures | None, b: LoadFigures | None) -> list[tuple[str, str, str, str]]:
    """Return (figure, A, B, B - A) for p50 and p99 of each figure (ms), then output token throughput (tok/s)."""
    rows = [
        (f"{short} {column}", *_pair(_value(a, key, column), _value(b, key, column), milliseconds))
        for key, short, _ in METRICS
        for column in ("p50", "p99")
    ]
    rate_a = None if a is None else a.output_tokens_per_s
    rate_b = None if b is None else b.output_tokens_per_s
    return [*rows, ("output token throughput", *_pair(rate_a, rate_b, throughput))]


def comparable(a: LoadFigures | None, b: LoadFigures | None) -> bool:
    """Return False when both runs have load figures measured at different concurrency."""
    return a is None or b is None or a.concurrency == b.concurrency


def where(load: LoadFigures | None) -> str:
    """Return "concurrency 4, 16 requests", or "none (concurrency 1)" for a run without a load phase."""
    return "none (concurrency 1)" if load is None else f"concurrency {load.concurrency}, {load.requests} requests"


def _figure(load: LoadFigures, key: str) -> LoadPercentiles | None:
    value = getattr(load, key)
    return value if isinstance(value, LoadPercentiles) else None


def _value(load: LoadFigures | None, key: str, column: str) -> float | None:
    return _number(None if load is None else _figure(load, key), column)


def _number(figure: LoadPercentiles | None, column: str) -> float | None:
    value = None if figure is None else getattr(figure, column)
    return float(value) if isinstance(value, int | float) else None  # None, or ABSENT in a partial record


def _cells(figure: LoadPercentiles | None) -> Sequence[str]:
    return [milliseconds(_number(figure, column)) for column in COLUMNS]


def _pair(a: float | None, b: float | None, show: Callable[[float | None], str]) -> tuple[str, str, str]:
    delta = None if a is None or b is None else b - a
    return show(a), show(b), DASH if delta is None else ("+" if delta >= 0 else "-") + show(abs(delta))
