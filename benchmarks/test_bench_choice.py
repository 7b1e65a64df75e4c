"""Multiple-choice scoring: tunebench's batched one-pass scorer against `lm_eval.simple_evaluate`.

Both sides score the 100 shipped questions on the same loaded model with the same prompt, batch size 16.
The baseline is lm-eval's own in-process path as a user would call it: wrap the model in `HFLM`, load the
task from the shipped YAML (a `TaskManager` over the task folder only, which is the fast option), and run
`simple_evaluate`. The tunebench side reads and validates the question file and runs `score_questions`.
Goal: tunebench takes at most 0.8x lm-eval's time (`<= 0.8`). It was `<= 0.5`, which a compute-bound model
cannot reach (issue 24: 0.85x measured on a quiet run): on `bench` (hidden 512, 8 layers) both sides spend
most of their time in the same forward passes (lm-eval also groups the four one-token choices of a question
into one pass, but projects every position to the vocabulary and logs per request), so only the overhead
around them can be cut. On `tiny` the ratio shows that overhead.

A second group (`choice-floor-*`) holds the scorer against a floor measured in the same run: bare float32
matmuls doing the FLOPs of the model's layers over the tokens the scorer forwards (counted once, untimed;
the LM head left out, so the floor is a lower bound). Goal on `bench`: at least 70% of that speed (time
`<= 1.43`); measured 1.393x (72%) interleaved on the loaded 2-core machine, 2026-12-04, where the lm-eval
row read 1.069x (its two sides run minutes apart under changing load).

The lm-eval row is now interleaved too. Why <= 0.8x stays out of reach on `bench` (2026-12-04, figures in
benchmarks/CPU_RESULTS.md): both sides forward the same 100 rows (17,415 prompt tokens plus 2,001 of padding at
batch 16, sorted by length on both sides); the LM head is 1.1% of the matmul weights (vocab 512), so lm-eval's
projection of every position costs about 1%; the prompts share a 5-token prefix, so prefix caching saves
nothing; the scorer already runs at ~72% of bare matmuls doing its FLOPs. Fewer rows per pass (8: 0.86x the
time of 16 here, same results) would help lm-eval at batch 8 just as much.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.config import Config
from tunebench.engines.hf_choice import score_questions
from tunebench.loading import load_model
from tunebench.registry import ModelEntry
from tunebench.scoring.lm_eval_task import run_lm_eval
from tunebench.suites import load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
TASK_YAML = ROOT / "eval_suites" / "benchmark_100" / "lm_eval" / "tunebench_benchmark_100.yaml"
ROUNDS = {"tiny": 3, "bench": 2}
BATCH = 16


@pytest.fixture(scope="session")
def choice_model(cpu_model_dir, model_size, tmp_path_factory):
    """The benchmark model loaded once through tunebench, shared by both sides."""
    config = Config(root=tmp_path_factory.mktemp("choice-project"))
    return load_model(ModelEntry(f"{model_size}-choice", base=str(cpu_model_dir)), config)


def _tunebench(loaded):
    return score_questions(loaded.model, loaded.tokenizer, load_questions(QUESTIONS, per_domain=20), batch_size=BATCH)


def _lm_eval(loaded):
    return run_lm_eval(loaded.model, loaded.tokenizer, QUESTIONS, TASK_YAML, batch_size=BATCH)


def test_choice_lm_eval(paired_benchmark, choice_model, model_size):
    scores = paired_benchmark(
        _lm_eval, choice_model, side="baseline", group=f"choice-{model_size}", rounds=ROUNDS[model_size]
    )
    assert len(scores) == 100


def test_choice_tunebench(paired_benchmark, choice_model, model_size):
    results = paired_benchmark(
        _tunebench,
        choice_model,
        side="tunebench",
        group=f"choice-{model_size}",
        goal="<= 0.8",
        goal_note="100 questions scored in at most 0.8x lm-eval's time (same forward passes: overhead only)",
        rounds=ROUNDS[model_size],
        interleave=lambda: _lm_eval(choice_model),  # both sides under the same load (was minutes apart)
    )
    assert len(results) == 100 and all(r.error is None for r in results)


def _forwarded_tokens(loaded) -> int:
    """Tokens tunebench's scorer sends through the model for the 100 questions (padding included)."""
    seen = []
    handle = loaded.model.register_forward_pre_hook(
        lambda _module, args, kwargs: seen.append(
            (kwargs.get("input_ids") if "input_ids" in kwargs else args[0]).numel()
        ),
        with_kwargs=True,
    )
    try:
        _tunebench(loaded)
    finally:
        handle.remove()
    return sum(seen)


@pytest.fixture(scope="session")
def matmul_floor(choice_model):
    """A function doing the scorer's layer matmul FLOPs (2 x layer weights x forwarded tokens) as square matmuls."""
    import torch

    from tunebench.efficiency import matmul_parameters
    from tunebench.memory.estimate import ModelShape

    shape = ModelShape.from_config(choice_model.model.config)
    layer_weights = matmul_parameters(shape) - shape.vocab * shape.hidden  # the LM head left out: a lower bound
    flops = 2 * layer_weights * _forwarded_tokens(choice_model)
    n = 512
    a, b = torch.randn(n, n), torch.randn(n, n)
    count = max(1, round(flops / (2 * n**3)))

    def floor() -> int:
        for _ in range(count):
            torch.mm(a, b)
        return count

    return floor


def test_choice_matmul_floor(paired_benchmark, matmul_floor, model_size):
    paired_benchmark(matmul_floor, side="baseline", group=f"choice-floor-{model_size}", rounds=ROUNDS[model_size])


def test_choice_tunebench_against_the_matmul_floor(paired_benchmark, choice_model, matmul_floor, model_size):
    results = paired_benchmark(
        _tunebench,
        choice_model,
        side="tunebench",
        group=f"choice-floor-{model_size}",
        # On tiny Python overhead, not FLOPs, sets the time (measured 12.8x the floor): no goal there.
        goal="<= 1.43" if model_size == "bench" else None,
        goal_note="at least 70% of the speed of bare matmuls doing the same layer FLOPs",
        rounds=ROUNDS[model_size],
        interleave=matmul_floor,
    )
    assert len(results) == 100
