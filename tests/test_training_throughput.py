"""training.throughput on `tiny` with real SFTTrainer steps: the attention kernel set as the recipe says,
padding-free batches that keep the curriculum's order and train the padded batches' losses, the settings
resolved and recorded; and the base model's validation loss recorded before phase A (issue 26).
"""

from __future__ import annotations

import math

import pytest
import torch
from training_support import make_project, phase, write_recipe
from transformers import TrainerCallback

from tunebench import compat
from tunebench.errors import RecipeError
from tunebench.history.records import validate
from tunebench.training.recipe import load_recipe
from tunebench.training.run import train
from tunebench.training.throughput import padded_tokens, resolve

MAX_LENGTH = 160  # below the longest examples (up to ~234 tokens), above every prompt (at most ~130)


class Capture(TrainerCallback):
    """Every training forward pass's examples as (ids, labels), whether it was flattened, and the attention used."""

    def __init__(self):
        self.examples: list[tuple[list[int], list[int]]] = []
        self.flat: list[bool] = []
        self.attention: list[str] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        from test_training import split_examples

        self.attention.append(model.config._attn_implementation)

        def hook(module, positional, keywords):
            if module.training:
                self.examples += split_examples(keywords)
                self.flat.append(keywords.get("attention_mask") is None and keywords["input_ids"].shape[0] == 1)

        model.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same recipe trained with padded and with padding-free batches (LoRA, dropout 0: the same computation)."""
    folder = tmp_path_factory.mktemp("throughput")
    runs = {}
    for padding_free in (False, True):
        name = "flat" if padding_free else "padded"
        recipe = write_recipe(
            folder / f"{name}.toml",
            [phase("A", "mixed", 8)],
            output=f"tiny-{name}",
            method="lora",
            dropout=0.0,
            batch_size=4,
            max_length=MAX_LENGTH,
            attn_implementation="eager",  # not transformers' default (sdpa): the record must say what was set
            padding_free=padding_free,
        )
        capture = Capture()
        config = make_project(folder / name)
        runs[name] = (train(recipe, config=config, callbacks=[capture]), capture, config, recipe)
    return runs


def test_padding_free_batches_train_the_padded_losses_on_the_same_examples_in_the_same_order(pair):
    (padded, padded_seen, _, _), (flat, flat_seen, _, _) = pair["padded"], pair["flat"]
    assert padded_seen.flat == [False, False] and flat_seen.flat == [True, True]
    # The same examples, in the curriculum's order, cut to max_length the same way (trl's keep_start).
    assert [ids for ids, _ in flat_seen.examples] == [ids for ids, _ in padded_seen.examples]
    assert max(len(ids) for ids, _ in flat_seen.examples) == MAX_LENGTH
    a, b = padded.phases[0], flat.phases[0]
    assert len(a["losses"]) == len(b["losses"]) == 2
    for x, y in zip(a["losses"], b["losses"], strict=True):
        assert math.isclose(x, y, rel_tol=1e-4), (a["losses"], b["losses"])
    assert math.isclose(a["validation_loss"], b["validation_loss"], rel_tol=1e-4)
    assert math.isclose(padded.data["base_validation_loss"], flat.data["base_validation_loss"], rel_tol=1e-5)
    # Tokens processed: the padded pass computes each batch at its longest example's length; the flat one none.
    lengths = [len(ids) for ids, _ in flat_seen.examples]
    assert a["tokens"] == b["tokens"] == sum(lengths) == b["processed_tokens"]
    assert a["processed_tokens"] == padded_tokens(lengths, 4) > a["tokens"]


def test_the_record_says_which_attention_padding_and_loss_kernel_ran(pair):
    for name, (record, capture, _, _) in pair.items():
        validate(record.data)
        assert capture.attention == ["eager"]
        assert record.data["hyperparameters"]["throughput"] == {
            "attn_implementation": "eager",
            "padding_free": name == "flat",
            "liger_kernel": False,
            "fused_lm_head": compat.trl_fuses_lm_head(),
        }


def test_the_base_models_validation_loss_is_one_pass_of_the_base_alone_before_phase_a(pair, tmp_path):
    """Issue 26: the untrained base on the validation set, as plain trl evaluates it without any adapter."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from tunebench.tiny import tiny_path
    from tunebench.training.prepare import load_and_check_data

    record, _, config, recipe_path = pair["padded"]
    _, validation, _, _ = load_and_check_data(load_recipe(recipe_path), config, False)
    rows = Dataset.from_list([e.for_trainer() for e in validation])
    base = AutoModelForCausalLM.from_pretrained(tiny_path(), dtype=torch.float32, attn_implementation="eager")
    args = SFTConfig(
        output_dir=str(tmp_path),
        per_device_eval_batch_size=4,
        max_length=MAX_LENGTH,
        completion_only_loss=True,
        use_cpu=True,
        report_to="none",
        **{compat.checkpointing_arg(): False},
    )
    trainer = SFTTrainer(
        model=base,
        args=args,
        train_dataset=rows,
        eval_dataset=rows,
        processing_class=AutoTokenizer.from_pretrained(tiny_path()),
    )
    expected = trainer.evaluate()["eval_loss"]
    assert math.isclose(record.data["base_validation_loss"], expected, rel_tol=1e-5)
    assert record.data["base_validation_loss"] != record.phases[0]["validation_loss"]  # training moved it


def test_auto_resolves_to_what_this_machine_runs_and_an_impossible_setting_is_refused(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)]))
    cpu = resolve(recipe, on_cuda=False)
    assert (cpu.attn_implementation, cpu.padding_free, cpu.liger_kernel) == ("sdpa", False, False)
    assert cpu.fused_lm_head == compat.trl_fuses_lm_head()
    flash = load_recipe(
        write_recipe(tmp_path / "f.toml", [phase("A", "mixed", 4)], attn_implementation="flash_attention_2")
    )
    with pytest.raises(
        RecipeError, match=r"f\.toml: key attn_implementation: .*'flash_attention_2' \(the run trains on the CPU\)"
    ):
        resolve(flash, on_cuda=False)
    liger = load_recipe(write_recipe(tmp_path / "l.toml", [phase("A", "mixed", 4)], liger_kernel=True))
    with pytest.raises(RecipeError, match="key liger_kernel: expected liger-kernel to run here, found a CPU run"):
        resolve(liger, on_cuda=False)
    # doctor and preflight say it: what will run, or the impossible setting refused before any weights load.
    from tunebench.training.preflight import check_throughput

    said = check_throughput(recipe)
    assert said.ok and said.detail.startswith("sdpa attention, padded batches, loss through ")
    refused = check_throughput(flash)
    assert refused.ok is False and "key attn_implementation" in refused.detail and '"auto"' in refused.fix
    with pytest.raises(
        RecipeError, match=r'r\.toml:\d+: key padding_free: expected true, false or "auto", found \'yes\''
    ):
        load_recipe(write_recipe(tmp_path / "r.toml", [phase("A", "mixed", 4)], padding_free="yes"))
