"""Typed records: a frozen dataclass per record kind and per nested part, their fields the JSON Schema's keys.

`from_dict` takes a record as stored (a plain JSON object, validated or not) and `to_dict` gives it back
equal: a key the schema leaves optional and the record lacks is `ABSENT` (not None, which some keys hold),
and keys the schema does not name (older or newer writers' extras) travel in `extra`. The eval record's parts
are typed too (`Part`): its model, questions, probes, aggregates (proportions with their interval,
percentiles) and gate verdict, so a reader writes `run.aggregates.accuracy.low` or `question.correct`. A part
is also a read-only Mapping of the JSON object it came from, so a reader not yet moved to attributes keeps
working. tests/test_typed_records.py checks each dataclass's fields against its schema's properties and
required keys, nested levels included. What is not typed yet: the training record's parts, the model's
`engine` (tunebench.engines.base.EngineInfo, through `EvalRecordData.engine`), probe evidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from tunebench.errors import RecordError

if TYPE_CHECKING:
    from tunebench.engines.base import EngineInfo

__all__ = [
    "ABSENT",
    "SCHEMA_VERSION",
    "Record",
    "EvalRecordData",
    "TrainingRecordData",
    "NoteRecordData",
    "ImportedRowData",
    "ImportedSessionData",
    "SealRecordData",
    "SpeedReference",
    "Part",
    "Proportion",
    "Percentiles",
    "ModelInfo",
    "Question",
    "Probe",
    "Aggregates",
    "GateCheck",
    "GateResult",
    "RECORD_TYPES",
    "from_dict",
]

# The schema version this module reads and the writers write (history/eval_record.py, training/record.py).
SCHEMA_VERSION = 1


class _Absent:
    """The value of an optional key the record does not have (falsy, so `run.resources or {}` reads well)."""

    _instance: ClassVar[_Absent | None] = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def _plain(value: Any) -> Any:
    """Return `value` with every typed part in it turned back into the JSON it was read from."""
    if isinstance(value, Part):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _typed(value: Any, how: str, cls: type[Part]) -> Any:
    """Return the JSON `value` with its parts typed as `cls`: `how` is one, list (of them) or map (name -> one)."""
    if how == "one":
        return cls.from_dict(value) if isinstance(value, Mapping) else value
    if how == "list" and isinstance(value, list):
        return [cls.from_dict(v) if isinstance(v, Mapping) else v for v in value]
    if how == "map" and isinstance(value, Mapping):
        return {k: cls.from_dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class Part(Mapping[str, Any]):
    """A nested object of a record: its schema's properties as fields, ABSENT where the object lacks a key.

    Lenient where a record is strict: a part lacking a required key reads it as ABSENT (partial and minimal
    records are read too), and keys its schema does not name travel in `extra`. `SCHEMA` is the JSON pointer of
    its schema in the eval record's schema (the agreement test reads it); `NESTED` names the fields that are
    parts themselves, as (how, class) with how one, list or map.
    """

    SCHEMA: ClassVar[str] = ""
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {}

    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the keys this part names (every field but `extra`)."""
        return tuple(f.name for f in fields(cls) if f.name != "extra")

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        """Return the keys the schema requires (the fields without a default)."""
        return tuple(
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING and f.name != "extra"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Return the typed part of the JSON object `data` (its nested parts typed too)."""
        names = set(cls.names())
        values = {k: _typed(v, *cls.NESTED[k]) if k in cls.NESTED else v for k, v in data.items() if k in names}
        missing = dict.fromkeys((k for k in cls.required_names() if k not in data), ABSENT)
        return cls(**missing, **values, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        """Return the part as the plain JSON object it was read from."""
        return {k: _plain(v) for k, v in self.items()}

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key) if key in self.names() else self.extra.get(key, ABSENT)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self.names() if getattr(self, k) is not ABSENT)
        yield from self.extra

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, kw_only=True)
class Proportion(Part):
    """k of n with its 95% Wilson interval ($defs/proportion); `value` is None when n is 0."""

    SCHEMA: ClassVar[str] = "/$defs/proportion"

    k: int
    n: int
    value: float | None
    low: float
    high: float

    @classmethod
    def of(cls, data: Mapping[str, Any] | None) -> Proportion | None:
        """Return the proportion stored as `{k, n, value, low, high}`, or None where there is none."""
        if not data or data.get("n") is None:
            return None
        return cls(
            k=int(data["k"]),
            n=int(data["n"]),
            value=data.get("value"),
            low=float(data["low"]),
            high=float(data["high"]),
        )

    @classmethod
    def count(cls, k: int, n: int) -> Proportion:
        """Return k of n with its interval computed here (tunebench.stats.proportion)."""
        from tunebench.stats import proportion

        counted = cls.of(proportion(k, n))
        assert counted is not None  # proportion() always returns n
        return counted


@dataclass(frozen=True, kw_only=True)
class Percentiles(Part):
    """Percentiles of a timing or count over the probes ($defs/percentiles)."""

    SCHEMA: ClassVar[str] = "/$defs/percentiles"

    n: int
    p50: float | None = ABSENT
    p90: float | None = ABSENT
    p99: float | None = ABSENT
    mean: float | None = ABSENT
    max: float | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Part):
    """The eval record's `model`: what was evaluated, where it loaded, and how its training data relates."""

    SCHEMA: ClassVar[str] = "/properties/model"

    name: str
    base: str
    adapter: str | None
    registry_status: str | None = ABSENT
    hashes: dict[str, str] = ABSENT
    device: str | None = ABSENT
    dtype: str | None = ABSENT
    merged: bool | None = ABSENT
    load_s: float | None = ABSENT
    engine: Any = ABSENT  # read typed through EvalRecordData.engine (tunebench.engines.base.EngineInfo)
    training_data: dict[str, Any] | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Question(Part):
    """One multiple-choice question's outcome ($defs/question)."""

    SCHEMA: ClassVar[str] = "/$defs/question"

    id: str
    domain: str
    difficulty: str
    status: str
    correct: bool
    suite: str = ABSENT
    answer: str | None = ABSENT
    chosen: str | None = ABSENT
    loglikelihoods: list[float] | None = ABSENT
    chosen_norm: str | None = ABSENT
    correct_norm: bool | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Probe(Part):
    """One open-ended probe's outcome: timings, reply, grade and its evidence ($defs/probe)."""

    SCHEMA: ClassVar[str] = "/$defs/probe"

    id: str
    domain: str
    status: str
    suite: str = ABSENT
    prompt_tokens: int | None = ABSENT
    new_tokens: int | None = ABSENT
    stop_reason: str | None = ABSENT
    load_s: float | None = ABSENT
    ttft_s: float | None = ABSENT
    decode_tokens_per_s: float | None = ABSENT
    time_per_output_token_s: float | None = ABSENT
    grader_calibration: dict[str, Any] | None = ABSENT
    latency_s: list[float] | None = ABSENT
    ttft_runs_s: list[float] | None = ABSENT
    speed_reference: dict[str, Any] | None = ABSENT  # SpeedReference.from_dict types it
    latency_median_s: float | None = ABSENT
    latency_p90_s: float | None = ABSENT
    grade: float | None = ABSENT
    evidence: dict[str, Any] | None = ABSENT
    answer: str | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Aggregates(Part):
    """The eval record's `aggregates`: accuracy with its interval, per group, timings and quality."""

    SCHEMA: ClassVar[str] = "/properties/aggregates"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        "accuracy": ("one", Proportion),
        "accuracy_norm": ("one", Proportion),
        "by_domain": ("map", Proportion),
        "by_difficulty": ("map", Proportion),
        **{name: ("one", Percentiles) for name in ("latency_s", "ttft_s", "time_per_output_token_s", "new_tokens")},
        **{
            name: ("map", Percentiles)
            for name in (
                "latency_by_domain_s",
                "ttft_s_by_domain",
                "time_per_output_token_s_by_domain",
                "new_tokens_by_domain",
            )
        },
    }

    accuracy: Proportion = ABSENT
    accuracy_norm: Proportion = ABSENT
    by_domain: dict[str, Proportion] = ABSENT
    by_difficulty: dict[str, Proportion] = ABSENT
    latency_s: Percentiles = ABSENT
    latency_by_domain_s: dict[str, Percentiles] = ABSENT
    ttft_s: Percentiles = ABSENT
    ttft_s_by_domain: dict[str, Percentiles] = ABSENT
    time_per_output_token_s: Percentiles = ABSENT
    time_per_output_token_s_by_domain: dict[str, Percentiles] = ABSENT
    new_tokens: Percentiles = ABSENT
    new_tokens_by_domain: dict[str, Percentiles] = ABSENT
    grader_calibration: dict[str, Any] | None = ABSENT
    quality: float | None = ABSENT
    quality_by_domain: dict[str, float] = ABSENT


@dataclass(frozen=True, kw_only=True)
class GateCheck(Part):
    """One rule the gate checked: the value, its limit or baseline, and whether it passed."""

    SCHEMA: ClassVar[str] = "/properties/gate/properties/checks/items"

    rule: str
    passed: bool
    value: Any = ABSENT
    limit: Any = ABSENT
    baseline: Any = ABSENT
    detail: str = ABSENT
    comparable: bool = ABSENT  # False: not applied (the baseline was served otherwise); older records lack it


@dataclass(frozen=True, kw_only=True)
class GateResult(Part):
    """The verdict recorded when the run finished (`gate`): passed, and each check."""

    SCHEMA: ClassVar[str] = "/properties/gate"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"checks": ("list", GateCheck)}

    passed: bool
    checks: list[GateCheck]
    status: str = ABSENT  # pass, fail, nothing to judge, not comparable (tunebench.gate.verdict)
    warnings: list[str] = ABSENT
    detectable_drop: float | None = ABSENT


@dataclass(frozen=True, kw_only=True)
class Record:
    """The header every record has (common.schema.json's record_header), and the keys no schema names."""

    KIND: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {}

    kind: str
    schema_version: int
    run_id: str
    started_at: str
    finished_at: str
    source: str
    provenance: dict[str, Any]
    notes: list[Any]
    checksum: str = ABSENT
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Return the record keys this dataclass names (every field but `extra`)."""
        return tuple(f.name for f in fields(cls) if f.name != "extra")

    @classmethod
    def required_keys(cls) -> tuple[str, ...]:
        """Return the keys a record of this kind must have (the fields without a default)."""
        return tuple(
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING and f.name != "extra"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, partial: bool = False) -> Record:
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
        missing = [k for k in cls.required_keys() if k not in data]
        if missing and not partial:
            raise RecordError(
                f"record {data.get('run_id', '?')} ({cls.KIND or data.get('kind')}): missing {', '.join(missing)}"
            )
        names = set(cls.keys())
        return cls(
            **dict.fromkeys(missing, ABSENT),
            **{k: _typed(v, *cls.NESTED[k]) if k in cls.NESTED else v for k, v in data.items() if k in names},
            extra={k: v for k, v in data.items() if k not in names},
        )

    def get(self, name: str, default: Any = None) -> Any:
        """Return the key's value, or `default` where the record lacks it (as dict.get on the stored record)."""
        value = getattr(self, name, ABSENT) if name in self.keys() else self.extra.get(name, ABSENT)
        return default if value is ABSENT else value

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain JSON object, equal to the one `from_dict` read."""
        out = {name: _plain(getattr(self, name)) for name in self.keys() if getattr(self, name) is not ABSENT}
        out.update(self.extra)
        return out


@dataclass(frozen=True, kw_only=True)
class EvalRecordData(Record):
    """An eval run (eval_record.schema.json)."""

    KIND: ClassVar[str] = "eval"
    SCHEMA_VERSION: ClassVar[int] = 2  # version 1 records read the same (their parts were open)
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        "model": ("one", ModelInfo),
        "questions": ("list", Question),
        "probes": ("list", Probe),
        "aggregates": ("one", Aggregates),
        "gate": ("one", GateResult),
    }

    status: str
    model: ModelInfo
    suites: list[Any]
    questions: list[Question]
    probes: list[Probe]
    items: dict[str, Any]
    aggregates: Aggregates
    baseline: dict[str, Any] | None
    gate: GateResult | None
    workers: int = ABSENT
    selection: Any = ABSENT
    resources: dict[str, Any] | None = ABSENT
    lm_eval: dict[str, Any] = ABSENT  # lm-eval tasks run as items: {tasks, documents} (tunebench.lmeval.record)

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
    """A training run (training_record.schema.json)."""

    KIND: ClassVar[str] = "training"

    status: str
    recipe: dict[str, Any]
    model: dict[str, Any]
    method: str
    hyperparameters: dict[str, Any]
    data: dict[str, Any]
    phases: list[dict[str, Any]]
    totals: dict[str, Any]
    validation_loss: Any
    hardware: dict[str, Any]
    cost: dict[str, Any] | None
    output: dict[str, Any]
    attempts: int
    oom_events: list[Any]
    tracking: Any = ABSENT
    difficulties: list[dict[str, Any]] = ABSENT


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
        raise RecordError(f"record {getattr(data, 'get', dict().get)('run_id', '?')}: unknown kind {kind!r}")
    return RECORD_TYPES[kind].from_dict(data, partial=partial)


@dataclass(frozen=True)
class SpeedReference:
    """A probe's `speed_reference` ($defs/speed_reference): the machine's speed timed beside its repeats.

    `timings_s` are the fixed workload's (`workload`, tunebench.machine_speed) timings before, between and
    after the probe's timed repeats; the gate takes the machine's speed out of latency with them.
    """

    workload: str
    timings_s: tuple[float, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SpeedReference | None:
        """Return the probe's reference as stored, or None where the probe has none (older records)."""
        if not data:
            return None
        return cls(str(data["workload"]), tuple(float(t) for t in data["timings_s"]))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object the record stores."""
        return {"workload": self.workload, "timings_s": list(self.timings_s)}
