"""Simulated paired runs from a model of per-question choice log-likelihoods fitted to two recorded runs.

How often do the gate's tests catch a true drop, and how often do they fail when nothing changed? This
module answers by simulation. The model (`ChoiceModel`) of one question i, choice j, run r:

    ll[r, i, j] = (u_i + eta[r, i] - shift_r) * [j is the answer] + g[i, j] + e[r, i, j]
    u_i ~ N(mu, sigma^2)        how much the model prefers the right answer (the question's difficulty)
    g[i, j] ~ N(0, s^2)          the question's own pull on each choice, the same in both runs
    eta[r, i] ~ N(0, tau^2 / 2)  a per-question change of preference between runs
    e[r, i, j] ~ N(0, omega^2)   run-to-run noise on each choice

Two runs with the same shift are exchangeable (nothing changed: both are draws of the same model's
quality); `shift` on the second run lowers the right answer's log-likelihood, chosen by `shift_for_drop`
so the expected accuracy drops by the asked amount. `fit` estimates the parameters by moments from two
records of the same questions (their recorded choice log-likelihoods), so the same code runs on any two
real records:
  * s^2 + omega^2: the variance among a question's wrong choices, averaged over questions and both runs;
  * omega^2: half the variance among the wrong choices of the run-to-run differences;
  * tau^2: the variance of the change of the right answer's margin, less what omega explains (8/3 omega^2);
  * mu, sigma^2: the mean and variance of the right answer's margin over the mean wrong choice, less the
    parts due to tau, s and omega.
Detection is judged as the gate judges: exact McNemar on right/wrong (tunebench.stats.mcnemar_exact), the
prob_drop rule's paired t test on the log-odds of the right answer (tunebench.gate.paired), each at `alpha`,
counted when it finds a drop (more right->wrong flips; a lower mean log-odds); beside them the paired t test
on the probabilities themselves (the rule before) and "either" (the gate fails when either rule does).
`power_bound` is the most any test can detect here that, like the log-odds, ignores a common move of all of
a question's choices: the right answer's contrast with the mean of the others is what carries the shift,
with noise sd^2 = tau^2 + 2 omega^2 (1 + 1/3), so no such test at one-sided `alpha` exceeds
Phi(shift sqrt(n) / sd - z_alpha).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tunebench.errors import RecordError
from tunebench.stats import mcnemar_exact, paired_t_drop

__all__ = [
    "ChoiceModel",
    "Rates",
    "fit",
    "simulate",
    "shift_for_drop",
    "detection_rates",
    "expected_accuracy",
    "recentred",
    "rates_table",
    "power_bound",
]

_CHOICES = 4


@dataclass(frozen=True)
class ChoiceModel:
    """Fitted parameters (log-likelihood units) and the runs they came from."""

    mu: float
    sigma: float
    s: float
    omega: float
    tau: float
    observed_shift: float  # mean change of the right answer's margin between the two fitted runs
    questions: int
    runs: tuple[str, str]

    def describe(self) -> str:
        """Return the fitted values on one line."""
        return (
            f"fitted to runs {self.runs[0]} and {self.runs[1]} ({self.questions} paired questions): "
            f"mu={self.mu:.4f} sigma={self.sigma:.4f} s={self.s:.4f} omega={self.omega:.4f} tau={self.tau:.4f} "
            f"(observed shift {self.observed_shift:+.4f})"
        )


def _loglikelihoods(record: Mapping[str, object]) -> dict[tuple[str, str], tuple[np.ndarray, int]]:
    from tunebench.gate.paired import question_choices

    found = question_choices(record).items()  # the questions the gate's prob_drop rule reads
    return {key: (np.asarray(scores, dtype=float), i) for key, (scores, i) in found if len(scores) == _CHOICES}


def _margins(x: np.ndarray, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each question's right-answer margin over the mean wrong choice, and the wrong choices' variance."""
    rows = np.arange(len(x))
    wrong = np.ones_like(x, dtype=bool)
    wrong[rows, answers] = False
    others = x[wrong].reshape(len(x), _CHOICES - 1)
    return x[rows, answers] - others.mean(axis=1), others.var(axis=1, ddof=1)


def fit(a: Mapping[str, object], b: Mapping[str, object]) -> ChoiceModel:
    """Return the ChoiceModel fitted by moments to two eval records of the same questions (see the module)."""
    first, second = _loglikelihoods(a), _loglikelihoods(b)
    keys = sorted(first.keys() & second.keys())
    if len(keys) < 3:
        raise RecordError(
            f"runs {a.get('run_id')} and {b.get('run_id')}: {len(keys)} paired questions with 4 recorded choice "
            "log-likelihoods; a fit needs at least 3"
        )
    answers = np.array([first[k][1] for k in keys])
    xa, xb = np.stack([first[k][0] for k in keys]), np.stack([second[k][0] for k in keys])
    margin_a, spread_a = _margins(xa, answers)
    margin_b, spread_b = _margins(xb, answers)
    margin_d, spread_d = _margins(xb - xa, answers)
    within = (spread_a.mean() + spread_b.mean()) / 2  # s^2 + omega^2
    omega2 = min(spread_d.mean() / 2, within)
    tau2 = max(0.0, margin_d.var(ddof=1) - 8 / 3 * omega2)
    margin_var = (margin_a.var(ddof=1) + margin_b.var(ddof=1)) / 2
    sigma2 = max(0.0, margin_var - tau2 / 2 - 4 / 3 * within)
    return ChoiceModel(
        mu=float((margin_a.mean() + margin_b.mean()) / 2),
        sigma=math.sqrt(sigma2),
        s=math.sqrt(max(0.0, within - omega2)),
        omega=math.sqrt(omega2),
        tau=math.sqrt(tau2),
        observed_shift=float(-margin_d.mean()),
        questions=len(keys),
        runs=(str(a.get("run_id")), str(b.get("run_id"))),
    )


def simulate(
    model: ChoiceModel, n: int, shift: float, rng: np.random.Generator, pairs: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (baseline ll, candidate ll, answers): `pairs` x n x 4 log-likelihoods, the candidate shifted."""
    answers = rng.integers(0, _CHOICES, size=(pairs, n))
    u = rng.normal(model.mu, model.sigma, size=(pairs, n))
    g = rng.normal(0.0, model.s, size=(pairs, n, _CHOICES))
    one_hot = np.eye(_CHOICES)[answers]
    runs = []
    for run_shift in (0.0, shift):
        eta = rng.normal(0.0, model.tau / math.sqrt(2), size=(pairs, n))
        e = rng.normal(0.0, model.omega, size=(pairs, n, _CHOICES))
        runs.append((u + eta - run_shift)[..., None] * one_hot + g + e)
    return runs[0], runs[1], answers


def _right(ll: np.ndarray, answers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (correct: argmax is the answer, probability of the answer: softmax at it)."""
    chosen = ll.argmax(axis=-1)
    top = ll.max(axis=-1, keepdims=True)
    weights = np.exp(ll - top)
    probability = np.take_along_axis(weights, answers[..., None], axis=-1)[..., 0] / weights.sum(axis=-1)
    return chosen == answers, probability


def expected_accuracy(model: ChoiceModel, shift: float, draws: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """Return the (baseline, candidate) accuracy the model expects, from `draws` simulated questions."""
    base, candidate, answers = simulate(model, draws, shift, np.random.default_rng(seed))
    return float(_right(base, answers)[0].mean()), float(_right(candidate, answers)[0].mean())


def shift_for_drop(model: ChoiceModel, drop: float, draws: int = 100_000, seed: int = 0) -> float:
    """Return the shift of the right answer's log-likelihood that lowers the expected accuracy by `drop`."""
    if drop == 0:
        return 0.0
    low, high = 0.0, 1.0
    while _drop_at(model, high, draws, seed) < drop:
        low, high = high, high * 2
        if high > 1e4:
            raise ValueError(f"no shift lowers the accuracy by {drop} (the model is at {expected_accuracy(model, 0)})")
    for _ in range(20):  # the same draws at every shift: the drop grows monotonically with it
        middle = (low + high) / 2
        low, high = (middle, high) if _drop_at(model, middle, draws, seed) < drop else (low, middle)
    return (low + high) / 2


def _drop_at(model: ChoiceModel, shift: float, draws: int, seed: int) -> float:
    base, candidate = expected_accuracy(model, shift, draws, seed)
    return base - candidate


@dataclass(frozen=True)
class Rates:
    """How often each test found a drop over `pairs` simulated paired runs of n questions."""

    n: int
    drop: float
    shift: float
    pairs: int
    alpha: float
    mcnemar: float
    probability: float  # the prob_drop rule: paired t on the right answer's log-odds
    p_scale: float = 0.0  # the paired t test on the probabilities themselves (the rule before the log-odds)
    either: float = 0.0  # McNemar or the prob_drop rule: how often the gate's accuracy rules fail the run


def detection_rates(
    model: ChoiceModel,
    n: int,
    drop: float,
    pairs: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    shift: float | None = None,
) -> Rates:
    """Return the rates at which exact McNemar, the log-odds t test (and the probability-scale one) find a drop."""
    shift = shift_for_drop(model, drop) if shift is None else shift
    base, candidate, answers = simulate(model, n, shift, np.random.default_rng(seed), pairs)
    right_a, p_a = _right(base, answers)
    right_b, p_b = _right(candidate, answers)
    odds_a, odds_b = _log_odds(base, answers), _log_odds(candidate, answers)
    counts = dict.fromkeys(("mcnemar", "probability", "p_scale", "either"), 0)
    for k in range(pairs):
        b = int(np.sum(right_a[k] & ~right_b[k]))
        c = int(np.sum(~right_a[k] & right_b[k]))
        flips = b > c and mcnemar_exact(b, c) < alpha
        test = paired_t_drop(odds_a[k].tolist(), odds_b[k].tolist(), alpha)
        odds = test.drop > 0 and test.p_value < alpha and float(np.mean(p_a[k] - p_b[k])) > 0
        scale = paired_t_drop(p_a[k].tolist(), p_b[k].tolist(), alpha)
        counts["mcnemar"] += flips
        counts["probability"] += odds
        counts["p_scale"] += scale.drop > 0 and scale.p_value < alpha
        counts["either"] += flips or odds
    rates = {name: count / pairs for name, count in counts.items()}
    return Rates(n, drop, shift, pairs, alpha, **rates)


def _log_odds(ll: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Return the right answer's log-odds, clipped as the gate clips them (tunebench.gate.paired)."""
    from tunebench.gate.paired import LOG_ODDS_CLIP

    right = np.take_along_axis(ll, answers[..., None], axis=-1)[..., 0]
    others = np.where(np.eye(_CHOICES, dtype=bool)[answers], -np.inf, ll)
    top = others.max(axis=-1)
    rest = top + np.log(np.exp(others - top[..., None]).sum(axis=-1))
    clipped: np.ndarray = np.clip(right - rest, -LOG_ODDS_CLIP, LOG_ODDS_CLIP)
    return clipped


def power_bound(model: ChoiceModel, n: int, shift: float, alpha: float = 0.05) -> float:
    """Return the most power any test ignoring a common move of a question's choices has here (module docstring)."""
    from scipy import stats as scipy_stats

    sd = math.sqrt(model.tau**2 + 2 * model.omega**2 * (1 + 1 / (_CHOICES - 1)))
    if sd == 0:
        return 1.0 if shift > 0 else alpha
    return float(scipy_stats.norm.cdf(shift * math.sqrt(n) / sd - scipy_stats.norm.isf(alpha)))


def recentred(model: ChoiceModel, accuracy: float, draws: int = 100_000) -> ChoiceModel:
    """Return the model with mu moved so the expected accuracy is `accuracy` (the other parameters kept)."""
    low, high = -50.0, 50.0
    for _ in range(40):
        middle = (low + high) / 2
        value = expected_accuracy(replace(model, mu=middle), 0.0, draws)[0]
        low, high = (middle, high) if value < accuracy else (low, middle)
    return replace(model, mu=(low + high) / 2)


def rates_table(rows: Sequence[tuple[str, Rates, Rates]]) -> str:
    """Return a text table: scenario, questions, detection and false-alarm rates of each test (± standard error)."""
    from tunebench.table import format_table
    from tunebench.units import format_percent  # a rate as every proportion is written

    def rate(value: float, pairs: int) -> str:
        return f"{format_percent(value)} ±{format_percent(math.sqrt(value * (1 - value) / pairs))}"

    cells = [
        (
            name,
            drop.n,
            f"{drop.drop:.0%} (shift {drop.shift:.3f})",
            rate(drop.mcnemar, drop.pairs),
            rate(drop.probability, drop.pairs),
            rate(drop.p_scale, drop.pairs),
            rate(drop.either, drop.pairs),
            rate(null.mcnemar, null.pairs),
            rate(null.probability, null.pairs),
            rate(null.p_scale, null.pairs),
            rate(null.either, null.pairs),
            drop.pairs,
        )
        for name, drop, null in rows
    ]
    headers = [
        "model",
        "questions",
        "true drop",
        "McNemar detects",
        "prob test (log-odds) detects",
        "p-scale t detects",
        "either rule detects",
        "McNemar false alarms",
        "prob test (log-odds) false alarms",
        "p-scale t false alarms",
        "either rule false alarms",
        "pairs",
    ]
    return format_table(headers, cells)
