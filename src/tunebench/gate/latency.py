"""The gate's latency rules: TTFT and time-per-token budgets, and latency regressions against a baseline.

Latency is judged as speed, apart from answer length: by default the budgets and the regression check look
at time to first token (`ttft_budget_s`, each probe's TTFT) and time per output token
(`time_per_token_budget_s`, each probe's TPOT), so a model that answers in fewer words is not called
faster. Total latency (`latency_budget_s`, and "total" in `latency_metrics`) is judged only when asked.
A latency regression is judged on all probes at once, each probe's repeated timings paired with the
baseline's and the machine's own speed taken out (`tunebench.gate.slowdown` states the rule, its noise
model and the slowdown it can detect; `tunebench.machine_speed` measures the machine).
"""

from __future__ import annotations

from collections.abc import Callable

from tunebench.gate.rules import GateRules, per_domain
from tunebench.gate.slowdown import compare_runs, probe_timings
from tunebench.gate.verdict import Check
from tunebench.history.typed import Aggregates, EvalRecordData, Probe, given
from tunebench.stats import median
from tunebench.units import format_seconds

__all__ = ["latency_budgets", "speed_budgets", "latency_regressions", "not_comparable_latency", "domain_samples"]

# metric -> (rule name, what a probe contributes: its repeated total latencies, its TTFT, its TPOT)
_LATENCY_METRICS: dict[str, tuple[str, Callable[[Probe], list[float]]]] = {
    "total": ("latency", lambda p: list(p.latency_s or [])),
    "ttft": ("ttft", lambda p: [t] if (t := given(p.ttft_s)) is not None else []),
    "time_per_token": ("time per token", lambda p: [t] if (t := _time_per_token(p)) is not None else []),
}


def _time_per_token(probe: Probe) -> float | None:
    if (tpot := given(probe.time_per_output_token_s)) is not None:
        return float(tpot)
    rate = probe.decode_tokens_per_s  # records from before time_per_output_token_s
    return 1 / rate if rate else None


def domain_samples(run: EvalRecordData, metric: str = "total") -> dict[str, list[float]]:
    """Return {domain: the answered probes' measurements of `metric`} (total, ttft or time_per_token)."""
    samples: dict[str, list[float]] = {}
    for probe in run.probes:
        if probe.status == "answered" and (values := _LATENCY_METRICS[metric][1](probe)):
            samples.setdefault(probe.domain, []).extend(values)
    return samples


def latency_budgets(aggregates: Aggregates, rules: GateRules) -> list[Check]:
    """Total-latency budgets (`latency_budget_s`): each domain's median latency."""
    checks = []
    by_domain = aggregates.latency_by_domain_s or {}
    for domain, limit in per_domain(rules.latency_budget_s, by_domain):
        stats = by_domain.get(domain)
        value = given(stats.p50) if stats else None
        detail = "no latency measured in this domain"
        if stats and value is not None:
            over = f"; {format_seconds(value - limit)} over budget" if value > limit else ""  # as the log writes s
            detail = f"median of {given(stats.n, 0)} measurements{over}"
        passed = value is not None and value <= limit
        checks.append(Check(f"latency[{domain}] median s", value, f"<= {limit}", passed, detail=detail))
    return checks


def speed_budgets(run: EvalRecordData, rules: GateRules) -> list[Check]:
    """TTFT and time-per-token budgets: the median over each domain's probes."""
    checks = []
    for metric, budget in (("ttft", rules.ttft_budget_s), ("time_per_token", rules.time_per_token_budget_s)):
        samples = domain_samples(run, metric)
        name = _LATENCY_METRICS[metric][0]
        for domain, limit in per_domain(budget, samples):
            values = samples.get(domain, [])
            value = median(values) if values else None
            detail = f"median over {len(values)} probe(s)" if values else f"no {name} measured"
            passed = value is not None and value <= limit
            checks.append(Check(f"{name}[{domain}] median s", value, f"<= {limit}", passed, detail=detail))
    return checks


def latency_regressions(run: EvalRecordData, base: EvalRecordData, rules: GateRules) -> list[Check]:
    """Return the latency-regression checks against `base`: one per metric, all probes paired (gate.slowdown)."""
    return [_metric_regression(run, base, rules, metric) for metric in rules.latency_metrics]


def not_comparable_latency(base: EvalRecordData, rules: GateRules, why: str) -> list[Check]:
    """Return one "not comparable" check per latency metric: the baseline was measured under other conditions."""
    return [
        Check(
            f"{_LATENCY_METRICS[metric][0]} increase vs baseline",
            None,
            f"<= {rules.max_latency_increase:g}",
            True,
            base.run_id,
            f"not comparable: {why}",
            comparable=False,
        )
        for metric in rules.latency_metrics
    ]


def _metric_regression(run: EvalRecordData, base: EvalRecordData, rules: GateRules, metric: str) -> Check:
    before = probe_timings(base.probes, metric)
    now = probe_timings(run.probes, metric)
    found = compare_runs(before, now, rules.max_latency_increase, rules.alpha)
    value = None if found.ratio is None else round(found.ratio - 1, 6)
    limit = f"<= {rules.max_latency_increase:g} or p >= {rules.alpha}"
    rule = f"{_LATENCY_METRICS[metric][0]} increase vs baseline"
    return Check(rule, value, limit, not found.failed, base.run_id, found.detail(), comparable=found.comparable)
