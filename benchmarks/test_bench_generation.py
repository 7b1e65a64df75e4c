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
    return loaded.tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt",
                                                return_dict=True)["input_ids"]


def _decode(loaded, input_ids, new_tokens: int):
    with torch.inference_mode():
        out = loaded.model.generate(input_ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                    do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id)
    return out.shape[-1] - input_ids.shape[-1]


@pytest.mark.parametrize("variant", ["base", "merged", "unmerged"])
def test_decode(paired_benchmark, decode_models, model_size, variant):
    loaded = decode_models[variant]
    assert loaded.merged == (variant == "merged")
    input_ids = _prompt_ids(loaded)
    side = "baseline" if variant == "base" else "tunebench"
    goal = "<= 1.05" if variant == "merged" else None
    note = "merged DoRA decode tokens/s within 5% of base" if variant == "merged" else "unmerged DoRA, no goal"
    generated = paired_benchmark(_decode, loaded, input_ids, NEW_TOKENS[model_size], side=side,
                                 group=f"decode-{model_size}", goal=goal,
                                 goal_note=None if variant == "base" else note, rounds=ROUNDS[model_size])
    assert generated == NEW_TOKENS[model_size]
