"""The gate's paired accuracy rules: exact McNemar on right/wrong, and a paired test of p(right answer).

A benchmark drop against the baseline fails only when it is larger than `max_drop` AND the exact McNemar
test on the paired per-question outcomes gives p < `alpha`. Every comparison states the smallest drop its
exact McNemar test detects at 80% power (tunebench.power), and the verdict warns when that is larger than
`max_drop`.

The probability rule (`prob_drop`, on unless `prob_drop = false`) compares each paired question's probability
of the right answer, the softmax over its recorded choice log-likelihoods, with a paired t test; it fails
when the mean drop is larger than `max_prob_drop` AND the one-sided p < `prob_alpha`. Why a paired t test:
the gate's question is whether the mean probability of the right answer (the expected accuracy of the
model's own answer distribution) fell, and the t test is a test of exactly that mean, with an interval in
the same units as `max_prob_drop`; the differences are bounded in [-1, 1], so on the 100+ questions of a
benchmark the mean is close to normal and the test holds its level (checked by simulation in
tests/test_gate_power.py and benchmarks/test_bench_gate_power.py). Wilcoxon's signed-rank test answers
another question (a shift of the median, assuming symmetric differences), and its many exact-zero
differences (questions both runs answer alike) need tie corrections; a paired bootstrap gives a random,
slower verdict whose percentile interval under-covers on small suites. `max_prob_drop` defaults to 0: a
model's probabilities move far less than its accuracy (tiny: a 5-point accuracy drop is a 0.6-point drop of
the mean probability), so any allowed drop above 0 would hide the drops the rule exists to catch; the
rule then fails a run that changed nothing at most `prob_alpha` of the time (about 5%, measured).
"""

from __future__ import annotations

from typing import Any

from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import POWER, Check, Verdict
from tunebench.history.typed import EvalRecordData
from tunebench.power import detectable_drop, t_detectable_drop
from tunebench.stats import mcnemar_exact, paired_t_drop, softmax_probability

__all__ = ["paired_outcomes", "paired_probabilities", "accuracy_regression", "probability_regression"]

_LETTERS = "ABCD"


def paired_outcomes(record: dict[str, Any], baseline: dict[str, Any]) -> tuple[int, int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right, unpaired).

    Only the questions are read (partial records, e.g. simulated pairs, are enough)."""

    def key(q):
        return q.get("suite", ""), q["id"]

    before = {key(q): q["correct"] for q in EvalRecordData.from_dict(baseline, partial=True).questions}
    now = {key(q): q["correct"] for q in EvalRecordData.from_dict(record, partial=True).questions}
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c, len(now.keys() - paired)


def accuracy_regression(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules, verdict: Verdict) -> Check:
    """Return the McNemar accuracy-drop check; sets the verdict's detectable drop and its power warning."""
    n, b, c, unpaired = paired_outcomes(record, baseline)
    rule = "accuracy drop vs baseline"
    limit = f"<= {rules.max_drop} or p >= {rules.alpha}"
    if n == 0:
        return Check(rule, None, limit, True, baseline["run_id"], "no question in common with the baseline")
    drop = (b - c) / n
    p = mcnemar_exact(b, c)
    significant = p < rules.alpha
    passed = not (drop > rules.max_drop and significant)
    detail = f"drop {drop:+.3f} on {n} paired questions (b={b}, c={c}), exact McNemar p={p:.4g}: "
    detail += _why(passed, drop > rules.max_drop)
    discordance = (b + c) / n
    verdict.detectable_drop = detectable_drop(n, discordance, rules.alpha, POWER)
    detail += "; " + _detectable_text(verdict.detectable_drop, n, discordance)
    if verdict.detectable_drop is None or verdict.detectable_drop > rules.max_drop:
        verdict.warnings.append(_power_warning(verdict.detectable_drop, n, discordance, rules))
    if unpaired:
        detail += f"; {unpaired} question(s) not in the baseline"
    return Check(rule, round(drop, 6), limit, passed, baseline["run_id"], detail)


def _why(passed: bool, over: bool) -> str:
    if not passed:
        return "larger than allowed and significant"
    return "within noise" if over else "within the allowed drop"


def _detectable_text(drop: float | None, n: int, discordance: float) -> str:
    if drop is None:
        return f"no drop is detectable at {POWER:.0%} power on {n} question(s)"
    return f"detects a drop of {100 * drop:.1f} points at {POWER:.0%} power (discordance {discordance:.3g})"


def _power_warning(drop: float | None, n: int, discordance: float, rules: GateRules) -> str:
    reach = "no drop at all" if drop is None else f"only drops of {100 * drop:.1f} points or more"
    return (
        f"this comparison cannot detect its own max_drop of {100 * rules.max_drop:.1f} points: on {n} paired "
        f"questions with discordance {discordance:.3g} the exact McNemar test catches {reach} {POWER:.0%} of "
        f"the time; `tunebench plan --drop {rules.max_drop:g} --discordance {max(discordance, 0.01):.2g}` says "
        "how many questions it needs (the prob_drop rule is more sensitive)"
    )


def paired_probabilities(record: dict[str, Any], baseline: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Return (baseline, current) probabilities of the right answer on the questions both answered with
    recorded choice log-likelihoods: softmax over the choices, at the answer's letter."""
    before, now = _probabilities(baseline), _probabilities(record)
    paired = sorted(before.keys() & now.keys())
    return [before[k] for k in paired], [now[k] for k in paired]


def _probabilities(run: dict[str, Any]) -> dict[tuple[str, str], float]:
    found = {}
    for q in EvalRecordData.from_dict(run, partial=True).questions:
        scores, answer = q.get("loglikelihoods"), q.get("answer")
        if q.get("status", "answered") != "answered" or not scores or answer not in _LETTERS:
            continue
        if _LETTERS.index(answer) < len(scores):
            found[(q.get("suite", ""), q["id"])] = softmax_probability(scores, _LETTERS.index(answer))
    return found


def probability_regression(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules) -> Check:
    """Return the prob_drop check: the paired test of the right answer's probability (see the module)."""
    rule = "prob_drop vs baseline"
    limit = f"<= {rules.max_prob_drop} or p >= {rules.prob_alpha}"
    before, now = paired_probabilities(record, baseline)
    if len(before) < 2:
        detail = "fewer than 2 paired questions with recorded choice log-likelihoods: not compared"
        return Check(rule, None, limit, True, baseline["run_id"], detail)
    test = paired_t_drop(before, now, rules.prob_alpha)
    significant = test.p_value < rules.prob_alpha
    passed = not (test.drop > rules.max_prob_drop and significant)
    reach = t_detectable_drop(test.n, test.sd, rules.prob_alpha, POWER)
    detects = "" if reach is None else f"; detects a mean drop of {reach:.3f} at {POWER:.0%} power"
    detail = (
        f"mean p(right answer) {test.before:.3f} -> {test.after:.3f}: drop {test.drop:+.3f}, "
        f"{test.confidence:.0%} CI [{test.low:+.3f}, {test.high:+.3f}] on {test.n} paired questions, "
        f"paired t one-sided p={test.p_value:.4g}: {_why(passed, test.drop > rules.max_prob_drop)}{detects}"
    )
    return Check(rule, round(test.drop, 6), limit, passed, baseline["run_id"], detail)
