"""Run a training recipe: preflight, data, then each phase as a TRL `SFTTrainer` pass, then record it.

`train()` reads top to bottom as the run: check the recipe against the machine, load and check the data,
draw each phase's examples, load the base model, train the phases in order (each continues the previous
phase's adapter), save the adapter, register the model, write the TrainingRecord to the history.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunebench.config import Config, load_config
from tunebench.data import Example, check_contamination, examples_sha256, file_sha256, load_examples, normalize
from tunebench.errors import DataError, RecipeError
from tunebench.history.records import new_run_id, utc_now
from tunebench.memory import PeakMemory
from tunebench.registry import ModelEntry, Registry
from tunebench.training import resilience
from tunebench.training.cost import hardware_key, training_cost
from tunebench.training.curriculum import sample_phase
from tunebench.training.preflight import raise_on_failures, run_preflight
from tunebench.training.recipe import Phase, Recipe, load_recipe
from tunebench.training.record import SCHEMA_VERSION, TrainingRecord, describe_hardware, write_record

__all__ = ["train", "output_dir_for", "DEFAULT_SUITES"]

# The suites a training set is checked against unless the recipe names its own (relative to the config root).
DEFAULT_SUITES = ("eval_suites/benchmark_100/questions.jsonl", "eval_suites/domain_probes/probes.jsonl")


@dataclass
class _Run:
    """Everything one run carries from phase to phase."""

    recipe: Recipe
    config: Config
    output_dir: Path
    state: resilience.RunState
    plans: dict[str, list[Example]]
    validation: list[Example]
    latch: resilience.PreemptionLatch
    callbacks: Sequence[Any] = ()
    started_at: str = ""
    clock: float = 0.0
    base: Any = None
    tokenizer: Any = None
    base_path: str = ""
    base_location: str = ""
    device: str = "cpu"
    dtype: Any = None

    @property
    def is_main(self) -> bool:
        return int(os.environ.get("RANK", "0")) == 0

    def phase_dir(self, phase: Phase) -> Path:
        return self.output_dir / "phases" / phase.name


def output_dir_for(recipe: Recipe, config: Config) -> Path:
    """Return where a recipe's outputs go: its `output_dir`, else `<home>/models/<output>`."""
    return recipe.output_dir or config.home / "models" / recipe.output


def train(
    recipe: Recipe | str | Path,
    *,
    config: Config | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    free_disk_bytes: int | None = None,
) -> TrainingRecord:
    """Run `recipe` (a Recipe or a TOML path) and return its TrainingRecord, also written to the history.

    `callbacks` are extra `transformers.TrainerCallback`s given to every phase's trainer;
    `free_disk_bytes` replaces the measured free disk in the preflight (to test the refusal).
    Raises `TrainingPreempted` after a SIGTERM (a checkpoint is saved; call again with `resume=True`).
    """
    started_at, clock = utc_now(), time.perf_counter()
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    config = config or load_config()
    output_dir = output_dir_for(recipe, config)
    state = _open_state(recipe, config, output_dir, resume)
    pool, validation, state.data["suite_items_checked"] = _load_and_check_data(recipe, config)
    raise_on_failures(run_preflight(recipe, config, output_dir, free_disk_bytes), f"recipe {recipe.path}")
    plans = {phase.name: sample_phase(pool[phase.name], phase, recipe.seed) for phase in recipe.phases}

    with resilience.PreemptionLatch() as latch, _cpu_threads(recipe), _gc_frozen():
        run = _Run(recipe, config, output_dir, state, plans, validation, latch, callbacks, started_at, clock)
        _begin_attempt(run)
        _load_base_model(run)
        start_adapter: Path | None = None
        for phase in recipe.phases:
            if not state.phase_done(phase.name):
                _train_phase(run, phase, start_adapter)
            start_adapter = run.phase_dir(phase) / "adapter"
        adapter_dir = _publish_adapter(run, start_adapter)
        merged_dir = _merge(run, adapter_dir) if recipe.merge else None
    return _finish(run, adapter_dir, merged_dir)


@contextlib.contextmanager
def _gc_frozen():
    """Exempt what exists before the run (mostly imported modules) from garbage collection until it ends.

    A full collection walks every tracked object: ~0.2 s a call on a 2-core CPU over what importing torch,
    transformers and TRL leaves, so the phase-end collect and accelerate's own cost a tiny run 1.4x a plain
    TRL script's time (benchmarks/test_bench_training.py; 0.8x with this). The run's own garbage is new,
    so it is still collected.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _cpu_threads(recipe: Recipe):
    """Use the recipe's CPU thread count while training, then put torch's back."""
    import torch

    before = torch.get_num_threads()
    if recipe.cpu_threads and recipe.device != "cuda":
        # Small models train faster on one thread: splitting tiny matrices costs more than it saves.
        torch.set_num_threads(recipe.cpu_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- before any weights load ----------------------------------------------------------------------------


def _open_state(recipe: Recipe, config: Config, output_dir: Path, resume: bool) -> resilience.RunState:
    state = resilience.RunState.open(output_dir / "run.json", recipe.sha256)
    if int(os.environ.get("RANK", "0")) != 0:
        return state  # rank 0 judges the output folder; the others may already see the state it is writing
    if state.status == "completed":
        raise RecipeError(
            f"{recipe.path}: key output: {output_dir} already holds a completed run of "
            f"{recipe.output!r}; choose another output name or remove that folder"
        )
    if state.status != "new" and not resume:
        raise RecipeError(
            f"{recipe.path}: a run of {recipe.output!r} was started in {output_dir} and is "
            f"{state.status}; continue it with --resume (resume=True) or remove that folder"
        )
    if resume and state.status != "new" and state.data["recipe_sha256"] != recipe.sha256:
        raise RecipeError(
            f"{recipe.path}: the recipe changed since the run in {output_dir} started "
            f"({state.data['recipe_sha256']} then, {recipe.sha256} now); resume needs the same recipe"
        )
    if state.status == "new" and recipe.output in Registry(config):
        raise RecipeError(
            f"{recipe.path}: key output: {recipe.output!r} is already a registry model; choose another output name"
        )
    return state


def _load_and_check_data(recipe: Recipe, config: Config) -> tuple[dict[str, list[Example]], list[Example], int]:
    paths = dict.fromkeys([*(p for ph in recipe.phases for p in ph.data), *recipe.validation])
    files = {path: load_examples(path) for path in paths}
    validation = [e for path in recipe.validation for e in files[path]]
    if recipe.validation_size:
        validation = validation[: recipe.validation_size]
    # Compared by normalized text, not id: a held-out example copied under another id is still a leak.
    held_out = {normalize(e.full_text) for e in validation}
    pool = {}
    for phase in recipe.phases:
        examples = [e for path in phase.data for e in files[path]]
        leaked = [e.id for e in examples if normalize(e.full_text) in held_out]
        if leaked:
            raise RecipeError(
                f"{recipe.path}: phase {phase.name}: {len(leaked)} validation example(s) are also "
                f"training data ({', '.join(leaked[:10])}); the validation split must be held out"
            )
        pool[phase.name] = examples
    everything = [e for path, examples in files.items() if path not in recipe.validation for e in examples]
    checked = check_contamination(everything + validation, _suite_paths(recipe, config))
    return pool, validation, checked


def _suite_paths(recipe: Recipe, config: Config) -> list[Path]:
    """The suite files to check against: the recipe's, else the config's plus the shipped ones wherever found."""
    if recipe.contamination_suites:
        return list(recipe.contamination_suites)
    # The shipped suites live beside the config, the working directory, or the recipes/ folder's parent.
    shipped = [base / p for base in (config.root, Path.cwd(), recipe.path.parent.parent) for p in DEFAULT_SUITES]
    found = [*config.eval.suites, *config.eval.probes, *(p for p in shipped if p.is_file())]
    return list(dict.fromkeys(p.resolve() for p in found))


# --- the model ------------------------------------------------------------------------------------------


def _load_base_model(run: _Run) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunebench.loading import pick_device_and_dtype, resolve_location

    recipe, registry = run.recipe, Registry(run.config)
    if recipe.model in registry:
        entry = registry.get(recipe.model)
        if entry.adapter:
            raise RecipeError(
                f"{recipe.path}: key model: {recipe.model!r} already has an adapter; train from its "
                "base, or register a merged copy and train from that"
            )
        run.base_location = entry.base
    else:
        run.base_location = recipe.model
    run.base_path = resolve_location(run.base_location, registry)
    device, dtype = pick_device_and_dtype()
    run.device = "cpu" if recipe.device == "cpu" else device
    run.dtype = dtype if (run.device == "cuda" and recipe.bf16) else torch.float32
    kwargs: dict[str, Any] = {"dtype": run.dtype}
    if recipe.quantized:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=run.dtype,
        )
    run.tokenizer = AutoTokenizer.from_pretrained(run.base_path)
    _check_answers_fit(run)
    run.base = AutoModelForCausalLM.from_pretrained(run.base_path, **kwargs)
    if recipe.quantized:
        from peft import prepare_model_for_kbit_training

        run.base = prepare_model_for_kbit_training(run.base, use_gradient_checkpointing=recipe.gradient_checkpointing)


def _check_answers_fit(run: _Run) -> None:
    """Refuse examples whose prompt alone fills max_length: TRL would drop them, silently breaking the mix."""
    limit = run.recipe.max_length
    too_long = []
    for example in [e for plan in run.plans.values() for e in plan] + run.validation:
        if example.messages is not None:
            prompt = run.tokenizer.apply_chat_template(
                list(example.messages[:-1]), add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        else:
            prompt = run.tokenizer(example.prompt)["input_ids"]
        if len(prompt) >= limit:
            too_long.append(f"{example.id} ({example.where}: {len(prompt)} prompt tokens)")
    if too_long:
        shown = sorted(set(too_long))
        raise DataError(
            f"{run.recipe.path}: key max_length: {limit} leaves no answer tokens for "
            f"{len(shown)} example(s): {', '.join(shown[:10])}{' ...' if len(shown) > 10 else ''}; "
            "raise max_length or shorten those prompts"
        )


def _attach_adapter(run: _Run, start_adapter: Path | None) -> Any:
    """Return the base wrapped in a trainable adapter: fresh (seeded) for the first phase, else loaded."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import set_seed

    if start_adapter is not None:
        return PeftModel.from_pretrained(run.base, str(start_adapter), is_trainable=True)
    recipe = run.recipe
    set_seed(recipe.seed)  # the same seed gives the same initial adapter, after an OOM restart or a resume
    lora = LoraConfig(
        r=recipe.rank,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=list(recipe.target_modules),
        use_dora=recipe.use_dora,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(run.base, lora)


# --- one phase ------------------------------------------------------------------------------------------


def _train_phase(run: _Run, phase: Phase, start_adapter: Path | None) -> None:
    """Train one phase to completion, restarting it with half the batch after an OOM; record its figures."""
    import torch

    if run.latch.requested:
        _stop_preempted(run, phase, step=None)
    examples = run.plans[phase.name]
    checkpoints = run.phase_dir(phase) / "checkpoints"
    if run.is_main:
        _write_manifest(run.phase_dir(phase) / "examples.jsonl", examples)
    figures = run.state.phase(phase.name)
    while True:
        batch, accum = _batch_layout(run)
        model = _attach_adapter(run, start_adapter)
        resume_from = resilience.last_complete_checkpoint(checkpoints)
        trainer = _phase_trainer(run, phase, model, examples, batch, accum, checkpoints)
        started = time.perf_counter()
        try:
            with PeakMemory(run.device) as peak:
                trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except torch.OutOfMemoryError as error:
            step, lost = trainer.state.global_step, time.perf_counter() - started
            del trainer
            run.base = model.unload()
            _after_oom(run, phase, batch, accum, step, lost, error, checkpoints)
            continue
        elapsed = figures.get("elapsed_s", 0.0) + time.perf_counter() - started
        if trainer.state.global_step < trainer.state.max_steps:
            figures.update(status="preempted", elapsed_s=elapsed, step=trainer.state.global_step)
            _stop_preempted(run, phase, step=trainer.state.global_step)
        break
    adapter_dir = run.phase_dir(phase) / "adapter"
    trainer.save_model(str(adapter_dir))  # the adapter is saved before anything merges it
    validation_loss = trainer.evaluate().get("eval_loss")
    trainer.accelerator.wait_for_everyone()  # every rank's next phase loads this adapter
    figures.clear()
    figures.update(_phase_figures(run, phase, trainer, peak, elapsed, validation_loss, batch, accum, resume_from))
    figures["adapter"] = str(adapter_dir)
    _save_state(run)
    del trainer
    run.base = model.unload()
    gc.collect()


def _batch_layout(run: _Run) -> tuple[int, int]:
    data = run.state.data
    return data.get("batch_size") or run.recipe.batch_size, data.get("grad_accum") or run.recipe.grad_accum


def _after_oom(
    run: _Run, phase: Phase, batch: int, accum: int, step: int, lost_s: float, error: BaseException, checkpoints: Path
) -> None:
    import torch

    new_batch, new_accum = resilience.halve_batch(batch, accum)
    event = {
        "phase": phase.name,
        "at": utc_now(),
        "step": step,
        "batch_size_before": batch,
        "grad_accum_before": accum,
        "batch_size_after": new_batch,
        "grad_accum_after": new_accum,
        "lost_s": lost_s,
        "message": str(error).splitlines()[0][:300] if str(error) else type(error).__name__,
    }
    run.state.data["oom_events"].append(event)
    run.state.data.update(batch_size=new_batch, grad_accum=new_accum)
    print(
        f"tunebench: out of memory in phase {phase.name} at step {step} with batch {batch} x {accum}; "
        f"restarting the phase from its starting adapter with batch {new_batch} x {new_accum}",
        flush=True,
    )
    # The failed attempt's checkpoints hold weights already moved by it and another batch layout.
    if run.is_main:
        resilience.clear_checkpoints(checkpoints)
    _save_state(run)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _stop_preempted(run: _Run, phase: Phase, step: int | None) -> None:
    attempt = run.state.data["attempts"][-1]
    attempt.update(
        finished_at=utc_now(), wall_s=time.perf_counter() - run.clock, outcome="preempted", phase=phase.name, step=step
    )
    run.state.data["status"] = "preempted"
    _save_state(run)
    where = f"at step {step}" if step is not None else "before it started"
    raise resilience.TrainingPreempted(
        f"preempted (SIGTERM) in phase {phase.name} {where}; the last complete checkpoint is kept in "
        f"{run.phase_dir(phase) / 'checkpoints'}. Continue with: tunebench train {run.recipe.path} --resume"
    )


def _phase_trainer(
    run: _Run, phase: Phase, model: Any, examples: list[Example], batch: int, accum: int, checkpoints: Path
) -> Any:
    import datasets
    from datasets import Dataset
    from transformers import ProgressCallback
    from trl import SFTConfig, SFTTrainer

    recipe = run.recipe
    args = SFTConfig(
        output_dir=str(checkpoints),
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch,
        gradient_accumulation_steps=accum,
        num_train_epochs=phase.epochs or recipe.epochs,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,  # a float below 1 is a fraction of the phase's steps
        weight_decay=recipe.weight_decay,
        max_length=recipe.max_length,
        # The curriculum's order is the order the model sees: no shuffling, no length-sorting packing.
        train_sampling_strategy="sequential",
        shuffle_dataset=False,
        packing=False,
        # Loss on the answer only: the examples are prompt/completion pairs (see Example.for_trainer).
        completion_only_loss=True,
        logging_steps=1,
        logging_nan_inf_filter=False,  # keep every step's real loss, NaN included
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        eval_strategy="no",
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=run.dtype is not None and "bfloat16" in str(run.dtype),
        use_cpu=run.device == "cpu",
        activation_checkpointing=recipe.gradient_checkpointing,
        ddp_find_unused_parameters=False,  # every adapter parameter takes part in every forward pass
        dataloader_num_workers=0,
        report_to="none",
    )
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # the phase's own bar is the progress; TRL's map() bars are noise
    try:
        trainer = SFTTrainer(
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
    trainer.pop_callback(ProgressCallback)
    trainer.add_callback(_PhaseProgress(phase))
    return trainer


def _phase_figures(
    run: _Run,
    phase: Phase,
    trainer: Any,
    peak: PeakMemory,
    elapsed: float,
    validation_loss: float | None,
    batch: int,
    accum: int,
    resumed_from: Path | None,
) -> dict[str, Any]:
    examples = run.plans[phase.name]
    # A NaN or infinite loss is kept as null: JSON has no NaN, and a diverged step must still be visible.
    losses = [_finite(h["loss"]) for h in trainer.state.log_history if "loss" in h and "step" in h]
    epochs = phase.epochs or run.recipe.epochs
    lengths = [min(len(ids), run.recipe.max_length) for ids in trainer.train_dataset["input_ids"]]
    tokens = sum(lengths) * epochs
    finite = [x for x in losses if x is not None]
    return {
        "name": phase.name,
        "kind": phase.kind,
        "status": "done",
        "examples": len(examples),
        "difficulty_counts": {d: n for d, n in _counts(examples, "difficulty").items()},
        "domain_counts": _counts(examples, "domain"),
        "mix": phase.mix,
        "data_files": {str(p): file_sha256(p) for p in phase.data},
        "examples_sha256": examples_sha256(examples),
        "epochs": epochs,
        "steps": trainer.state.global_step,
        "final_loss": losses[-1] if losses else None,
        "mean_loss": statistics.fmean(finite) if finite else None,
        "losses": losses,
        "tokens": tokens,
        "loss_tokens": _loss_tokens(trainer.train_dataset, run.recipe.max_length) * epochs,
        "wall_s": elapsed,
        "tokens_per_s": tokens / elapsed if elapsed > 0 else None,
        "peak_memory_bytes": int(peak.peak_bytes),
        "memory_measure": _memory_measure(peak),
        "validation_loss": _finite(validation_loss),
        "batch_size": batch,
        "grad_accum": accum,
        "resumed_from_step": int(resumed_from.name.split("-")[1]) if resumed_from else None,
    }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _loss_tokens(dataset: Any, max_length: int) -> int:
    """Tokens the loss is computed on: labels not masked to -100 (TRL builds them from the completion mask)."""
    if "labels" not in dataset.column_names:
        return 0
    return sum(sum(1 for x in labels[:max_length] if x != -100) for labels in dataset["labels"])


def _counts(examples: list[Example], attribute: str) -> dict[str, int]:
    from tunebench.data import DIFFICULTIES

    counts = Counter(getattr(e, attribute) for e in examples)
    if attribute == "difficulty":
        return {d: counts.get(d, 0) for d in DIFFICULTIES}
    return dict(sorted(counts.items()))


# --- after the phases -----------------------------------------------------------------------------------


def _publish_adapter(run: _Run, last_phase_adapter: Path) -> Path:
    """Copy the last phase's adapter (and the tokenizer) to `<output dir>/adapter`: the registered model."""
    target = run.output_dir / "adapter"
    if run.is_main:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(last_phase_adapter, target)
        run.tokenizer.save_pretrained(str(target))
    return target


def _merge(run: _Run, adapter_dir: Path) -> Path:
    """Save a merged copy next to the adapter (the adapter itself is already on disk)."""
    from peft import PeftModel

    target = run.output_dir / "merged"
    if run.is_main and not run.recipe.quantized:
        merged = PeftModel.from_pretrained(run.base, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(str(target))
        run.tokenizer.save_pretrained(str(target))
    return target


def _finish(run: _Run, adapter_dir: Path, merged_dir: Path | None) -> TrainingRecord:
    attempt = run.state.data["attempts"][-1]
    attempt.update(
        finished_at=utc_now(), wall_s=time.perf_counter() - run.clock, outcome="completed", phase=None, step=None
    )
    record = _build_record(run, adapter_dir, merged_dir)
    location = None
    if run.is_main:
        registry_path = Registry(run.config).add(
            ModelEntry(
                name=run.recipe.output,
                base=run.base_location,
                adapter=str(adapter_dir),
                status="experimental",
                notes=f"trained by tunebench from {run.recipe.path.name} (run {record['run_id']})",
            )
        )
        record["output"]["registry"] = str(registry_path)
        location = write_record(record, run.config)
        run.state.data["status"] = "completed"
        run.state.data["record"] = location
        _save_state(run)
    return TrainingRecord(record, location)


def _build_record(run: _Run, adapter_dir: Path, merged_dir: Path | None) -> dict[str, Any]:
    from tunebench.loading import content_hash
    from tunebench.provenance import collect

    recipe, state = run.recipe, run.state.data
    phases = [state["phases"][p.name] for p in recipe.phases]
    wall = sum(a["wall_s"] for a in state["attempts"])
    tokens = sum(p["tokens"] for p in phases)
    hardware = describe_hardware(run.device)
    key = hardware_key(hardware, run.config.prices, recipe.hardware)
    batch, accum = _batch_layout(run)
    notes = [
        f"out of memory in phase {e['phase']}: batch {e['batch_size_before']} x {e['grad_accum_before']} -> "
        f"{e['batch_size_after']} x {e['grad_accum_after']}"
        for e in state["oom_events"]
    ]
    notes += [
        f"preempted in phase {a['phase']} at step {a['step']}, resumed"
        for a in state["attempts"]
        if a["outcome"] == "preempted"
    ]
    if not state.get("suite_items_checked"):
        notes.append("no evaluation suite files found: the training data was not checked for contamination")
    return {
        "kind": "training",
        "schema_version": SCHEMA_VERSION,
        "run_id": state["run_id"],
        "started_at": state["attempts"][0]["started_at"],
        "finished_at": state["attempts"][-1]["finished_at"],
        "source": "measured",
        "provenance": collect(root=run.config.root),
        "notes": notes,
        "status": "completed",
        "recipe": {"path": str(recipe.path), "sha256": recipe.sha256, "text": recipe.path.read_text(encoding="utf-8")},
        "model": {"name": recipe.model, "base": run.base_location, "base_hash": content_hash(run.base_path)},
        "method": recipe.method,
        "hyperparameters": {
            "rank": recipe.rank,
            "alpha": recipe.alpha,
            "dropout": recipe.dropout,
            "target_modules": list(recipe.target_modules),
            "batch_size": batch,
            "grad_accum": accum,
            "effective_batch": batch * accum,
            "epochs": recipe.epochs,
            "learning_rate": recipe.learning_rate,
            "lr_scheduler": recipe.lr_scheduler,
            "warmup_ratio": recipe.warmup_ratio,
            "weight_decay": recipe.weight_decay,
            "max_length": recipe.max_length,
            "seed": recipe.seed,
            "bf16": "bfloat16" in str(run.dtype),
            "gradient_checkpointing": recipe.gradient_checkpointing,
        },
        "data": {
            "files": {str(p): file_sha256(p) for ph in recipe.phases for p in ph.data},
            "validation": {
                "files": {str(p): file_sha256(p) for p in recipe.validation},
                "examples": len(run.validation),
                "sha256": examples_sha256(run.validation),
            },
            "contamination": {
                "suites": [str(p) for p in _suite_paths(recipe, run.config) if Path(p).is_file()],
                "items_checked": state.get("suite_items_checked", 0),
            },
        },
        "phases": phases,
        "totals": {
            "wall_s": wall,
            "steps": sum(p["steps"] for p in phases),
            "examples": sum(p["examples"] for p in phases),
            "tokens": tokens,
            "tokens_per_s": tokens / wall if wall > 0 else None,
            "peak_memory_bytes": max(p["peak_memory_bytes"] for p in phases),
        },
        "validation_loss": phases[-1]["validation_loss"],
        "hardware": hardware,
        # One price unit per GPU process (a node may hold more GPUs than the run uses); the CPU is one unit.
        "cost": training_cost(wall, key, run.config.prices, hardware["world_size"] if run.device == "cuda" else 1),
        "output": {
            "name": recipe.output,
            "dir": str(run.output_dir),
            "adapter": str(adapter_dir),
            "adapter_hash": content_hash(adapter_dir),
            "merged": str(merged_dir) if merged_dir else None,
            "registry": None,
        },
        "attempts": state["attempts"],
        "oom_events": state["oom_events"],
    }


# --- state, manifests, progress ---------------------------------------------------------------------------


def _begin_attempt(run: _Run) -> None:
    data = run.state.data
    data["run_id"] = data.get("run_id") or new_run_id()
    data["status"] = "running"
    data["attempts"].append(
        {
            "started_at": run.started_at,
            "finished_at": run.started_at,
            "wall_s": 0.0,
            "outcome": "crashed",
            "phase": None,
            "step": None,
        }
    )
    _save_state(run)


def _save_state(run: _Run) -> None:
    if run.is_main:
        run.state.save()


def _write_manifest(path: Path, examples: list[Example]) -> None:
    """Write the phase's examples in training order: what was trained on, readable without the code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": e.id, "domain": e.domain, "difficulty": e.difficulty, "where": e.where}) for e in examples
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _memory_measure(peak: PeakMemory) -> str:
    """Return how a phase's peak was measured: CUDA's max allocated, Linux's exact peak RSS, or sampled RSS."""
    if peak.kind == "cuda":
        return "cuda_max_allocated"
    return "rss_peak" if peak.exact else "rss_sampled"


class _PhaseProgress(TrainerCallback):
    """A progress bar per phase, named after it, with the latest step loss beside it."""

    def __init__(self, phase: Phase):
        self.phase, self.bar = phase, None

    def on_train_begin(self, args, state, control, **kwargs):
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                dynamic_ncols=True,
                desc=f"phase {self.phase.name} ({self.phase.kind})",
                unit="step",
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.n = state.global_step
            self.bar.refresh()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
