"""The TRL/PEFT plumbing of a phase: the base model, its adapter, the SFTConfig and SFTTrainer, the progress bar.

`run.py` says what happens in which order; this module says how transformers, peft and trl are asked to do it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunebench import compat
from tunebench.data import Example
from tunebench.training import resilience, tracking
from tunebench.training.context import TrainingRun
from tunebench.training.recipe import Phase, Recipe
from tunebench.training.throughput import Throughput, resolve
from tunebench.units import format_loss

__all__ = [
    "load_base_model",
    "attach_adapter",
    "lora_config_kwargs",
    "phase_trainer",
    "sft_config_kwargs",
    "TRAINER_KWARGS",
    "probe_apis",
    "PhaseProgress",
]


def load_base_model(path: str, recipe: Recipe, dtype: Any, attn_implementation: str = "sdpa") -> Any:
    """Load the base for training: in `dtype`, or 4-bit NF4 (prepared for k-bit training) for a q-method.

    `attn_implementation` is set explicitly (training.throughput resolves it), never left to the model's default.
    """
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": attn_implementation}
    if recipe.quantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    base = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if recipe.quantized:
        from peft import prepare_model_for_kbit_training

        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=recipe.gradient_checkpointing)
    return base


def attach_adapter(run: TrainingRun, start_adapter: Path | None) -> Any:
    """Return the base wrapped in a trainable adapter: fresh (seeded) for the first phase, else loaded."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import set_seed

    if start_adapter is not None:
        return PeftModel.from_pretrained(run.base, str(start_adapter), is_trainable=True)
    set_seed(run.recipe.seed)  # the same seed gives the same initial adapter, after an OOM restart or a resume
    return get_peft_model(run.base, LoraConfig(**lora_config_kwargs(run.recipe)))


def lora_config_kwargs(recipe: Recipe) -> dict[str, Any]:
    """The `peft.LoraConfig` keywords of the recipe's adapter (also what preflight probes peft for)."""
    return {
        "r": recipe.rank,
        "lora_alpha": recipe.alpha,
        "lora_dropout": recipe.dropout,
        "target_modules": list(recipe.target_modules),
        "use_dora": recipe.use_dora,
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }


class _QuickCheckpoints(logging.Filter):
    """Drop transformers' "mtime may not be reliable on this filesystem" warning: it orders checkpoints by mtime
    and, when the oldest and newest are under a second apart (tiny on a CPU saves several a second), warns and
    orders them by step number, which is right; the filesystem is not at fault and the line broke the progress bar."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mtime may not be reliable" not in record.getMessage()


def _quiet_checkpoint_ordering() -> None:
    logger = logging.getLogger("transformers.trainer_utils")
    if not any(isinstance(f, _QuickCheckpoints) for f in logger.filters):
        logger.addFilter(_QuickCheckpoints())


def phase_trainer(
    run: TrainingRun, phase: Phase, model: Any, examples: list[Example], batch: int, accum: int, checkpoints: Path
) -> Any:
    """Return the phase's SFTTrainer: the curriculum's order, answer-only loss, a checkpoint every save_steps."""
    import datasets
    from datasets import Dataset
    from transformers import ProgressCallback
    from trl import SFTTrainer

    args = sft_config(run, phase, batch, accum, checkpoints)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the phase's own bar is the progress; TRL's map() bars are noise
    _quiet_checkpoint_ordering()
    try:
        trainer = SFTTrainer(  # the keywords are TRAINER_KWARGS, which preflight probes
            model=model,
            args=args,
            train_dataset=Dataset.from_list([e.for_trainer() for e in examples]),
            eval_dataset=Dataset.from_list([e.for_trainer() for e in run.validation]),
            processing_class=run.tokenizer,
            callbacks=[resilience.PreemptionCallback(run.latch), *run.callbacks],
        )
    finally:
        if bars:
            datasets.enable_progress_bars()
    if args.padding_free:
        _truncate_prepared(trainer, run.recipe.max_length)
    trainer.pop_callback(ProgressCallback)
    trainer.add_callback(PhaseProgress(phase))
    return trainer


# The per-token columns trl's prepared datasets keep (trl 1.16: labels; trl 1.0: completion_mask, in the collator).
_TOKEN_COLUMNS = ("input_ids", "labels", "completion_mask", "assistant_masks", "attention_mask")


def _truncate_prepared(trainer: Any, max_length: int) -> None:
    """Cut trl's tokenized datasets to `max_length`, keeping the start, as trl does for padded batches.

    trl refuses `padding_free` with a `max_length` unless it packs (which reorders or cuts examples), so the
    SFTConfig has none and the prepared datasets are truncated here, in order, before any batch is drawn.
    """

    def cut(example: dict[str, Any]) -> dict[str, Any]:
        return {k: example[k][:max_length] for k in _TOKEN_COLUMNS if k in example}

    for name in ("train_dataset", "eval_dataset"):
        dataset = getattr(trainer, name)
        if dataset is not None and any(len(ids) > max_length for ids in dataset["input_ids"]):
            setattr(trainer, name, dataset.map(cut))


def sft_config(run: TrainingRun, phase: Phase, batch: int, accum: int, checkpoints: Path) -> Any:
    """The phase's `trl.SFTConfig`, built from the recipe."""
    from trl import SFTConfig

    bf16 = run.dtype is not None and "bfloat16" in str(run.dtype)
    run_name = f"{tracking.run_name(run)}-{phase.name}"
    kwargs = sft_config_kwargs(
        run.recipe, phase, batch, accum, checkpoints, bf16, run.device == "cpu", run_name, speed=run.throughput
    )
    return SFTConfig(**kwargs)


def sft_config_kwargs(
    recipe: Recipe,
    phase: Phase,
    batch: int,
    accum: int,
    checkpoints: Path,
    bf16: bool,
    use_cpu: bool,
    run_name: str,
    *,
    speed: Throughput | None = None,
) -> dict[str, Any]:
    """The `trl.SFTConfig` keywords of a phase (also what preflight probes trl and transformers for).

    `speed`: the run's resolved throughput settings (None: resolved here for this machine).
    """
    speed = speed or resolve(recipe, on_cuda=not use_cpu and recipe.device != "cpu" and _cuda())
    return {
        "output_dir": str(checkpoints),
        "per_device_train_batch_size": batch,
        "per_device_eval_batch_size": batch,
        "gradient_accumulation_steps": accum,
        "num_train_epochs": phase.epochs or recipe.epochs,
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler,
        "warmup_steps": recipe.warmup_ratio,  # a float below 1 is a fraction of the phase's steps
        "weight_decay": recipe.weight_decay,
        # Padding-free batches are cut to max_length by _truncate_prepared (trl refuses both without packing).
        "max_length": None if speed.padding_free else recipe.max_length,
        # The curriculum's order is the order the model sees: no shuffling, no length-sorting packing.
        "train_sampling_strategy": "sequential",
        "shuffle_dataset": False,
        "packing": False,
        "padding_free": speed.padding_free,
        "use_liger_kernel": speed.liger_kernel,
        # Loss on the answer only: the examples are prompt/completion pairs (see Example.for_trainer).
        "completion_only_loss": True,
        "logging_steps": 1,
        "logging_nan_inf_filter": False,  # keep every step's real loss, NaN included
        "save_strategy": "steps",
        "save_steps": recipe.save_steps,
        "save_total_limit": recipe.save_total_limit,
        "eval_strategy": "no",
        "seed": recipe.seed,
        "data_seed": recipe.seed,
        "bf16": bf16,
        "use_cpu": use_cpu,
        # transformers 5.23 renamed gradient_checkpointing to activation_checkpointing: the installed name.
        compat.checkpointing_arg(): recipe.gradient_checkpointing,
        "ddp_find_unused_parameters": False,  # every adapter parameter takes part in every forward pass
        "dataloader_num_workers": 0,
        # transformers' own integrations; training/tracking.py points them at their folders and runs.
        "report_to": list(recipe.report_to) or "none",
        "run_name": run_name,
    }


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# The keywords phase_trainer gives trl.SFTTrainer.
TRAINER_KWARGS = ("model", "args", "train_dataset", "eval_dataset", "processing_class", "callbacks")


def probe_apis(recipe: Recipe) -> list[compat.ApiProblem]:
    """Return what the installed trl/transformers/peft lack of what training `recipe` passes them (no weights load)."""
    phase = recipe.phases[0]
    kwargs = sft_config_kwargs(recipe, phase, recipe.batch_size, recipe.grad_accum, Path("."), False, False, "probe")
    return compat.probe_training_apis(kwargs, lora_config_kwargs(recipe), TRAINER_KWARGS, recipe.quantized)


class PhaseProgress(TrainerCallback):
    """A progress bar per phase, named after it, with the latest step loss beside it."""

    def __init__(self, phase: Phase):
        self.phase: Phase = phase
        self.bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                dynamic_ncols=True,
                desc=f"phase {self.phase.name} ({self.phase.kind})",
                unit="step",
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.n = state.global_step
            self.bar.refresh()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=format_loss(logs["loss"]))  # as train's table and the log write a loss

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
