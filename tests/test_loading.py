import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from tunebench.config import load_config
from tunebench.errors import LoadError
from tunebench.loading import load_model
from tunebench.registry import ModelEntry

SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _save_dora_adapter(base_dir, out_dir, seed=1):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=4, lora_alpha=8, target_modules=SEVEN, use_dora=True, init_lora_weights=False, task_type="CAUSAL_LM"
        ),
    )
    peft_model.save_pretrained(out_dir)
    return peft_model


def test_load_generates_with_the_tiny_model(project):
    loaded = load_model("tiny", load_config())
    assert loaded.device == "cpu" and loaded.dtype == "float32" and loaded.adapter_path is None
    inputs = loaded.tokenizer("A Roth IRA is", return_tensors="pt")
    out = loaded.model.generate(**inputs, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5


def test_adapter_is_attached_and_merged_into_the_same_outputs(project, tiny_dir, tmp_path):
    adapter_dir = tmp_path / "adapter"
    unmerged = _save_dora_adapter(tiny_dir, adapter_dir).eval()
    entry = ModelEntry(name="t-dora", base=str(tiny_dir), adapter=str(adapter_dir))
    loaded = load_model(entry, load_config())
    assert loaded.merged
    assert not any("lora" in name for name, _ in loaded.model.named_parameters())
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    base = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    with torch.inference_mode():
        expected = unmerged(input_ids=ids).logits
        merged = loaded.model(input_ids=ids).logits
        plain = base(input_ids=ids).logits
    assert torch.allclose(merged, expected, atol=1e-5)
    assert not torch.allclose(merged, plain, atol=1e-3)  # the adapter really changed the model


def test_adapter_for_another_base_is_refused_before_loading(project, tiny_dir, tmp_path):
    other = tmp_path / "other-base"
    Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=512,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    ).save_pretrained(other)
    adapter_dir = tmp_path / "adapter"
    _save_dora_adapter(tiny_dir, adapter_dir)
    entry = ModelEntry(name="mismatch", base=str(other), adapter=str(adapter_dir))
    expected = r"mismatch.*does not fit.*lora_A.weight has in_features \d+, the base.s \w+_proj has \d+"
    with pytest.raises(LoadError, match=expected):
        load_model(entry, load_config())


def test_missing_base_folder_is_a_clear_error(project, tmp_path):
    entry = ModelEntry(name="gone", base=str(tmp_path / "nowhere"))
    with pytest.raises(LoadError, match=r"'gone'.*nowhere.*no config.json"):
        load_model(entry, load_config())


def test_folder_without_adapter_config_is_refused(project, tiny_dir, tmp_path):
    (tmp_path / "empty-adapter").mkdir()
    entry = ModelEntry(name="broken", base=str(tiny_dir), adapter=str(tmp_path / "empty-adapter"))
    with pytest.raises(LoadError, match="no adapter_config.json"):
        load_model(entry, load_config())


def test_relative_registry_paths_resolve_against_the_config_folder(project, tiny_dir, tmp_path):
    _save_dora_adapter(tiny_dir, tmp_path / "adapters" / "mine")
    project.write('[tool.tunebench.models.mine]\nbase = "builtin:tiny"\nadapter = "adapters/mine"\n')
    loaded = load_model("mine", load_config())
    assert loaded.adapter_path == str(tmp_path / "adapters" / "mine")
    assert json.loads((tmp_path / "adapters/mine/adapter_config.json").read_text())["use_dora"] is True


def test_content_hash_changes_with_any_byte_and_is_remembered_per_file(tmp_path):
    from tunebench.loading import content_hash

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    first = content_hash(folder)
    assert content_hash(folder) == first
    (folder / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")
    assert content_hash(folder) != first
