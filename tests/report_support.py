"""Eval records over the shipped 100 questions and 10 probes, without a model: for the HTML report tests.

The outcomes are scripted (which questions are wrong, what each probe replied); the grading of the replies
is the real rubric, so the evidence (and its character spans) is what a real run records.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tunebench.history.eval_record import ItemResult, build_eval_record
from tunebench.scoring.quality import grade
from tunebench.suites import load_probes, load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"
PROVENANCE = {
    "tunebench_version": "0.1.0",
    "packages": {},
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "hardware": {"cpu_count": 2, "memory_gb": 23.5, "gpus": [], "platform": "Linux"},
    "command": "pytest eval_suites",
}
LETTERS = "ABCD"


def question_outcomes(wrong: set[str], seed: int = 0) -> list[dict[str, Any]]:
    """One outcome per shipped question: right unless its id is in `wrong`; log-likelihoods agree with the choice."""
    rng = random.Random(seed)
    outcomes = []
    for q in load_questions(QUESTIONS):
        chosen = q.answer if q.id not in wrong else LETTERS[(LETTERS.index(q.answer) + 1) % 4]
        lls = [rng.uniform(-9.0, -5.0) for _ in LETTERS]
        lls[LETTERS.index(chosen)] = -1.0 - rng.random()
        outcomes.append(
            {
                "kind": "question",
                "suite": "benchmark_100",
                "suite_file": str(QUESTIONS),
                "id": q.id,
                "domain": q.domain,
                "difficulty": q.difficulty,
                "answer": q.answer,
                "chosen": chosen,
                "correct": chosen == q.answer,
                "loglikelihoods": lls,
            }
        )
    return outcomes


def probe_outcomes(replies: dict[str, str] | None = None, latency: float = 0.5) -> list[dict[str, Any]]:
    """One outcome per shipped probe, replying its reference answer (or `replies[id]`), graded by the rubric."""
    outcomes = []
    for p in load_probes(PROBES):
        reply = (replies or {}).get(p.id, p.reference)
        quality = grade(reply, p)
        outcomes.append(
            {
                "kind": "probe",
                "suite": "domain_probes",
                "suite_file": str(PROBES),
                "id": p.id,
                "domain": p.domain,
                "prompt_tokens": 40,
                "new_tokens": 64,
                "stop_reason": "eos",
                "load_s": 0.1,
                "ttft_s": latency / 10,
                "decode_tokens_per_s": 120.0,
                "latency_s": [latency] * 3,
                "latency_median_s": latency,
                "latency_p90_s": latency,
                "grade": quality.score,
                "evidence": quality.evidence,
                "answer": reply,
            }
        )
    return outcomes


def shipped_record(
    run_id: str,
    model: str = "tiny",
    wrong: set[str] = frozenset(),
    replies: dict[str, str] | None = None,
    started_at: str = "2026-02-01T10:00:00Z",
    latency: float = 0.5,
) -> dict[str, Any]:
    """Return a valid eval record of the shipped suites with the scripted outcomes (suite files named absolute)."""
    outcomes = question_outcomes(set(wrong)) + probe_outcomes(replies, latency)
    items = [ItemResult(f"eval_suites/x.py::test_{o['kind']}[{o['id']}]", "passed", [o]) for o in outcomes]
    record = build_eval_record(
        model={"name": model, "base": "builtin:tiny", "adapter": None},
        items=items,
        started_at=started_at,
        finished_at=started_at,
        provenance=PROVENANCE,
        run_id=run_id,
    )
    return record
