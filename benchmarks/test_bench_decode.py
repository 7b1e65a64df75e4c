"""Compiled vs eager decoding (engines.hf_generation) on the CPU `bench` model: the hf engine's fast path.

Both sides run tunebench's `timed_generate` for exactly `NEW_TOKENS` greedy tokens (`min_new_tokens`), one
untimed prompt's prefill each, so equal work takes the times compared; the compiled side is warmed (its
compile runs in the fixture, as the engine warms a new cache size before timing). Each row also records
its decode time per token (TPOT, ms) in `extra_info`. Goal: compiled never slower than eager once warmed
(time ratio <= 1.0) on this CPU; on CUDA the goal is decode within 2x the memory-bandwidth floor, which
benchmarks/gpu/run_gpu_bench.py measures. The replies must be identical token for token (asserted).
"""

from __future__ import annotations

import pytest
from bench_models import bench_path

from tunebench.config import Config
from tunebench.engines.hf_generation import Decoding, timed_generate
from tunebench.loading import load_model
from tunebench.registry import ModelEntry

NEW_TOKENS = 48
ROUNDS = 5
PROMPT = [{"role": "user", "content": "What is the 2024 annual contribution limit for a Roth IRA?"}]


@pytest.fixture(scope="module")
def bench_decodings(tmp_path_factory):
    """The bench model loaded through tunebench, and both decodings warmed (compiled: compiled)."""
    config = Config(root=tmp_path_factory.mktemp("decode-modes"))
    loaded = load_model(ModelEntry("bench", base=str(bench_path())), config)
    decodings = {"eager": Decoding("eager"), "compiled": Decoding("compiled")}
    first = {mode: _decode(loaded, decoding) for mode, decoding in decodings.items()}
    assert first["compiled"].token_ids == first["eager"].token_ids  # the same greedy reply, token for token
    return loaded, decodings


def _decode(loaded, decoding):
    return timed_generate(
        loaded.model,
        loaded.tokenizer,
        PROMPT,
        NEW_TOKENS,
        repeats=1,
        warmup=0,
        decoding=decoding,
        min_new_tokens=NEW_TOKENS,
    )


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_decode_mode(paired_benchmark, benchmark, bench_decodings, mode):
    loaded, decodings = bench_decodings
    compiled = mode == "compiled"
    result = paired_benchmark(
        _decode,
        loaded,
        decodings[mode],
        side="tunebench" if compiled else "baseline",
        group="decode-mode-bench",
        goal="<= 1.0" if compiled else None,
        goal_note="compiled decode (static cache, torch.compile) vs eager, warmed" if compiled else None,
        label=f"{mode} decoding",
        rounds=ROUNDS,
        interleave=(lambda: _decode(loaded, decodings["eager"])) if compiled else None,
    )
    assert result.new_tokens == NEW_TOKENS
    benchmark.extra_info["decode_ms_per_token"] = round(result.time_per_output_token_s * 1000, 3)
