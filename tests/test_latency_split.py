"""`history compare` splits a change of total latency into answer length, per-token speed and TTFT."""

from __future__ import annotations

import pytest
from record_factory import eval_record, probe

from tunebench.report.compare import compare_runs, format_comparison, latency_split


def _probe(pid: str, ttft: float, tokens: int, tpot: float) -> dict:
    """A probe outcome whose median latency is exactly TTFT + (tokens - 1) x TPOT."""
    outcome = probe(pid, "investment", ttft + (tokens - 1) * tpot, 4)
    total = ttft + (tokens - 1) * tpot
    outcome.update(
        ttft_s=ttft,
        new_tokens=tokens,
        latency_s=[total] * 3,
        latency_median_s=total,
        latency_p90_s=total,
        decode_tokens_per_s=1 / tpot,
        time_per_output_token_s=tpot,
    )
    return outcome


def test_shorter_answers_at_the_same_speed_are_all_length_and_no_speed():
    # The case: 64 -> 25 tokens after fine-tuning, the same 0.14 s per token.
    a = eval_record("run-a", "base", [_probe("p1", 0.2, 64, 0.14), _probe("p2", 0.2, 64, 0.14)])
    b = eval_record("run-b", "tuned", [_probe("p1", 0.2, 25, 0.14), _probe("p2", 0.2, 25, 0.14)])
    split = compare_runs(a, b).latency
    assert split.delta == pytest.approx(-39 * 0.14)
    assert (split.length_effect, split.speed_effect, split.ttft_effect) == pytest.approx((-39 * 0.14, 0.0, 0.0))
    text = format_comparison(compare_runs(a, b))
    # seconds and times per token as the log writes them (tunebench.units)
    assert "total latency B - A: -5.46s = answer length -5.46s (64.0 -> 25.0 tokens) + per-token speed +0.00s" in text
    assert "time per output token  140.0 ms  140.0 ms  +0.0 ms" in text


def test_a_faster_model_with_the_same_answers_is_all_speed():
    a = eval_record("run-a", "base", [_probe("p1", 0.3, 40, 0.10)])
    b = eval_record("run-b", "quantized", [_probe("p1", 0.3, 40, 0.05)])
    split = latency_split(a, b)
    assert (split.length_effect, split.speed_effect) == pytest.approx((0.0, -39 * 0.05))


def test_length_speed_and_ttft_effects_sum_exactly_to_the_change():
    a = eval_record("run-a", "base", [_probe("p1", 0.5, 64, 0.12), _probe("p2", 0.4, 30, 0.10)])
    b = eval_record("run-b", "tuned", [_probe("p1", 0.3, 25, 0.09), _probe("p2", 0.6, 50, 0.11)])
    split = latency_split(a, b)
    assert split.length_effect + split.speed_effect + split.ttft_effect == pytest.approx(split.delta)
    assert split.ttft_effect == pytest.approx(((0.3 - 0.5) + (0.6 - 0.4)) / 2)
    assert split.length_effect == pytest.approx(((25 - 64) * 0.105 + (50 - 30) * 0.105) / 2)
    assert compare_runs(a, b).to_dict()["latency"]["delta"] == pytest.approx(split.delta)


def test_one_token_answers_and_unpaired_probes_are_left_out_and_counted():
    a = eval_record("run-a", "base", [_probe("p1", 0.2, 10, 0.1), _probe("p2", 0.2, 1, 0.1), _probe("p3", 0.2, 9, 0.1)])
    b = eval_record("run-b", "tuned", [_probe("p1", 0.2, 20, 0.1), _probe("p2", 0.2, 5, 0.1)])
    split = latency_split(a, b)
    assert (split.probes, split.unsplit) == (1, 1)
    assert "1 one-token answer(s) left out" in format_comparison(compare_runs(a, b))
    assert latency_split(a, eval_record("run-c", "x", [_probe("other", 0.2, 9, 0.1)])) is None


def test_records_aggregate_ttft_time_per_token_and_length_side_by_side_and_validate():
    from tunebench.history.records import validate

    record = eval_record("run-a", "base", [_probe("p1", 0.2, 64, 0.14), _probe("p2", 0.4, 26, 0.10)])
    validate(record, where="test")
    aggregates = record["aggregates"]
    assert aggregates["ttft_s"]["p50"] == pytest.approx(0.3)
    assert aggregates["time_per_output_token_s"]["mean"] == pytest.approx(0.12)
    assert (aggregates["new_tokens"]["mean"], aggregates["new_tokens_by_domain"]["investment"]["max"]) == (45, 64)


def test_a_record_from_before_time_per_token_derives_it_from_decode_speed():
    old = _probe("p1", 0.2, 11, 0.05)
    del old["time_per_output_token_s"]
    record = eval_record("run-old", "base", [old])
    assert record["aggregates"]["time_per_output_token_s"]["p50"] == pytest.approx(0.05)
