"""The gate judges speed apart from length: TTFT and time per output token by default, total only when asked."""

from __future__ import annotations

import pytest
from record_factory import eval_record, probe

from tunebench.gate import GateRules, evaluate
from tunebench.machine_speed import REFERENCE_WORKLOAD


def _probe(pid: str, ttft: float, tokens: int, tpot: float) -> dict:
    total = ttft + (tokens - 1) * tpot
    outcome = probe(pid, "investment", total, 4)
    jitter = (0.99, 1.0, 1.01)
    outcome.update(
        ttft_s=ttft,
        new_tokens=tokens,
        ttft_runs_s=[ttft * j for j in jitter],
        latency_s=[(ttft + (tokens - 1) * tpot) * j for j in jitter],
        latency_median_s=total,
        decode_tokens_per_s=1 / tpot,
        time_per_output_token_s=tpot,
        speed_reference={"workload": REFERENCE_WORKLOAD, "timings_s": [0.01, 0.0101, 0.0099, 0.01]},
    )
    return outcome


def _run(run_id: str, tokens: int, tpot: float, ttft: float = 0.2) -> dict:
    # Eight probes: the latency regression rule pairs them, and needs at least gate.slowdown.MIN_PROBES.
    probes = [_probe(f"p{i}", ttft * (1 + i / 10), tokens, tpot * (1 + i / 20)) for i in range(8)]
    return eval_record(run_id, "m", probes)


def _rules(verdict) -> dict[str, bool]:
    return {c.rule: c.passed for c in verdict.checks if "investment" in c.rule or "increase vs baseline" in c.rule}


def test_longer_answers_at_the_same_speed_are_not_a_latency_regression_by_default():
    base, longer = _run("base", 25, 0.10), _run("now", 64, 0.10)  # total latency x2.5, same speed
    assert _rules(evaluate(longer, GateRules(), base)) == {
        "ttft increase vs baseline": True,
        "time per token increase vs baseline": True,
    }
    total = _rules(evaluate(longer, GateRules(latency_metrics=("total",)), base))
    assert total == {"latency increase vs baseline": False}  # only when asked


def test_a_slower_model_with_the_same_answers_fails_on_time_per_token():
    verdict = evaluate(_run("now", 40, 0.25), GateRules(), _run("base", 40, 0.10))
    assert _rules(verdict)["time per token increase vs baseline"] is False
    assert _rules(verdict)["ttft increase vs baseline"] is True


@pytest.mark.parametrize(("budget", "passed"), [(0.2, True), (0.05, False)])
def test_ttft_and_time_per_token_budgets_judge_the_domain_median(budget, passed):
    record = _run("now", 40, 0.10)
    verdict = evaluate(record, GateRules(ttft_budget_s=1.0, time_per_token_budget_s=budget))
    checks = {c.rule: c for c in verdict.checks}
    assert checks["time per token[investment] median s"].passed is passed
    assert checks["time per token[investment] median s"].value == pytest.approx(0.10 * (1 + 3.5 / 20))
    assert checks["ttft[investment] median s"].passed and "latency[investment] median s" not in checks


def test_config_lists_the_latency_metrics_and_budgets():
    from tunebench.config import CONFIG_SCHEMA

    rules = GateRules.from_config({"latency_metrics": ["ttft", "total"], "ttft_budget_s": {"investment": 0.5}})
    assert rules.latency_metrics == ("ttft", "total") and rules.ttft_budget_s == {"investment": 0.5}
    gate = CONFIG_SCHEMA["properties"]["gate"]["properties"]
    assert {"ttft_budget_s", "time_per_token_budget_s", "latency_metrics"} <= set(gate)
