"""The latency regression rule (gate.slowdown): a slower model FAILs, noise and a busy machine do not.

Records are built with seeded, jittered per-repeat timings and machine-speed reference timings as the
probe suite records them (eval_suites/domain_probes/test_probes.py); the verdicts come from the real gate.
"""

from __future__ import annotations

import random
import statistics

import pytest
from record_factory import eval_record, probe

from tunebench.gate import GateRules, evaluate
from tunebench.gate.slowdown import MIN_PROBES, compare_runs, probe_timings
from tunebench.history.records import validate
from tunebench.history.typed import SpeedReference
from tunebench.machine_speed import REFERENCE_WORKLOAD, generate_beside_reference
from tunebench.vocabulary import SEED_DOMAINS

REFERENCE_S = 0.01


def _probe(index: int, rng: random.Random, slower: float, machine: float, repeats: int, reference: bool) -> dict:
    """One probe's outcome: TTFT ~40 ms, 20 tokens at ~10 ms each, every timing jittered by ~10%."""

    def jitter() -> float:
        return rng.lognormvariate(0, 0.1)

    tokens, ttft, tpot = 20, 0.04 * (1 + index / 10), 0.01 * (1 + index / 20)
    ttfts = [ttft * slower * machine * jitter() for _ in range(repeats)]
    totals = [f + (tokens - 1) * tpot * slower * machine * jitter() for f in ttfts]
    outcome = probe(f"p{index:02d}", SEED_DOMAINS[index % len(SEED_DOMAINS)], statistics.median(totals), 4)
    outcome.update(
        new_tokens=tokens,
        ttft_s=statistics.median(ttfts),
        ttft_runs_s=ttfts,
        latency_s=totals,
        latency_median_s=statistics.median(totals),
        time_per_output_token_s=tpot * slower * machine,
        decode_tokens_per_s=1 / (tpot * slower * machine),
    )
    if reference:
        timings = [REFERENCE_S * machine * jitter() for _ in range(repeats + 1)]
        outcome["speed_reference"] = {"workload": REFERENCE_WORKLOAD, "timings_s": timings}
    return outcome


def _run(run_id, seed, slower=1.0, machine=1.0, probes=10, repeats=3, reference=True) -> dict:
    rng = random.Random(seed)
    return eval_record(run_id, "m", [_probe(i, rng, slower, machine, repeats, reference) for i in range(probes)])


def _latency_checks(verdict) -> dict[str, object]:
    return {c.rule: c for c in verdict.checks if "increase vs baseline" in c.rule}


def test_two_timings_per_probe_that_do_not_overlap_are_no_longer_a_fail():
    """Today's code failed this (2/2 measurements, no overlap): two timings cannot show significance."""
    base = _run("base", seed=1, probes=2, reference=False)
    now = _run("now", seed=2, probes=2, slower=1.8, reference=False)
    verdict = evaluate(now, GateRules(), base)
    checks = _latency_checks(verdict)
    assert set(checks) == {"ttft increase vs baseline", "time per token increase vs baseline"}
    assert all(c.passed and not c.comparable for c in checks.values())
    assert all(f"{MIN_PROBES} needed" in c.detail for c in checks.values())
    assert not verdict.failing


def test_a_busy_machine_is_not_a_slower_model():
    """Everything 2x slower, the reference workload too: the machine, not the model. Today's code failed it."""
    base = _run("base", seed=3)
    busy = _run("now", seed=4, machine=2.0)
    checks = _latency_checks(evaluate(busy, GateRules(), base))
    for check in checks.values():
        assert check.passed and check.comparable, check.detail
        assert abs(check.value) < 0.2  # the ratio with the machine's speed taken out is about 1
        assert "the reference workload took 2." in check.detail and "detects a slowdown of" in check.detail


def test_a_genuine_2x_slowdown_with_enough_timings_fails_and_says_what_it_can_detect():
    base = _run("base", seed=5)
    slower = _run("now", seed=6, slower=2.0)
    verdict = evaluate(slower, GateRules(), base)
    check = _latency_checks(verdict)["time per token increase vs baseline"]
    assert not check.passed and verdict.failing
    assert check.value == pytest.approx(1.0, abs=0.2)
    detectable = float(check.detail.split("detects a slowdown of ")[1].split("x")[0])
    assert 1.25 < detectable < 2.0  # 10 probes of 3 repeats at 10% jitter detect less than 2x


def test_a_slowdown_within_the_allowed_increase_passes():
    checks = _latency_checks(evaluate(_run("now", seed=8, slower=1.1), GateRules(), _run("base", seed=7)))
    assert all(c.passed and c.comparable for c in checks.values())


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"probes": MIN_PROBES - 1}, f"{MIN_PROBES - 1} probe(s) with 2+ timings on both sides"),
        ({"repeats": 1}, "0 probe(s) with 2+ timings"),
        ({"reference": False}, "no machine-speed reference"),
        ({"machine": 4.0}, "the machine ran 4."),
    ],
)
def test_too_few_timings_or_an_unknown_machine_speed_is_not_comparable_never_a_fail(change, why):
    base = _run("base", seed=9)
    now = _run("now", seed=10, slower=3.0, **change)
    checks = _latency_checks(evaluate(now, GateRules(), base))
    assert checks and all(c.passed and not c.comparable for c in checks.values())
    assert all(why in c.detail for c in checks.values()), [c.detail for c in checks.values()]


def test_the_machine_speed_is_taken_out_probe_by_probe():
    """A load that came and went during the run is taken out where it happened: half the probes ran 3x slower."""
    base = probe_timings(_run("base", seed=11)["probes"], "total")
    now = {}
    for index, (key, timings) in enumerate(sorted(base.items())):
        factor = 3.0 if index % 2 else 1.0
        scaled = (tuple(t * factor for t in timings.timings_s), tuple(t * factor for t in timings.reference_s))
        now[key] = type(timings)(*scaled, timings.workload)
    found = compare_runs(base, now, 0.25, 0.05)
    assert found.comparable and found.ratio == pytest.approx(1.0) and not found.failed


def test_a_probe_records_its_speed_reference_and_per_repeat_ttft_in_a_valid_record():
    record = _run("run-now", seed=12)
    validate(record)
    reference = SpeedReference.from_dict(record["probes"][0]["speed_reference"])
    assert reference.workload == REFERENCE_WORKLOAD and len(reference.timings_s) == 4
    assert reference.to_dict() == record["probes"][0]["speed_reference"]
    broken = _run("run-now", seed=12)
    broken["probes"][0]["speed_reference"]["timings_s"] = [0.0]
    with pytest.raises(Exception, match="timings_s"):
        validate(broken)


def test_generation_beside_the_reference_interleaves_it_with_the_repeats(tiny_engine):
    messages = [{"role": "user", "content": "What is a Roth IRA?"}]
    reply, reference = generate_beside_reference(tiny_engine, messages, max_new_tokens=4, repeats=3, warmup=1)
    assert len(reply.ttft_runs_s) == len(reply.latency_s) == 3
    assert reference.workload == REFERENCE_WORKLOAD and len(reference.timings_s) == 4
    assert all(t > 0 for t in reference.timings_s)
    alone = tiny_engine.generate(messages, max_new_tokens=4, repeats=1, warmup=0)
    assert reply.text == alone.text and reply.new_tokens == alone.new_tokens


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    from tunebench.config import Config
    from tunebench.engines.hf import HFEngine
    from tunebench.loading import load_model

    return HFEngine(load_model("tiny", Config(root=tmp_path_factory.mktemp("project"))))
