"""The TrainingRecord: one JSON record per finished training run, validated and written to the history."""

from __future__ import annotations

import functools
import math
import os
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.config import Config
from tunebench.data import Example, examples_sha256
from tunebench.history.training_parts import (
    Attempt,
    Contamination,
    Cost,
    Difficulty,
    Efficiency,
    Hyperparameters,
    OomEvent,
    Output,
    Peak,
    RecipeSource,
    Totals,
    Tracking,
    TrainedModel,
    TrainingData,
    ValidationData,
)
from tunebench.history.training_parts import Phase as PhasePart
from tunebench.history.training_parts import Throughput as ThroughputPart
from tunebench.history.typed import Provenance, TrainingRecordData
from tunebench.memory import PeakMemory, memory_measure_of
from tunebench.storage.checksums import file_sha256
from tunebench.training import tracking
from tunebench.training.context import TrainingRun
from tunebench.training.cost import hardware_key, training_cost
from tunebench.training.hardware import describe_hardware, vm_name
from tunebench.training.recipe import Phase
from tunebench.training.throughput import padded_tokens

__all__ = [
    "TrainingRecord",
    "describe_hardware",
    "write_record",
    "build_record",
    "phase_figures",
    "difficulties",
    "folder_bytes",
    "vm_name",  # training.hardware's, for the callers of this module
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 2  # 2 closes every part of the record; version 1 records are read open (history.records)


@dataclass(frozen=True)
class TrainingRecord:
    """A finished run's record (`data`, valid against training_record.schema.json) and where it was written."""

    data: dict[str, Any]
    location: str | None = None

    @functools.cached_property
    def typed(self) -> TrainingRecordData:
        """The record read once through its typed parts (history.training_parts)."""
        return TrainingRecordData.from_dict(self.data)

    @property
    def run_id(self) -> str:
        return self.typed.run_id

    @property
    def model_name(self) -> str:
        return self.typed.output.name

    @property
    def phases(self) -> list[PhasePart]:
        return self.typed.phases

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def write_record(record: dict[str, Any], config: Config) -> str:
    """Validate `record` against its schema, write it to the config's history store, return where it went."""
    from tunebench.history.store import open_store

    return open_store(config.history_uri).write(record)


def phase_figures(
    run: TrainingRun,
    phase: Phase,
    trainer: Any,
    peak: PeakMemory,
    elapsed: float,
    validation_loss: float | None,
    resumed_from: Path | None,
) -> dict[str, Any]:
    """Return one finished phase's figures (kept in the run state, then the record's `phases`)."""
    examples = run.plans[phase.name]
    batch, accum = run.batch_layout()
    # A NaN or infinite loss is kept as null: JSON has no NaN, and a diverged step must still be visible.
    losses = [_finite(h["loss"]) for h in trainer.state.log_history if "loss" in h and "step" in h]
    epochs = phase.epochs or run.recipe.epochs
    lengths = [min(len(ids), run.recipe.max_length) for ids in trainer.train_dataset["input_ids"]]
    tokens = sum(lengths) * epochs
    padding_free = run.throughput is not None and run.throughput.padding_free
    processed = tokens if padding_free else padded_tokens(lengths, batch) * epochs
    finite = [x for x in losses if x is not None]
    tokens_per_s = tokens / elapsed if elapsed > 0 else None
    efficiency = phase_efficiency(run, lengths, tokens_per_s)
    return PhasePart(
        name=phase.name,
        kind=phase.kind,
        status="done",
        examples=len(examples),
        difficulty_counts=_counts(examples, "difficulty"),
        domain_counts=_counts(examples, "domain"),
        mix=phase.mix,
        data_files={str(p): _file_sha256(p) for p in phase.data},
        examples_sha256=examples_sha256(examples),
        epochs=epochs,
        steps=trainer.state.global_step,
        final_loss=losses[-1] if losses else None,
        mean_loss=statistics.fmean(finite) if finite else None,
        losses=losses,
        tokens=tokens,
        processed_tokens=processed,
        loss_tokens=_loss_tokens(trainer.train_dataset, run.recipe.max_length) * epochs,
        wall_s=elapsed,
        tokens_per_s=tokens_per_s,
        peak_memory_bytes=int(peak.peak_bytes),
        memory_measure=memory_measure_of(peak),
        validation_loss=_finite(validation_loss),
        batch_size=batch,
        grad_accum=accum,
        resumed_from_step=int(resumed_from.name.split("-")[1]) if resumed_from else None,
        efficiency=efficiency,
    ).to_dict()


def phase_efficiency(run: TrainingRun, lengths: list[int], tokens_per_s: float | None) -> Efficiency | None:
    """Return the phase's MFU, the model FLOPs per token it counts and the device peak it divides by."""
    from tunebench.efficiency import device_peak, mfu, train_flops_per_token
    from tunebench.errors import TunebenchError
    from tunebench.memory.estimate import ModelShape

    if run.base is None or not lengths:
        return None
    try:
        shape = ModelShape.from_config(run.base.config)
    except TunebenchError:  # not a decoder config: no FLOPs to count
        return None
    seq_len = statistics.fmean(lengths)
    gpu = describe_hardware(run.device).gpu_name
    peak = device_peak(run.device, gpu)
    devices = int(os.environ.get("WORLD_SIZE", "1")) if run.device == "cuda" else 1
    return Efficiency(
        mfu=mfu(shape, seq_len, tokens_per_s, peak, devices) if tokens_per_s else None,
        flops_per_token=train_flops_per_token(shape, seq_len),
        seq_len=seq_len,
        devices=devices,
        peak=Peak.from_dict(peak.as_dict()),
    )


def build_record(run: TrainingRun, adapter_dir: Path, merged_dir: Path | None, suites: list[Path]) -> dict[str, Any]:
    """Return the TrainingRecord's data for a completed run (`suites`: the files the data was checked against).

    Built once, through the typed record and its parts (history.typed.TrainingRecordData, history.training_parts).
    """
    from tunebench.provenance import collect

    recipe, state = run.recipe, run.state.data
    phases = [PhasePart.from_dict(state["phases"][p.name]) for p in recipe.phases]
    wall = sum(a["wall_s"] for a in state["attempts"])
    tokens = sum(p.tokens for p in phases)
    hardware = describe_hardware(run.device)
    key = hardware_key(hardware.to_dict(), run.config.prices, recipe.price or recipe.hardware)
    units = hardware.world_size if run.device == "cuda" else 1  # one price unit per GPU process; the CPU is one
    tracked = tracking.describe(run)
    return TrainingRecordData(
        kind="training",
        schema_version=SCHEMA_VERSION,
        run_id=state["run_id"],
        started_at=state["attempts"][0]["started_at"],
        finished_at=state["attempts"][-1]["finished_at"],
        source="measured",
        provenance=Provenance.from_dict(collect(root=run.config.root)),
        notes=_notes(state)
        + (
            ["merge = true skipped: a 4-bit (q-method) base is not merged; the adapter is the model"]
            if recipe.merge and recipe.quantized
            else []
        ),
        status="completed",
        recipe=RecipeSource(
            path=str(recipe.path),
            sha256=recipe.sha256,
            text=recipe.path.read_text(encoding="utf-8"),
            overrides=list(recipe.overrides),
            effective=_jsonable(recipe.effective),  # the file's table after the --set overrides
        ),
        model=TrainedModel(name=recipe.model, base=run.base_location, base_hash=_content_hash(Path(run.base_path))),
        method=recipe.method,
        hyperparameters=_hyperparameters(run),
        data=_data(run, state, suites),
        phases=phases,
        totals=Totals(
            wall_s=wall,
            steps=sum(p.steps for p in phases),
            examples=sum(p.examples for p in phases),
            tokens=tokens,
            tokens_per_s=tokens / wall if wall > 0 else None,
            peak_memory_bytes=max(p.peak_memory_bytes for p in phases),
        ),
        validation_loss=phases[-1].validation_loss,
        # Before phase A: one pass of the untrained base over the same validation set (None: not measured).
        base_validation_loss=state.get("base_validation_loss"),
        hardware=hardware,
        cost=Cost.from_dict(
            {
                **training_cost(wall, key, run.config.prices, units),
                "price_from": "recipe" if (recipe.price or recipe.hardware) else "detected",
            }
        ),
        output=Output(
            name=recipe.output,
            dir=str(run.output_dir),
            adapter=str(adapter_dir),
            adapter_hash=_content_hash(adapter_dir),
            adapter_bytes=folder_bytes(adapter_dir),
            # Only a folder that was written: a q-method's merge is skipped (no merging into a 4-bit base).
            merged=str(merged_dir) if merged_dir and merged_dir.is_dir() else None,
            registry=None,
            archived_previous=state.get("archived_previous"),
        ),
        tracking=Tracking.from_dict(tracked) if tracked else None,
        difficulties=[Difficulty.from_dict(d) for d in difficulties(state)],
        attempts=[Attempt.from_dict(a) for a in state["attempts"]],
        oom_events=[OomEvent.from_dict(e) for e in state["oom_events"]],
    ).to_dict()


def _hyperparameters(run: TrainingRun) -> Hyperparameters:
    recipe = run.recipe
    batch, accum = run.batch_layout()
    return Hyperparameters(
        rank=recipe.rank,
        alpha=recipe.alpha,
        dropout=recipe.dropout,
        target_modules=list(recipe.target_modules),
        batch_size=batch,
        grad_accum=accum,
        effective_batch=batch * accum,
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        lr_scheduler=recipe.lr_scheduler,
        warmup_ratio=recipe.warmup_ratio,
        weight_decay=recipe.weight_decay,
        max_length=recipe.max_length,
        seed=recipe.seed,
        bf16="bfloat16" in str(run.dtype),
        gradient_checkpointing=recipe.gradient_checkpointing,
        throughput=ThroughputPart.from_dict(run.throughput.as_dict()) if run.throughput else None,
    )


def _data(run: TrainingRun, state: dict[str, Any], suites: list[Path]) -> TrainingData:
    recipe = run.recipe
    contamination = state.get("contamination") or {
        "suites": [str(p) for p in suites if Path(p).is_file()],
        "items_checked": 0,
    }
    return TrainingData(
        files={str(p): _file_sha256(p) for ph in recipe.phases for p in ph.data},
        validation=ValidationData(
            files={str(p): _file_sha256(p) for p in recipe.validation},
            examples=len(run.validation),
            sha256=examples_sha256(run.validation),
        ),
        # Examples per file, beside `files`' hashes: the log's Training Data table lists both.
        file_examples=state.get("file_examples", {}),
        contamination=Contamination.from_dict(contamination),
    )


def _content_hash(path: Path) -> str | None:
    from tunebench.loading import content_hash

    return content_hash(path)


def difficulties(state: dict[str, Any]) -> list[dict[str, Any]]:
    """What the run hit, one entry each: OOM retries, preemptions, refused preflight checks,
    overlapping or unchecked training data. The log renders them under "Difficulties Encountered"."""
    found = [
        {
            "kind": "oom",
            "phase": e["phase"],
            "detail": f"out of memory in phase {e['phase']} at step {e['step']}: batch {e['batch_size_before']} x "
            f"{e['grad_accum_before']} -> {e['batch_size_after']} x {e['grad_accum_after']}, phase restarted",
        }
        for e in state["oom_events"]
    ]
    found += [
        {
            "kind": "preemption",
            "phase": a["phase"],
            "detail": f"preempted (SIGTERM) in phase {a['phase']} at step {a['step']}, resumed",
        }
        for a in state["attempts"]
        if a["outcome"] == "preempted"
    ]
    found += [
        {"kind": "preflight_refused", "phase": None, "detail": f"preflight refused the run ({r['at']}): {check}"}
        for r in state.get("preflight_refusals", [])
        for check in r["checks"]
    ]
    contamination = state.get("contamination") or {}
    if contamination.get("status") == "overlapping":
        found.append(
            {
                "kind": "contamination",
                "phase": None,
                "detail": f"{contamination['overlapping_examples']} training example(s) overlap the evaluation "
                "suites; trained on them on purpose (--allow-contamination)",
            }
        )
    return found


def _notes(state: dict[str, Any]) -> list[str]:
    """The run's difficulties in words: OOM retries, preemptions, overlapping or unchecked training data."""
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
    notes += [d["detail"] for d in difficulties(state) if d["kind"] == "contamination"]
    if not state.get("suite_items_checked"):
        notes.append("no evaluation suite files found: the training data was not checked for contamination")
    return notes


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under `folder`: the adapter's measured size on disk."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _jsonable(value: Any) -> Any:
    """The recipe table as JSON: TOML dates and times become strings."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _loss_tokens(dataset: Any, max_length: int) -> int:
    """Tokens the loss is computed on (trl's dataset keeps labels or a completion mask: tunebench.compat reads both)."""
    from tunebench.compat import loss_tokens

    return loss_tokens(dataset, max_length)


def _counts(examples: list[Example], attribute: str) -> dict[str, int]:
    from tunebench.vocabulary import DIFFICULTIES

    counts = Counter(getattr(e, attribute) for e in examples)
    if attribute == "difficulty":
        return {d: counts.get(d, 0) for d in DIFFICULTIES}
    return dict(sorted(counts.items()))


def _file_sha256(path: Path) -> str:
    # Training records write a data file's digest as `sha256:<hex>`, as `examples_sha256` does.
    return "sha256:" + file_sha256(path)
