"""The gate's paired accuracy rules: exact McNemar on right/wrong, and a paired test of p(right answer).

A benchmark drop against the baseline fails only when it is larger than `max_drop` AND the exact McNemar
test on the paired per-question outcomes gives p < `alpha`. Every comparison states the smallest drop its
exact McNemar test detects at 80% power (tunebench.power), and the verdict warns when that is larger than
`max_drop`.

The probability rule (`prob_drop`, on unless `prob_drop = false`) asks whether the model's probability of
the right answer fell, question by question. Its test is a one-sided paired t test on the log-odds of the
right answer, log(p / (1 - p)) with p the softmax over the question's recorded choice log-likelihoods; it fails
when the mean probability fell by more than `max_prob_drop` AND the log-odds test gives p < `prob_alpha`.

Why the log-odds: a model that likes the right answer less lowers that choice's log-likelihood by about the
same amount on every question, which moves every question's log-odds by that amount but its probability by
p(1 - p) times it (almost nothing on a question the model is sure of, either way). On the log-odds the drop
is one constant on every question, the case a mean test is best at; the scale does not move when all of a
question's choices move together (an adapter that shortens or lengthens every choice's likelihood), so that
is never read as a drop. Log-odds are clipped to +-10 (p within 5e-5 of 0 or 1) so one question's rounding
cannot dominate the mean. The t test holds its level: the differences of two exchangeable runs are
symmetric about 0 (false alarms by simulation, benchmarks/test_bench_gate_power.py, 2000 pairs each:
5.3% +-0.5% at alpha 0.05 on 100 questions of the fitted tiny model, 4.3% to 6.1% over its four scenarios).
The test on the probabilities themselves (the rule before) is what `tunebench history compare` still shows.

Measured on that simulation, a 5-point accuracy drop on 100 questions is detected 75.0% of the time at
alpha 0.05 (the probability-scale test: 74.8%; McNemar: 13%). That is the ceiling there, not a weakness of
the test: with the fitted per-choice noise no test that ignores a common move of a question's choices can
do better than Phi(shift sqrt(n) / sd - z_alpha) = 75.7% (the benchmark prints the bound); 80% needs about
115 questions on that model. Where difficulty varies across questions (probabilities far from 1/4) both
scales detect the same drop nearly always; the log-odds is kept for its invariance, not for power here.
Wilcoxon's signed-rank test answers another question (a shift of the median) and has as much power here;
a paired bootstrap gives a random, slower verdict. `max_prob_drop` defaults to 0: probabilities move far
less than accuracy (tiny: a 5-point accuracy drop is a 0.6-point drop of the mean probability), so any
allowed drop above 0 would hide the drops the rule exists to catch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from tunebench.gate.comparability import eval_summary
from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import POWER, Check, Verdict
from tunebench.history.typed import EvalRecordData, Question, given
from tunebench.power import detectable_drop, t_detectable_drop
from tunebench.stats import mcnemar_exact, paired_t_drop, softmax_probability
from tunebench.units import format_percent, format_points

__all__ = [
    "paired_outcomes",
    "paired_probabilities",
    "paired_log_odds",
    "right_answer_log_odds",
    "accuracy_regression",
    "probability_regression",
    "mcnemar_check",
    "prob_drop_check",
    "question_choices",
    "Choices",
    "LOG_ODDS_CLIP",
]

_LETTERS = ("A", "B", "C", "D")
K = TypeVar("K", tuple[str, str], int)  # what pairs two runs' items: (suite, question id), or a document id
LOG_ODDS_CLIP = 10.0  # |log-odds| beyond this (p within 5e-5 of 0 or 1) counts as this


def paired_outcomes(record: Mapping[str, object], baseline: Mapping[str, object]) -> tuple[int, int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right, unpaired).

    Only the questions are read (partial records, e.g. simulated pairs, are enough)."""
    return _paired_outcomes(_questions(record), _questions(baseline))


def _paired_outcomes(questions: Sequence[Question], baseline: Sequence[Question]) -> tuple[int, int, int, int]:
    before = {_key(q): q.correct for q in baseline}
    now = {_key(q): q.correct for q in questions}
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c, len(now.keys() - paired)


def _questions(record: Mapping[str, object]) -> list[Question]:
    """The record's questions, typed (only they are read: a partial record, e.g. a simulated pair, is enough)."""
    return eval_summary(record).questions


def _key(question: Question) -> tuple[str, str]:
    return given(question.suite, ""), question.id


def accuracy_regression(run: EvalRecordData, base: EvalRecordData, rules: GateRules, verdict: Verdict) -> Check:
    """Return the McNemar accuracy-drop check; sets the verdict's detectable drop and its power warning."""
    n, b, c, unpaired = _paired_outcomes(run.questions, base.questions)
    check = mcnemar_check("accuracy drop vs baseline", n, b, c, rules, base.run_id, "questions")
    if n == 0:
        return check
    discordance = (b + c) / n
    verdict.detectable_drop = detectable_drop(n, discordance, rules.alpha, POWER)
    if verdict.detectable_drop is None or verdict.detectable_drop > rules.max_drop:
        verdict.warnings.append(_power_warning(verdict.detectable_drop, n, discordance, rules))
    if unpaired:
        return replace(check, detail=f"{check.detail}; {unpaired} question(s) not in the baseline")
    return check


def mcnemar_check(rule: str, n: int, b: int, c: int, rules: GateRules, baseline_id: str, unit: str) -> Check:
    """Return a drop rule on `n` paired right/wrong outcomes (b: right -> wrong, c: wrong -> right): it fails
    when the drop exceeds `max_drop` AND the exact McNemar test gives p < `alpha`. `unit`: what was paired."""
    limit = f"<= {rules.max_drop} or p >= {rules.alpha}"
    if n == 0:
        detail = f"no {unit} with a right/wrong outcome in common with the baseline: not compared"
        return Check(rule, None, limit, True, baseline_id, detail, comparable=False)
    drop, p = (b - c) / n, mcnemar_exact(b, c)
    passed = not (drop > rules.max_drop and p < rules.alpha)
    discordance = (b + c) / n
    reach = detectable_drop(n, discordance, rules.alpha, POWER)
    detail = (
        f"drop {format_points(drop)} on {n} paired {unit} (b={b}, c={c}), exact McNemar p={p:.4g}: "
        f"{_why(passed, drop > rules.max_drop)}; {_detectable_text(reach, n, discordance, unit)}"
    )
    return Check(rule, round(drop, 6), limit, passed, baseline_id, detail)


def _why(passed: bool, over: bool) -> str:
    if not passed:
        return "larger than allowed and significant"
    return "within noise" if over else "within the allowed drop"


def _detectable_text(drop: float | None, n: int, discordance: float, unit: str) -> str:
    if drop is None:
        return f"no drop is detectable at {POWER:.0%} power on {n} {unit}"
    return f"detects a drop of {100 * drop:.1f} points at {POWER:.0%} power (discordance {discordance:.3g})"


def _power_warning(drop: float | None, n: int, discordance: float, rules: GateRules) -> str:
    reach = "no drop at all" if drop is None else f"only drops of {100 * drop:.1f} points or more"
    return (
        f"this comparison cannot detect its own max_drop of {100 * rules.max_drop:.1f} points: on {n} paired "
        f"questions with discordance {discordance:.3g} the exact McNemar test catches {reach} {POWER:.0%} of "
        f"the time; `tunebench plan --drop {rules.max_drop:g} --discordance {max(discordance, 0.01):.2g}` says "
        "how many questions it needs (the prob_drop rule is more sensitive)"
    )


def right_answer_log_odds(loglikelihoods: Sequence[float], index: int) -> float:
    """Return log(p / (1 - p)) of choice `index` under the softmax of `loglikelihoods`, clipped to +-LOG_ODDS_CLIP."""
    others = [value for j, value in enumerate(loglikelihoods) if j != index]
    top = max(others)
    rest = top + math.log(sum(math.exp(value - top) for value in others))
    return max(-LOG_ODDS_CLIP, min(LOG_ODDS_CLIP, loglikelihoods[index] - rest))


# A question's (or an lm-eval document's) recorded choice log-likelihoods and the index of its right choice.
Choices = tuple[Sequence[float], int]


def question_choices(record: Mapping[str, object]) -> dict[tuple[str, str], Choices]:
    """Return {(suite, question id): its choices} for the answered questions with recorded log-likelihoods."""
    return _choices(_questions(record))


def _choices(questions: Sequence[Question]) -> dict[tuple[str, str], Choices]:
    found: dict[tuple[str, str], Choices] = {}
    for q in questions:
        scores, answer = given(q.loglikelihoods), given(q.answer)
        if given(q.status, "answered") != "answered" or not scores or answer not in _LETTERS:
            continue
        if _LETTERS.index(answer) < len(scores) and len(scores) >= 2:
            found[_key(q)] = (scores, _LETTERS.index(answer))
    return found


def paired_probabilities(
    record: Mapping[str, object], baseline: Mapping[str, object]
) -> tuple[list[float], list[float]]:
    """Return (baseline, current) probabilities of the right answer on the questions both answered with
    recorded choice log-likelihoods: softmax over the choices, at the answer's letter."""
    return _paired(question_choices(baseline), question_choices(record), softmax_probability)


def paired_log_odds(record: Mapping[str, object], baseline: Mapping[str, object]) -> tuple[list[float], list[float]]:
    """Return (baseline, current) log-odds of the right answer on the same questions as `paired_probabilities`."""
    return _paired(question_choices(baseline), question_choices(record), right_answer_log_odds)


def _paired(
    before: Mapping[K, Choices], now: Mapping[K, Choices], measure: Callable[[Sequence[float], int], float]
) -> tuple[list[float], list[float]]:
    paired = sorted(before.keys() & now.keys())
    return [measure(*before[k]) for k in paired], [measure(*now[k]) for k in paired]


def probability_regression(run: EvalRecordData, base: EvalRecordData, rules: GateRules) -> Check:
    """Return the prob_drop check on the benchmark's questions (see `prob_drop_check`)."""
    before, now = _choices(base.questions), _choices(run.questions)
    return prob_drop_check("prob_drop vs baseline", before, now, rules, base.run_id, "questions")


def prob_drop_check(
    rule: str, before: Mapping[K, Choices], now: Mapping[K, Choices], rules: GateRules, baseline_id: str, unit: str
) -> Check:
    """Return the prob_drop rule on the items both sides scored (see the module): it fails when the mean
    probability of the right choice fell by more than `max_prob_drop` AND the paired t test on its log-odds
    gives p < `prob_alpha`. `unit`: what was paired (questions, documents)."""
    limit = f"<= {rules.max_prob_drop} or p >= {rules.prob_alpha}"
    p_before, p_now = _paired(before, now, softmax_probability)
    if len(p_before) < 2:
        detail = f"fewer than 2 paired {unit} with recorded choice log-likelihoods: not compared"
        return Check(rule, None, limit, True, baseline_id, detail, comparable=False)
    drop = (sum(p_before) - sum(p_now)) / len(p_before)
    test = paired_t_drop(*_paired(before, now, right_answer_log_odds), rules.prob_alpha)
    significant = test.drop > 0 and test.p_value < rules.prob_alpha
    passed = not (drop > rules.max_prob_drop and significant)
    reach = t_detectable_drop(test.n, test.sd, rules.prob_alpha, POWER)
    detects = "" if reach is None else f"; detects a mean log-odds drop of {reach:.3f} at {POWER:.0%} power"
    detail = (
        f"mean p(right answer) {format_percent(sum(p_before) / len(p_before))} -> "
        f"{format_percent(sum(p_now) / len(p_now))}: drop {format_points(drop)}; "
        f"log-odds of the right answer: drop {test.drop:+.3f}, {test.confidence:.0%} CI "
        f"[{test.low:+.3f}, {test.high:+.3f}] on {test.n} paired {unit}, paired t one-sided p={test.p_value:.4g}: "
        f"{_why(passed, drop > rules.max_prob_drop)}{detects}"
    )
    return Check(rule, round(drop, 6), limit, passed, baseline_id, detail)
