"""Power of the gate's paired tests by simulation: detection and false-alarm rates at alpha 0.05.

Not a timing benchmark: `extra_info["kind"] = "statistics"` rows are printed by `benchmarks/report.py` as
their own table. Paired runs are drawn from `tunebench.simulation.ChoiceModel` fitted to two recorded runs:
by default `benchmarks/data/tiny.eval.json` (`pytest eval_suites --model tiny`) and
`benchmarks/data/tiny-dora-curriculum.eval.json` (the same after `tunebench train
recipes/tiny-dora-curriculum.toml`), both recorded on 2026-12-01 on a CPU. Any two eval records of the same
questions can be used instead: `TUNEBENCH_POWER_RECORDS=a.json,b.json nox -s bench -- -k gate_power`
(a record file, or `tunebench history show RUN --json` output).

Scenarios: the fitted model as is (tiny answers near chance, 25%), and the same fitted noise with mu moved
so the expected accuracy is 78%, the level of the seed's 14B adapters (an extrapolation, labelled so). For
each, a true 5-point drop and no change, on 100 and 400 questions, 2000 simulated pairs each (seeded; a
rate's standard error is shown beside it).
Goal (issues 15, 21): a 5-point drop on 100 questions detected >= 80% with false alarms <= 5%. The prob_drop
rule's test is the paired t test on the right answer's log-odds (tunebench.gate.paired says why); the table
shows it beside the probability-scale test it replaced, McNemar, and "either" (the gate fails when either
rule does). Each goal line states the bound no test ignoring a common move of a question's choices can
pass on that model (`simulation.power_bound`), and the questions the log-odds test needs to reach 80%.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tunebench.simulation import detection_rates, fit, power_bound, rates_table, recentred, shift_for_drop

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_RECORDS = (DATA / "tiny.eval.json", DATA / "tiny-dora-curriculum.eval.json")
PAIRS = int(os.environ.get("TUNEBENCH_POWER_PAIRS", "2000"))
DROP, ALPHA = 0.05, 0.05


def _read(path: Path) -> dict:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data.get("record", data)  # `tunebench history show --json` wraps the record


def _records() -> tuple[dict, dict]:
    named = os.environ.get("TUNEBENCH_POWER_RECORDS")
    paths = [Path(p) for p in named.split(",")] if named else list(DEFAULT_RECORDS)
    if len(paths) != 2:
        raise ValueError(f"TUNEBENCH_POWER_RECORDS: expected two record files separated by a comma, found {named!r}")
    return _read(paths[0]), _read(paths[1])


def _simulate():
    fitted = fit(*_records())
    scenarios = [("fitted", fitted), ("fitted noise, mu at 78% accuracy (extrapolation)", recentred(fitted, 0.78))]
    rows, lines = [], [fitted.describe()]
    for name, model in scenarios:
        shift = shift_for_drop(model, DROP)
        for n in (100, 400):
            seed = 1000 * n + len(rows)
            drop = detection_rates(model, n, DROP, PAIRS, ALPHA, seed=seed, shift=shift)
            null = detection_rates(model, n, 0.0, PAIRS, ALPHA, seed=seed + 1, shift=0.0)
            rows.append((name, drop, null, model))
    lines.append(rates_table([row[:3] for row in rows]))
    for name, drop, null, model in rows:
        if drop.n == 100:
            met = drop.probability >= 0.8 and null.probability <= ALPHA
            bound = power_bound(model, drop.n, drop.shift, ALPHA)
            needed = next((n for n in range(100, 1000, 5) if power_bound(model, n, drop.shift, ALPHA) >= 0.8), None)
            lines.append(
                f"goal ({name}): 5-point drop on 100 questions detected >= 80% with false alarms <= 5%: "
                f"{'met' if met else 'NOT met'} (prob test on log-odds {drop.probability:.1%} / "
                f"{null.probability:.1%}, p-scale {drop.p_scale:.1%} / {null.p_scale:.1%}, McNemar "
                f"{drop.mcnemar:.1%} / {null.mcnemar:.1%}, either {drop.either:.1%} / {null.either:.1%}); "
                f"bound for any test ignoring a common move of a question's choices: {bound:.1%}; "
                f"80% needs about {needed} questions"
            )
    return lines


@pytest.mark.benchmark(group="gate-power")
def test_gate_power_by_simulation(benchmark):
    lines = benchmark.pedantic(_simulate, rounds=1, iterations=1)
    benchmark.extra_info.update({"kind": "statistics", "lines": lines})
    print("\n".join(lines))
