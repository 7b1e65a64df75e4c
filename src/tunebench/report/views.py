"""What the log, the plots, the HTML report and comparisons show of a record, computed from its typed form.

A view wraps one record as stored and reads it through `tunebench.history.typed` (the eval record's parts by
attribute: `run.aggregates.accuracy`, `question.correct`), never by key: it computes what those readers show
(accuracy with its interval, counted from the questions where an older record stored none, per-domain
figures, latency, quality, the gate's verdict in words). The training view types its record once as
`TrainingRecordData` (its parts from history.training_parts, its provenance a `Provenance` with the machine a
`MachineInfo`) and reads them by attribute; a phase and the hyperparameters are also Mappings of their JSON,
which the log's tables read by column name. `tunebench.report.history_view` splits a history's records by kind.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tunebench.gate.verdict import recorded_status
from tunebench.history.training_parts import (
    Contamination,
    Cost,
    Hardware,
    Hyperparameters,
    Output,
    RecipeSource,
    Totals,
    TrainedModel,
    TrainingData,
    ValidationData,
)
from tunebench.history.training_parts import Phase as TrainingPhase
from tunebench.history.typed import (
    ABSENT,
    Aggregates,
    EvalRecordData,
    MachineInfo,
    Part,
    Probe,
    Proportion,
    Provenance,
    Question,
    TrainingDataMark,
    TrainingRecordData,
    given,
)
from tunebench.units import dollars
from tunebench.vocabulary import SEED_DOMAINS

__all__ = [
    "EvalView",
    "TrainingView",
    "PhaseView",
    "Proportion",
    "declared_order",
    "note_sections",
    "NOTE_TITLES",
]

# A note's `section` and the session heading it is listed under (the seed's own headings).
NOTE_TITLES = {"difficulties": "Difficulties Encountered", "improvements": "Areas for Improvement", "notes": "Notes"}
note_sections = tuple(NOTE_TITLES)
_LISTS = ("questions", "probes")  # typed apart, on first use (EvalView.questions, EvalView.probes)


@dataclass(frozen=True)
class _RecordView:
    """What every measured record shows: its id and when it started."""

    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def started_at(self) -> str:
        return str(self.record["started_at"])

    @property
    def date(self) -> str:
        return self.started_at[:10]


@dataclass(frozen=True)
class EvalView(_RecordView):
    """One eval run: model, accuracy with interval, per-domain results, latency, quality, gate."""

    @functools.cached_property
    def run(self) -> EvalRecordData:
        """The record typed, but for its per-question and per-probe lists (`questions` and `probes` type those
        on first use: the log reads 10,000 runs' aggregates and few runs' lists)."""
        return EvalRecordData.from_dict({k: v for k, v in self.record.items() if k not in _LISTS}, partial=True)

    @property
    def model(self) -> str:
        return str(given(self.run.model.name, "?")) if self.run.model else "?"

    @property
    def status(self) -> str:
        return str(given(self.run.status, "complete"))

    @property
    def aggregates(self) -> Aggregates:
        return self.run.aggregates or Aggregates()

    @functools.cached_property
    def questions(self) -> list[Question]:
        return [Question.from_dict(q) for q in self.record.get("questions") or []]

    @functools.cached_property
    def probes(self) -> list[Probe]:
        return [Probe.from_dict(p) for p in self.record.get("probes") or []]

    @property
    def training_data(self) -> TrainingDataMark | None:
        """How the model's training data relates to these suites (`model.training_data`), when tunebench trained it."""
        return given(self.run.model.training_data, None) if self.run.model else None

    @property
    def hardware(self) -> str:
        """Where the run measured: "cuda NVIDIA H100 80GB HBM3", "cpu, 2 CPUs", plus "-n 2" under pytest-xdist."""
        machine = self.run.machine
        gpus = given(machine.gpus) or []
        device = given(self.run.model.device, None) if self.run.model else None
        parts = [device or ("cuda" if gpus else "cpu")]
        if gpus:
            parts.append(str(gpus[0]) + (f" x{len(gpus)}" if len(gpus) > 1 else ""))
        elif given(machine.cpu_count):
            parts.append(f"{machine.cpu_count} CPUs")
        workers = self.run.workers or 1
        text = " ".join(parts[:1]) + (", " + ", ".join(parts[1:]) if parts[1:] else "")
        return text + (f", -n {workers}" if workers > 1 else "")

    @property
    def selection(self) -> str:
        """ "22 of 110 selected" for a run that records its selection, else ""."""
        selection = self.run.selection
        return f"{selection.selected} of {selection.total} selected" if selection and selection.total else ""

    @property
    def accuracy(self) -> Proportion | None:
        stored = _proportion(self.aggregates.accuracy)
        if stored is not None or not self.questions:
            return stored
        return Proportion.count(sum(q.correct is True for q in self.questions), len(self.questions))

    @property
    def by_domain(self) -> dict[str, Proportion]:
        stored = self.aggregates.by_domain
        if stored:
            return {d: p for d, p in ((d, _proportion(v)) for d, v in sorted(stored.items())) if p}
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for question in self.questions:
            domain = str(given(question.domain, "?"))
            counts[domain][0] += question.correct is True
            counts[domain][1] += 1
        return {d: Proportion.count(k, n) for d, (k, n) in sorted(counts.items())}

    @property
    def declared_domains(self) -> tuple[str, ...]:
        """The domains its suites declare (`suite.toml`), in order; empty when none do (or the record is older)."""
        return tuple(dict.fromkeys(d for suite in self.run.suites or [] for d in suite.get("domains", ())))

    @property
    def mean_latency_s(self) -> float | None:
        latency = self.aggregates.latency_s
        return given(latency.mean, None) if latency else None

    @property
    def latency_by_domain_s(self) -> dict[str, float]:
        """Median latency per probe domain (seconds)."""
        stored = self.aggregates.latency_by_domain_s or {}
        return {d: p50 for d, v in sorted(stored.items()) if (p50 := _number(v.p50)) is not None}

    @property
    def quality(self) -> float | None:
        return given(self.aggregates.quality, None)

    @property
    def quality_by_domain(self) -> dict[str, float]:
        return dict(sorted((self.aggregates.quality_by_domain or {}).items()))

    @property
    def gate(self) -> dict[str, Any] | None:
        """The verdict recorded when the run finished (the stored `gate`), or None: not gated."""
        gate = self.run.gate
        return gate.to_dict() if gate else None

    @property
    def gate_verdict(self) -> str:
        """Return "pass", "nothing to judge", "not comparable" or "FAIL (rule, rule)" (with the power), "—" ungated."""
        gate = self.run.gate
        if not gate:
            return "—"
        # The gate's power statement (records since issue 15): the smallest drop its comparison detects.
        reach = gate.detectable_drop
        power = f"; detects drops ≥ {100 * reach:.1f} pt" if isinstance(reach, int | float) else ""
        status = recorded_status(gate.to_dict())
        if status != "fail":
            return str(status) + power
        failed = [str(given(c.rule, "?")) for c in gate.checks or [] if not c.passed]
        return ("FAIL (" + ", ".join(failed) + ")" if failed else "FAIL") + power

    def outcomes(self) -> dict[str, Question]:
        """Return the answered questions by `suite/id` (id alone when no suite is named)."""
        return {_question_key(q): q for q in self.questions if given(q.status, "answered") == "answered"}


def _number(value: Any) -> float | None:
    """Return a stored number as it is, or None where there is none (ABSENT, null, not a number)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _proportion(value: Any) -> Proportion | None:
    """Return a stored proportion that counts something (n recorded), else None."""
    return value if isinstance(value, Proportion) and given(value.n, None) is not None else None


def declared_order(runs: Iterable[EvalView]) -> tuple[str, ...]:
    """Return the order to list the runs' domains in: what their suites declare, then the seed's five."""
    return tuple(dict.fromkeys([*(d for run in runs for d in run.declared_domains), *SEED_DOMAINS]))


def _question_key(question: Question) -> str:
    return f"{question.suite}/{question.id}" if question.suite else str(question.id)


_PHASE_KEYS = frozenset(TrainingPhase.names())  # the rest of a phase's keys are in its `extra`


@dataclass(frozen=True)
class PhaseView:
    """One training phase's figures: its name and the typed phase (history.training_parts.Phase)."""

    name: str
    data: TrainingPhase

    def get(self, *keys: str) -> Any:
        """Return the first of `keys` the phase has (not null), by its JSON key: the log's tables read the
        phase's columns by name (a Phase part is a Mapping of its JSON)."""
        for key in keys:
            value = getattr(self.data, key) if key in _PHASE_KEYS else self.data.extra.get(key)
            if value is not None and value is not ABSENT:
                return value
        return None


@dataclass(frozen=True)
class TrainingView(_RecordView):
    """One training run (`training_record.schema.json`): recipe, data, phases, output and cost."""

    @functools.cached_property
    def run(self) -> TrainingRecordData:
        """The record typed once (partial: `history list` reads index summaries, which leave out bulk keys)."""
        return TrainingRecordData.from_dict(self.record, partial=True)

    @property
    def status(self) -> str:
        return str(given(self.run.status, "completed"))

    @property
    def recipe_name(self) -> str | None:
        recipe = _part(self.run.recipe, RecipeSource)
        path = _text(recipe.path) if recipe is not None else None
        return Path(path).stem if path else None

    @property
    def hyperparameters(self) -> Hyperparameters:
        """The settings in force (a Mapping of their JSON too: the log's table reads them by name)."""
        return _part(self.run.hyperparameters, Hyperparameters) or Hyperparameters.from_dict({})

    @property
    def output_name(self) -> str:
        output = _part(self.run.output, Output)
        return (_text(output.name) if output is not None else None) or self.recipe_name or self.run_id

    @property
    def output_location(self) -> str | None:
        output = _part(self.run.output, Output)
        return _text(output.adapter) if output is not None else None

    @property
    def base_model(self) -> str | None:
        model = _part(self.run.model, TrainedModel)
        return _text(model.name) if model is not None else None

    @property
    def method(self) -> str | None:
        return _text(self.run.method)

    @property
    def hardware(self) -> str:
        """The GPU and its memory ("NVIDIA H100 80GB HBM3 x2"), else "CPU"."""
        hardware = _part(self.run.hardware, Hardware)
        gpu = given(hardware.gpu_name) if hardware is not None else None
        if not gpu:
            return "CPU"
        count = (given(hardware.gpu_count) if hardware is not None else None) or 1
        return str(gpu) + (f" x{count}" if count > 1 else "")

    @property
    def host(self) -> str | None:
        """The VM the run trained on (`hardware.vm`: $TUNEBENCH_VM, GCE name or hostname), else the hostname
        older records kept in `provenance.hardware` (a key MachineInfo does not name: in its `extra`)."""
        hardware = _part(self.run.hardware, Hardware)
        vm = _text(hardware.vm) if hardware is not None else None
        if vm:
            return vm
        provenance = _part(self.run.provenance, Provenance)
        machine = _part(provenance.hardware, MachineInfo) if provenance is not None else None
        return _text(machine.extra.get("hostname")) if machine is not None else None

    @property
    def data_files(self) -> list[tuple[str, int | None, str]]:
        """(path, examples, sha256) of every training and validation file, as recorded."""
        data = _part(self.run.data, TrainingData)
        if data is None:
            return []
        validation = _part(data.validation, ValidationData)
        files = {**(given(data.files) or {}), **((given(validation.files) if validation is not None else None) or {})}
        counts = given(data.file_examples) or {}
        return [(path, counts.get(path), digest) for path, digest in files.items()]

    @property
    def adapter_bytes(self) -> int | None:
        output = _part(self.run.output, Output)
        return _whole(output.adapter_bytes) if output is not None else None

    @property
    def difficulties(self) -> list[str]:
        """What the run hit (OOM retries, preemptions, refused preflight checks, contamination), in words."""
        return [str(d.detail) for d in given(self.run.difficulties) or []]

    @property
    def contamination(self) -> Contamination | None:
        data = _part(self.run.data, TrainingData)
        return _part(data.contamination, Contamination) if data is not None else None

    @property
    def commit(self) -> str | None:
        provenance = _part(self.run.provenance, Provenance)
        return _text(provenance.git_commit) if provenance is not None else None

    @functools.cached_property
    def phases(self) -> list[PhaseView]:
        return [PhaseView(given(p.name, str(i)), p) for i, p in enumerate(given(self.run.phases) or [])]

    @property
    def total_seconds(self) -> float | None:
        totals = _part(self.run.totals, Totals)
        return _number(totals.wall_s) if totals is not None else None

    @property
    def total_steps(self) -> int | None:
        totals = _part(self.run.totals, Totals)
        return _whole(totals.steps) if totals is not None else None

    @property
    def examples(self) -> int | None:
        totals = _part(self.run.totals, Totals)
        return _whole(totals.examples) if totals is not None else None

    @property
    def final_loss(self) -> float | None:
        return _number(self.phases[-1].data.final_loss) if self.phases else None

    @property
    def validation_loss(self) -> float | None:
        return _number(self.run.validation_loss)

    @property
    def cost_usd(self) -> float | None:
        cost = _part(self.run.cost, Cost)
        return _number(cost.usd) if cost is not None else None

    @property
    def cost_hardware(self) -> str | None:
        """The price-table key the cost was charged at ("h100-spot", "cpu"), with its hourly price."""
        cost = _part(self.run.cost, Cost)
        if cost is None:
            return None
        key, price = _text(cost.hardware), _number(cost.usd_per_hour)
        if key and price is not None:
            return f"{key} @ {dollars(price)}/h"  # as every cost is written: a cheap hour is not "$0.00"
        return key

    def losses(self) -> list[tuple[str, list[float]]]:
        """Return (phase name, per-step losses) for each phase; steps that logged no loss are left out."""
        return [
            (phase.name, [float(v) for v in (given(phase.data.losses) or []) if v is not None]) for phase in self.phases
        ]


P = TypeVar("P", bound=Part)


def _part(value: object, cls: type[P]) -> P | None:
    """Return a typed part as read, or None where the record lacks it or holds something else there (null)."""
    return value if isinstance(value, cls) else None


def _text(value: object) -> str | None:
    """Return a stored value as text, None where the record lacks it or holds null."""
    return None if value is None or value is ABSENT else str(value)


def _whole(value: object) -> int | None:
    """Return a stored whole number as it is, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
