"""`--model` as a registry name, a folder, a hub id or a served id; `--engine` and its endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.config import Config
from tunebench.engines import EngineError
from tunebench.engines.select import pick_engine, resolve_model
from tunebench.errors import RegistryError
from tunebench.registry import ModelEntry, Registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def registry(tmp_path):
    models = {"served": {"endpoint": "http://gpu:8000/v1", "served_name": "dora-v3", "status": "production"}}
    return Registry(Config(root=tmp_path, models=models))


def test_a_local_folder_is_recorded_as_given(registry, tiny_dir, monkeypatch):
    monkeypatch.chdir(tiny_dir.parent)
    entry = resolve_model(tiny_dir.name, registry)
    assert (entry.name, entry.base, entry.origin) == (tiny_dir.name, str(tiny_dir), "--model")


def test_a_folder_without_config_json_is_refused(registry, tmp_path):
    with pytest.raises(RegistryError, match="has no config.json"):
        resolve_model(str(tmp_path), registry)


def test_a_hub_id_offline_and_not_cached_is_a_clear_error(registry, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(RegistryError, match=r"hub id 'Qwen/Qwen2.5-0.5B': cannot download it while offline"):
        resolve_model("Qwen/Qwen2.5-0.5B", registry)


def test_a_hub_id_online_is_taken_as_given(registry, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_model("Qwen/Qwen2.5-0.5B", registry) == ModelEntry(
        "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B", origin="--model"
    )


def test_an_unknown_name_lists_the_known_models(registry):
    with pytest.raises(RegistryError, match="unknown model 'nope'.*Known models: served, tiny"):
        resolve_model("nope", registry)


def test_an_endpoint_only_entry_is_served_and_a_served_id_needs_no_entry(registry):
    entry = registry.get("served")
    assert (entry.base, entry.endpoint, entry.served_name) == ("", "http://gpu:8000/v1", "dora-v3")
    assert pick_engine(None, entry) == "openai" and pick_engine("hf", entry) == "hf"
    served = resolve_model("my-model", registry, "openai", "http://h:1/v1")
    assert (served.name, served.endpoint, served.served_name) == ("my-model", "http://h:1/v1", "my-model")
    with pytest.raises(EngineError, match="expected one of hf, openai, vllm"):
        pick_engine("tgi", None)


def test_an_entry_needs_base_or_endpoint(tmp_path):
    from tunebench.config import load_config

    (tmp_path / "tunebench.toml").write_text('[models.x]\nserved_name = "y"\n')
    with pytest.raises(Exception, match=r"key models.x: expected the key 'base' to be present"):
        Registry(load_config(tmp_path))


def test_engine_openai_without_an_endpoint_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess(str(ROOT / "eval_suites"), f"--rootdir={ROOT}", "--engine", "openai")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--engine openai: model 'tiny' has no endpoint; pass --endpoint URL*"])
