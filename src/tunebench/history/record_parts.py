"""The eval record's typed parts, from a proportion to the gate's verdict (each a `Part`, history.json_object).

A part names its schema's keys as fields (ABSENT where the object lacks one, unnamed keys in `extra`) and is
also a read-only Mapping of the JSON it was read from; `SCHEMA` points at its schema in the eval record's, so
tests/test_typed_records.py checks each against it. The machinery (`ABSENT`, `given`, `JsonObject`, `Part`)
lives in `history.json_object` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tunebench.history.json_object import ABSENT, JsonObject, Part, given, plain_json, typed_json

__all__ = [
    "ABSENT",
    "given",
    "plain_json",
    "typed_json",
    "JsonObject",
    "Part",
    "Proportion",
    "Percentiles",
    "TrainingDataMark",
    "ModelInfo",
    "Suite",
    "Selection",
    "Items",
    "Baseline",
    "Question",
    "Probe",
    "Aggregates",
    "GateCheck",
    "GateResult",
    "LoadPercentiles",
    "LoadFigures",
    "SpeedReference",
]


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
class TrainingDataMark(Part):
    """`model.training_data`: a model tunebench trained, its training data against the suites this run evaluated."""

    SCHEMA: ClassVar[str] = "/properties/model/properties/training_data"

    status: str  # clean, overlapping or unchecked (tunebench.contamination)
    run_id: str | None = ABSENT
    overlapping_suites: list[str] = ABSENT
    unchecked_suites: list[str] = ABSENT


@dataclass(frozen=True, kw_only=True)
class Suite(Part):
    """One suite file the run evaluated: its name, file and content hash, and the domains it declares."""

    SCHEMA: ClassVar[str] = "/properties/suites/items"

    name: str
    file: str
    sha256: str | None
    domains: list[str] = ABSENT


@dataclass(frozen=True, kw_only=True)
class Selection(Part):
    """The questions and probes the run has entries for (`selected`) of all its suite files hold (`total`)."""

    SCHEMA: ClassVar[str] = "/properties/selection"

    selected: int
    total: int


@dataclass(frozen=True, kw_only=True)
class Items(Part):
    """The run's test items: expected, reported, and the node ids that crashed, failed or never reported."""

    SCHEMA: ClassVar[str] = "/properties/items"

    expected: int
    reported: int
    crashed: list[str]
    failed: list[str]
    missing: list[str] = ABSENT


@dataclass(frozen=True, kw_only=True)
class Baseline(Part):
    """The run the gate compared this one with, and how it was chosen."""

    SCHEMA: ClassVar[str] = "/properties/baseline"

    run_id: str
    model: str
    how: str


@dataclass(frozen=True, kw_only=True)
class ModelInfo(Part):
    """The eval record's `model`: what was evaluated, where it loaded, and how its training data relates."""

    SCHEMA: ClassVar[str] = "/properties/model"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {"training_data": ("one", TrainingDataMark)}

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
    decode_floor: dict[str, Any] | None = ABSENT  # tunebench.efficiency.decode_floor
    training_data: TrainingDataMark | None = ABSENT


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
class LoadPercentiles(Part):
    """One figure of the load phase over its requests, in seconds ($defs/load_percentiles); None: not measured."""

    SCHEMA: ClassVar[str] = "/$defs/load_percentiles"

    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None


@dataclass(frozen=True, kw_only=True)
class LoadFigures(Part):
    """The eval record's `load` ($defs/load): the probes sent `concurrency` at once, the figures `vllm bench serve`
    reports (TTFT, TPOT, ITL, end-to-end latency, output token throughput; tunebench.engines.load)."""

    SCHEMA: ClassVar[str] = "/$defs/load"
    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {
        name: ("one", LoadPercentiles) for name in ("ttft_s", "tpot_s", "itl_s", "e2e_s")
    }

    concurrency: int
    requests: int
    wall_s: float
    output_tokens: int
    output_tokens_per_s: float | None
    ttft_s: LoadPercentiles
    tpot_s: LoadPercentiles
    itl_s: LoadPercentiles
    e2e_s: LoadPercentiles
    engine: str = ABSENT  # the engine's name, as the load phase's item recorded it


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
