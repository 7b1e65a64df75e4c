"""The latency regression rule measured, not argued: false alarms on a busy machine, detection of a slower engine.

Not a timing benchmark: `extra_info["kind"] = "statistics"` rows are printed by `benchmarks/report.py` as
their own table. Each "run" is what `pytest eval_suites --model tiny` does for the shipped probes
(eval_suites/domain_probes/probes.jsonl): every probe generated with the default repeats (3), its repeats
interleaved with the machine-speed reference (`tunebench.machine_speed.generate_beside_reference`), the
outcomes built into an eval record (`build_eval_record`) and judged against a baseline run by the real gate
(`tunebench.gate.evaluate`, default rules: `max_latency_increase` 0.25, alpha 0.05). In-process, one model
load, so the reruns take minutes and not 60 pytest sessions; answers are 8 tokens long for the same reason.

(a) False alarms: a baseline recorded first, then the same model rerun `RERUNS` times while a CPU load
    generator (one bounded busy-loop process per core, each stopping by itself) runs beside it, each rerun
    judged against the baseline. Goal: false-FAIL rate <= alpha, and 0 in 20 reruns at the defaults.
(b) Detection: the same engine slowed by a known factor, a sleep per generated token (a logits processor)
    of (factor - 1) x the baseline's median time per token, so its time per token is 1.5x and 2x the
    baseline's; `DETECTION_RERUNS` reruns each, no load generator, against a baseline recorded just
    before them. Goal: >= 90% detected at 2x.

A run "FAILs on latency" when any latency regression check (ttft, time per token) fails; "not comparable"
runs are counted apart (never a FAIL). `TUNEBENCH_LATENCY_RERUNS` and `TUNEBENCH_LATENCY_DETECTION_RERUNS`
change the counts.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tunebench.config import Config, EvalSettings
from tunebench.gate import GateRules, evaluate
from tunebench.history.eval_record import ItemResult, build_eval_record
from tunebench.machine_speed import generate_beside_reference
from tunebench.suites import load_probes

PROBES = Path(__file__).resolve().parents[1] / "eval_suites" / "domain_probes" / "probes.jsonl"
RERUNS = int(os.environ.get("TUNEBENCH_LATENCY_RERUNS", "20"))
DETECTION_RERUNS = int(os.environ.get("TUNEBENCH_LATENCY_DETECTION_RERUNS", "10"))
NEW_TOKENS = 8
REPEATS = EvalSettings().repeats  # the default repeats, as the goal asks
PROVENANCE = {"tunebench_version": "bench", "packages": {}, "git_commit": None, "hardware": {"kind": "cpu"}}


class SleepPerToken:
    """A logits processor that sleeps before each generated token: an engine slowed by a known time per token."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, input_ids, scores):
        time.sleep(self.seconds)
        return scores


@dataclass
class SlowedEngine:
    """The hf engine's timed generation with `SleepPerToken(seconds)`: the same answers, a slower engine."""

    loaded: object
    seconds: float = 0.0

    def generate(self, messages, max_new_tokens, repeats=1, warmup=1):
        from transformers import LogitsProcessorList

        from tunebench.engines.hf_generation import timed_generate

        extra = {"logits_processor": LogitsProcessorList([SleepPerToken(self.seconds)])} if self.seconds else {}
        model, tokenizer = self.loaded.model, self.loaded.tokenizer
        return timed_generate(model, tokenizer, messages, max_new_tokens, repeats=repeats, warmup=warmup, **extra)


@contextlib.contextmanager
def cpu_load(seconds: float):
    """Run one busy-loop process per core beside the block; each stops by itself after `seconds` at most."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"
    processes = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for process in processes:
            process.kill()
            process.wait()


def measured_run(engine, probes, run_id: str) -> dict:
    """Return the eval record of one run of the probes, as the probe suite records it."""
    items = []
    for probe in probes:
        messages = [{"role": "user", "content": probe.prompt}]
        reply, reference = generate_beside_reference(
            engine, messages, max_new_tokens=NEW_TOKENS, repeats=REPEATS, warmup=0
        )
        outcome = {
            "kind": "probe",
            "suite": "domain_probes",
            "suite_file": str(PROBES),
            "id": probe.id,
            "domain": probe.domain,
            "prompt_tokens": reply.prompt_tokens,
            "new_tokens": reply.new_tokens,
            "stop_reason": reply.stop_reason,
            "ttft_s": reply.ttft_s,
            "ttft_runs_s": list(reply.ttft_runs_s),
            "time_per_output_token_s": reply.time_per_output_token_s,
            "latency_s": list(reply.latency_s),
            "speed_reference": reference.to_dict(),
        }
        nodeid = f"eval_suites/domain_probes/test_probes.py::test_probe[{probe.id}]"
        items.append(ItemResult(nodeid, "passed", [outcome]))
    return build_eval_record(
        model={"name": "tiny", "base": "builtin:tiny", "adapter": None},
        items=items,
        started_at="2026-12-04T00:00:00Z",
        finished_at="2026-12-04T00:00:00Z",
        provenance=PROVENANCE,
        run_id=run_id,
    )


@dataclass
class Rates:
    """How often the gate said FAIL on latency, and not comparable, over some reruns."""

    name: str
    runs: int = 0
    failed: int = 0
    not_comparable: int = 0
    detectable: list[float] | None = None
    failures: list[str] | None = None
    why_not: list[str] | None = None

    def add(self, record: dict, baseline: dict, rules: GateRules) -> None:
        checks = [c for c in evaluate(record, rules, baseline).checks if "increase vs baseline" in c.rule]
        self.runs += 1
        self.failed += any(not c.passed for c in checks)
        self.not_comparable += any(not c.comparable for c in checks)
        self.failures = (self.failures or []) + [f"  FAIL {c.rule}: {c.detail}" for c in checks if not c.passed]
        self.why_not = (self.why_not or []) + [c.detail for c in checks if not c.comparable]
        self.detectable = self.detectable or []
        self.detectable += [
            float(c.detail.split("detects a slowdown of ")[1].split("x")[0])
            for c in checks
            if "time per token" in c.rule and "detects a slowdown of " in c.detail
        ]

    def line(self) -> str:
        reach = f"{statistics.median(self.detectable):.2f}x" if self.detectable else "-"
        return (
            f"{self.name:<50} {self.failed:>3}/{self.runs:<3} FAIL ({self.failed / max(self.runs, 1):6.1%})  "
            f"{self.not_comparable:>3} not comparable  median detectable time/token slowdown {reach}"
        )


def _simulate(loaded) -> list[str]:
    rules = GateRules()
    probes = load_probes(PROBES)
    engine = SlowedEngine(loaded)
    measured_run(engine, probes[:2], "warm-up")  # the first generations pay for lazy set-up
    baseline = measured_run(engine, probes, "baseline")
    tpot = statistics.median(p["time_per_output_token_s"] for p in baseline["probes"])
    started = time.perf_counter()
    alarms = Rates(f"(a) same model, {os.cpu_count()} busy-loop processes beside it")
    with cpu_load(seconds=900):
        for index in range(RERUNS):
            alarms.add(measured_run(engine, probes, f"loaded-{index:02d}"), baseline, rules)
    # Detection is judged against a baseline of the same conditions: recorded now, without the load generator
    # (the machine's speed may have moved more than the rule takes out since the first baseline).
    quiet = measured_run(engine, probes, "baseline-detection")
    tpot = statistics.median(p["time_per_output_token_s"] for p in quiet["probes"])
    detections = []
    for factor in (1.5, 2.0):
        rates = Rates(f"(b) engine slowed {factor:g}x (sleep {1000 * (factor - 1) * tpot:.1f} ms/token)")
        slowed = SlowedEngine(loaded, (factor - 1) * tpot)
        for index in range(DETECTION_RERUNS):
            rates.add(measured_run(slowed, probes, f"slowed-{factor:g}-{index:02d}"), quiet, rules)
        detections.append(rates)
    alpha = rules.alpha
    at_2x = detections[-1]
    lines = [
        f"latency rule at the defaults (max_latency_increase {rules.max_latency_increase:g}, alpha {alpha:g}, "
        f"{REPEATS} repeats, {len(probes)} probes of {NEW_TOKENS} tokens; baseline time/token "
        f"{1000 * tpot:.1f} ms; {time.perf_counter() - started:.0f} s)",
        alarms.line(),
        *(rates.line() for rates in detections),
        *(alarms.failures or []),  # what a false alarm looked like, if there was one
        *(f"  not comparable: {why}" for why in sorted(set(at_2x.why_not or []))),
        f"goal (a): false-FAIL rate <= alpha ({alpha:g}) and 0 in 20 reruns: "
        f"{'met' if alarms.failed == 0 and alarms.runs >= 20 else 'NOT met'} ({alarms.failed}/{alarms.runs})",
        f"goal (b): >= 90% detected at 2x: {'met' if at_2x.failed >= 0.9 * at_2x.runs else 'NOT met'} "
        f"({at_2x.failed}/{at_2x.runs})",
    ]
    return lines


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tunebench.loading import load_model

    return load_model("tiny", Config(root=tmp_path_factory.mktemp("latency-project")))


@pytest.mark.benchmark(group="gate-latency")
def test_gate_latency_false_alarms_and_detection(benchmark, tiny):
    lines = benchmark.pedantic(_simulate, args=(tiny,), rounds=1, iterations=1)
    benchmark.extra_info.update({"kind": "statistics", "lines": lines})
    print("\n".join(lines))
