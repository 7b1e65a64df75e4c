"""tunebench.memory: the estimate from a config against the peak measured in a separate process."""

from __future__ import annotations

import contextlib
import gc
import json
import mmap
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tunebench import compat
from tunebench.config import Config
from tunebench.errors import LoadError
from tunebench.memory import (
    AdapterShape,
    MiB,
    ModelShape,
    PeakMemory,
    estimate_eval,
    estimate_for_entry,
    estimate_training,
    read_model_config,
)
from tunebench.registry import TINY, ModelEntry

pytest_plugins = ["gcs_server"]

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = REPO / "eval_suites" / "domain_probes" / "probes.jsonl"
# Big enough that weights and activations (~100-300 MB) dwarf the allocator's noise, small enough to run
# a scoring batch and two training steps in a few seconds.
MEDIUM = {
    "hidden_size": 384,
    "intermediate_size": 1024,
    "num_hidden_layers": 4,
    "num_attention_heads": 6,
    "num_key_value_heads": 2,
    "tie_word_embeddings": True,
    "max_position_embeddings": 2048,
}
WORKLOAD = {
    "batch_size": 16,
    "questions_n": 16,
    "probes_n": 2,
    "max_new_tokens": 16,
    "train_batch": 2,
    "seq_len": 256,
    "rank": 16,
    "dora": True,
    "dropout": 0.05,
    "gradient_checkpointing": False,
}


@pytest.fixture(scope="module")
def medium_model(tiny_dir, tmp_path_factory):
    """A 4-layer random Qwen2 with tiny's tokenizer, and a DoRA adapter with non-zero weights for it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("medium")
    model_dir, adapter_dir = folder / "model", folder / "adapter"
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, **MEDIUM))
    model.generation_config = GenerationConfig.from_pretrained(tiny_dir)
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, use_dora=True, target_modules="all-linear"))
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.01)
    peft_model.save_pretrained(adapter_dir)
    return model_dir, adapter_dir


@pytest.fixture(scope="module")
def measured(medium_model, tmp_path_factory):
    """Peaks of an eval run and of training steps on the medium model, measured in a fresh process."""
    model_dir, adapter_dir = medium_model
    args = {
        **WORKLOAD,
        "model": str(model_dir),
        "adapter": str(adapter_dir),
        "questions": str(QUESTIONS),
        "probes": str(PROBES),
        "root": str(tmp_path_factory.mktemp("probe-root")),
    }
    # A fixed mmap threshold returns freed tensors to the OS at once, so RSS tracks live memory.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("memory_probe.py")), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# TRL's chunked loss holds tiles of at most 32,768 vocabulary entries: a vocabulary four times that makes the
# full logits that a plain `model(labels=...)` step holds twice what the chunked loss holds.
WIDE_VOCAB = 131072


@pytest.fixture(scope="module")
def measured_trl(tmp_path_factory):
    """Peak of training steps taken the TRL way (chunked LM head) on a wide-vocabulary model, in a fresh process."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("wide")
    torch.manual_seed(0)
    Qwen2ForCausalLM(Qwen2Config(vocab_size=WIDE_VOCAB, **MEDIUM)).save_pretrained(folder)
    args = {**WORKLOAD, "trl": True, "model": str(folder), "root": str(tmp_path_factory.mktemp("probe-root"))}
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("memory_probe.py")), json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, json.loads(done.stdout.strip().splitlines()[-1])["training_trl_mb"]


def _longest_question_tokens(tokenizer, n: int) -> int:
    from tunebench.scoring.choice import format_prompt
    from tunebench.suites import load_questions

    return max(len(tokenizer.encode(format_prompt(q) + " A")) for q in load_questions(QUESTIONS)[:n])


def _longest_probe_tokens(tokenizer, n: int) -> int:
    from tunebench.suites import load_probes

    return max(
        len(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p.prompt}], add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        )
        for p in load_probes(PROBES)[:n]
    )


def test_eval_estimate_is_within_20_percent_of_the_measured_peak(medium_model, measured):
    from transformers import AutoTokenizer

    model_dir, adapter_dir = medium_model
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    shape = ModelShape.from_config(read_model_config(model_dir))
    adapter = AdapterShape.from_adapter_config(json.loads((adapter_dir / "adapter_config.json").read_text()))
    estimate = estimate_eval(
        shape,
        adapter=adapter,
        merged=True,
        batch_size=WORKLOAD["batch_size"],
        score_tokens=_longest_question_tokens(tokenizer, WORKLOAD["questions_n"]),
        probe_tokens=_longest_probe_tokens(tokenizer, WORKLOAD["probes_n"]),
        max_new_tokens=WORKLOAD["max_new_tokens"],
    )
    estimated_mb = estimate.total_bytes / MiB
    print(f"eval measured {measured['eval_mb']:.0f} MiB, estimated {estimated_mb:.0f} MiB")
    assert measured["eval_mb"] == pytest.approx(estimated_mb, rel=0.2), estimate.describe()


def test_plain_loss_training_estimate_is_within_20_percent_of_a_plain_step(medium_model, measured):
    model_dir, _ = medium_model
    shape = ModelShape.from_config(read_model_config(model_dir))
    adapter = AdapterShape(rank=WORKLOAD["rank"], use_dora=WORKLOAD["dora"], dropout=WORKLOAD["dropout"])
    estimate = estimate_training(
        shape,
        adapter,
        batch_size=WORKLOAD["train_batch"],
        seq_len=WORKLOAD["seq_len"],
        gradient_checkpointing=WORKLOAD["gradient_checkpointing"],
        device="cpu",
    )
    print(f"training measured {measured['training_mb']:.0f} MiB, estimated {estimate.total_bytes / MiB:.0f} MiB")
    assert measured["training_mb"] == pytest.approx(estimate.total_bytes / MiB, rel=0.2), estimate.describe()


@pytest.mark.slow
def test_trl_training_estimate_doctor_and_preflight_use_is_within_20_percent_of_a_trl_step(measured_trl):
    # doctor and the preflight estimate TRL's chunked loss (fused_loss=True): check that figure against a step
    # taken the way SFTTrainer takes it, where the plain-loss figure would be far off.
    folder, measured_mb = measured_trl
    shape = ModelShape.from_config(read_model_config(folder))
    adapter = AdapterShape(rank=WORKLOAD["rank"], use_dora=WORKLOAD["dora"], dropout=WORKLOAD["dropout"])
    fused, plain = (
        estimate_training(
            shape,
            adapter,
            batch_size=WORKLOAD["train_batch"],
            seq_len=WORKLOAD["seq_len"],
            gradient_checkpointing=WORKLOAD["gradient_checkpointing"],
            fused_loss=fused_loss,
            device="cpu",
        )
        for fused_loss in (True, False)
    )
    print(f"TRL-way training measured {measured_mb:.0f} MiB, estimated {fused.total_bytes / MiB:.0f} MiB")
    assert measured_mb == pytest.approx(fused.total_bytes / MiB, rel=0.2), fused.describe()
    assert plain.total_bytes / MiB > 1.4 * measured_mb  # the workload tells the two losses apart


def test_parameter_count_from_config_equals_the_models(tiny_dir):
    from transformers import AutoConfig, Qwen2ForCausalLM

    for overrides in ({}, {"tie_word_embeddings": False, "num_key_value_heads": 4}):
        config = AutoConfig.from_pretrained(tiny_dir, **overrides)
        model = Qwen2ForCausalLM(config)
        unique = {id(p): p.numel() for p in model.parameters()}
        assert ModelShape.from_config(config).parameter_count() == sum(unique.values()), overrides


def test_adapter_parameter_count_equals_peft_trainable_count(tiny_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_dir),
        LoraConfig(r=4, use_dora=True, target_modules=["q_proj", "v_proj", "down_proj"]),
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    shape = ModelShape.from_config(read_model_config(tiny_dir))
    assert AdapterShape(4, ("q_proj", "v_proj", "down_proj"), use_dora=True).parameter_count(shape) == trainable


def test_checkpointing_shrinks_and_dora_grows_the_training_activations():
    shape = ModelShape(vocab=152064, hidden=5120, intermediate=13824, layers=48, heads=40, kv_heads=8, head_dim=128)
    lora = estimate_training(shape, AdapterShape(16), dtype="bfloat16", batch_size=1, seq_len=2048)
    dora = estimate_training(shape, AdapterShape(16, use_dora=True), dtype="bfloat16", batch_size=1, seq_len=2048)
    checkpointed = estimate_training(
        shape, AdapterShape(16), dtype="bfloat16", batch_size=1, seq_len=2048, gradient_checkpointing=True
    )
    assert checkpointed.parts["activations"] < lora.parts["activations"] / 10
    assert dora.parts["activations"] > lora.parts["activations"]
    # Qwen2.5-14B's weights in bf16: 14.8B parameters, about 29.5 GB (the figure).
    assert lora.parts["weights"] / 1e9 == pytest.approx(29.5, abs=0.3)


@contextlib.contextmanager
def _settled() -> Iterator[None]:
    """Collect the garbage now and none inside the block.

    A block's figure is the process's RSS at its peak minus at its start: memory the rest of the process frees in
    between comes off it. The garbage collector runs whenever its allocation counters say, so after other tests
    (a long run, or beside tests/test_load_figures.py) it could free an earlier test's reference cycles inside a
    measured block: 30 MiB of cycles collected there made a 40 MiB block's delta 9.9 MiB. Not ru_maxrss (a
    lifetime maximum): PeakMemory resets Linux's VmHWM per block, which is exact; the level it starts from is not
    the block's alone.
    """
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def test_peak_memory_catches_an_allocation_freed_inside_the_block():
    with _settled(), PeakMemory(device="cpu") as peak:
        block = _touch(64)  # every page resident
        del block
    assert peak.kind == "rss"
    assert peak.delta_bytes >= 60 * MiB


def _touch(megabytes: int) -> mmap.mmap:
    """Map `megabytes` of fresh anonymous memory and touch every page (resident until the object is freed).

    An mmap, not a bytearray: where malloc puts a 40 MiB bytearray depends on what the process did before (in the
    whole suite a freed 40 MiB block came back from malloc's own resident free space, and the block's rise read 0),
    while a mapping is always fresh pages, unmapped the moment the object is freed."""
    block = mmap.mmap(-1, megabytes * MiB)
    memoryview(block)[::4096] = b"\1" * (megabytes * MiB // 4096)
    return block


def test_nested_peak_memory_keeps_the_outer_peak_when_the_inner_block_resets_it():
    # Blocks above glibc's largest mmap threshold (32 MiB) are mapped fresh and unmapped on free.
    with _settled(), PeakMemory(device="cpu") as outer:
        big = _touch(96)
        del big
        with PeakMemory(device="cpu") as inner:
            small = _touch(40)
            del small
    assert outer.delta_bytes >= 90 * MiB
    assert 38 * MiB <= inner.delta_bytes < 80 * MiB


class _Cycle:
    """An earlier test's leftovers: a reference cycle holding memory, freed only when the collector runs."""

    def __init__(self, megabytes: int) -> None:
        self.me = self
        self.block = _touch(megabytes)


def test_an_earlier_tests_garbage_is_not_taken_off_a_measured_block():
    enabled = gc.isenabled()
    gc.disable()  # the cycle is still there when the block starts, as after another test
    try:
        _Cycle(30)
    finally:
        if enabled:
            gc.enable()
    with _settled(), PeakMemory(device="cpu") as peak:
        gc.collect()  # stands in for a collection the allocation counters start inside the block
        small = _touch(40)
        del small
    assert 38 * MiB <= peak.delta_bytes < 80 * MiB


def test_estimate_for_entry_reads_the_config_of_a_registry_model(tiny_dir, tmp_path):
    estimates = estimate_for_entry(TINY, Config(root=tmp_path), device="cpu")
    shape = ModelShape.from_config(read_model_config(tiny_dir))
    assert estimates["eval"].parts["weights"] == shape.parameter_count() * 4
    assert estimates["training"].assumptions["gradient_checkpointing"] is True


def test_estimate_for_a_gs_model_neither_pulled_nor_published_says_so(gcs, tmp_path):
    entry = ModelEntry("remote", base=gcs.uri("never-pulled/"))
    with pytest.raises(LoadError, match=r"never-pulled/: no pulled copy with config.json in the cache, and the pub"):
        estimate_for_entry(entry, Config(root=tmp_path), device="cpu")


def test_a_gs_model_neither_pulled_nor_published_names_the_model_to_pull(gcs, tmp_path):
    # 'or pull the model once: tunebench models pull NAME' left the user to find which registry name that is.
    from tunebench.config import load_config
    from tunebench.registry import Registry

    base = gcs.uri("never-pulled-base/")
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.tunebench.models.base-14b]\nbase = "{base}"\n'
        + "".join(f'[tool.tunebench.models.{n}]\nbase = "{base}"\nadapter = "{gcs.uri(n + "/")}"\n' for n in "ab")
    )
    config = load_config(tmp_path)
    with pytest.raises(LoadError, match=r"pull the model once: tunebench models pull base-14b$"):
        estimate_for_entry(Registry(config).get("a"), config, device="cpu")  # its base: shared, pulled once


def test_estimate_for_a_pulled_gs_model_reads_the_cached_config(tiny_dir, tmp_path):
    import shutil

    from tunebench.storage.cache import cache_dir_for
    from tunebench.storage.location import GcsLocation

    version = cache_dir_for(GcsLocation.parse("gs://bucket/pulled-model/")) / "v1-abc"
    version.mkdir(parents=True)
    shutil.copy(tiny_dir / "config.json", version / "config.json")  # what a pull leaves, weights aside
    estimates = estimate_for_entry(
        ModelEntry("remote", base="gs://bucket/pulled-model/"), Config(root=tmp_path), device="cpu"
    )
    shape = ModelShape.from_config(read_model_config(tiny_dir))
    assert estimates["eval"].parts["weights"] == shape.parameter_count() * 4


def test_config_without_decoder_sizes_names_the_missing_key():
    with pytest.raises(LoadError, match="hidden_size"):
        ModelShape.from_config({"vocab_size": 10}, where="model/config.json")


def test_doctor_prints_the_memory_estimate_of_a_registry_model(project, capsys):
    from tunebench.cli import main

    main(["doctor", "--model", "tiny"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("memory tiny:")]
    assert [line.split(": ")[1] for line in lines] == ["eval", "training"]
    assert all("weights" in line and "peak" in line for line in lines)


def test_trl_chunked_loss_never_holds_the_full_logits():
    shape = ModelShape(vocab=152064, hidden=5120, intermediate=13824, layers=48, heads=40, kv_heads=8, head_dim=128)
    plain = estimate_training(shape, AdapterShape(16), dtype="bfloat16", batch_size=4, seq_len=2048)
    fused = estimate_training(shape, AdapterShape(16), dtype="bfloat16", batch_size=4, seq_len=2048, fused_loss=True)
    assert plain.parts["logits + loss"] > 15e9  # 8192 tokens x 152k vocab, several copies
    assert fused.parts["logits + loss"] < min(2e9, plain.parts["logits + loss"] / 5)  # a few tiles


def test_recipe_estimate_follows_the_recipes_method_rank_and_checkpointing(project, tmp_path):
    from tunebench.config import load_config
    from tunebench.memory import estimate_for_recipe
    from tunebench.training.recipe import load_recipe

    repo = Path(__file__).resolve().parents[1]
    recipe = load_recipe(repo / "recipes" / "tiny-dora-curriculum.toml")
    estimate = estimate_for_recipe(recipe, load_config(tmp_path))
    assert estimate.assumptions["use_dora"] is recipe.use_dora and estimate.assumptions["rank"] == recipe.rank
    assert estimate.assumptions["seq_len"] == recipe.max_length
    assert estimate.assumptions["fused_loss"] is compat.trl_fuses_lm_head()  # what the installed trl computes
