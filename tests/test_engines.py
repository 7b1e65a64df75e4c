"""The engine layer: `hf` gives exactly the scorers' results; any engine's log-likelihoods score multiple choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.engines import score_choices
from tunebench.engines.base import choice_requests
from tunebench.engines.hf import HFEngine
from tunebench.scoring.choice import score_questions
from tunebench.suites import load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine(tiny, tiny_dir):
    from tunebench.loading import LoadedModel
    from tunebench.registry import TINY

    model, tokenizer = tiny
    loaded = LoadedModel(TINY, model, tokenizer, str(tiny_dir), None, False, "cpu", "float32", 0.5)
    return HFEngine(loaded, batch_size=8)


@pytest.fixture(scope="module")
def questions():
    return load_questions(QUESTIONS)[:12]


def test_hf_engine_scores_as_the_one_pass_scorer(engine, tiny, questions):
    assert engine.score_choices(questions) == score_questions(*tiny, questions, batch_size=8)


def test_loglikelihood_path_gives_the_one_pass_scores(engine, tiny, questions):
    """Each (context, " X") pair on its own row (what a served engine is asked) equals the one-pass scores."""
    one_pass = score_questions(*tiny, questions, batch_size=8)
    by_pairs = score_choices(engine, questions)
    for a, b in zip(one_pass, by_pairs, strict=True):
        assert b.loglikelihoods == pytest.approx(a.loglikelihoods, abs=1e-5), a.id
        assert (b.chosen, b.chosen_norm, b.is_greedy) == (a.chosen, a.chosen_norm, a.is_greedy), a.id


def test_choice_requests_are_lm_evals_pairs(questions):
    pairs = choice_requests(questions[:1])
    assert [c for _, c in pairs] == [" A", " B", " C", " D"]
    assert all(ctx.endswith("Answer:") for ctx, _ in pairs)


def test_hf_info_names_engine_version_and_the_model_as_given(engine):
    import transformers

    info = engine.info().to_dict()
    assert (info["engine"], info["engine_version"], info["model_id"]) == (
        "hf",
        transformers.__version__,
        "builtin:tiny",
    )
    assert info["max_length"] == 2048 and info["concurrency"] == 1


def test_tiny_hd32_has_a_head_dim_vllm_cpu_accepts(_tiny_cache):
    from transformers import AutoConfig

    from tunebench.tiny import tiny_hd32_path, tiny_path

    config = AutoConfig.from_pretrained(tiny_hd32_path())
    assert config.hidden_size // config.num_attention_heads == 32
    assert tiny_hd32_path() != tiny_path()
