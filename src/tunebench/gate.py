"""The gate: judge an eval record against floors, budgets and a baseline run; the verdict sets the exit status.

Rules come from `[tool.tunebench.gate]`, with `[tool.tunebench.gate.models.NAME]` overriding them for one
model. A benchmark drop against the baseline fails only when it is larger than `max_drop` AND the exact
McNemar test on the paired per-question outcomes gives p < `alpha`. A latency regression fails only when
the median of the repeated measurements grew by more than `max_latency_increase` AND the two sets of
measurements do not overlap (the fastest current one is slower than the slowest baseline one).

Latency is judged as speed, apart from answer length: by default the budgets and the regression check look
at time to first token (`ttft_budget_s`, each probe's TTFT) and time per output token
(`time_per_token_budget_s`, each probe's TPOT), so a model that answers in fewer words is not called
faster. Total latency (`latency_budget_s`, and "total" in `latency_metrics`) is judged only when asked.

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

Nothing to judge is not a pass: without a baseline and without any floor or budget the verdict says so
(`status` "nothing to judge"); with `require_baseline = true` a missing baseline fails. Every comparison
states the smallest drop its exact McNemar test detects at 80% power (tunebench.power), and the verdict
warns when that is larger than `max_drop`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.eval_record import serving
from tunebench.history.records import parse_utc
from tunebench.history.store import ReadResult, is_future
from tunebench.history.typed import EvalRecordData
from tunebench.power import detectable_drop, t_detectable_drop
from tunebench.stats import mcnemar_exact, median, paired_t_drop, softmax_probability
from tunebench.table import format_table

__all__ = [
    "GateRules",
    "Check",
    "Verdict",
    "evaluate",
    "find_baseline",
    "paired_outcomes",
    "paired_probabilities",
    "BaselineChoice",
    "NOTHING_TO_JUDGE",
    "POWER",
]

NOTHING_TO_JUDGE = "nothing to judge"
POWER = 0.8  # the power at which a comparison states its smallest detectable drop
_LETTERS = "ABCD"


@dataclass(frozen=True)
class GateRules:
    """The rules for one model (None: rule off). A number or a {domain: number} table for per-domain rules."""

    enabled: bool = True
    min_accuracy: float | None = None
    min_domain_accuracy: float | dict[str, float] | None = None
    min_quality: float | dict[str, float] | None = None
    latency_budget_s: float | dict[str, float] | None = None  # total latency: only when set
    ttft_budget_s: float | dict[str, float] | None = None
    time_per_token_budget_s: float | dict[str, float] | None = None
    latency_metrics: tuple[str, ...] = ("ttft", "time_per_token")  # regression vs baseline; add "total" to judge it
    max_drop: float = 0.05
    alpha: float = 0.05
    max_latency_increase: float = 0.25
    require_baseline: bool = False
    prob_drop: bool = True
    max_prob_drop: float = 0.0  # see the module docstring: 0 keeps the test's own level and power
    prob_alpha: float = 0.05

    @classmethod
    def from_config(cls, gate: dict[str, Any], model: str | None = None) -> GateRules:
        """Return the rules of `[tool.tunebench.gate]` with `gate.models.<model>` applied on top."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in gate.items() if k in names}
        values.update({k: v for k, v in gate.get("models", {}).get(model or "", {}).items() if k in names})
        if "latency_metrics" in values:
            values["latency_metrics"] = tuple(values["latency_metrics"])
        return cls(**values)


@dataclass
class Check:
    """One rule's outcome: what was measured, the limit, the baseline's value, pass or fail, and why."""

    rule: str
    value: Any
    limit: Any
    passed: bool
    baseline: Any = None
    detail: str = ""


@dataclass
class Verdict:
    """All checks of one run; the run passes when every check passes."""

    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detectable_drop: float | None = None  # smallest drop the McNemar comparison detects at POWER (None: no baseline)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def judged(self) -> bool:
        """False when no rule beyond "the run is complete" was applied: no baseline, no floor, no budget."""
        return not any(check.rule == NOTHING_TO_JUDGE for check in self.checks)

    @property
    def status(self) -> str:
        """ "pass", "fail" or "nothing to judge" (which passes unless a baseline is required)."""
        if not self.passed:
            return "fail"
        return "pass" if self.judged else NOTHING_TO_JUDGE

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as stored in the record's `gate` field."""
        return {
            "passed": self.passed,
            "status": self.status,
            "checks": [asdict(check) for check in self.checks],
            "warnings": list(self.warnings),
            "detectable_drop": self.detectable_drop,
        }

    def table(self) -> str:
        """Return the verdict as a text table: rule, value, limit, baseline, result, detail."""
        rows = [
            (c.rule, _show(c.value), _show(c.limit), _show(c.baseline), "pass" if c.passed else "FAIL", c.detail)
            for c in self.checks
        ]
        table = format_table(["rule", "value", "limit", "baseline", "result", "detail"], rows)
        return "\n".join([table, *(f"warning: {warning}" for warning in self.warnings)])

    def markdown(self) -> str:
        """Return the verdict as a Markdown table (for $GITHUB_STEP_SUMMARY and pull-request comments)."""
        lines = ["| rule | value | limit | baseline | result | detail |", "| --- | --- | --- | --- | --- | --- |"]
        for c in self.checks:
            cells = [c.rule, _show(c.value), _show(c.limit), _show(c.baseline), c.detail]
            result = "pass" if c.passed else "**FAIL**"
            escaped = [markdown_text(x) for x in cells]
            lines.append("| " + " | ".join([*escaped[:4], result, escaped[4]]) + " |")
        lines += [f"\n> **warning:** {markdown_text(warning)}" for warning in self.warnings]
        return "\n".join(lines)


def markdown_text(value: Any) -> str:
    """Return text from a record safe inside Markdown (a table cell, a PR comment): no HTML, no markup."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace("\n", " ")  # no tag can open
    for char in "\\`*_[]|#~":
        text = text.replace(char, "\\" + char)
    return text


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def evaluate(
    record: dict[str, Any], rules: GateRules, baseline: dict[str, Any] | None = None, baseline_how: str = ""
) -> Verdict:
    """Return the verdict on `record` under `rules`, comparing with `baseline` when given (`baseline_how`:
    how it was looked for, shown when there is none)."""
    run = EvalRecordData.from_dict(record)
    verdict = Verdict()
    verdict.checks.append(
        Check(
            "run complete",
            run.status,
            "complete",
            run.status == "complete",
            detail=_incomplete_detail(run),
        )
    )
    aggregates = run.aggregates
    if rules.min_accuracy is not None and "accuracy" in aggregates:
        verdict.checks.append(_floor("accuracy", aggregates["accuracy"], rules.min_accuracy, baseline, None))
    for domain, limit in _per_domain(rules.min_domain_accuracy, aggregates.get("by_domain", {})):
        verdict.checks.append(
            _floor(f"accuracy[{domain}]", aggregates.get("by_domain", {}).get(domain), limit, baseline, domain)
        )
    for domain, limit in _per_domain(rules.min_quality, aggregates.get("quality_by_domain", {})):
        value = aggregates.get("quality_by_domain", {}).get(domain)
        verdict.checks.append(
            Check(
                f"quality[{domain}]",
                value,
                f">= {limit}",
                value is not None and value >= limit,
                detail="" if value is not None else "no graded probe in this domain",
            )
        )
    for domain, limit in _per_domain(rules.latency_budget_s, aggregates.get("latency_by_domain_s", {})):
        stats = aggregates.get("latency_by_domain_s", {}).get(domain) or {}
        value = stats.get("p50")
        detail = "no latency measured in this domain"
        if value is not None:
            over = f"; {value - limit:.3g}s over budget" if value > limit else ""
            detail = f"median of {stats.get('n', 0)} measurements{over}"
        verdict.checks.append(
            Check(
                f"latency[{domain}] median s", value, f"<= {limit}", value is not None and value <= limit, detail=detail
            )
        )
    verdict.checks.extend(_speed_budgets(record, rules))
    if baseline is not None:
        verdict.checks.append(_accuracy_regression(record, baseline, rules, verdict))
        if rules.prob_drop:
            verdict.checks.append(_probability_regression(record, baseline, rules))
        verdict.checks.extend(_latency_regressions(record, baseline, rules))
    else:
        _without_baseline(verdict, rules, baseline_how)
    return verdict


def _without_baseline(verdict: Verdict, rules: GateRules, how: str) -> None:
    """No baseline: fail when one is required; say "nothing to judge" when no floor or budget judged the run."""
    floors = len(verdict.checks) > 1  # beyond "run complete"
    found = f"baseline {how}" if how else "no baseline"
    if rules.require_baseline:
        what = "" if floors else f"; {NOTHING_TO_JUDGE}: no floor or budget is set either"
        verdict.checks.append(Check("baseline", None, "required", False, detail=f"{found}{what} (require_baseline)"))
    elif not floors:
        verdict.checks.append(
            Check(
                NOTHING_TO_JUDGE,
                None,
                "a baseline or a floor",
                True,
                detail=f"{found} and no floor or budget (min_accuracy, ...): the run was not judged; "
                "require_baseline = true (or --require-baseline) makes this fail",
            )
        )


def _incomplete_detail(run: EvalRecordData) -> str:
    items = run.items
    selection = run.selection or {}
    if run.status == "subset" and selection:
        return (
            f"{selection['selected']} of {selection['total']} selected (-k or node ids); a subset is never a "
            "full result or a baseline: run every item, or pass --no-gate"
        )
    parts = [f"{len(items[key])} {key}" for key in ("crashed", "failed", "missing") if items.get(key)]
    return ", ".join(parts) + " item(s); an incomplete run is never a baseline" if parts else ""


def _per_domain(rule: float | dict[str, float] | None, present: dict[str, Any]) -> list[tuple[str, float]]:
    if rule is None:
        return []
    if isinstance(rule, dict):
        return sorted(rule.items())
    return [(domain, rule) for domain in sorted(present)]


def _floor(rule: str, measured: dict[str, Any] | None, limit: float, baseline, domain) -> Check:
    base = None
    if baseline is not None:
        aggregates = EvalRecordData.from_dict(baseline).aggregates
        part = aggregates.get("by_domain", {}).get(domain) if domain else aggregates.get("accuracy")
        base = part.get("value") if part else None
    if not measured or measured.get("value") is None:
        return Check(rule, None, f">= {limit}", False, base, "no question answered")
    value = measured["value"]
    detail = f"{measured['k']}/{measured['n']}, 95% CI [{measured['low']:.3f}, {measured['high']:.3f}]"
    if value < limit:
        detail += f"; {limit - value:.3f} below the floor"
    return Check(rule, value, f">= {limit}", value >= limit, base, detail)


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


def _accuracy_regression(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules, verdict: Verdict) -> Check:
    n, b, c, unpaired = paired_outcomes(record, baseline)
    rule = "accuracy drop vs baseline"
    limit = f"<= {rules.max_drop} or p >= {rules.alpha}"
    if n == 0:
        return Check(rule, None, limit, True, baseline["run_id"], "no question in common with the baseline")
    drop = (b - c) / n
    p = mcnemar_exact(b, c)
    significant = p < rules.alpha
    passed = not (drop > rules.max_drop and significant)
    why = (
        "larger than allowed and significant"
        if not passed
        else "within noise"
        if drop > rules.max_drop
        else "within the allowed drop"
    )
    detail = f"drop {drop:+.3f} on {n} paired questions (b={b}, c={c}), exact McNemar p={p:.4g}: {why}"
    discordance = (b + c) / n
    verdict.detectable_drop = detectable_drop(n, discordance, rules.alpha, POWER)
    detail += "; " + _detectable_text(verdict.detectable_drop, n, discordance)
    if verdict.detectable_drop is None or verdict.detectable_drop > rules.max_drop:
        verdict.warnings.append(_power_warning(verdict.detectable_drop, n, discordance, rules))
    if unpaired:
        detail += f"; {unpaired} question(s) not in the baseline"
    return Check(rule, round(drop, 6), limit, passed, baseline["run_id"], detail)


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

    def probabilities(run: dict[str, Any]) -> dict[tuple[str, str], float]:
        found = {}
        for q in EvalRecordData.from_dict(run, partial=True).questions:
            scores, answer = q.get("loglikelihoods"), q.get("answer")
            if q.get("status", "answered") != "answered" or not scores or answer not in _LETTERS:
                continue
            if _LETTERS.index(answer) < len(scores):
                found[(q.get("suite", ""), q["id"])] = softmax_probability(scores, _LETTERS.index(answer))
        return found

    before, now = probabilities(baseline), probabilities(record)
    paired = sorted(before.keys() & now.keys())
    return [before[k] for k in paired], [now[k] for k in paired]


def _probability_regression(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules) -> Check:
    rule = "prob_drop vs baseline"
    limit = f"<= {rules.max_prob_drop} or p >= {rules.prob_alpha}"
    before, now = paired_probabilities(record, baseline)
    if len(before) < 2:
        detail = "fewer than 2 paired questions with recorded choice log-likelihoods: not compared"
        return Check(rule, None, limit, True, baseline["run_id"], detail)
    test = paired_t_drop(before, now, rules.prob_alpha)
    significant = test.p_value < rules.prob_alpha
    passed = not (test.drop > rules.max_prob_drop and significant)
    why = (
        "larger than allowed and significant"
        if not passed
        else "within noise"
        if test.drop > rules.max_prob_drop
        else "within the allowed drop"
    )
    reach = t_detectable_drop(test.n, test.sd, rules.prob_alpha, POWER)
    detects = "" if reach is None else f"; detects a mean drop of {reach:.3f} at {POWER:.0%} power"
    detail = (
        f"mean p(right answer) {test.before:.3f} -> {test.after:.3f}: drop {test.drop:+.3f}, "
        f"{test.confidence:.0%} CI [{test.low:+.3f}, {test.high:+.3f}] on {test.n} paired questions, "
        f"paired t one-sided p={test.p_value:.4g}: {why}{detects}"
    )
    return Check(rule, round(test.drop, 6), limit, passed, baseline["run_id"], detail)


# metric -> (rule name, what a probe contributes: its repeated total latencies, its TTFT, its TPOT)
_LATENCY_METRICS = {
    "total": ("latency", lambda p: list(p.get("latency_s") or [])),
    "ttft": ("ttft", lambda p: [p["ttft_s"]] if p.get("ttft_s") is not None else []),
    "time_per_token": ("time per token", lambda p: [t] if (t := _time_per_token(p)) is not None else []),
}


def _time_per_token(probe: dict[str, Any]) -> float | None:
    if probe.get("time_per_output_token_s") is not None:
        return probe["time_per_output_token_s"]
    rate = probe.get("decode_tokens_per_s")  # records from before time_per_output_token_s
    return 1 / rate if rate else None


def _domain_samples(record: dict[str, Any], metric: str = "total") -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for probe in EvalRecordData.from_dict(record).probes:
        if probe.get("status") == "answered" and (values := _LATENCY_METRICS[metric][1](probe)):
            samples.setdefault(probe["domain"], []).extend(values)
    return samples


def _speed_budgets(record: dict[str, Any], rules: GateRules) -> list[Check]:
    """TTFT and time-per-token budgets: the median over each domain's probes."""
    checks = []
    for metric, budget, unit in (
        ("ttft", rules.ttft_budget_s, "s"),
        ("time_per_token", rules.time_per_token_budget_s, "s"),
    ):
        samples = _domain_samples(record, metric)
        for domain, limit in _per_domain(budget, samples):
            values = samples.get(domain, [])
            value = median(values) if values else None
            detail = f"median over {len(values)} probe(s)" if values else f"no {_LATENCY_METRICS[metric][0]} measured"
            passed = value is not None and value <= limit
            checks.append(
                Check(
                    f"{_LATENCY_METRICS[metric][0]}[{domain}] median {unit}",
                    value,
                    f"<= {limit}",
                    passed,
                    detail=detail,
                )
            )
    return checks


def _latency_regressions(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules) -> list[Check]:
    return [check for metric in rules.latency_metrics for check in _metric_regressions(record, baseline, rules, metric)]


def _metric_regressions(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules, metric: str) -> list[Check]:
    checks = []
    before, now = _domain_samples(baseline, metric), _domain_samples(record, metric)
    for domain in sorted(before.keys() & now.keys()):
        old, new = before[domain], now[domain]
        rule = f"{_LATENCY_METRICS[metric][0]}[{domain}] increase vs baseline"
        limit = f"<= {rules.max_latency_increase:.0%} or overlapping"
        if len(old) < 2 or len(new) < 2:
            checks.append(
                Check(
                    rule,
                    None,
                    limit,
                    True,
                    baseline["run_id"],
                    "fewer than 2 repeated measurements on a side: not compared",
                )
            )
            continue
        increase = median(new) / median(old) - 1 if median(old) else 0.0
        separated = min(new) > max(old)
        passed = not (increase > rules.max_latency_increase and separated)
        detail = (
            f"median {median(old):.3g}s -> {median(new):.3g}s over {len(old)}/{len(new)} measurements, "
            f"{'no overlap' if separated else 'overlapping'}"
        )
        checks.append(Check(rule, round(increase, 6), limit, passed, baseline["run_id"], detail))
    return checks


@dataclass(frozen=True)
class BaselineChoice:
    """The chosen baseline record (None: no baseline) and how it was chosen, for the record and the summary."""

    record: dict[str, Any] | None
    how: str


def _suite_hashes(record: dict[str, Any]) -> set[str]:
    return {s["sha256"] for s in record.get("suites", []) if s.get("sha256")}


def _usable(candidate: dict[str, Any], current: dict[str, Any], now: datetime | None) -> bool:
    hashes = _suite_hashes(current)
    return (
        candidate.get("kind") == "eval"
        and candidate.get("status") == "complete"
        and candidate["run_id"] != current["run_id"]
        and not is_future(candidate, now)
        and bool(hashes)
        and hashes <= _suite_hashes(candidate)
        # Another engine or another concurrency is another measurement: never a baseline for this one.
        and serving(candidate) == serving(current)
    )


def find_baseline(
    spec: str,
    current: dict[str, Any],
    history: ReadResult,
    production: list[str],
    models: list[str],
    now: datetime | None = None,
    finished_by: datetime | None = None,
) -> BaselineChoice:
    """Return the baseline for `spec`: "none", "auto" (newest complete run of a production model on the
    same suite files), a model name (its newest such run) or a record id. `finished_by`: for auto and a
    model, only runs finished by then (`tunebench gate` judging a past run)."""
    if spec == "none":
        return BaselineChoice(None, "none requested")
    rejected = history.problem_for(spec)
    if rejected is not None and spec not in history.locations:
        raise RecordError(f"baseline {spec}: the record at {rejected.location} cannot be trusted: {rejected.reason}")
    if spec in history.locations:
        record = next(r for r in history.records if r["run_id"] == spec)
        if record.get("kind") != "eval":
            raise RecordError(f"baseline {spec}: that is a {record.get('kind')} record, not an eval run")
        if record.get("status") != "complete":
            raise RecordError(
                f"baseline {spec}: that run is {record.get('status')}; an incomplete run is never a baseline"
            )
        if is_future(record, now):
            raise RecordError(f"baseline {spec}: that record is stamped in the future ({record['finished_at']})")
        return BaselineChoice(record, f"record {spec}")
    if spec == "auto":
        names, how = set(production), f"newest complete run of production model(s) {', '.join(sorted(production))}"
    elif spec in models:
        names, how = {spec}, f"newest complete run of {spec}"
    else:
        raise RecordError(f"baseline {spec!r}: expected auto, none, a model name or a record id in the history")
    # Only eval runs are baselines: training, imported and note records share the history.
    evals = (r for r in history.records if r.get("kind") == "eval")
    candidates = [r for r in evals if r["model"]["name"] in names and _usable(r, current, now)]
    if finished_by is not None:
        candidates = [r for r in candidates if parse_utc(r["finished_at"]) <= finished_by]
    if not candidates:
        return BaselineChoice(None, f"none found ({how} on the same suite files)")
    chosen = max(candidates, key=lambda r: (parse_utc(r["finished_at"]), r["run_id"]))
    return BaselineChoice(chosen, f"{how} on the same suite files")
