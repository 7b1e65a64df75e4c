"""The engine layer: a registry of engines by name, the hf engine's own compute, any engine's choices."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from tunebench.engines import Engine, EngineError, EngineOptions, score_choices
from tunebench.engines import base as engines_base
from tunebench.engines.base import choice_requests
from tunebench.engines.hf import HFEngine
from tunebench.engines.registry import engine_class, engine_names, make_engine
from tunebench.engines.select import pick_engine
from tunebench.registry import ModelEntry
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


def test_hf_one_pass_choices_equal_the_base_class_pairs_and_take_a_row_per_question(engine, questions):
    """hf's own score_choices (one row per question) against the shared Engine.score_choices (a row per pair).

    Two computations: the one-pass reads four choices off one forward row; the base class asks
    `loglikelihood` for each (context, " X") pair, what a served engine is asked. They must agree, and the
    one-pass must really be one row per question (12 questions at batch 8: 2 forward calls, not 48 / 8 = 6).
    """
    calls = []
    hook = engine.loaded.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        one_pass = engine.score_choices(questions)
        forward_calls, calls[:] = len(calls), []
        by_pairs = Engine.score_choices(engine, questions)
    finally:
        hook.remove()
    assert (forward_calls, len(calls)) == (2, 6)
    for a, b in zip(one_pass, by_pairs, strict=True):
        assert b.loglikelihoods == pytest.approx(a.loglikelihoods, abs=1e-5), a.id
        assert (b.chosen, b.chosen_norm, b.is_greedy) == (a.chosen, a.chosen_norm, a.is_greedy), a.id
    assert score_choices(engine, questions) == by_pairs


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


def test_the_registry_is_the_one_list_of_engines_and_their_traits():
    assert engine_names() == ("hf", "openai", "vllm")
    traits = {name: (engine_class(name).needs_weights, engine_class(name).served) for name in engine_names()}
    assert traits == {"hf": (True, False), "openai": (False, True), "vllm": (True, False)}
    assert HFEngine.name == "hf" and engine_class("hf") is HFEngine
    with pytest.raises(EngineError, match="engine 'tgi': expected one of hf, openai, vllm"):
        engine_class("tgi")


TOY_ENGINE = """
from tunebench.engines import Engine, EngineInfo, register_engine
from tunebench.scoring.generation import GenerationResult


@register_engine("toy")
class ToyEngine(Engine):
    needs_weights = False

    @classmethod
    def open(cls, entry, options):
        return cls()

    def info(self):
        return EngineInfo(engine=self.name, engine_version="1", model_id="toy")

    def loglikelihood(self, requests, progress=None):
        # " B" is always likeliest: a rule the test can check.
        return [(-1.0 if cont == " B" else -2.0, cont == " B") for ctx, cont in requests]

    def generate(self, messages, max_new_tokens, repeats=1, warmup=1):
        return GenerationResult("toy", 1, 1, "eos", (0.1,), (0.1,))
"""


def test_adding_an_engine_is_one_new_module_and_its_registration(tmp_path, monkeypatch, questions):
    """A toy engine in its own module, registered by its decorator: names, picking, building and
    multiple choice (the base class's) all work with no other file touched."""
    monkeypatch.setattr(engines_base, "_REGISTERED", dict(engines_base._REGISTERED))  # forget toy afterwards
    (tmp_path / "toy_engine.py").write_text(TOY_ENGINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_engine", raising=False)
    importlib.import_module("toy_engine")  # the registration line: importing the module

    assert engine_names() == ("hf", "openai", "vllm", "toy")
    assert pick_engine("toy", None) == "toy"
    toy = make_engine("toy", ModelEntry("toy-model", base=""), EngineOptions())
    assert toy.name == "toy" and toy.info().engine == "toy" and toy.load_seconds is None
    results = toy.score_choices(questions[:3])
    assert [(r.chosen, r.is_greedy) for r in results] == [("B", (False, True, False, False))] * 3
