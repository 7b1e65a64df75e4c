"""Power of the gate's paired tests: the smallest drop a comparison can detect, and the questions a drop needs.

The model of two runs on the same n questions: each question is discordant (right in one run, wrong in the
other) with probability `discordance`; a true drop of `drop` means right->wrong flips outnumber wrong->right
ones by `drop` of the questions, so P(right->wrong) = (d + drop) / 2 and P(wrong->right) = (d - drop) / 2.
Every lost point is a flipped question, so the discordance is never less than the drop (d = max(d, drop)).

Power is that of the gate's test: the exact (conditional, two-sided) McNemar test rejects at `alpha` with
more right->wrong than wrong->right flips. It is computed exactly, summing over the number of discordant
questions: no normal approximation. Exact tests have saw-toothed power in n (a few more questions can lose a
little power); `questions_needed` returns an n that reaches the target where n - 1 falls short, found by
bisection (a few counts just below it may reach the target too).

The paired t test of the prob_drop rule (on each question's log-odds of the right answer, tunebench.gate.paired)
has its power from the noncentral t distribution (`t_power`, `t_detectable_drop`), in log-odds units; an
accuracy drop is turned into log-odds units through the choice model fitted to two runs
(tunebench.simulation.shift_for_drop), as `tunebench plan --from A B` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PowerPlan",
    "mcnemar_power",
    "detectable_drop",
    "questions_needed",
    "plan",
    "t_detectable_drop",
    "t_power",
]

MAX_QUESTIONS = 10_000_000


_CRITICAL: dict[float, np.ndarray] = {}


def _scipy_stats() -> Any:
    # Imported on first use: scipy.stats takes seconds to import, and every `tunebench` command imports this
    # module (cli -> gate -> power), `tunebench doctor` and `--help` included.
    from scipy import stats

    return stats


def _critical_counts(n: int, alpha: float) -> np.ndarray:
    """For m = 0..n discordant questions: the fewest right->wrong flips the exact McNemar test rejects at.

    The two-sided exact p of b right->wrong among m (b > m/2) is 2 P(X >= b), X ~ Binomial(m, 1/2);
    m + 1 (never) where no b rejects. Computed once per alpha for all m up to the largest n asked.
    """
    known = _CRITICAL.get(alpha)
    if known is None or len(known) <= n:
        size = max(n + 1, 2 * len(known) if known is not None else 1024)
        m = np.arange(size)
        # Start from the binomial quantile, then step up to the first count whose p is below alpha.
        quantile = np.nan_to_num(_scipy_stats().binom.isf(alpha / 2, m, 0.5), nan=0).astype(np.int64)
        critical = np.maximum(m // 2 + 1, quantile)  # more right->wrong than wrong->right
        for _ in range(4):
            p = 2 * _scipy_stats().binom.sf(critical - 1, m, 0.5)
            critical = np.where((p >= alpha) & (critical <= m), critical + 1, critical)
        p = 2 * _scipy_stats().binom.sf(critical - 1, m, 0.5)
        known = _CRITICAL[alpha] = np.where((critical <= m) & (p < alpha), critical, m + 1)
    return known[: n + 1]


def _flip_rates(drop: float, discordance: float) -> tuple[float, float]:
    if not 0 <= drop <= 1:
        raise ValueError(f"expected a drop between 0 and 1, found {drop}")
    if not 0 <= discordance <= 1:
        raise ValueError(f"expected a discordance between 0 and 1, found {discordance}")
    d = max(discordance, drop)
    return (d + drop) / 2, (d - drop) / 2


def mcnemar_power(n: int, drop: float, discordance: float, alpha: float = 0.05) -> float:
    """Return the probability that the exact McNemar test on n paired questions detects a true `drop`."""
    if n < 1:
        return 0.0
    right_to_wrong, wrong_to_right = _flip_rates(drop, discordance)
    d = right_to_wrong + wrong_to_right
    if d == 0:
        return 0.0
    m = np.arange(n + 1)
    critical = _critical_counts(n, alpha)
    # P(m discordant) x P(at least the critical count of them are right->wrong | m).
    detected = _scipy_stats().binom.sf(critical - 1, m, right_to_wrong / d)
    return float(np.sum(_scipy_stats().binom.pmf(m, n, d) * detected))


def detectable_drop(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Return the smallest true drop detected with probability >= `power` on n questions (None: none is)."""
    if mcnemar_power(n, 1.0, discordance, alpha) < power:
        return None
    low, high = 0.0, 1.0  # power grows with the drop
    while high - low > 1e-5:
        middle = (low + high) / 2
        low, high = (low, middle) if mcnemar_power(n, middle, discordance, alpha) >= power else (middle, high)
    return high


def _normal_questions(drop: float, discordance: float, alpha: float, power: float) -> float:
    """Connor's (1987) normal approximation of the paired questions needed; a starting point only."""
    d = max(discordance, drop)
    z_alpha, z_power = _scipy_stats().norm.isf(alpha / 2), _scipy_stats().norm.ppf(power)
    return float((z_alpha * math.sqrt(d) + z_power * math.sqrt(max(d - drop * drop, 0.0))) / drop) ** 2


def questions_needed(drop: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Return the fewest paired questions whose exact McNemar test detects `drop` with probability >= `power`."""
    if drop <= 0:
        return None

    def enough(n: int) -> bool:
        return mcnemar_power(n, drop, discordance, alpha) >= power

    guess = _normal_questions(drop, discordance, alpha, power)
    low = max(1, int(guess / 2))  # bisection between a count that falls short and one that reaches the target
    while low > 1 and enough(low):
        low //= 2
    high = max(low + 1, int(guess * 1.5))
    while not enough(high):
        low, high = high, high * 2
        if high > MAX_QUESTIONS:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def t_power(n: int, sd: float, drop: float, alpha: float = 0.05) -> float:
    """Return the probability that a one-sided paired t test at `alpha` on n differences detects a mean `drop`."""
    if n < 2 or sd <= 0:
        return 0.0
    critical = _scipy_stats().t.isf(alpha, n - 1)
    return float(_scipy_stats().nct.sf(critical, n - 1, drop * math.sqrt(n) / sd))


def t_detectable_drop(n: int, sd: float, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Return the smallest mean drop a one-sided paired t test at `alpha` detects with `power` (n differences)."""
    if n < 2 or sd <= 0:
        return None
    df = n - 1
    critical = _scipy_stats().t.isf(alpha, df)
    low, high = 0.0, 1.0
    while high - low > 1e-6:  # noncentrality of a true mean drop delta: delta * sqrt(n) / sd
        delta = (low + high) / 2
        detected = _scipy_stats().nct.sf(critical, df, delta * math.sqrt(n) / sd)
        low, high = (low, delta) if detected >= power else (delta, high)
    return high


@dataclass(frozen=True)
class PowerPlan:
    """What `tunebench plan` prints: the questions a drop needs, and the drop n questions can detect."""

    drop: float
    discordance: float
    alpha: float
    power: float
    questions: int
    needed: int | None
    detectable: float | None
    power_at_questions: float

    def describe(self) -> str:
        """Return the plan as a few lines of text."""
        needed = "more than 10 million" if self.needed is None else f"{self.needed}"
        detectable = "no drop at all" if self.detectable is None else f"{100 * self.detectable:.1f} points"
        return "\n".join(
            [
                f"exact McNemar test on paired questions, alpha {self.alpha:g} (two-sided), power {self.power:.0%}, "
                f"discordance {self.discordance:g} (questions right in one run, wrong in the other)",
                f"to detect a drop of {100 * self.drop:.1f} points: {needed} questions",
                f"with {self.questions} questions: the smallest detectable drop is {detectable} "
                f"(a {100 * self.drop:.1f}-point drop is detected {self.power_at_questions:.0%} of the time)",
            ]
        )


def plan(drop: float, discordance: float, alpha: float = 0.05, power: float = 0.8, questions: int = 100) -> PowerPlan:
    """Return the power plan for detecting `drop` and what `questions` questions can detect."""
    if not 0 < drop <= 1:
        raise ValueError(f"expected a drop between 0 and 1 (0.05 = 5 points), found {drop}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"expected alpha and power between 0 and 1, found alpha={alpha}, power={power}")
    return PowerPlan(
        drop=drop,
        discordance=discordance,
        alpha=alpha,
        power=power,
        questions=questions,
        needed=questions_needed(drop, discordance, alpha, power),
        detectable=detectable_drop(questions, discordance, alpha, power),
        power_at_questions=mcnemar_power(questions, drop, discordance, alpha),
    )
