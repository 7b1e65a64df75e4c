"""The hf engine's two ways to decode: eager, and compiled (static KV cache, torch.compile'd decoding step).

Compiled is the fast path on CUDA; forced here on the CPU (`generation_mode="compiled"`, transformers' own
switch to compile off CUDA) so that it is tested where every test runs. Compiling tiny's decoding step takes
one to three minutes on a busy 2-core machine: the module compiles once and every test reuses it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugin_support import questions, records

from tunebench.engines import EngineError
from tunebench.engines.hf import HFEngine
from tunebench.engines.hf_generation import cache_size, decoding_for
from tunebench.suites import load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROMPTS = [
    [{"role": "user", "content": "What is a Roth IRA and how much can I put in it each year?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Should I pay off my 7% loan first?"}],
]

pytestmark = pytest.mark.usefixtures("one_torch_thread")
pytest_plugins = ["pytester"]


def _engine(tiny, tiny_dir, mode: str) -> HFEngine:
    from tunebench.loading import LoadedModel
    from tunebench.registry import TINY

    loaded = LoadedModel(TINY, *tiny, str(tiny_dir), None, False, "cpu", "float32", 0.5)
    return HFEngine(loaded, batch_size=8, generation_mode=mode)


@pytest.fixture(scope="module")
def eager(tiny, tiny_dir):
    return _engine(tiny, tiny_dir, "eager")


@pytest.fixture(scope="module")
def compiled(tiny, tiny_dir):
    return _engine(tiny, tiny_dir, "compiled")


@pytest.fixture(scope="module")
def replies(eager, compiled):
    """Each prompt's reply, eager and compiled, and how many `generate` calls each compiled reply took."""
    model = compiled.loaded.model
    calls = []
    real = model.generate
    model.generate = lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs)  # a counting spy
    try:
        out = []
        for messages in PROMPTS:
            slow = eager.generate(messages, 40, repeats=2, warmup=1)
            before = len(calls)
            fast = compiled.generate(messages, 40, repeats=2, warmup=1)
            out.append((slow, fast, len(calls) - before))
        before = len(calls)
        compiled.generate(PROMPTS[0], 40, repeats=1, warmup=0)
        out.append((None, None, len(calls) - before))
    finally:
        del model.generate
    return out


def test_auto_is_compiled_on_cuda_and_eager_elsewhere_and_a_bad_mode_is_refused(tiny, tiny_dir):
    assert decoding_for("auto", "cpu").mode == "eager"
    assert decoding_for("auto", "cuda").mode == "compiled"
    assert decoding_for("compiled", "cpu").mode == "compiled"
    with pytest.raises(EngineError, match="generation mode 'fast': expected one of auto, eager, compiled"):
        _engine(tiny, tiny_dir, "fast")


def test_static_cache_sizes_are_powers_of_two_so_few_shapes_compile():
    assert [cache_size(n) for n in (1, 256, 257, 700, 2048, 2049)] == [256, 256, 512, 1024, 2048, 4096]


def test_compiled_greedy_replies_equal_eager_token_for_token(replies):
    for slow, fast, _ in replies[:-1]:
        assert (fast.token_ids, fast.text, fast.stop_reason) == (slow.token_ids, slow.text, slow.stop_reason)
        assert fast.new_tokens == slow.new_tokens and len(fast.latency_s) == 2


def test_choice_loglikelihoods_are_identical_after_compiled_decoding(eager, compiled, replies):
    """Scoring is the same forward pass whatever the decoding; a compiled generate leaves nothing behind."""
    questions = load_questions(QUESTIONS)[:8]
    assert compiled.score_choices(questions) == eager.score_choices(questions)
    assert compiled.loglikelihood([("Answer:", " B")]) == eager.loglikelihood([("Answer:", " B")])


def test_a_new_cache_size_is_warmed_before_timing_even_with_no_warmup_asked(compiled, replies):
    """Two untimed runs (compile, then CUDA graphs' record) precede the first timed one at a new cache size;
    at a size already run, only what was asked."""
    (_, _, first), (_, _, second), (_, _, warmed) = replies
    assert (first, second, warmed) == (2 + 2, 1 + 2, 0 + 1)  # both prompts fit the same 256-token cache
    assert compiled.decoding.warmed == {256}
    assert compiled.decoding.warmups(compiled.loaded.model, 300, 0) == 2


def test_the_record_names_the_generation_mode(eager, compiled):
    assert (eager.info().generation_mode, compiled.info().generation_mode) == ("eager", "compiled")


SCORING_SUITE = """
import pathlib
import pytest
from tunebench.suites import load_questions

QUESTIONS = load_questions(pathlib.Path(__file__).parent / "questions.jsonl")


@pytest.mark.tunebench_suite("modes")
@pytest.mark.parametrize("q", QUESTIONS, ids=[q.id for q in QUESTIONS])
def test_question(q, tb_score_questions, record):
    [r] = tb_score_questions([q])
    record(kind="question", suite="modes", suite_file=str(q.source), id=q.id, domain=q.domain,
           difficulty=q.difficulty, answer=q.answer, chosen=r.chosen, correct=r.correct,
           loglikelihoods=list(r.loglikelihoods))
"""


@pytest.mark.parametrize(
    ("configured", "option", "recorded"),
    [('generation_mode = "compiled"', None, "compiled"), ('generation_mode = "compiled"', "eager", "eager")],
)
def test_the_option_and_its_config_key_reach_the_record(pytester, configured, option, recorded):
    """`[tool.tunebench.eval] generation_mode`, overridden by `--generation-mode`, is the record's mode."""
    pytester.makefile(
        ".toml", pyproject=f'[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n[tool.tunebench.eval]\n{configured}\n'
    )
    pytester.makefile(".jsonl", questions="\n".join(json.dumps({**q, "explanation": "x"}) for q in questions(2)))
    pytester.makepyfile(test_modes=SCORING_SUITE)
    args = ["--model", "tiny", "-p", "no:cacheprovider"] + (["--generation-mode", option] if option else [])
    result = pytester.runpytest(*args)
    assert result.ret == 0, result.stdout.str()[-2000:]
    [record] = records(pytester)
    assert record["model"]["engine"]["generation_mode"] == recorded


def test_a_bad_generation_mode_in_the_config_names_its_key(pytester):
    pytester.makefile(".toml", pyproject='[tool.tunebench]\n[tool.tunebench.eval]\ngeneration_mode = "fast"\n')
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*generation_mode*"])
