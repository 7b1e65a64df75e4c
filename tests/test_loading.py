import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from tunebench.config import Config, load_config
from tunebench.errors import LoadError
from tunebench.loading import load_model
from tunebench.registry import ModelEntry

pytest_plugins = ["gcs_server"]

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


# --- reading a model's config without its weights (loading.read_location_config) -------------------------


def _media_downloads(proxy) -> list[str]:
    return [path for method, path, _ in proxy.log if method == "GET" and "alt=media" in path]


def test_config_of_a_gs_model_never_pulled_is_read_from_its_config_object_alone(gcs, fault_proxy, tiny_dir, tmp_path):
    from gcs_server import FAST_TRANSFERS

    from tunebench.loading import read_location_config
    from tunebench.registry import Registry
    from tunebench.storage import cache_dir_for, push_folder
    from tunebench.storage.location import GcsLocation

    push_folder(tiny_dir, gcs.uri("models/tiny/"), name="tiny", settings=FAST_TRANSFERS)
    fault_proxy.log.clear()
    config = read_location_config(gcs.uri("models/tiny/"), Registry(Config(root=tmp_path)))
    assert config == json.loads((tiny_dir / "config.json").read_text())
    downloads = _media_downloads(fault_proxy)
    # The manifest (to find the committed version) and config.json: never the weights or the tokenizer.
    assert len(downloads) == 2 and any("MANIFEST.json" in p for p in downloads), downloads
    assert any("config.json" in p for p in downloads) and not any("safetensors" in p for p in downloads)
    assert not cache_dir_for(GcsLocation.parse(gcs.uri("models/tiny/"))).exists()  # nothing written to the cache


def test_a_published_config_corrupted_on_the_wire_is_refused(gcs, fault_proxy, tiny_dir, tmp_path):
    from gcs_server import FAST_TRANSFERS

    from tunebench.loading import read_location_config
    from tunebench.registry import Registry
    from tunebench.storage import push_folder

    push_folder(tiny_dir, gcs.uri("models/flip/"), name="tiny", settings=FAST_TRANSFERS)
    fault_proxy.add(lambda r: r.is_media_download and r.names("config.json"), "flip", times=10)
    with pytest.raises(LoadError, match=r"models/flip/: no pulled copy .* do not match the manifest"):
        read_location_config(gcs.uri("models/flip/"), Registry(Config(root=tmp_path)))


def test_a_gs_model_neither_pulled_nor_published_says_both(gcs, tmp_path):
    from tunebench.loading import read_location_config
    from tunebench.registry import Registry

    with pytest.raises(LoadError, match=r"models/none/: no pulled copy with config.json in the cache, and the "):
        read_location_config(gcs.uri("models/none/"), Registry(Config(root=tmp_path)))


def test_a_pulled_copy_is_read_without_reaching_the_bucket(gcs, fault_proxy, tiny_dir, tmp_path):
    from gcs_server import FAST_TRANSFERS

    from tunebench.loading import read_location_config
    from tunebench.registry import Registry
    from tunebench.storage import pull_folder, push_folder

    push_folder(tiny_dir, gcs.uri("models/pulled/"), name="tiny", settings=FAST_TRANSFERS)
    pull_folder(gcs.uri("models/pulled/"), settings=FAST_TRANSFERS)
    fault_proxy.log.clear()
    fault_proxy.add(lambda r: True, "status", times=1000, status=503)  # the bucket is unreachable from here on
    config = read_location_config(gcs.uri("models/pulled/"), Registry(Config(root=tmp_path)))
    assert config == json.loads((tiny_dir / "config.json").read_text()) and fault_proxy.log == []


def test_a_name_that_is_neither_a_folder_nor_in_the_hub_cache_is_a_load_error(project, tmp_path):
    from tunebench.loading import read_location_config
    from tunebench.registry import Registry

    with pytest.raises(LoadError, match="no-such-org/no-such-model: not a local folder and not in the hub cache"):
        read_location_config("no-such-org/no-such-model", Registry(load_config()))
