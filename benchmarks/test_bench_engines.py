"""Engines: what timing a stream costs, and served vs in-process multiple choice on the same weights.

* `stream-client`: the openai engine's timed streaming `generate` (TTFT, a clock per chunk, usage) against
  the plain `openai` client streaming the same requests and only joining the text. Both talk to the same
  local stub server (tests/openai_fault_server.py streaming 200 chunks), so the server's work is equal
  and the ratio is the client-side overhead. Goal <= 1.02x wall time. The engine reads the events itself
  (engines/openai_stream.py) where the plain client builds a typed model per event (~1 ms each here), so
  timing now costs less than not timing: 0.146x on a loaded 2-core machine (was 1.029x quiet, 1.128x loaded).
* `choice-served`: the 100 questions scored through a real vLLM server (tests/vllm_server.py, CPU, fp32)
  against transformers in-process on the same tiny-hd32 folder. Informational (no goal): the ratio says
  what a served evaluation costs here; on a GPU box the served side is the fast one. Skips without the
  vLLM venv (`python tests/vllm_venv.py` builds it), like the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from openai_fault_server import FaultServer  # noqa: E402
from vllm_server import vllm_server  # noqa: E402, F401  (the session fixture)

from tunebench.engines.openai_api import OpenAIEngine  # noqa: E402
from tunebench.suites import load_questions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
MESSAGES = [{"role": "user", "content": "What is the 2024 annual contribution limit for a Roth IRA?"}]
REQUESTS = 5


@pytest.fixture(scope="session")
def _tiny_cache():
    """vllm_server's dependency in tests/conftest.py; the benchmarks use the default tunebench cache."""
    yield


@pytest.fixture(scope="module")
def stub():
    with FaultServer(served=("stub",)) as server:
        server.words = [f" w{i}" for i in range(200)]
        yield server


def _timed_client(engine: OpenAIEngine) -> int:
    return sum(engine.generate(MESSAGES, 256, repeats=1, warmup=0).new_tokens for _ in range(REQUESTS))


def _plain_client(client, model: str) -> int:
    chunks = 0
    for _ in range(REQUESTS):
        stream = client.chat.completions.create(
            model=model, messages=MESSAGES, max_tokens=256, temperature=0, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        chunks += len(text.split())
    return chunks


@pytest.mark.parametrize("side", ["baseline", "tunebench"])
def test_stream_client(paired_benchmark, stub, side):
    import openai

    engine = OpenAIEngine(stub.url, "stub", max_retries=0)
    plain = openai.OpenAI(base_url=stub.url, api_key="EMPTY", max_retries=0)
    if side == "baseline":
        done = paired_benchmark(_plain_client, plain, "stub", side="baseline", group="stream-client", rounds=7)
        assert done == REQUESTS * 200
        return
    done = paired_benchmark(
        _timed_client,
        engine,
        side="tunebench",
        group="stream-client",
        goal="<= 1.02",
        goal_note="timed streaming (TTFT, ITL, usage) vs plain streaming",
        label="openai engine generate",
        rounds=7,
        interleave=lambda: _plain_client(plain, "stub"),
    )
    assert done == REQUESTS * 201  # the stub's usage counts the end-of-stream token too


@pytest.fixture(scope="module")
def hd32_local(vllm_server):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(vllm_server.folder, dtype="float32").eval()
    return model, AutoTokenizer.from_pretrained(vllm_server.folder)


@pytest.mark.parametrize("side", ["baseline", "tunebench"])
def test_choice_served(paired_benchmark, vllm_server, hd32_local, side):  # noqa: F811
    from tunebench.engines.hf_choice import score_questions

    questions = load_questions(QUESTIONS)
    if side == "baseline":
        results = paired_benchmark(
            score_questions, *hd32_local, questions, side="baseline", group="choice-served", rounds=3
        )
    else:
        engine = OpenAIEngine(vllm_server.url, vllm_server.served_name)
        results = paired_benchmark(
            engine.score_choices,
            questions,
            side="tunebench",
            group="choice-served",
            label="100 questions via vLLM /v1/completions (CPU)",
            goal_note="informational: served vs in-process transformers",
            rounds=3,
        )
    assert len(results) == 100 and all(r.error is None for r in results)
