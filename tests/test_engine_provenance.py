"""What a record says was served: the weights (`/v1/models` root), the adapter on its base, the dtype or "unknown".

Against the loopback OpenAI-compatible server of tests/openai_fault_server.py, whose model cards carry what
vLLM's do (`root`: the weights path; `parent`: a LoRA adapter's base) and, when asked to, vLLM's dev-mode
`/server_info`; tests/test_vllm_served.py checks the same against the real vLLM server.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openai_fault_server import FaultServer

from tunebench.engines.base import EngineInfo
from tunebench.engines.openai_api import OpenAIEngine
from tunebench.history.typed import from_dict

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"


def test_the_schema_names_engine_infos_fields_exactly():
    from dataclasses import fields

    schema = json.loads((ROOT / "src/tunebench/history/schema/eval_record.schema.json").read_text())
    engine = schema["$defs"]["engine"]
    assert set(engine["properties"]) == {f.name for f in fields(EngineInfo)}
    assert schema["properties"]["model"]["properties"]["engine"] == {"$ref": "#/$defs/engine"}
    assert EngineInfo.from_dict({"engine": "hf", "engine_version": None, "model_id": "m"}).concurrency == 1


def test_a_served_base_records_its_weights_and_an_unknown_dtype_in_words():
    with FaultServer(served=("base-model",)) as server:
        server.cards = {"base-model": {"root": "/weights/Qwen2.5-14B", "parent": None}}
        info = OpenAIEngine(server.url, "base-model").info()
    assert (info.model_id, info.root, info.adapter, info.dtype) == (
        "base-model",
        "/weights/Qwen2.5-14B",
        None,
        "unknown",
    )


def test_a_served_adapter_names_base_and_adapter_and_the_dtype_the_server_says():
    with FaultServer(served=("base-model", "dora-v3")) as server:
        server.cards = {
            "base-model": {"root": "/weights/Qwen2.5-14B", "parent": None},
            "dora-v3": {"root": "/adapters/dora-v3", "parent": "base-model"},
        }
        server.server_info = {"vllm_config": {"model_config": {"dtype": "torch.bfloat16"}}}
        info = OpenAIEngine(server.url, "dora-v3").info()
    assert (info.model_id, info.root, info.adapter, info.dtype) == (
        "base-model + dora-v3",
        "/weights/Qwen2.5-14B",
        "/adapters/dora-v3",
        "bfloat16",
    )


def test_a_served_run_records_the_served_weights_as_its_base(tmp_path, pytester, monkeypatch):
    """`pytest eval_suites --engine openai`: model.base is the root the server reports, not the endpoint."""
    with FaultServer(served=("base-model", "dora-v3")) as server:
        server.cards = {
            "base-model": {"root": "/weights/Qwen2.5-14B", "parent": None},
            "dora-v3": {"root": "/adapters/dora-v3", "parent": "base-model"},
        }
        suite = tmp_path / "four.jsonl"
        suite.write_text("\n".join(QUESTIONS.read_text(encoding="utf-8").splitlines()[:4]) + "\n", encoding="utf-8")
        config = tmp_path / "tunebench.toml"
        config.write_text(f'home = "{tmp_path / "home"}"\nlog = "{tmp_path / "LOG.md"}"\n')
        monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
        history = tmp_path / "history"
        pytester.runpytest_inprocess(
            str(ROOT / "eval_suites" / "benchmark_100"),
            f"--rootdir={ROOT}",
            *("--engine", "openai", "--endpoint", server.url, "--model", "dora-v3"),
            *("--suite", str(suite), "--history", str(history), "--no-gate", "-p", "no:cacheprovider"),
        )
    [path] = [p for p in history.rglob("*.json") if p.parent.name != "index" and "index" not in p.name]
    model = json.loads(path.read_text())["model"]
    assert (model["base"], model["adapter"], model["dtype"]) == ("/weights/Qwen2.5-14B", "/adapters/dora-v3", "unknown")
    engine = model["engine"]
    assert (engine["model_id"], engine["root"], engine["endpoint"]) == (
        "base-model + dora-v3",
        "/weights/Qwen2.5-14B",
        server.url,
    )
    typed = from_dict(json.loads(path.read_text())).engine  # the typed record reads what was written
    assert (typed.engine, typed.adapter, typed.dtype) == ("openai", "/adapters/dora-v3", "unknown")


@pytest.mark.usefixtures("one_torch_thread")
def test_an_in_process_adapter_run_names_base_and_adapter(tiny, tiny_dir):
    from dataclasses import replace

    from tunebench.engines.hf import HFEngine
    from tunebench.loading import LoadedModel
    from tunebench.registry import TINY

    entry = replace(TINY, name="tiny-lora", adapter="gs://bucket/adapters/tiny-lora")
    loaded = LoadedModel(entry, *tiny, str(tiny_dir), "/cache/tiny-lora", True, "cpu", "float32", 0.5)
    info = HFEngine(loaded).info()
    assert (info.model_id, info.adapter, info.root) == (
        "builtin:tiny + gs://bucket/adapters/tiny-lora",
        entry.adapter,
        None,
    )


def test_a_served_floor_counts_the_served_weights_at_the_servers_dtype_when_the_server_is_ours(tiny, tiny_dir):
    """Loopback and a root folder here: the floor's bytes are the in-process parameters' bytes (at the served dtype)."""
    model, _ = tiny
    in_process = sum(p.numel() * p.element_size() for p in model.parameters())  # float32
    with FaultServer(served=("tiny",)) as server:
        server.cards = {"tiny": {"root": str(tiny_dir), "parent": None}}
        as_stored = OpenAIEngine(server.url, "tiny").decode_floor()
        server.server_info = {"vllm_config": {"model_config": {"dtype": "torch.bfloat16"}}}
        in_bf16 = OpenAIEngine(server.url, "tiny").decode_floor()
    assert as_stored["weight_bytes"] == in_process and in_bf16["weight_bytes"] == in_process // 2
    assert as_stored["peak"]["source"] == "measured" and as_stored["floor_ms"] > 0  # this machine's CPU
    _valid_decode_floor(as_stored)


def test_a_served_floor_that_cannot_be_known_says_why_in_words(tmp_path):
    from tunebench.engines.served_floor import served_decode_floor

    remote = served_decode_floor("http://10.1.2.3:8000/v1", "/weights/Qwen2.5-14B", "bfloat16")
    assert remote == {
        "unknown": "served at http://10.1.2.3:8000/v1, not on this machine: its weights and hardware are not known here"
    }
    assert (
        "not a folder on this machine"
        in served_decode_floor("http://127.0.0.1:8000/v1", "Qwen/Qwen2.5-14B", None)["unknown"]
    )
    assert "no readable safetensors" in served_decode_floor("http://localhost:8000/v1", str(tmp_path), None)["unknown"]
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 16)  # a length far past the file
    assert "unknown" in served_decode_floor("http://[::1]:8000/v1", str(tmp_path), None)
    _valid_decode_floor(remote)


def _valid_decode_floor(floor: dict) -> None:
    """`floor` is what the eval record's schema accepts as `model.decode_floor`."""
    import jsonschema

    schema = json.loads((ROOT / "src/tunebench/history/schema/eval_record.schema.json").read_text())
    part = {"$defs": schema["$defs"], **schema["properties"]["model"]["properties"]["decode_floor"]}
    jsonschema.validate(floor, part)
