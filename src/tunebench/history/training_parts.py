"""The training record's typed parts: recipe, model, hyperparameters, data, phases with their MFU, totals, hardware.

Each is a `Part` (history.record_parts): its schema's keys as fields, ABSENT where the object lacks one, unknown
keys in `extra`, and a read-only Mapping of its JSON. `SCHEMA` points at its schema in
training_record.schema.json; tests/test_training_parts.py checks each against it field by field.
training/record.py builds the record's parts with these constructors, and `TrainingRecordData` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from tunebench.history.record_parts import ABSENT, Part

__all__ = [
    "RecipeSource",
    "TrainedModel",
    "Throughput",
    "Hyperparameters",
    "ValidationData",
    "Contamination",
    "TrainingData",
    "Peak",
    "Efficiency",
    "Phase",
    "Totals",
    "Hardware",
    "Cost",
    "Tracking",
    "Difficulty",
    "Output",
    "Attempt",
    "OomEvent",
    "TRAINING_PARTS",
]


@dataclass(frozen=True, kw_only=True)
class RecipeSource(Part):
    """The recipe as trained: its file, hash, text, the `--set` overrides and the table they made."""

    SCHEMA: ClassVar[str] = "/properties/recipe"

    path: str
    sha256: str
    text: str
    overrides: list[str] = ABSENT
    effective: dict[str, Any] = ABSENT


@dataclass(frozen=True, kw_only=True)
class TrainedModel(Part):
    """The base the adapter was trained on: its registry name, location and content hash."""

    SCHEMA: ClassVar[str] = "/properties/model"

    name: str
    base: str
    base_hash: str | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Throughput(Part):
    """How the steps ran (tunebench.training.throughput): attention kernel, padding-free, Liger, trl's fused head."""

    SCHEMA: ClassVar[str] = "/$defs/throughput"

    attn_implementation: str
    padding_free: bool
    liger_kernel: bool
    fused_lm_head: bool


@dataclass(frozen=True, kw_only=True)
class Hyperparameters(Part):
    """The adapter and optimizer settings in force (batch and accumulation after any OOM halving)."""

    SCHEMA: ClassVar[str] = "/properties/hyperparameters"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"throughput": ("one", Throughput)}

    rank: int
    alpha: int
    dropout: float
    target_modules: list[str]
    batch_size: int
    grad_accum: int
    effective_batch: int
    epochs: int
    learning_rate: float
    lr_scheduler: str
    max_length: int
    seed: int
    warmup_ratio: float = ABSENT
    weight_decay: float = ABSENT
    bf16: bool = ABSENT
    gradient_checkpointing: bool = ABSENT
    throughput: Throughput | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class ValidationData(Part):
    """The validation examples: their files' hashes, count and the hash of the examples themselves."""

    SCHEMA: ClassVar[str] = "/properties/data/properties/validation"

    files: dict[str, str]
    examples: int
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Contamination(Part):
    """The training data checked against the evaluation suites (tunebench.training.contamination)."""

    SCHEMA: ClassVar[str] = "/properties/data/properties/contamination"

    suites: list[str]
    items_checked: int
    status: str = ABSENT
    allowed: bool = ABSENT
    checked: list[dict[str, Any]] = ABSENT
    overlapping_examples: int = ABSENT
    overlaps: list[dict[str, Any]] = ABSENT


@dataclass(frozen=True, kw_only=True)
class TrainingData(Part):
    """The training and validation files, their hashes and example counts, and the contamination check."""

    SCHEMA: ClassVar[str] = "/properties/data"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        "validation": ("one", ValidationData),
        "contamination": ("one", Contamination),
    }

    files: dict[str, str]
    validation: ValidationData
    contamination: Contamination
    file_examples: dict[str, int] = ABSENT


@dataclass(frozen=True, kw_only=True)
class Peak(Part):
    """A device's peak FLOP/s and memory bandwidth, from tunebench.efficiency's GPU table or measured here."""

    SCHEMA: ClassVar[str] = "/$defs/peak"

    device: str
    flops: float
    bandwidth_bytes_s: float
    source: str


@dataclass(frozen=True, kw_only=True)
class Efficiency(Part):
    """A phase's MFU: model FLOPs per token times tokens/s over the devices' peak."""

    SCHEMA: ClassVar[str] = "/$defs/efficiency"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"peak": ("one", Peak)}

    mfu: float | None
    flops_per_token: float
    seq_len: float
    devices: int
    peak: Peak


@dataclass(frozen=True, kw_only=True)
class Phase(Part):
    """One finished phase: what it trained on, every step's loss, tokens, time, memory, validation loss, MFU."""

    SCHEMA: ClassVar[str] = "/$defs/phase"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"efficiency": ("one", Efficiency)}

    name: str
    kind: str
    status: str
    examples: int
    difficulty_counts: dict[str, int]
    examples_sha256: str
    epochs: int
    steps: int
    final_loss: float | None
    mean_loss: float | None
    losses: list[float | None]
    tokens: int
    wall_s: float
    tokens_per_s: float | None
    peak_memory_bytes: int
    memory_measure: str
    validation_loss: float | None
    batch_size: int
    grad_accum: int
    domain_counts: dict[str, int] = ABSENT
    mix: dict[str, float] = ABSENT
    data_files: dict[str, str] = ABSENT
    processed_tokens: int = ABSENT
    loss_tokens: int = ABSENT
    resumed_from_step: int | None = ABSENT
    adapter: str = ABSENT
    efficiency: Efficiency | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Totals(Part):
    """The run's sums: wall time over every attempt, steps, examples, tokens, tokens/s, the highest peak memory."""

    SCHEMA: ClassVar[str] = "/properties/totals"

    wall_s: float
    steps: int
    examples: int
    tokens: int
    tokens_per_s: float | None
    peak_memory_bytes: int


@dataclass(frozen=True, kw_only=True)
class Hardware(Part):
    """What the run trained on: the device, its GPUs, the CPU and memory, the process count and the machine."""

    SCHEMA: ClassVar[str] = "/properties/hardware"

    device: str
    gpu_name: str | None
    gpu_count: int
    world_size: int
    gpu_memory_bytes: int | None = ABSENT
    cpu: str | None = ABSENT
    cpu_count: int | None = ABSENT
    memory_bytes: int | None = ABSENT
    vm: str | None = ABSENT
    vm_source: str = ABSENT  # TUNEBENCH_VM, gce or hostname (older records lack it)


@dataclass(frozen=True, kw_only=True)
class Cost(Part):
    """Wall hours times the hourly price of the hardware (tunebench.training.cost)."""

    SCHEMA: ClassVar[str] = "/properties/cost"

    hardware: str
    usd_per_hour: float | None
    wall_hours: float
    usd: float | None
    units: int = ABSENT
    price_from: str = ABSENT


@dataclass(frozen=True, kw_only=True)
class Tracking(Part):
    """Where transformers' trackers wrote the run (tunebench.training.tracking)."""

    SCHEMA: ClassVar[str] = "/properties/tracking"

    report_to: list[str]
    run_name: str
    tensorboard_dir: str = ABSENT
    mlflow_uri: str = ABSENT
    mlflow_experiment: str = ABSENT
    mlflow_run_id: str | None = ABSENT
    wandb_dir: str = ABSENT


@dataclass(frozen=True, kw_only=True)
class Difficulty(Part):
    """One thing the run hit (an OOM retry, a preemption, a refused preflight, contamination), in words."""

    SCHEMA: ClassVar[str] = "/properties/difficulties/items"

    kind: str
    detail: str
    phase: str | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Output(Part):
    """What the run produced: the registered name, the adapter (and merged copy) and the registry entry."""

    SCHEMA: ClassVar[str] = "/properties/output"

    name: str
    dir: str
    adapter: str
    merged: str | None
    registry: str | None
    adapter_hash: str | None = ABSENT
    adapter_bytes: int = ABSENT
    archived_previous: str | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Attempt(Part):
    """One process's attempt at the run: when, how long, and how it ended (completed, preempted, crashed)."""

    SCHEMA: ClassVar[str] = "/properties/attempts/items"

    started_at: str
    finished_at: str
    wall_s: float
    outcome: str
    phase: str | None = ABSENT
    step: int | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class OomEvent(Part):
    """An out-of-memory retry: the phase restarted with half the batch and twice the accumulation."""

    SCHEMA: ClassVar[str] = "/properties/oom_events/items"

    phase: str
    batch_size_before: int
    grad_accum_before: int
    batch_size_after: int
    grad_accum_after: int
    at: str = ABSENT
    step: int | None = ABSENT
    lost_s: float = ABSENT
    message: str = ABSENT


# The record's parts by key, as (how, class): what TrainingRecordData.NESTED types.
TRAINING_PARTS: dict[str, tuple[str, type[Part]]] = {
    "recipe": ("one", RecipeSource),
    "model": ("one", TrainedModel),
    "hyperparameters": ("one", Hyperparameters),
    "data": ("one", TrainingData),
    "phases": ("list", Phase),
    "totals": ("one", Totals),
    "hardware": ("one", Hardware),
    "cost": ("one", Cost),
    "tracking": ("one", Tracking),
    "difficulties": ("list", Difficulty),
    "output": ("one", Output),
    "attempts": ("list", Attempt),
    "oom_events": ("list", OomEvent),
}
