"""How a quantity is written for people: one formatter per quantity, the same in every output.

The Markdown log, the HTML report, the plots and the terminal (`tunebench history`, `compare`, `train`,
the decode line of `tunebench.efficiency`) write each quantity with its formatter here, so a figure reads the
same everywhere (`tunebench.report.formatting` re-exports them beside the Markdown helpers). A value nobody
measured is written as `DASH`.

| quantity | formatter | reads |
| --- | --- | --- |
| accuracy, any proportion or share (MFU too) | `format_percent` | 25.0% |
| a mean probability (p(right answer) over questions) | `format_percent` | 26.6% |
| its 95% interval | `format_interval` | [17.5%, 34.3%] |
| a difference of two proportions (B - A, a drop) | `format_points` | +1.5 points |
| a loss | `format_loss` | 0.0577 |
| a mean quality grade (1-5 scale) | `format_grade` | 3.40 |
| seconds (latency, TTFT) | `format_seconds` | 1.43s, 0.0026s |
| a time per token | `format_ms` | 22.4 ms |
| a duration (training time) | `format_duration` | 1.8 min, 42.0 s |
| tokens per second | `format_tokens_per_s` | 1,612 |
| a cost | `dollars` | $1.75, $0.0029 |
| a count | `format_number` | 7,198 |
| bytes | `format_bytes` | 812 MB, 29.5 GB |

Byte counts use decimal units (B, kB, MB, GB), as the seed log, bucket listings and disk vendors do; binary
MiB appear only as constants in code.
"""

from __future__ import annotations

__all__ = [
    "DASH",
    "format_percent",
    "format_interval",
    "format_points",
    "format_number",
    "format_seconds",
    "format_duration",
    "format_loss",
    "format_grade",
    "format_ms",
    "format_tokens_per_s",
    "dollars",
    "format_bytes",
]

DASH = "—"

_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def format_bytes(value: float, decimals: int | None = None) -> str:
    """Return `value` bytes as a short figure: '512 B', '812 MB', '29.5 GB'.

    `decimals=None` shows one decimal in GB and none below; a number shows that many in every unit from
    kB up ('27.52 GB', '96.00 MB', as bucket listings print sizes).
    """
    for scale, unit in _UNITS:
        if abs(value) >= scale:
            places = (1 if unit == "GB" else 0) if decimals is None else decimals
            return f"{value / scale:.{places}f} {unit}"
    return f"{value:.0f} B"


def format_percent(value: float | None, digits: int = 1) -> str:
    """Return a proportion 0..1 as "62.0%", or "—"."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def format_interval(low: float | None, high: float | None) -> str:
    """Return a 95% interval as "[52.2%, 71.0%]", or "—"."""
    return DASH if low is None or high is None else f"[{format_percent(low)}, {format_percent(high)}]"


def format_points(value: float | None, unit: bool = True) -> str:
    """Return a difference of two proportions, signed, in percentage points: "+1.5 points" ("+1.5" with
    `unit=False`, for a table headed in points or an interval's ends), or "—"."""
    if value is None:
        return DASH
    points = round(100 * value, 1) + 0.0  # a drop that rounds to zero reads "+0.0", never "-0.0"
    return f"{points:+.1f}" + (" points" if unit else "")


def format_number(value: float | None, digits: int = 4) -> str:
    """Return "12,345" for a whole number from 1000 up (and for any int), else `digits` decimals, or "—"."""
    if value is None:
        return DASH
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def format_seconds(value: float | None) -> str:
    """Return seconds as "1.25s", under 0.1 s to two significant digits ("0.0026s", never "0.00s"), or "—".

    Signed values (a difference) are written as their size is ("-1.25s", "-0.00096s"), and never in exponent
    notation: 56 µs is "0.000056s", not "5.6e-05s".
    """
    if value is None:
        return DASH
    return f"{value:.2f}s" if abs(value) >= 0.1 or value == 0 else f"{_two_significant(value)}s"


def _two_significant(value: float) -> str:
    """`value` (0 < |value| < 0.1) to two significant digits in positional notation: 0.0026, -0.000056."""
    exponent = int(f"{abs(value):.1e}".partition("e")[2])  # after rounding: 0.000999 -> 1.0e-03
    return f"{value:.{max(1 - exponent, 0)}f}"


def format_loss(value: float | None) -> str:
    """Return a loss as "0.0577" (four decimals), or "—"."""
    return DASH if value is None else f"{value:.4f}"


def format_grade(value: float | None) -> str:
    """Return a (mean) quality grade on the 1-5 scale as "3.40", or "—"."""
    return DASH if value is None else f"{value:.2f}"


def format_ms(seconds: float | None) -> str:
    """Return a short time (seconds) in milliseconds as "22.4 ms", under 0.1 ms to two significant digits
    ("0.051 ms": a small model's decode floor, never "0.1 ms" or "0.0 ms"), or "—"."""
    if seconds is None:
        return DASH
    ms = 1000 * seconds
    return f"{ms:.1f} ms" if abs(ms) >= 0.1 or ms == 0 else f"{_two_significant(ms)} ms"


def format_tokens_per_s(value: float | None) -> str:
    """Return tokens per second as "1,612", or "—"."""
    return DASH if value is None else f"{value:,.0f}"


def format_duration(seconds: float | None) -> str:
    """Return a duration as "12.5 min" from a minute up, else "42.0 s", or "—"."""
    if seconds is None:
        return DASH
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def dollars(value: float | None, approximate: bool = False) -> str:
    """Return USD as "$1.75" (or "$0.0012" below a cent, "~$1.75" when approximate), or "—"."""
    if value is None:
        return DASH
    text = f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
    return ("~" if approximate else "") + text
