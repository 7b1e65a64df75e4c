"""Build schema-valid history records for the log, plot, compare and history-command tests."""

from __future__ import annotations

import random
from typing import Any

from tunebench.history.eval_record import ItemResult, build_eval_record
from tunebench.vocabulary import DIFFICULTIES
from tunebench.vocabulary import SEED_DOMAINS as DOMAINS

PROVENANCE = {
    "tunebench_version": "0.1.0",
    "packages": {},
    "git_commit": "0123456789abcdef0123456789abcdef01234567",
    "hardware": {"kind": "cpu"},
    "command": "pytest eval_suites",
}


def question(
    qid: str, domain: str, correct: bool, chosen: str = "A", answer: str | None = None, difficulty: str = "easy"
) -> dict[str, Any]:
    """Return a question outcome as a suite records it."""
    answer = answer or (chosen if correct else "D")
    return {
        "kind": "question",
        "suite": "benchmark_100",
        "id": qid,
        "domain": domain,
        "difficulty": difficulty,
        "answer": answer,
        "chosen": chosen,
        "correct": correct,
        "loglikelihoods": [-1.0, -2.0, -3.0, -4.0],
    }


def probe(pid: str, domain: str, latency: float, grade: int) -> dict[str, Any]:
    """Return a probe outcome as a suite records it."""
    return {
        "kind": "probe",
        "suite": "domain_probes",
        "id": pid,
        "domain": domain,
        "prompt_tokens": 20,
        "new_tokens": 16,
        "stop_reason": "eos",
        "load_s": 0.1,
        "ttft_s": latency / 10,
        "decode_tokens_per_s": 100.0,
        "latency_s": [latency] * 3,
        "latency_median_s": latency,
        "latency_p90_s": latency,
        "grade": grade,
        "evidence": {},
        "answer": "...",
    }


def eval_record(
    run_id: str,
    model: str,
    outcomes: list[dict[str, Any]],
    started_at: str = "2026-02-01T10:00:00Z",
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a valid eval record of `outcomes` (each as its own test item)."""
    items = [ItemResult(f"eval_suites/test_x.py::test_item[{o['id']}]", "passed", [o]) for o in outcomes]
    record = build_eval_record(
        model={"name": model, "base": "builtin:tiny", "adapter": None},
        items=items,
        started_at=started_at,
        finished_at=started_at,
        provenance=PROVENANCE,
        run_id=run_id,
    )
    record["gate"] = gate
    return record


def random_eval(
    run_id: str,
    model: str,
    seed: int,
    questions: int = 100,
    started_at: str = "2026-02-01T10:00:00Z",
    skill: float = 0.6,
) -> dict[str, Any]:
    """Return an eval record with `questions` random outcomes (about `skill` right) and one probe per domain."""
    rng = random.Random(seed)
    outcomes = [
        question(f"q-{i:03d}", DOMAINS[i % 5], rng.random() < skill, rng.choice("ABCD"), difficulty=DIFFICULTIES[i % 4])
        for i in range(questions)
    ]
    outcomes += [probe(f"probe-{d}", d, round(rng.uniform(0.2, 2.0), 3), rng.randint(1, 5)) for d in DOMAINS]
    return eval_record(
        run_id, model, outcomes, started_at, gate={"passed": True, "checks": [{"rule": "min_accuracy", "passed": True}]}
    )


def note(
    run_id: str, target: str, text: str, section: str = "notes", started_at: str = "2026-02-02T00:00:00Z"
) -> dict[str, Any]:
    """Return a note record on `target`."""
    return {
        "kind": "note",
        "schema_version": 1,
        "run_id": run_id,
        "started_at": started_at,
        "finished_at": started_at,
        "source": "measured",
        "provenance": PROVENANCE,
        "notes": [],
        "target_run_id": target,
        "section": section,
        "text": text,
    }


def training_record(
    run_id: str,
    output: str,
    started_at: str = "2026-02-01T08:00:00Z",
    steps: int = 6,
    seed: int = 0,
    gpu: str | None = None,
    usd: float | None = 0.0012,
) -> dict[str, Any]:
    """Return a valid three-phase training record (A domain blocks, B mixed, C stress) with per-step losses."""
    rng = random.Random(seed)
    sha = "sha256:" + "0" * 64
    phases, loss = [], 3.0
    for name, kind, counts in (
        ("A", "domain_blocks", {"easy": 7, "medium": 7, "hard": 5, "extreme": 1}),
        ("B", "mixed", {"easy": 4, "medium": 8, "hard": 6, "extreme": 2}),
        ("C", "stress", {"easy": 2, "medium": 5, "hard": 7, "extreme": 6}),
    ):
        losses = []
        for _ in range(steps):
            loss *= rng.uniform(0.85, 0.99)
            losses.append(round(loss, 4))
        phases.append(
            {
                "name": name,
                "kind": kind,
                "status": "done",
                "examples": sum(counts.values()),
                "difficulty_counts": counts,
                "examples_sha256": sha,
                "epochs": 1,
                "steps": steps,
                "final_loss": losses[-1],
                "mean_loss": round(sum(losses) / steps, 4),
                "losses": losses,
                "tokens": 4000,
                "wall_s": 12.5,
                "tokens_per_s": 320.0,
                "peak_memory_bytes": 10**8,
                "memory_measure": "rss_sampled_at_steps",
                "validation_loss": losses[-1] + 0.2,
                "batch_size": 2,
                "grad_accum": 2,
            }
        )
    return {
        "kind": "training",
        "schema_version": 1,
        "run_id": run_id,
        "started_at": started_at,
        "finished_at": started_at,
        "source": "measured",
        "provenance": PROVENANCE,
        "notes": [],
        "status": "completed",
        "recipe": {"path": "recipes/tiny-dora-curriculum.toml", "sha256": sha, "text": ""},
        "model": {"name": "tiny", "base": "builtin:tiny"},
        "method": "dora",
        "hyperparameters": {
            "rank": 8,
            "alpha": 16,
            "dropout": 0.05,
            "target_modules": ["q_proj", "v_proj"],
            "batch_size": 2,
            "grad_accum": 2,
            "effective_batch": 4,
            "epochs": 1,
            "learning_rate": 0.0002,
            "lr_scheduler": "cosine",
            "max_length": 256,
            "seed": 0,
        },
        "data": {
            "files": {},
            "validation": {"files": {}, "examples": 10, "sha256": sha},
            "contamination": {"suites": [], "items_checked": 0},
        },
        "phases": phases,
        "totals": {
            "wall_s": 37.5,
            "steps": 3 * steps,
            "examples": 60,
            "tokens": 12000,
            "tokens_per_s": 320.0,
            "peak_memory_bytes": 10**8,
        },
        "validation_loss": phases[-1]["validation_loss"],
        "hardware": {
            "device": "cuda" if gpu else "cpu",
            "gpu_name": gpu,
            "gpu_count": 1 if gpu else 0,
            "world_size": 1,
        },
        "cost": {
            "hardware": "h100-spot" if gpu else "cpu",
            "usd_per_hour": 2.5 if gpu else 0.1,
            "wall_hours": 37.5 / 3600,
            "usd": usd,
        },
        "output": {
            "name": output,
            "dir": f"runs/{output}",
            "adapter": f"runs/{output}/adapter",
            "merged": None,
            "registry": None,
        },
        "attempts": [{"started_at": started_at, "finished_at": started_at, "wall_s": 37.5, "outcome": "completed"}],
        "oom_events": [],
    }


def graded_run(model: str, right: int, day: int, n: int) -> dict[str, Any]:
    """An eval record of `model` answering the first `right` of `n` questions right (A), the rest wrong (B).

    The gate tests' run: one suite "mini", domains in turn, log-likelihoods that make the chosen letter likeliest.
    """
    items = []
    for i in range(n):
        ok, qid = i < right, f"q{i:03d}"
        outcome = {
            "kind": "question",
            "suite": "mini",
            "id": qid,
            "domain": DOMAINS[i % len(DOMAINS)],
            "difficulty": "easy",
            "answer": "A",
            "chosen": "A" if ok else "B",
            "correct": ok,
            "loglikelihoods": [-0.5, -2.0, -3.0, -3.0] if ok else [-2.0, -0.5, -3.0, -3.0],
        }
        items.append(ItemResult(f"t.py::test_q[{qid}]", "passed", [outcome]))
    record = build_eval_record(
        model={"name": model, "base": "builtin:tiny", "adapter": None},
        items=items,
        started_at=f"2026-01-{day:02d}T10:00:00Z",
        finished_at=f"2026-01-{day:02d}T10:05:00Z",
        provenance=PROVENANCE,
    )
    record["suites"] = [{"name": "mini", "file": "questions.jsonl", "sha256": "a" * 64}]
    return record
