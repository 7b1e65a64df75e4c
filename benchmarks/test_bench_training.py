"""Training throughput: `tunebench.train` on a one-phase recipe vs a plain TRL `SFTTrainer` script.

Both sides train the same examples in the same order with the same SFTConfig values (batch, length,
learning rate, checkpoint every `SAVE_STEPS` steps, a validation pass at the end), from loading the model
to the saved adapter, so tokens/s differ only by what tunebench adds: preflight, data and contamination
checks, run state, the base's validation pass before the first phase (issue 26), the record and the registry
entry. Goal: tokens/s at least 0.95x the plain script's,
which for the same tokens is a time ratio of at most 1/0.95 = 1.053.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunebench import compat

REPO = Path(__file__).resolve().parents[1]
TRAIN_DATA = REPO / "recipes" / "data" / "finance_train.jsonl"
VALIDATION_DATA = REPO / "recipes" / "data" / "finance_validation.jsonl"
EXAMPLES = {"tiny": 32, "bench": 32}
SAVE_STEPS = 4
SETTINGS = {
    "method": "lora",
    "rank": 8,
    "alpha": 16,
    "dropout": 0.05,
    "batch_size": 4,
    "grad_accum": 1,
    "epochs": 1,
    "learning_rate": 2e-4,
    "lr_scheduler": "cosine",
    "max_length": 256,
    "seed": 0,
    "save_steps": SAVE_STEPS,
    "save_total_limit": 2,
    "validation_size": 8,
}
MIX = {"easy": 0.25, "medium": 0.25, "hard": 0.25, "extreme": 0.25}
_TOKENS: dict[str, set[int]] = {}  # tokens trained by each side, per model size: must be one value


def _write_recipe(folder: Path, model_dir: Path, size: int, output: str) -> Path:
    lines = [
        f'model = "{model_dir}"',
        f'output = "{output}"',
        'device = "cpu"',
        f'validation = ["{VALIDATION_DATA}"]',
        *(f"{k} = {json.dumps(v)}" for k, v in SETTINGS.items()),
        "",
        "[[phases]]",
        'name = "only"',
        'kind = "mixed"',
        f'data = ["{TRAIN_DATA}"]',
        f"size = {size}",
        "mix = { " + ", ".join(f"{k} = {v}" for k, v in MIX.items()) + " }",
    ]
    path = folder / f"{output}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _project(folder: Path):
    from tunebench.config import load_config

    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n', encoding="utf-8"
    )
    return load_config(folder)


class Rounds:
    """Hands each round a fresh project folder and output name (a finished run's output is never reused)."""

    def __init__(self, root: Path, model_dir: Path, size: int):
        self.root, self.model_dir, self.size, self.count = root, model_dir, size, 0

    def tunebench(self):
        self.count += 1
        folder = self.root / f"tb-{self.count}"
        config = _project(folder)
        return (_write_recipe(folder, self.model_dir, self.size, f"bench-{self.count}"), config), {}

    def baseline(self):
        self.count += 1
        folder = self.root / f"trl-{self.count}"
        folder.mkdir(parents=True)
        return (folder,), {}


def _run_tunebench(recipe: Path, config) -> float:
    from tunebench.training.run import train

    record = train(recipe, config=config)
    return sum(phase["tokens"] for phase in record.data["phases"])


def _same_examples(size: int) -> tuple[list[dict], list[dict]]:
    """The examples tunebench's phase draws (same seed, mix and order) and its validation examples."""
    from tunebench.data import load_examples
    from tunebench.training.curriculum import sample_phase
    from tunebench.training.recipe import Phase

    phase = Phase("only", "mixed", (TRAIN_DATA,), size, MIX)
    train = sample_phase(load_examples(TRAIN_DATA), phase, SETTINGS["seed"])
    validation = load_examples(VALIDATION_DATA)[: SETTINGS["validation_size"]]
    return [e.for_trainer() for e in train], [e.for_trainer() for e in validation]


def _plain_trl_script(output: Path, model_dir: Path, train_rows: list[dict], validation_rows: list[dict]) -> int:
    """What a user writes with TRL alone: load, LoRA, SFTTrainer with the same settings, train, save, evaluate."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    set_seed(SETTINGS["seed"])
    model = get_peft_model(
        model,
        LoraConfig(
            r=SETTINGS["rank"],
            lora_alpha=SETTINGS["alpha"],
            lora_dropout=SETTINGS["dropout"],
            bias="none",
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            task_type="CAUSAL_LM",
        ),
    )
    args = SFTConfig(
        output_dir=str(output / "checkpoints"),
        per_device_train_batch_size=SETTINGS["batch_size"],
        per_device_eval_batch_size=SETTINGS["batch_size"],
        gradient_accumulation_steps=SETTINGS["grad_accum"],
        num_train_epochs=SETTINGS["epochs"],
        learning_rate=SETTINGS["learning_rate"],
        lr_scheduler_type=SETTINGS["lr_scheduler"],
        max_length=SETTINGS["max_length"],
        warmup_steps=0.0,
        weight_decay=0.0,
        train_sampling_strategy="sequential",
        shuffle_dataset=False,
        packing=False,
        completion_only_loss=True,
        logging_steps=1,
        logging_nan_inf_filter=False,
        save_strategy="steps",
        save_steps=SAVE_STEPS,
        save_total_limit=SETTINGS["save_total_limit"],
        eval_strategy="no",
        seed=SETTINGS["seed"],
        data_seed=SETTINGS["seed"],
        bf16=False,
        use_cpu=True,
        # TRL's SFTConfig turns checkpointing on by default; the recipe (gradient_checkpointing = false) does not.
        **{compat.checkpointing_arg(): False},
        dataloader_num_workers=0,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(validation_rows),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(output / "adapter"))
    trainer.evaluate()
    return sum(min(len(ids), SETTINGS["max_length"]) for ids in trainer.train_dataset["input_ids"])


@pytest.fixture(scope="module")
def training_rounds(cpu_model_dir, model_size, tmp_path_factory):
    return Rounds(tmp_path_factory.mktemp(f"train-{model_size}"), cpu_model_dir, EXAMPLES[model_size])


@pytest.mark.parametrize("side", ["baseline", "tunebench"])
def test_training(paired_benchmark, training_rounds, cpu_model_dir, model_size, side):
    """Whole runs, load to saved adapter; both sides must train the same number of tokens."""
    train_rows, validation_rows = _same_examples(EXAMPLES[model_size])

    def plain(folder):
        return _plain_trl_script(folder, cpu_model_dir, train_rows, validation_rows)

    if side == "tunebench":
        tokens = paired_benchmark(
            _run_tunebench,
            side=side,
            group=f"training-{model_size}",
            goal="<= 1.053",
            goal_note="tokens/s >= 0.95x plain TRL",
            rounds=3,
            warmup_rounds=0,
            setup=training_rounds.tunebench,
            interleave=plain,
            interleave_setup=training_rounds.baseline,
        )
    else:
        tokens = paired_benchmark(
            plain, side=side, group=f"training-{model_size}", rounds=2, warmup_rounds=0, setup=training_rounds.baseline
        )
    _TOKENS.setdefault(model_size, set()).add(tokens)
    assert len(_TOKENS[model_size]) == 1, f"the two sides trained different numbers of tokens: {_TOKENS}"


# --- issue 24: what each throughput setting (tunebench.training.throughput) does to a training step ------------------
#
# One step (forward, backward, optimizer) over the curriculum's first two batches of 4 (mixed lengths, in the order
# the phase trains them), batched by trl's own collator padded or padding-free, labels on the answers only (as
# tunebench trains). Baseline: padded batches with sdpa, tunebench's path before issue 24. Rows:
# - padding-free (sdpa): processes no padding; ASSERTED: the tokens it computes are the padded pass's times
#   (1 - padding fraction). Its time is informational on a CPU: sdpa attends over each whole flattened batch
#   through a block-diagonal mask (sum(lengths)^2, not batch x longest^2), so `padding_free = "auto"` turns it
#   on only with flash_attention_2 (varlen: each example on its own), a GPU row (acceptance.py --throughput).
# - eager attention: what setting `attn_implementation` explicitly changes; the row is eager's step over sdpa's,
#   goal >= 1.0 (sdpa, the default, no slower than eager).
# - trl's fused LM head (trl 1.16 always applies it; compat.trl_fuses_lm_head): only the answer positions go through
#   the LM head, in tiles. Informational here: at these models' 512-token vocabulary the logits are small and the
#   tiling costs more than it saves (tiny 1.44x); at Qwen2.5's 152k vocabulary the (batch, length, vocab) logits it
#   never builds are 4 x 2048 x 152k floats, a GPU row.
STEP_SIZE, STEP_BATCH = 8, 4
STEP_VARIANTS = {  # side, attention, padding-free, fused LM head, goal, note
    "padded-sdpa": ("baseline", "sdpa", False, False, None, None),
    "padding-free-sdpa": ("tunebench", "sdpa", True, False, None, "padding-free step / padded step (sdpa)"),
    "padded-eager": ("tunebench", "eager", False, False, ">= 1.0", "eager step / sdpa step: sdpa no slower"),
    "fused-lm-head": ("tunebench", "sdpa", False, True, None, "trl's fused LM head step / full logits"),
}
_PADDING: dict[str, tuple[int, int]] = {}  # "MODEL_DIR-PADDING_FREE" -> (real tokens, tokens the batches compute)


def _curriculum_features(model_dir) -> list[dict]:
    """The phase's first examples in training order, tokenized as trl does: ids, and labels on the answer only."""
    from transformers import AutoTokenizer

    from tunebench.data import load_examples
    from tunebench.training.curriculum import sample_phase
    from tunebench.training.recipe import Phase

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    examples = sample_phase(load_examples(TRAIN_DATA), Phase("only", "mixed", (TRAIN_DATA,), STEP_SIZE, MIX), 0)
    features = []
    for example in examples:
        messages = list(example.messages)
        ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        prompt = tokenizer.apply_chat_template(
            messages[:-1], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        ids = ids[: SETTINGS["max_length"]]
        features.append({"input_ids": ids, "labels": [-100] * len(prompt) + ids[len(prompt) :]})
    return features


def _throughput_step(model_dir, attention: str, padding_free: bool, fused: bool):
    """Return a function running one optimizer step over the curriculum batches with these settings (built untimed)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attention)
    if fused:
        from trl.trainer.utils import add_fused_lm_head

        add_fused_lm_head(base)  # before PEFT wraps it, as trl's SFTTrainer does
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets))
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
    collate = DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=padding_free)
    features = _curriculum_features(model_dir)
    batches = []
    for i in range(0, len(features), STEP_BATCH):
        batch = collate(features[i : i + STEP_BATCH])
        batches.append({k: batch[k] for k in ("input_ids", "labels", "attention_mask", "position_ids") if k in batch})
    computed = sum(b["input_ids"].numel() for b in batches)
    _PADDING.setdefault(f"{model_dir}-{padding_free}", (sum(len(f["input_ids"]) for f in features), computed))
    extra = {"fused_lm_head": True} if fused else {}

    def step() -> float:
        total = 0.0
        for batch in batches:
            loss = model(**batch, use_cache=False, **extra).loss  # trl's compute_loss passes use_cache=False too
            loss.backward()
            total += float(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return total

    return step


@pytest.mark.parametrize("variant", list(STEP_VARIANTS))
def test_throughput_step(paired_benchmark, cpu_model_dir, model_size, variant):
    side, attention, padding_free, fused, goal, note = STEP_VARIANTS[variant]
    if fused and not compat.trl_fuses_lm_head():
        pytest.skip("the installed trl has no fused LM head (trl 1.16 has it)")
    step = _throughput_step(cpu_model_dir, attention, padding_free, fused)
    group = f"train-step-{model_size}"
    rounds = 3 if model_size == "tiny" else 2  # a bench-model step takes ~30 s on a busy 2-core CPU
    if side == "baseline":
        paired_benchmark(step, side=side, group=group, rounds=rounds, warmup_rounds=1)
        return
    loss = paired_benchmark(
        step,
        side=side,
        group=group,
        goal=goal,
        goal_note=note,
        rounds=rounds,
        warmup_rounds=1,
        label=variant,
        interleave=_throughput_step(cpu_model_dir, "sdpa", False, False),
    )
    assert loss == loss  # a NaN loss would make the timing meaningless
    if padding_free:  # the stated goal: no padding computed at all, i.e. the padded pass's tokens x (1 - padding)
        real, computed = _PADDING[f"{cpu_model_dir}-True"]
        _, padded = _PADDING.setdefault(f"{cpu_model_dir}-False", (real, _padded_tokens(cpu_model_dir)))
        assert computed == real < padded
        print(f"padding fraction {1 - real / padded:.1%}: padding-free computes {real} tokens, padded {padded}")


def _padded_tokens(model_dir) -> int:
    from tunebench.training.throughput import padded_tokens

    return padded_tokens([len(f["input_ids"]) for f in _curriculum_features(model_dir)], STEP_BATCH)
