"""Small, exact statistics for benchmark results: Wilson intervals, exact McNemar, percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

__all__ = ["wilson_interval", "mcnemar_exact", "binomial_two_sided", "percentile", "median", "mean", "proportion"]


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) for k successes in n trials; (0, 1) when n is 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"expected 0 <= k <= n, found k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Clamp float noise at the ends (k=0 gives exactly 0, k=n exactly 1).
    return max(0.0, centre - half) if k else 0.0, min(1.0, centre + half) if k < n else 1.0


def binomial_two_sided(k: int, n: int) -> float:
    """Return the exact two-sided p of k successes in n fair-coin trials (doubling the smaller tail)."""
    if n == 0:
        return 1.0
    tail = min(k, n - k)
    # Exact rational arithmetic: no float underflow for large n.
    probability = Fraction(sum(math.comb(n, i) for i in range(tail + 1)), 2**n)
    return float(min(Fraction(1), 2 * probability))


def mcnemar_exact(b: int, c: int) -> float:
    """Return the exact McNemar p-value for discordant pairs b (right->wrong) and c (wrong->right)."""
    if b < 0 or c < 0:
        raise ValueError(f"expected non-negative counts, found b={b}, c={c}")
    return binomial_two_sided(b, b + c)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0-100) by linear interpolation, as numpy's default; None if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"expected 0 <= q <= 100, found {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float | None:
    """Return the median, or None if empty."""
    return percentile(values, 50)


def mean(values: Sequence[float]) -> float | None:
    """Return the arithmetic mean, or None if empty."""
    return sum(values) / len(values) if values else None


def proportion(k: int, n: int, z: float = 1.96) -> dict[str, float | int | None]:
    """Return {k, n, value, low, high} for k of n (value None when n is 0), rounded to 6 digits."""
    low, high = wilson_interval(k, n, z)
    return {"k": k, "n": n, "value": round(k / n, 6) if n else None, "low": round(low, 6), "high": round(high, 6)}
