"""Typed records: a frozen dataclass per record kind and per nested part, their fields the JSON Schema's keys.

`from_dict` takes a record as stored (a plain JSON object, validated or not) and `to_dict` gives it back
equal: a key the schema leaves optional and the record lacks is `ABSENT` (not None, which some keys hold),
and keys the schema does not name (older or newer writers' extras) travel in `extra`. The eval record's parts
are typed too (`Part`, history.record_parts): its model (and training_data), suites, selection, items,
questions, probes, aggregates (proportions with their interval, percentiles), load figures, baseline and gate
verdict, so a reader writes `run.aggregates.accuracy.low`, `question.correct` or `given(probe.ttft_s)` (None
where the record lacks the key); the model's engine is `EvalRecordData.engine` (tunebench.engines.base.EngineInfo).
A part is also a read-only Mapping of the JSON object it came from: what reads every record of a large history
reads the stored summaries by key (the index, history.reference's run references, the gate's first pass over
baseline candidates), since typing 10,000 summaries costs a second. tests/test_typed_records.py checks each
dataclass's fields against its schema's properties and required keys, nested levels included. The training
record's parts are typed in history.training_parts (tests/test_training_parts.py), the `lm_eval` section (its
tasks and documents) in history.lm_eval_parts. Every record's `provenance` is a `Provenance` (open in
common.schema.json: other keys in `extra`) and its `hardware` a `MachineInfo`, whose fields are the keys
tunebench.provenance.hardware() writes (the schema names none); `run.machine` is that machine, empty where the
record has none. What is not typed yet: probe evidence, grader calibration, `model.decode_floor`, `resources`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

from tunebench.errors import RecordError
from tunebench.history import record_parts
from tunebench.history.lm_eval_parts import LmEvalDocument, LmEvalSection, LmEvalTask
from tunebench.history.record_parts import *  # noqa: F403  (the parts, re-exported for readers of records)
from tunebench.history.record_parts import (
    ABSENT,
    Aggregates,
    Baseline,
    GateResult,
    Items,
    JsonObject,
    LoadFigures,
    ModelInfo,
    Part,
    Probe,
    Question,
    Selection,
    Suite,
    given,
)
from tunebench.history.training_parts import (
    TRAINING_PARTS,
    Attempt,
    Cost,
    Difficulty,
    Hardware,
    Hyperparameters,
    OomEvent,
    Output,
    RecipeSource,
    Totals,
    Tracking,
    TrainedModel,
    TrainingData,
)
from tunebench.history.training_parts import Phase as TrainingPhase

if TYPE_CHECKING:
    from tunebench.engines.base import EngineInfo

__all__ = [
    "SCHEMA_VERSION",
    "MachineInfo",
    "Provenance",
    "Record",
    "EvalRecordData",
    "TrainingRecordData",
    "NoteRecordData",
    "ImportedRowData",
    "ImportedSessionData",
    "SealRecordData",
    "RECORD_TYPES",
    "from_dict",
]
__all__ += record_parts.__all__
__all__ += ["LmEvalTask", "LmEvalDocument", "LmEvalSection"]

# The schema version this module reads and the writers write (history/eval_record.py, training/record.py).
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class MachineInfo(Part):
    """`provenance.hardware`: the machine the run ran on, as tunebench.provenance.hardware() writes it.

    The schema leaves it an open object (`{"type": ["object", "null"]}`, no keys named): its fields are the
    writer's keys (the typed-records test checks them against it), a key another writer added is in `extra`.
    """

    SCHEMA: ClassVar[str] = "/$defs/provenance/properties/hardware"  # in common.schema.json

    platform: str = ABSENT
    machine: str = ABSENT
    python: str = ABSENT
    cpu_count: int | None = ABSENT
    memory_gb: float | None = ABSENT
    gpus: list[str] = ABSENT


@dataclass(frozen=True, kw_only=True)
class Provenance(Part):
    """Every record's `provenance` (common.schema.json's $defs/provenance, open: other keys are in `extra`):
    tunebench and package versions, git commit, the machine (`hardware`, None in imported records), command."""

    SCHEMA: ClassVar[str] = "/$defs/provenance"  # in common.schema.json
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"hardware": ("one", MachineInfo)}

    tunebench_version: str | None
    packages: dict[str, str | None]
    git_commit: str | None
    git_dirty: bool | None = ABSENT
    hardware: MachineInfo | None
    command: str | None


@dataclass(frozen=True, kw_only=True)
class Record(JsonObject):
    """The header every record has (common.schema.json's record_header), and the keys no schema names."""

    KIND: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"provenance": ("one", Provenance)}

    kind: str
    schema_version: int
    run_id: str
    started_at: str
    finished_at: str
    source: str
    provenance: Provenance
    notes: list[Any]
    checksum: str = ABSENT

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, partial: bool = False) -> Self:
        """Return the typed record of `data`; RecordError when it is another kind or lacks a required key.

        `partial`: `data` may lack required keys too (an index summary leaves out provenance and bulk lists);
        they are ABSENT.
        """
        if not isinstance(data, Mapping):
            raise RecordError(f"expected a record (a JSON object), found {type(data).__name__}")
        if cls.KIND and data.get("kind") != cls.KIND:
            raise RecordError(
                f"record {data.get('run_id', '?')}: expected kind {cls.KIND!r}, found {data.get('kind')!r}"
            )
        missing = [k for k in cls.required_names() if k not in data]
        if missing and not partial:
            raise RecordError(
                f"record {data.get('run_id', '?')} ({cls.KIND or data.get('kind')}): missing {', '.join(missing)}"
            )
        return cls(**cls._arguments(data))

    @property
    def machine(self) -> MachineInfo:
        """The machine the run ran on (`provenance.hardware`); empty (falsy) where the record names none: an
        imported record (hardware null), an index summary (no provenance)."""
        provenance = self.provenance
        return (given(provenance.hardware) if provenance else None) or MachineInfo()

    def get(self, name: str, default: Any = None) -> Any:
        """Return the key's value, or `default` where the record lacks it (as dict.get on the stored record)."""
        value = getattr(self, name, ABSENT) if name in self.names() else self.extra.get(name, ABSENT)
        return default if value is ABSENT else value


@dataclass(frozen=True, kw_only=True)
class EvalRecordData(Record):
    """An eval run (eval_record.schema.json)."""

    KIND: ClassVar[str] = "eval"
    SCHEMA_VERSION: ClassVar[int] = 3  # versions 1 and 2 read the same (some of their parts were open)
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        **Record.NESTED,
        "model": ("one", ModelInfo),
        "questions": ("list", Question),
        "probes": ("list", Probe),
        "aggregates": ("one", Aggregates),
        "gate": ("one", GateResult),
        "load": ("one", LoadFigures),
        "suites": ("list", Suite),
        "selection": ("one", Selection),
        "items": ("one", Items),
        "baseline": ("one", Baseline),
        "lm_eval": ("one", LmEvalSection),
    }

    status: str
    model: ModelInfo
    suites: list[Suite]
    questions: list[Question]
    probes: list[Probe]
    items: Items
    aggregates: Aggregates
    baseline: Baseline | None
    gate: GateResult | None
    workers: int = ABSENT
    selection: Selection = ABSENT
    resources: dict[str, Any] | None = ABSENT
    lm_eval: LmEvalSection = ABSENT  # lm-eval tasks run as items (tunebench.lmeval.record); absent: none ran
    load: LoadFigures = ABSENT  # the probes' load phase at --concurrency N > 1; absent at 1 and in older records

    @property
    def memory_measure(self) -> str | None:
        """How the run's peak memory was measured (older records' `memory_kind` mapped), or None."""
        from tunebench.memory.measure import memory_measure

        return memory_measure(self.resources or None)

    @property
    def engine(self) -> EngineInfo | None:
        """What ran the model (`model.engine`, typed as tunebench.engines.base.EngineInfo); None in older records."""
        from tunebench.engines.base import EngineInfo

        data = self.model.get("engine") if isinstance(self.model, Mapping) else None
        return EngineInfo.from_dict(data) if isinstance(data, Mapping) else None


@dataclass(frozen=True, kw_only=True)
class TrainingRecordData(Record):
    """A training run (training_record.schema.json); its parts typed (history.training_parts)."""

    KIND: ClassVar[str] = "training"
    SCHEMA_VERSION: ClassVar[int] = 2  # version 1 records read the same (their parts were open)
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {**Record.NESTED, **TRAINING_PARTS}

    status: str
    recipe: RecipeSource
    model: TrainedModel
    method: str
    hyperparameters: Hyperparameters
    data: TrainingData
    phases: list[TrainingPhase]
    totals: Totals
    validation_loss: float | None
    hardware: Hardware
    cost: Cost | None
    output: Output
    attempts: list[Attempt]
    oom_events: list[OomEvent]
    tracking: Tracking | None = ABSENT
    difficulties: list[Difficulty] = ABSENT
    base_validation_loss: float | None = ABSENT  # the base's loss before phase A (older records lack it)


@dataclass(frozen=True, kw_only=True)
class NoteRecordData(Record):
    """A note on a run (note_record.schema.json)."""

    KIND: ClassVar[str] = "note"

    target_run_id: str
    section: str
    text: str


@dataclass(frozen=True, kw_only=True)
class ImportedRowData(Record):
    """One row of a hand-written log's summary table (imported_row_record.schema.json)."""

    KIND: ClassVar[str] = "imported_row"

    table: str
    section: str
    columns: list[str]
    cells: list[Any]
    position: int
    label: str | None
    imported_from: dict[str, Any]
    subtitle: Any = ABSENT
    session: Any = ABSENT
    registry_model: Any = ABSENT
    date: Any = ABSENT  # the date of the session the row is about; None: the log does not say


@dataclass(frozen=True, kw_only=True)
class ImportedSessionData(Record):
    """One training session of a hand-written log (imported_session_record.schema.json)."""

    KIND: ClassVar[str] = "imported_session"

    session: Any
    title: Any
    date: Any
    blocks: list[Any]
    imported_from: dict[str, Any]
    registry_model: Any = ABSENT
    status: Any = ABSENT
    base_model: Any = ABSENT
    method: Any = ABSENT
    gpu: Any = ABSENT
    vm: Any = ABSENT
    output_model: Any = ABSENT
    commit: Any = ABSENT


@dataclass(frozen=True, kw_only=True)
class SealRecordData(Record):
    """A person's seal on a record without a checksum (seal_record.schema.json; `history.seals`)."""

    KIND: ClassVar[str] = "seal"

    target_run_id: str
    target_kind: str
    target_name: str
    target_sha256: str
    sealed_by: str
    reason: str


RECORD_TYPES: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        EvalRecordData,
        TrainingRecordData,
        NoteRecordData,
        ImportedRowData,
        ImportedSessionData,
        SealRecordData,
    )
}


def from_dict(data: Mapping[str, Any], *, partial: bool = False) -> Record:
    """Return the typed record of `data`, its dataclass picked by `kind`; RecordError for an unknown kind."""
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind not in RECORD_TYPES:
        run_id = data.get("run_id", "?") if isinstance(data, Mapping) else "?"
        raise RecordError(f"record {run_id}: unknown kind {kind!r}")
    return RECORD_TYPES[kind].from_dict(data, partial=partial)
