"""Small, exact statistics for benchmark results: Wilson intervals, exact McNemar, percentiles."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "wilson_interval",
    "mcnemar_exact",
    "binomial_two_sided",
    "percentile",
    "percentiles",
    "median",
    "mean",
    "proportion",
    "PairedDrop",
    "paired_t_drop",
    "softmax_probability",
]


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


def percentiles(values: Sequence[float], digits: int = 6) -> dict[str, float | int | None]:
    """Return {n, p50, p90, p99, mean, max} of `values`, rounded to `digits`; each None (n 0) when empty."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "n": len(values),
        "p50": rounded(percentile(values, 50)),
        "p90": rounded(percentile(values, 90)),
        "p99": rounded(percentile(values, 99)),
        "mean": rounded(mean(values)),
        "max": rounded(max(values) if values else None),
    }


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


def softmax_probability(loglikelihoods: Sequence[float], index: int) -> float:
    """Return softmax(loglikelihoods)[index]: the model's probability of that choice among the choices."""
    top = max(loglikelihoods)
    weights = [math.exp(value - top) for value in loglikelihoods]
    return weights[index] / sum(weights)


@dataclass(frozen=True)
class PairedDrop:
    """A paired t test of before - after: the mean drop, its interval, the one-sided p of "it dropped"."""

    n: int
    before: float
    after: float
    drop: float
    sd: float
    low: float
    high: float
    confidence: float
    p_value: float


def paired_t_drop(before: Sequence[float], after: Sequence[float], alpha: float = 0.05) -> PairedDrop:
    """Return the paired t test of a drop (mean of before - after > 0), with a (1 - 2 alpha) interval.

    The interval is the one the one-sided test at `alpha` inverts: the drop is significant exactly when
    the interval's low end is above 0. Needs at least two pairs.
    """
    from scipy import stats as scipy_stats

    if len(before) != len(after) or len(before) < 2:
        raise ValueError(f"expected two equal-length samples of at least 2, found {len(before)} and {len(after)}")
    differences = [b - a for b, a in zip(before, after, strict=True)]
    n = len(differences)
    drop = sum(differences) / n
    sd = math.sqrt(sum((d - drop) ** 2 for d in differences) / (n - 1))
    if sd == 0:  # every question moved by the same amount (typically 0: the same outputs twice)
        p_value, half = (0.0 if drop > 0 else 1.0), 0.0
    else:
        error = sd / math.sqrt(n)
        p_value = float(scipy_stats.t.sf(drop / error, n - 1))
        half = float(scipy_stats.t.isf(alpha, n - 1)) * error
    return PairedDrop(
        n=n,
        before=sum(before) / n,
        after=sum(after) / n,
        drop=drop,
        sd=sd,
        low=drop - half,
        high=drop + half,
        confidence=1 - 2 * alpha,
        p_value=p_value,
    )
