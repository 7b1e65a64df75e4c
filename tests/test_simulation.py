"""The simulation of paired runs: its fit recovers known parameters, its pairs are what the gate reads, and
the probability test holds its false-alarm rate when nothing changed (fixed seed, stated tolerance)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tunebench.gate import paired_outcomes, paired_probabilities
from tunebench.simulation import ChoiceModel, detection_rates, fit, simulate

DATA = Path(__file__).parents[1] / "benchmarks" / "data"
KNOWN = ChoiceModel(mu=1.5, sigma=1.0, s=0.6, omega=0.3, tau=0.4, observed_shift=0.0, questions=0, runs=("", ""))


def _records(base, candidate, answers):
    """Two minimal eval records (only what the gate's paired tests read) of one simulated pair."""

    def record(ll):
        return {
            "kind": "eval",
            "run_id": "sim",
            "questions": [
                {
                    "id": f"q{i}",
                    "suite": "sim",
                    "status": "answered",
                    "answer": "ABCD"[a],
                    "correct": bool(row.argmax() == a),
                    "loglikelihoods": row.tolist(),
                }
                for i, (row, a) in enumerate(zip(ll, answers, strict=True))
            ],
        }

    return record(base), record(candidate)


def test_the_fit_recovers_the_parameters_of_simulated_runs():
    base, candidate, answers = simulate(KNOWN, 20_000, 0.0, np.random.default_rng(3))
    fitted = fit(*_records(base[0], candidate[0], answers[0]))
    for name in ("mu", "sigma", "s", "omega", "tau"):
        assert getattr(fitted, name) == pytest.approx(getattr(KNOWN, name), abs=0.05), name
    assert fitted.questions == 20_000


def test_a_simulated_pair_reads_the_same_through_the_gates_own_functions():
    base, candidate, answers = simulate(KNOWN, 200, 0.5, np.random.default_rng(4))
    before, after = _records(base[0], candidate[0], answers[0])
    n, b, c, unpaired = paired_outcomes(after, before)
    right_a, right_b = base[0].argmax(-1) == answers[0], candidate[0].argmax(-1) == answers[0]
    assert (n, b, c, unpaired) == (200, int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)), 0)
    p_before, p_after = paired_probabilities(after, before)
    assert len(p_before) == 200 and np.mean(p_before) > np.mean(p_after)


def test_the_probability_test_raises_no_more_false_alarms_than_alpha_when_nothing_changed():
    a = json.loads((DATA / "tiny.eval.json").read_text())
    b = json.loads((DATA / "tiny-dora-curriculum.eval.json").read_text())
    model = fit(a, b)
    null = detection_rates(model, 100, 0.0, pairs=600, alpha=0.05, seed=11)
    # 600 pairs: the rate's standard error at 5% is 0.9 points; 2 of them is the tolerance.
    assert null.probability <= 0.05 + 0.018
    assert null.mcnemar <= 0.05  # the exact test is conservative
    drop = detection_rates(model, 100, 0.05, pairs=200, alpha=0.05, seed=12)
    assert drop.probability > drop.mcnemar
