"""The `vllm` engine (`vllm.LLM` in-process) on this CPU: same scores as in-process transformers.

vLLM runs only in its own venv (tests/vllm_venv.py), so the engine runs in a script under that venv's
python, with tunebench's source on its path, and prints its results as JSON; this test compares them with
transformers on the same tiny-hd32 folder. What cannot run on a CPU: tensor_parallel_size > 1 (one
CPU "device" here) and bf16/fp16 kernels at GPU speed; those wait for the GPU session.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from vllm_server import require_venv

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
SCRIPT = """
import json, sys
from tunebench.engines.vllm_inprocess import VLLMEngine
from tunebench.suites import load_questions


def main():
    engine = VLLMEngine(sys.argv[1], dtype="float32", max_model_len=2048, enforce_eager=True)
    questions = load_questions(sys.argv[2])[:20]
    results = engine.score_choices(questions)
    reply = engine.generate([{"role": "user", "content": "What is a Roth IRA?"}], 16, repeats=1, warmup=0)
    print("RESULT " + json.dumps({
        "info": engine.info().to_dict(),
        "lls": [list(r.loglikelihoods) for r in results],
        "chosen": [r.chosen for r in results],
        "tokens": list(reply.token_ids),
        "ttft": reply.ttft_s, "latency": reply.latency_median_s,
    }))


if __name__ == "__main__":  # vLLM's engine core starts by spawn, which re-imports this file
    main()
"""


def test_vllm_engine_scores_as_transformers_on_the_same_weights(_tiny_cache, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunebench.engines.hf_choice import score_questions
    from tunebench.engines.hf_generation import timed_generate
    from tunebench.suites import load_questions
    from tunebench.tiny import tiny_hd32_path

    python = require_venv() / "bin" / "python"
    folder = tiny_hd32_path()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "VLLM_HOST_IP": "127.0.0.1",
    }
    script = tmp_path / "run_vllm.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [str(python), str(script), str(folder), str(QUESTIONS)], env=env, capture_output=True, text=True, timeout=1200
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    theirs = json.loads(lines[-1].removeprefix("RESULT "))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype="float32").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ours = score_questions(model, tokenizer, load_questions(QUESTIONS)[:20])
    for result, lls, chosen in zip(ours, theirs["lls"], theirs["chosen"], strict=True):
        assert chosen == result.chosen, result.id
        assert lls == pytest.approx(list(result.loglikelihoods), abs=1e-3), result.id
    reply = timed_generate(model, tokenizer, [{"role": "user", "content": "What is a Roth IRA?"}], 16, warmup=0)
    assert theirs["tokens"] == list(reply.token_ids)
    info = theirs["info"]
    assert (info["engine"], info["dtype"], info["tensor_parallel_size"]) == ("vllm", "float32", 1)
    assert info["engine_version"] and 0 < theirs["ttft"] <= theirs["latency"]
