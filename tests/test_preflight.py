"""Preflight: refusals before anything loads (disk, conflicting packages, GPU, bitsandbytes), and doctor."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from training_support import REPO, make_project, phase, write_recipe

from tunebench import compat
from tunebench.errors import PreflightError
from tunebench.training.preflight import check_packages, estimate_sizes, read_base_config
from tunebench.training.recipe import load_recipe
from tunebench.training.run import train

pytest_plugins = ["gcs_server"]

SEVEN = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Qwen2.5-14B's config (the base of the seed's Elson-Finance-Trading-14B merge).
QWEN2_5_14B = {
    "hidden_size": 5120,
    "intermediate_size": 13824,
    "num_hidden_layers": 48,
    "num_attention_heads": 40,
    "num_key_value_heads": 8,
    "vocab_size": 152064,
    "tie_word_embeddings": False,
    "model_type": "qwen2",
}


def _fake_distribution(folder, name: str, version: str) -> None:
    """Install package metadata only (a dist-info folder), which is what version checks read."""
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")


def test_a_tiny_disk_refuses_training_before_anything_is_loaded_or_written(tmp_path):
    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)])
    with pytest.raises(
        PreflightError,
        match=r"preflight refused recipe .*r\.toml; nothing was loaded:\n  disk: need "
        r"~[\d.]+ [kMG]B at .*tiny-test .*; 4 kB free\n    fix: free disk space",
    ):
        train(recipe, config=config, free_disk_bytes=4096)
    assert not (config.home / "models").exists() and not (config.home / "registry").exists()


def test_adapter_estimate_equals_the_trainable_parameters_peft_creates(tmp_path, tiny_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    config = make_project(tmp_path / "p")
    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], rank=4))
    sizes = estimate_sizes(recipe, read_base_config(recipe, config))
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_dir),
        LoraConfig(r=4, lora_alpha=8, target_modules=list(recipe.target_modules), use_dora=True),
    )
    assert sizes.adapter_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sizes.base_params == sum(p.numel() for p in model.parameters() if not p.requires_grad)


def test_estimate_reproduces_the_seed_logged_dora_v3_adapter_size():
    recipe = load_recipe(REPO / "recipes" / "dora-v3-curriculum.toml")
    sizes = estimate_sizes(recipe, QWEN2_5_14B)
    assert abs(sizes.base_params / 14.7e9 - 1) < 0.03  # Qwen2.5-14B: 14.7B parameters
    assert abs(sizes.adapter_bytes / 2**30 / 2.07 - 1) < 0.05  # the seed logged 2.07 GB for this adapter


def test_preflight_gpu_figure_is_computed_from_the_recipes_own_keys():
    from tunebench.memory import AdapterShape, ModelShape, estimate_training

    recipe = load_recipe(REPO / "recipes" / "dora-v3-curriculum.toml")
    sizes = estimate_sizes(recipe, QWEN2_5_14B)
    # The keys as recipes/dora-v3-curriculum.toml writes them, read by hand (not through estimate_recipe_phase):
    # DoRA r=128 on all seven projections, dropout 0, bf16, batch 4 x 2048 tokens, gradient checkpointing.
    shape = ModelShape(vocab=152064, hidden=5120, intermediate=13824, layers=48, heads=40, kv_heads=8, head_dim=128)
    by_hand = estimate_training(
        shape,
        AdapterShape(128, SEVEN, use_dora=True, dropout=0.0),
        dtype="bfloat16",
        batch_size=4,
        seq_len=2048,
        gradient_checkpointing=True,
        fused_loss=compat.trl_fuses_lm_head(),  # trl 1.16's chunked LM head; older trl hold the full logits
        device="cuda",
    )
    assert sizes.gpu_bytes == int(by_hand.total_bytes)
    # Qwen2.5-14B's published 14.77B parameters in bf16, and an 80 GB H100 that the seed trained it on.
    assert by_hand.parts["weights"] / 1e9 == pytest.approx(29.54, abs=0.05) and sizes.gpu_bytes < 80e9


def test_preflight_gpu_figure_holds_the_full_logits_where_the_installed_trl_does_not_fuse_the_loss():
    # trl 1.0-1.9, inside the declared range, compute the (batch, length, vocab) logits: a preflight that assumed
    # trl 1.16's chunked LM head there would pass a 14B run whose logits alone take 17 GB more. `nox -s compat`
    # runs this file on the lowest trl for real; here the one feature probe's answer is set both ways.
    from tunebench.memory.estimate import estimate_recipe_phase

    recipe = load_recipe(REPO / "recipes" / "dora-v3-curriculum.toml")
    installed = estimate_recipe_phase(recipe, QWEN2_5_14B, on_gpu=True)
    assert installed.assumptions["fused_loss"] is compat.trl_fuses_lm_head()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compat, "trl_fuses_lm_head", lambda: False)
        full = estimate_recipe_phase(recipe, QWEN2_5_14B, on_gpu=True)
        patch.setattr(compat, "trl_fuses_lm_head", lambda: True)
        chunked = estimate_recipe_phase(recipe, QWEN2_5_14B, on_gpu=True)
    assert full.assumptions["fused_loss"] is False and chunked.assumptions["fused_loss"] is True
    # 4 x 2048 tokens x 152,064 vocab: bf16 logits plus fp32 log-probabilities and their gradient, 17.4 GB.
    assert full.parts["logits + loss"] - chunked.parts["logits + loss"] > 15e9
    assert "loss over the full logits" in full.describe() and "trl's chunked LM head" in chunked.describe()


def _safetensors_data_bytes(path) -> int:
    """Bytes of tensor data in a safetensors file (its size without the 8-byte length and the JSON header)."""
    header = int.from_bytes(path.read_bytes()[:8], "little")
    return path.stat().st_size - 8 - header


def test_disk_sizes_are_the_bytes_peft_and_torch_write(tmp_path, tiny_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunebench.loading import read_folder_config

    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], merge=True, bf16=False))
    sizes = estimate_sizes(recipe, read_folder_config(tiny_dir))
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_dir),
        LoraConfig(r=recipe.rank, target_modules=list(recipe.target_modules), use_dora=recipe.use_dora),
    )
    model.save_pretrained(tmp_path / "adapter")
    adapter_file = tmp_path / "adapter" / "adapter_model.safetensors"
    assert _safetensors_data_bytes(adapter_file) == sizes.adapter_bytes
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
    model(input_ids=torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss.backward()
    optimizer.step()
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    # A checkpoint holds the adapter and the optimizer's two moments (plus small trainer files).
    written = adapter_file.stat().st_size + (tmp_path / "optimizer.pt").stat().st_size
    assert written <= sizes.checkpoint_bytes <= written + (1 << 20)
    model.merge_and_unload().save_pretrained(tmp_path / "merged")
    assert _safetensors_data_bytes(tmp_path / "merged" / "model.safetensors") == sizes.merged_bytes
    least = len(recipe.phases) * (recipe.save_total_limit * written + sizes.adapter_bytes) + sizes.merged_bytes
    assert least <= sizes.disk_bytes


@pytest.mark.parametrize("method", ["qlora", "qdora"])
def test_a_q_method_that_merges_counts_no_merged_copy_it_never_writes(tmp_path, method):
    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], merge=True, method=method))
    sizes = estimate_sizes(recipe, QWEN2_5_14B)
    unmerged = estimate_sizes(dataclasses.replace(recipe, merge=False), QWEN2_5_14B)
    assert sizes.merged_bytes == 0 and sizes.disk_bytes == unmerged.disk_bytes


def test_autoawq_next_to_a_new_transformers_is_refused_with_the_fix(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "autoawq", "0.2.9")
    monkeypatch.syspath_prepend(str(tmp_path))
    check = next(c for c in check_packages() if c.name == "autoawq")
    assert check.ok is False and "PytorchGELUTanh" in check.detail and check.fix == "pip uninstall -y autoawq"
    config = make_project(tmp_path / "p")
    with pytest.raises(PreflightError, match="autoawq: autoawq 0.2.9 imports PytorchGELUTanh"):
        train(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)]), config=config)


@pytest.mark.parametrize(("vision", "ok"), [("0.20.1", False), (None, True)])
def test_torchvision_built_for_another_torch_is_refused(tmp_path, monkeypatch, vision, ok):
    t_major, t_minor = (int(x) for x in torch.__version__.split(".")[:2])
    _fake_distribution(tmp_path, "torchvision", vision or f"0.{t_minor + 15}.0")
    monkeypatch.syspath_prepend(str(tmp_path))
    check = next(c for c in check_packages() if c.name == "torchvision")
    assert check.ok is ok
    if not ok:
        assert check.fix == f"pip install 'torchvision==0.{t_minor + 15}.*' (or uninstall it)"


def test_a_4bit_method_without_bitsandbytes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # Python's own marker for "this import fails"
    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], method="qdora"))
    check = next(c for c in check_packages(recipe) if c.name == "bitsandbytes")
    assert check.ok is False and check.fix.startswith("pip install bitsandbytes")


def test_a_cuda_recipe_is_refused_on_a_machine_without_a_gpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], device="cuda")
    with pytest.raises(PreflightError, match='gpu: no CUDA GPU but the recipe sets device = "cuda"'):
        train(recipe, config=config)


def test_doctor_lists_the_checks_and_fails_for_a_gpu_recipe_on_a_cpu(capsys, project):
    from tunebench.cli import main

    assert main(["doctor"]) == 0
    assert "trl" in capsys.readouterr().out
    status = main(["doctor", "--recipe", str(REPO / "recipes" / "dora-v3-curriculum.toml")])
    out = capsys.readouterr().out
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert status == 1 and "FAIL" in out and "would refuse a training run: gpu" in out
    assert main(["doctor", "--recipe", str(REPO / "recipes" / "tiny-dora-curriculum.toml")]) == 0


SHIPPED_14B = ["dora-v3-curriculum", "dora-v3-curriculum-4gpu", "dora-v2-flat", "lora-l4"]


def _publish_the_shipped_base_config(gcs, folder) -> str:
    """Publish, at the shipped registry's gs:// base, a folder holding only Qwen2.5-14B's config.json."""
    import json
    import tomllib

    from gcs_server import FAST_TRANSFERS

    from tunebench.errors import ConflictError
    from tunebench.storage import push_folder

    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["tunebench"]["models"]
    base = shipped["elson-finance-trading-14b"]["base"]
    bucket = base.removeprefix("gs://").split("/")[0]
    if gcs.client.lookup_bucket(bucket) is None:
        gcs.client.create_bucket(bucket)
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(QWEN2_5_14B), encoding="utf-8")
    try:
        push_folder(folder, base, name="elson-finance-trading-14b", settings=FAST_TRANSFERS)
    except ConflictError:
        pass  # published by an earlier test of this session (the emulator lives for the session)
    return base


@pytest.mark.parametrize("name", SHIPPED_14B)
def test_doctor_checks_disk_and_gpu_memory_of_a_shipped_14b_recipe_from_its_gs_base(
    name, gcs, project, capsys, tmp_path
):
    from tunebench.cli import main

    base = _publish_the_shipped_base_config(gcs, tmp_path / "published")
    project.write(f'[tool.tunebench.models.elson-finance-trading-14b]\nbase = "{base}"\n')
    main(["doctor", "--recipe", str(REPO / "recipes" / f"{name}.toml")])
    out = capsys.readouterr().out
    disk = next(line for line in out.splitlines() if line.startswith("disk "))
    assert " ? " not in disk and "need ~" in disk, disk
    recipe = load_recipe(REPO / "recipes" / f"{name}.toml")
    # Qwen2.5-14B has 14.77B parameters: 29.5 GB in bf16, 7.4 GB in 4 bits (qlora).
    weights = "7.4 GB" if recipe.quantized else "29.5 GB"
    assert f"memory recipe {recipe.output}: training: ~" in out and f"(weights {weights}, " in out, out


SHIPPED_DORA = ["dora-v2-flat", "dora-v3-curriculum", "dora-v3-curriculum-4gpu", "tiny-dora-curriculum"]


def _linear_calls(model, input_ids) -> int:
    """Count the matmuls against frozen (base) weights in one training-mode forward pass.

    DoRA also multiplies by its own A and B (the weight norm) on either path; only the base matmuls differ.
    """
    from torch.overrides import TorchFunctionMode

    class Count(TorchFunctionMode):
        calls = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            weight = args[1] if len(args) > 1 else (kwargs or {}).get("weight")
            if func is torch.nn.functional.linear and not weight.requires_grad:
                Count.calls += 1
            return func(*args, **(kwargs or {}))

    model.train()
    with Count():
        model(input_ids=input_ids)
    return Count.calls


@pytest.mark.parametrize("name", SHIPPED_DORA)
def test_shipped_dora_recipes_take_peft_fast_path_reusing_the_base_output(name, tiny_dir):
    """With the recipe's adapter settings a DoRA forward multiplies by each base weight once, as LoRA does."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunebench.training.trainer import lora_config_kwargs

    recipe = load_recipe(REPO / "recipes" / f"{name}.toml")
    kwargs = {**lora_config_kwargs(recipe), "r": 4, "lora_alpha": 8}  # the 14B ranks are irrelevant here
    ids = torch.tensor([[1, 2, 3, 4]])
    counts = {}
    for label, changes in {"recipe": {}, "lora": {"use_dora": False}, "dropout": {"lora_dropout": 0.05}}.items():
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir), LoraConfig(**{**kwargs, **changes}))
        counts[label] = _linear_calls(model, ids)
    assert recipe.use_dora and counts["recipe"] == counts["lora"] < counts["dropout"], counts


def test_doctor_says_what_dora_dropout_costs_and_how_to_keep_the_fast_path(capsys, project, tmp_path):
    from tunebench.cli import main

    slow = write_recipe(tmp_path / "slow.toml", [phase("A", "mixed", 4)], method="dora", dropout=0.05, model="tiny")
    assert main(["doctor", "--recipe", str(slow)]) == 0  # slow is advice, never a refusal
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("dora speed"))
    assert "slow" in line and "dropout 0.05 runs every adapted base matmul twice" in line
    assert "by arithmetic" in line and "measured" in line and "dropout = 0 keeps" in line
    fast = write_recipe(tmp_path / "fast.toml", [phase("A", "mixed", 4)], method="dora", dropout=0.0, model="tiny")
    main(["doctor", "--recipe", str(fast)])
    assert "dora speed" not in capsys.readouterr().out
