"""Generation speed: a merged DoRA adapter against the bare base model, and the same adapter unmerged.

Every call generates exactly `NEW_TOKENS` tokens greedily (`min_new_tokens` keeps eos from ending a run
early), so equal work takes the times compared. Goal: merged within 5% of the base (time ratio <= 1.05).
The unmerged row has no goal: it shows what an unmerged DoRA adapter costs (the 92 s answer).
"""

from __future__ import annotations

import pytest
import torch

from tunebench.config import Config
from tunebench.loading import load_model
from tunebench.registry import ModelEntry

NEW_TOKENS = {"tiny": 64, "bench": 32}
ROUNDS = {"tiny": 5, "bench": 3}
PROMPT = [{"role": "user", "content": "What is the 2024 annual contribution limit for a Roth IRA?"}]


@pytest.fixture(scope="session")
def decode_models(cpu_model_dir, dora_adapter_dir, model_size, tmp_path_factory):
    """The base model, the DoRA adapter merged into it, and unmerged, each loaded through tunebench."""
    config = Config(root=tmp_path_factory.mktemp("decode-project"))
    base = ModelEntry(f"{model_size}-base", base=str(cpu_model_dir))
    dora = ModelEntry(f"{model_size}-dora", base=str(cpu_model_dir), adapter=str(dora_adapter_dir))
    return {
        "base": load_model(base, config),
        "merged": load_model(dora, config, merge=True),
        "unmerged": load_model(dora, config, merge=False),
    }


def _prompt_ids(loaded):
    return loaded.tokenizer.apply_chat_template(
        PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]


def _decode(loaded, input_ids, new_tokens: int):
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    return out.shape[-1] - input_ids.shape[-1]


@pytest.mark.parametrize("variant", ["base", "merged", "unmerged"])
def test_decode(paired_benchmark, decode_models, model_size, variant):
    loaded = decode_models[variant]
    assert loaded.merged == (variant == "merged")
    input_ids = _prompt_ids(loaded)
    side = "baseline" if variant == "base" else "tunebench"
    goal = "<= 1.05" if variant == "merged" else None
    note = "merged DoRA decode tokens/s within 5% of base" if variant == "merged" else "unmerged DoRA, no goal"
    base = decode_models["base"]
    base_ids = _prompt_ids(base)
    generated = paired_benchmark(
        _decode,
        loaded,
        input_ids,
        NEW_TOKENS[model_size],
        side=side,
        group=f"decode-{model_size}",
        goal=goal,
        label=f"{variant} DoRA",
        goal_note=None if variant == "base" else note,
        rounds=ROUNDS[model_size],
        interleave=None if variant == "base" else lambda: _decode(base, base_ids, NEW_TOKENS[model_size]),
    )
    assert generated == NEW_TOKENS[model_size]


def _bare_generate(loaded, new_tokens: int) -> int:
    """What a user writes without tunebench: chat template, greedy `generate`, decode."""
    tokenizer, model = loaded.tokenizer, loaded.model
    inputs = tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            eos_token_id=model.generation_config.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, inputs["input_ids"].shape[1] :]
    tokenizer.decode(new, skip_special_tokens=True)
    return len(new)


def _tunebench_generate(loaded, new_tokens: int) -> int:
    from tunebench.engines.hf_generation import timed_generate

    result = timed_generate(
        loaded.model, loaded.tokenizer, PROMPT, new_tokens, repeats=1, warmup=0, min_new_tokens=new_tokens
    )
    return result.new_tokens


@pytest.mark.parametrize("side", ["baseline", "tunebench"])
def test_timed_generation(paired_benchmark, decode_models, model_size, side):
    """tunebench's timed generation (TTFT streamer, eos handling, timings) vs a bare `model.generate`."""
    run = _tunebench_generate if side == "tunebench" else _bare_generate
    loaded, new_tokens = decode_models["base"], NEW_TOKENS[model_size]
    generated = paired_benchmark(
        run,
        loaded,
        new_tokens,
        side=side,
        group=f"timed-generation-{model_size}",
        goal="<= 1.05" if side == "tunebench" else None,
        goal_note="timed_generate vs bare generate" if side == "tunebench" else None,
        rounds=ROUNDS[model_size] + 4,
        interleave=(lambda: _bare_generate(loaded, new_tokens)) if side == "tunebench" else None,
    )
    assert generated == NEW_TOKENS[model_size]
