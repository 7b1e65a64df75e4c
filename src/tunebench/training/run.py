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
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tunebench import compat
from tunebench.config import Config, load_config
from tunebench.data import Example
from tunebench.errors import DataError, RecipeError
from tunebench.history.records import new_run_id, utc_now
from tunebench.memory import PeakMemory
from tunebench.registry import ModelEntry, Registry, check_model_reference
from tunebench.training import resilience, tracking
from tunebench.training.contamination import write_summary
from tunebench.training.context import TrainingRun
from tunebench.training.curriculum import sample_phase
from tunebench.training.prepare import (
    DEFAULT_SUITES,
    apply_rerun,
    load_and_check_data,
    open_state,
    output_dir_for,
    preflight_or_refuse,
    suite_paths,
)
from tunebench.training.recipe import Phase, Recipe, load_recipe
from tunebench.training.record import TrainingRecord, build_record, phase_figures, write_record
from tunebench.training.throughput import resolve as resolve_throughput
from tunebench.training.trainer import attach_adapter, load_base_model, phase_trainer

__all__ = ["train", "output_dir_for", "DEFAULT_SUITES"]


def train(
    recipe: Recipe | str | Path,
    *,
    config: Config | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    free_disk_bytes: int | None = None,
    overrides: Sequence[str] = (),
    new_version: bool = False,
    overwrite: bool = False,
    allow_contamination: bool = False,
) -> TrainingRecord:
    """Run `recipe` (a Recipe or a TOML path) and return its TrainingRecord, also written to the history.

    `callbacks` are extra `transformers.TrainerCallback`s given to every phase's trainer;
    `free_disk_bytes` replaces the measured free disk in the preflight (to test the refusal);
    `overrides` are `key=value` settings over a recipe path (`--set`); `new_version` trains `NAME-v2`, ... when
    NAME is taken, `overwrite` archives the old output and registry entry first; `allow_contamination` trains
    on examples that overlap the evaluation suites (recorded, and every evaluation of the model is marked).
    Raises `TrainingPreempted` after a SIGTERM (a checkpoint is saved; call again with `resume=True`).
    """
    started_at, clock = utc_now(), time.perf_counter()
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe, overrides)
    config = config or load_config()
    check_model_reference(recipe.model, Registry(config), f"{recipe.path}: key model")  # before any work
    _check_history(config)
    recipe, archived = apply_rerun(recipe, config, resume, new_version, overwrite)
    output_dir = output_dir_for(recipe, config)
    state = open_state(recipe, config, output_dir, resume)
    if archived:
        state.data["archived_previous"] = str(archived)
    pool, validation, state.data["file_examples"], state.data["contamination"] = load_and_check_data(
        recipe, config, allow_contamination
    )
    state.data["suite_items_checked"] = state.data["contamination"]["items_checked"]
    preflight_or_refuse(recipe, config, output_dir, state, free_disk_bytes)
    plans = {phase.name: sample_phase(pool[phase.name], phase, recipe.seed) for phase in recipe.phases}

    with (
        resilience.PreemptionLatch() as latch,
        _cpu_threads(recipe),
        _gc_frozen(),
        resilience.failure_recorded(state),  # never leave the state "running" once this process stops trying
        compat.library_renames_quiet(),  # peft's and trl's own calls of transformers' renamed names
    ):
        run = TrainingRun(recipe, config, output_dir, state, plans, validation, latch, callbacks, started_at, clock)
        _begin_attempt(run)
        _load_base_model(run)
        start_adapter: Path | None = None
        with tracking.session(run):
            for phase in recipe.phases:
                if not state.phase_done(phase.name):
                    _train_phase(run, phase, start_adapter)
                start_adapter = run.phase_dir(phase) / "adapter"
        adapter_dir = _publish_adapter(run, run.phase_dir(recipe.phases[-1]) / "adapter")
        merged_dir = _merge(run, adapter_dir) if recipe.merge and not recipe.quantized else None
    return _finish(run, adapter_dir, merged_dir)


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
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
def _cpu_threads(recipe: Recipe) -> Iterator[None]:
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


# --- the model ------------------------------------------------------------------------------------------


def _load_base_model(run: TrainingRun) -> None:
    import torch
    from transformers import AutoTokenizer

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
    run.throughput = resolve_throughput(recipe, on_cuda=run.device == "cuda")
    run.tokenizer = AutoTokenizer.from_pretrained(run.base_path)
    _check_answers_fit(run)
    run.base = load_base_model(run.base_path, recipe, run.dtype, run.throughput.attn_implementation)


def _check_answers_fit(run: TrainingRun) -> None:
    """Refuse examples whose prompt alone fills max_length: TRL would drop them, silently breaking the mix."""
    limit, tokenizer = run.recipe.max_length, run.tokenizer
    assert tokenizer is not None  # loaded just before
    too_long = []
    for example in [e for plan in run.plans.values() for e in plan] + run.validation:
        if example.messages is not None:
            prompt = tokenizer.apply_chat_template(
                list(example.messages[:-1]), add_generation_prompt=True, tokenize=True, return_dict=True
            )["input_ids"]
        else:
            prompt = tokenizer(example.prompt)["input_ids"]
        if len(prompt) >= limit:
            too_long.append(f"{example.id} ({example.where}: {len(prompt)} prompt tokens)")
    if too_long:
        shown = sorted(set(too_long))
        raise DataError(
            f"{run.recipe.path}: key max_length: {limit} leaves no answer tokens for "
            f"{len(shown)} example(s): {', '.join(shown[:10])}{' ...' if len(shown) > 10 else ''}; "
            "raise max_length or shorten those prompts"
        )


# --- one phase ------------------------------------------------------------------------------------------


def _train_phase(run: TrainingRun, phase: Phase, start_adapter: Path | None) -> None:
    """Train one phase to completion, restarting it with half the batch after an OOM; record its figures."""
    import torch

    if run.latch.requested:
        _stop_preempted(run, phase, step=None)
    examples = run.plans[phase.name]
    checkpoints = run.phase_dir(phase) / "checkpoints"
    if run.is_main:
        _write_manifest(run.phase_dir(phase) / "examples.jsonl", examples)
    figures = run.state.phase(phase.name)
    adapter_dir = run.phase_dir(phase) / "adapter"
    while True:
        batch, accum = run.batch_layout()
        model = attach_adapter(run, start_adapter)
        resume_from = resilience.last_complete_checkpoint(checkpoints)
        with tracking.phase_attempt(run, phase) as attempt:
            trainer = phase_trainer(run, phase, model, examples, batch, accum, checkpoints)
            if start_adapter is None and resume_from is None and "base_validation_loss" not in run.state.data:
                _record_base_validation_loss(run, trainer)
            started = time.perf_counter()
            try:
                with PeakMemory(run.device) as peak:
                    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
            except torch.OutOfMemoryError as error:
                attempt.status = "FAILED"
                step, lost = trainer.state.global_step, time.perf_counter() - started
                del trainer
                run.base = model.unload()
                _after_oom(run, phase, batch, accum, step, lost, error, checkpoints)
                continue
            elapsed = figures.get("elapsed_s", 0.0) + time.perf_counter() - started
            if trainer.state.global_step < trainer.state.max_steps:
                attempt.status = "KILLED"
                figures.update(status="preempted", elapsed_s=elapsed, step=trainer.state.global_step)
                _stop_preempted(run, phase, step=trainer.state.global_step)
            trainer.save_model(str(adapter_dir))  # the adapter is saved before anything merges it
            validation_loss = trainer.evaluate().get("eval_loss")  # into the phase's tracker run too
        break
    trainer.accelerator.wait_for_everyone()  # every rank's next phase loads this adapter
    figures.clear()
    figures.update(phase_figures(run, phase, trainer, peak, elapsed, validation_loss, resume_from))
    figures["adapter"] = str(adapter_dir)
    run.save_state()
    del trainer
    run.base = model.unload()
    gc.collect()


def _record_base_validation_loss(run: TrainingRun, trainer: Any) -> None:
    """One pass over the validation set before the first step: the base's loss, for "did it fall?".

    The first phase's fresh adapter leaves the base's outputs unchanged (LoRA's B is zero, DoRA's magnitude is the
    weight's norm, no dropout in evaluation), so this is the base model's loss, computed by the same trainer,
    collator and answer-only labels as every phase's validation loss.
    """
    loss = trainer.evaluate().get("eval_loss")
    run.state.data["base_validation_loss"] = loss if loss is not None and math.isfinite(loss) else None
    run.save_state()


def _after_oom(
    run: TrainingRun,
    phase: Phase,
    batch: int,
    accum: int,
    step: int,
    lost_s: float,
    error: BaseException,
    checkpoints: Path,
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
    run.save_state()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _stop_preempted(run: TrainingRun, phase: Phase, step: int | None) -> None:
    attempt = run.state.data["attempts"][-1]
    attempt.update(
        finished_at=utc_now(), wall_s=time.perf_counter() - run.clock, outcome="preempted", phase=phase.name, step=step
    )
    run.state.data["status"] = "preempted"
    run.save_state()
    where = f"at step {step}" if step is not None else "before it started"
    raise resilience.TrainingPreempted(
        f"preempted (SIGTERM) in phase {phase.name} {where}; the last complete checkpoint is kept in "
        f"{run.phase_dir(phase) / 'checkpoints'}. Continue with: tunebench train {run.recipe.path} --resume"
    )


# --- after the phases -----------------------------------------------------------------------------------


def _publish_adapter(run: TrainingRun, last_phase_adapter: Path) -> Path:
    """Copy the last phase's adapter (and the tokenizer) to `<output dir>/adapter`: the registered model."""
    target = run.output_dir / "adapter"
    if run.is_main:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(last_phase_adapter, target)
        assert run.tokenizer is not None  # loaded with the base
        run.tokenizer.save_pretrained(str(target))
        write_summary(target, run.state.data["run_id"], run.state.data["contamination"])
    return target


def _merge(run: TrainingRun, adapter_dir: Path) -> Path:
    """Save a merged copy next to the adapter (the adapter itself is already on disk)."""
    from peft import PeftModel

    target = run.output_dir / "merged"
    if run.is_main:
        merged = PeftModel.from_pretrained(run.base, str(adapter_dir)).merge_and_unload()
        merged.save_pretrained(str(target))
        assert run.tokenizer is not None  # loaded with the base
        run.tokenizer.save_pretrained(str(target))
    return target


def _finish(run: TrainingRun, adapter_dir: Path, merged_dir: Path | None) -> TrainingRecord:
    attempt = run.state.data["attempts"][-1]
    attempt.update(
        finished_at=utc_now(), wall_s=time.perf_counter() - run.clock, outcome="completed", phase=None, step=None
    )
    record = build_record(run, adapter_dir, merged_dir, suite_paths(run.recipe, run.config))
    location = None
    if run.is_main:
        registry = Registry(run.config)
        entry = ModelEntry(
            name=run.recipe.output,
            base=run.base_location,
            adapter=str(adapter_dir),
            status="experimental",
            notes=f"trained by tunebench from {run.recipe.path.name} (run {record['run_id']})",
        )
        record["output"]["registry"] = str(registry.entry_path(entry))
        # The record first: a record the history refuses leaves no registered model that no record explains.
        location = write_record(record, run.config)
        registry.add(entry)
        run.state.data["status"] = "completed"
        run.state.data["record"] = location
        run.save_state()
    return TrainingRecord(record, location)


def _check_history(config: Config) -> None:
    """Refuse a history that cannot hold the record (a file, an unknown scheme, gs:// without tunebench[gcs])
    before any work: `train --history FILE` trained every phase and only then was refused."""
    from tunebench.history.store import open_store

    open_store(config.history_uri)  # opens lazily: no folder is created, no bucket is contacted


# --- state, manifests, progress ---------------------------------------------------------------------------


def _begin_attempt(run: TrainingRun) -> None:
    data = run.state.data
    data["run_id"] = data.get("run_id") or new_run_id()
    data["status"] = "running"
    data["process"] = resilience.this_process()
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
    run.save_state()


def _write_manifest(path: Path, examples: list[Example]) -> None:
    """Write the phase's examples in training order: what was trained on, readable without the code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": e.id, "domain": e.domain, "difficulty": e.difficulty, "where": e.where}) for e in examples
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
