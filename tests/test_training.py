"""Training runs on `tiny` with real SFTTrainer steps: phase order, exact mixes, loss masking, the record.

One three-phase run (A/B/C, two steps each) is shared by the tests of this module; a forward pre-hook
captures every training batch the model really sees.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch
from training_support import make_project, phase, write_recipe
from transformers import TrainerCallback

from tunebench.errors import RecipeError
from tunebench.history.records import validate
from tunebench.history.store import open_store
from tunebench.registry import Registry
from tunebench.training.curriculum import difficulty_counts
from tunebench.training.run import train

MIXES = {
    "A": {"easy": 0.5, "medium": 0.5, "hard": 0.0, "extreme": 0.0},
    "B": {"easy": 0.25, "medium": 0.25, "hard": 0.25, "extreme": 0.25},
    "C": {"easy": 0.0, "medium": 0.0, "hard": 0.5, "extreme": 0.5},
}


def split_examples(keywords: dict) -> list[tuple[list[int], list[int]]]:
    """Return one forward pass's examples as (input ids, labels): the rows of a padded batch, or the pieces of a
    padding-free one (one flattened row whose position_ids restart at 0 at each example)."""
    ids, labels, mask = keywords["input_ids"], keywords["labels"], keywords.get("attention_mask")
    if mask is not None:  # padded rows, padding dropped
        return [(r[m.bool()].tolist(), x[m.bool()].tolist()) for r, x, m in zip(ids, labels, mask, strict=True)]
    if keywords.get("position_ids") is None:
        return [(row.tolist(), label.tolist()) for row, label in zip(ids, labels, strict=True)]
    (positions,) = keywords["position_ids"].tolist()
    starts = [i for i, p in enumerate(positions) if p == 0] + [len(positions)]
    return [(ids[0, a:b].tolist(), labels[0, a:b].tolist()) for a, b in zip(starts, starts[1:], strict=False)]


class CaptureBatches(TrainerCallback):
    """Record, per phase, the examples (ids, labels) of every training forward pass, and the starting adapter."""

    def __init__(self):
        self.batches: list[list[list[tuple[list[int], list[int]]]]] = []
        self.start_weights: list[dict[str, torch.Tensor]] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.batches.append([])
        self.start_weights.append({k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad})
        seen = self.batches[-1]

        def hook(module, positional, keywords):
            if module.training:
                seen.append(split_examples(keywords))

        model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("training")
    config = make_project(folder / "project")
    recipe = write_recipe(
        folder / "curriculum.toml",
        [
            phase("A", "domain_blocks", 4, MIXES["A"]),
            phase("B", "mixed", 4, MIXES["B"]),
            phase("C", "stress", 4, MIXES["C"]),
        ],
        output="tiny-curriculum",
        merge=True,
    )
    capture = CaptureBatches()
    record = train(recipe, config=config, callbacks=[capture])
    return record, capture, config, recipe


def _manifest(record, name):
    path = record.data["output"]["dir"] + f"/phases/{name}/examples.jsonl"
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def test_three_phases_run_in_recipe_order_and_each_continues_the_previous_adapter(run):
    record, capture, _, _ = run
    assert [p["name"] for p in record.phases] == ["A", "B", "C"]
    assert [p["kind"] for p in record.phases] == ["domain_blocks", "mixed", "stress"]
    from safetensors.torch import load_file

    for previous, start in zip(record.phases, capture.start_weights[1:], strict=False):
        saved = load_file(previous["adapter"] + "/adapter_model.safetensors")
        assert len(saved) == len(start)
        for name, tensor in saved.items():
            key = next(k for k in start if k.startswith(name.removesuffix(".weight")))
            assert torch.equal(start[key], tensor), f"phase after {previous['name']} did not start from its adapter"


def test_the_model_sees_each_phase_in_the_order_the_sampler_chose(run, tiny_dir):
    from transformers import AutoTokenizer

    record, capture, _, _ = run
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    data_file = next(iter(record.phases[0]["data_files"]))
    texts = {json.loads(line)["id"]: json.loads(line) for line in open(data_file, encoding="utf-8")}
    for figures, batches in zip(record.phases, capture.batches, strict=True):
        expected = [
            tokenizer.apply_chat_template(texts[e["id"]]["messages"], tokenize=True, return_dict=True)["input_ids"]
            for e in _manifest(record, figures["name"])
        ]
        seen = [[t for t in row if t != tokenizer.pad_token_id] for batch in batches for row, _ in batch]
        assert seen == expected


def test_each_phase_honours_its_difficulty_mix_exactly(run):
    record = run[0]
    for figures in record.phases:
        wanted = difficulty_counts(MIXES[figures["name"]], 4)
        assert figures["difficulty_counts"] == wanted
        manifest = _manifest(record, figures["name"])
        assert {d: sum(e["difficulty"] == d for e in manifest) for d in wanted} == wanted


def test_loss_falls_on_the_assistant_answer_only(run, tiny_dir):
    from transformers import AutoTokenizer

    _, capture, _, _ = run
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assistant_start = tokenizer.encode("<|im_start|>assistant\n")
    for batch in capture.batches[0]:
        for row, label in batch:
            start = next(i for i in range(len(row)) if row[i : i + len(assistant_start)] == assistant_start)
            answer_from = start + len(assistant_start)
            assert all(x == -100 for x in label[:answer_from])  # system, user and the assistant header: masked
            trained = [t for t, x in zip(row, label, strict=True) if x != -100]
            assert tokenizer.decode(trained).endswith("<|im_end|>\n") or tokenizer.decode(trained).endswith(
                "<|im_end|>"
            )


def test_every_step_loss_is_kept_with_steps_tokens_time_and_memory(run):
    record = run[0]
    for figures in record.phases:
        assert figures["steps"] == 2 and len(figures["losses"]) == 2
        assert figures["final_loss"] == figures["losses"][-1]
        assert math.isclose(figures["mean_loss"], sum(figures["losses"]) / 2)
        assert 0 < figures["loss_tokens"] < figures["tokens"]
        assert figures["wall_s"] > 0 and figures["tokens_per_s"] > 0
        # The phase's peak RSS from tunebench.memory.PeakMemory: exact (Linux's VmHWM reset at the phase's
        # start) where /proc/self/clear_refs is writable, else sampled; no longer only at step ends.
        assert figures["peak_memory_bytes"] > 10 * 2**20 and figures["memory_measure"] in ("rss_peak", "rss_sampled")
        assert math.isfinite(figures["validation_loss"])
    totals = record.data["totals"]
    assert totals["steps"] == 6 and totals["examples"] == 12
    assert totals["tokens"] == sum(p["tokens"] for p in record.phases)


def test_record_is_schema_valid_in_the_history_with_hashes_hardware_and_cost(run):
    record, _, config, recipe = run
    stored = open_store(config.history_uri).read_all(strict=True).records
    assert [r["run_id"] for r in stored] == [record.run_id]
    data = stored[0]
    validate(data)
    assert data["kind"] == "training" and data["status"] == "completed"
    assert data["recipe"]["sha256"].startswith("sha256:") and data["recipe"]["text"] == recipe.read_text()
    assert all(h.startswith("sha256:") for h in data["data"]["files"].values())
    assert data["data"]["validation"]["examples"] == 4
    assert data["validation_loss"] == data["phases"][-1]["validation_loss"]
    assert data["hardware"]["device"] == "cpu" and data["hardware"]["world_size"] == 1
    assert data["cost"]["hardware"] == "cpu" and data["cost"]["usd_per_hour"] == 0.10
    assert math.isclose(data["cost"]["usd"], data["totals"]["wall_s"] / 3600 * 0.10, abs_tol=1e-6)
    assert data["provenance"]["packages"]["trl"] and data["attempts"][0]["outcome"] == "completed"


def test_each_phase_records_its_mfu_against_a_matmul_measured_on_this_cpu(run):
    from tunebench.efficiency import train_flops_per_token
    from tunebench.memory.estimate import ModelShape
    from tunebench.tiny import tiny_path

    shape = ModelShape.from_config(json.loads((tiny_path() / "config.json").read_text()))
    for phase_data in run[0].phases:
        eff = phase_data["efficiency"]
        assert eff["peak"]["source"] == "measured" and eff["peak"]["flops"] > 0 and eff["devices"] == 1
        assert eff["flops_per_token"] == train_flops_per_token(shape, eff["seq_len"])
        achieved = eff["flops_per_token"] * phase_data["tokens_per_s"]
        assert math.isclose(eff["mfu"], achieved / eff["peak"]["flops"]) and 0 < eff["mfu"] < 1


def test_adapter_is_saved_before_the_merged_copy_is_written(run):
    from pathlib import Path

    output = run[0].data["output"]
    adapter = Path(output["adapter"]) / "adapter_model.safetensors"
    merged = Path(output["merged"]) / "model.safetensors"
    assert adapter.is_file() and merged.is_file()
    assert adapter.stat().st_mtime_ns <= merged.stat().st_mtime_ns
    assert (
        Path(output["dir"]) / "phases" / "C" / "adapter" / "adapter_model.safetensors"
    ).read_bytes() == adapter.read_bytes()


def test_adapter_is_registered_and_loads_for_evaluation(run, monkeypatch, capsys):
    from tunebench.cli import main
    from tunebench.loading import load_model

    record, _, config, _ = run
    entry = Registry(config).get("tiny-curriculum")
    assert entry.base == "builtin:tiny" and entry.adapter == record.data["output"]["adapter"]
    assert entry.status == "experimental"
    loaded = load_model("tiny-curriculum", config)
    assert loaded.merged and loaded.adapter_path == entry.adapter
    monkeypatch.chdir(config.root)
    from tunebench.config import _load_cached

    _load_cached.cache_clear()
    assert main(["models", "list"]) == 0
    assert "tiny-curriculum  experimental" in capsys.readouterr().out
    _load_cached.cache_clear()


@pytest.mark.slow
def test_pytest_eval_suites_evaluates_the_trained_model_by_its_registry_name(run):
    from training_support import REPO

    record, _, config, _ = run
    env = {**os.environ, "TUNEBENCH_CONFIG": str(config.source)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "eval_suites/benchmark_100",
            "--model",
            "tiny-curriculum",
            "-k",
            "ret-001 or tax-001",
            "--no-gate",  # a -k subset fails the gate's "run complete" rule; this test is about loading the model
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    evals = [r for r in open_store(config.history_uri).read_all(strict=True).records if r["kind"] == "eval"]
    assert len(evals) == 1 and evals[0]["model"]["name"] == "tiny-curriculum"
    assert evals[0]["model"]["adapter"] == record.data["output"]["adapter"]
    # The adapter's training summary reached the eval record: checked against this very suite file, clean.
    training_data = evals[0]["model"]["training_data"]
    assert training_data["run_id"] == record.run_id and training_data["status"] == "clean"


def test_training_the_same_output_again_is_refused(run):
    _, _, config, recipe = run
    with pytest.raises(RecipeError, match="already holds a completed run of 'tiny-curriculum'"):
        train(recipe, config=config)


def test_prompt_completion_examples_train_with_loss_on_the_completion_only(tmp_path, tiny_dir):
    from transformers import AutoTokenizer

    def rows(prefix):
        return "".join(
            json.dumps(
                {
                    "id": f"{prefix}-{d}",
                    "domain": "investment",
                    "difficulty": d,
                    "prompt": f"Question ({d}): what is an index fund?\nAnswer:",
                    "completion": " A fund that tracks a market index at low cost.",
                }
            )
            + "\n"
            for d in ("easy", "medium", "hard", "extreme")
        )

    (tmp_path / "train.jsonl").write_text(rows("t"), encoding="utf-8")
    (tmp_path / "held_out.jsonl").write_text(rows("v").replace("index fund", "bond fund"), encoding="utf-8")
    capture = CaptureBatches()
    recipe = write_recipe(
        tmp_path / "r.toml",
        [phase("A", "mixed", 4, data=tmp_path / "train.jsonl")],
        validation=[str(tmp_path / "held_out.jsonl")],
        batch_size=4,
        output="tiny-plain",
    )
    record = train(recipe, config=make_project(tmp_path / "p"), callbacks=[capture])
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    prompt_length = len(tokenizer("Question (easy): what is an index fund?\nAnswer:")["input_ids"])
    ((ids, labels), *_) = capture.batches[0][0]
    assert all(x == -100 for x in labels[:prompt_length])
    assert tokenizer.decode([t for t, x in zip(ids, labels, strict=True) if x != -100]).startswith(
        " A fund that tracks"
    )
    assert record.phases[0]["steps"] == 1 and record.phases[0]["validation_loss"] is not None


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("bitsandbytes") is None,
    reason="bitsandbytes is not installed: QLoRA/QDoRA need it (pip install bitsandbytes)",
)
@pytest.mark.parametrize("method", ["qlora", "qdora"])
def test_quantized_methods_train_an_adapter_over_a_4bit_base(tmp_path, method):
    import bitsandbytes as bnb

    class Base4bit(TrainerCallback):
        layer_type = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            Base4bit.layer_type = type(model.base_model.model.model.layers[0].self_attn.q_proj.base_layer)

    config = make_project(tmp_path / "p")
    recipe = write_recipe(
        tmp_path / "r.toml", [phase("A", "mixed", 2)], method=method, output=f"tiny-{method}", merge=True
    )
    record = train(recipe, config=config, callbacks=[Base4bit()])
    assert Base4bit.layer_type is bnb.nn.Linear4bit
    assert record.data["method"] == method and record.phases[0]["steps"] == 1
    # merge = true is skipped over a 4-bit base: the record names no merged folder, and none exists.
    assert record.data["output"]["merged"] is None
    assert not (tmp_path / "p" / ".tb" / "models" / f"tiny-{method}" / "merged").exists()
    assert any("merge = true skipped" in note for note in record.data["notes"])


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_once_and_only_rank_0_records(tmp_path):
    config = make_project(tmp_path / "p")
    recipe = write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], output="tiny-ddp")
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "tunebench.cli", "train", str(recipe)],
        cwd=config.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = open_store(config.history_uri).read_all(strict=True).records
    assert len(records) == 1 and records[0]["hardware"]["world_size"] == 2
    # 4 examples, 2 per process per step: one optimizer step across the two processes.
    assert [p["steps"] for p in records[0]["phases"]] == [1]
    assert Registry(config).get("tiny-ddp").adapter == records[0]["output"]["adapter"]
    assert done.stdout.count("registered") == 1

    # Issue 26: again with --new-version: rank 0 picks tiny-ddp-v2 and every rank trains it (it was refused, the
    # error printed once per rank, then torchrun's ChildFailedError).
    again = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "tunebench.cli",
            "train",
            str(recipe),
            "--new-version",
        ],
        cwd=config.root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    records = open_store(config.history_uri).read_all(strict=True).records
    assert sorted(r["output"]["name"] for r in records) == ["tiny-ddp", "tiny-ddp-v2"]
    assert Registry(config).get("tiny-ddp-v2").adapter == next(
        r["output"]["adapter"] for r in records if r["output"]["name"] == "tiny-ddp-v2"
    )
    assert again.stdout.count("training a new version 'tiny-ddp-v2'") == 1 and again.stdout.count("registered") == 1


def test_train_history_writes_the_training_record_where_the_eval_record_goes(project, capsys):
    """Issue 26: `tunebench train --history H` as `pytest eval_suites --history H`, so a model's training and its
    evals land in one history (before, the training record always went to the configured one)."""
    from tunebench.cli import main

    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], merge=False)
    shared = project.root / "shared-history"
    assert main(["train", str(recipe), "--history", str(shared)]) == 0
    [record] = open_store(shared).read_all(strict=True).records
    assert record["kind"] == "training"
    assert not (project.root / ".tb" / "history" / "runs").exists()
    # Issue 26: the base's validation loss, before phase A, beside each phase's: in train's summary, in
    # `history show` and in the log's results table.
    base, after = record["base_validation_loss"], record["phases"][0]["validation_loss"]
    assert math.isfinite(base) and base != after
    out = capsys.readouterr().out
    assert re.search(rf"^base +before A .* {base:.4f} ", out, re.M) and f"(base {base:.4f} before training)" in out
    assert main(["history", "show", record["run_id"], "--history", str(shared)]) == 0
    shown = capsys.readouterr().out
    from tunebench.report.formatting import format_loss

    assert re.search(rf"^base +before A .* {format_loss(base)} ", shown, re.M)
    assert re.search(rf"^A +mixed .* {format_loss(after)} ", shown, re.M)
    from tunebench.report.markdown import render_log

    log = render_log([record])
    assert "| Phase | Final Loss | Val Loss |" in log and re.search(r"\| Base \(before A\) \| — \| [0-9.]+ \|", log)
