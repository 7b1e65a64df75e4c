import hashlib

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from tunebench.tiny import QWEN2_5_SPECIAL_TOKENS, build_tiny

SEVEN_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_builds_give_byte_identical_files(tmp_path, tiny_dir):
    again = build_tiny(tmp_path / "again")
    first = _digest(tiny_dir)
    assert "model.safetensors" in first
    assert _digest(again) == first


def test_tiny_loads_like_a_hub_model_with_qwen2_5_tokens(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen2"
    assert 80_000 <= model.num_parameters() <= 150_000
    for token in QWEN2_5_SPECIAL_TOKENS:
        assert len(tokenizer(token, add_special_tokens=False).input_ids) == 1, token
    im_end, endoftext = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert model.generation_config.eos_token_id == [im_end, endoftext]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    # The multiple-choice prompt format needs each answer letter to be one token.
    for letter in "ABCD":
        assert len(tokenizer(f" {letter}", add_special_tokens=False).input_ids) == 1


def test_byte_level_tokenizer_round_trips_any_text(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    text = "Roth IRA: $7,000 limit (2024) — naïve ∑ 資産"
    assert tokenizer.decode(tokenizer(text).input_ids) == text


@pytest.mark.parametrize("use_dora", [False, True], ids=["lora", "dora"])
def test_tiny_accepts_adapters_on_all_seven_projections(tiny_dir, use_dora):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=SEVEN_PROJECTIONS, use_dora=use_dora, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    adapted = {name.split(".")[-1] for name, module in peft_model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == set(SEVEN_PROJECTIONS)
    loss = peft_model(input_ids=torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss
    loss.backward()
    grads = [p.grad for n, p in peft_model.named_parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads)


def test_a_failed_build_leaves_neither_the_model_folder_nor_its_staging_copy(tmp_path):
    from tunebench.tiny import cached_model_folder

    def broken_build(folder):
        (folder / "config.json").write_text("{}")  # half a model, then the build dies
        raise RuntimeError("disk full")

    target = tmp_path / "models" / "m-1"
    with pytest.raises(RuntimeError, match="disk full"):
        cached_model_folder(target, broken_build)
    assert list((tmp_path / "models").iterdir()) == []
    built = cached_model_folder(target, lambda folder: (folder / "config.json").write_text('{"ok": 1}'))
    assert built == target and (target / "config.json").read_text() == '{"ok": 1}'
    assert cached_model_folder(target, broken_build) == target  # present: never rebuilt
