"""Whether two runs were measured alike: engine, concurrency, pytest-xdist workers and hardware.

Accuracy does not depend on how a run was served (the same weights give the same scores on every
engine), so it is compared whatever the conditions; latency is a measurement of the conditions as much as
of the model, so a baseline served otherwise is "not comparable" for latency, never a FAIL, whoever chose it
(`--baseline auto` skips such runs; an explicit `--baseline RUN_ID` is taken and its latency left unjudged).
Hardware is the machine type, CPU count, GPUs and device; a record without provenance (an older one) has
unknown hardware, which is not counted as a difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tunebench.history.typed import EvalRecordData, given

__all__ = ["Serving", "serving_of", "differences", "eval_summary"]


@dataclass(frozen=True)
class Serving:
    """The conditions one run's latency was measured under."""

    engine: str
    concurrency: int
    workers: int
    hardware: str | None  # None: not recorded

    def describe(self) -> str:
        """Return e.g. "engine hf, concurrency 1, 1 worker, hardware x86_64, 2 CPUs, device cpu"."""
        workers = f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        return f"engine {self.engine}, concurrency {self.concurrency}, {workers}, hardware {self.hardware or 'unknown'}"

    def alike(self, other: Serving) -> bool:
        """True when both ran on the same engine, at the same concurrency, with as many pytest-xdist workers.

        Runs on different engines, at different concurrency or with another number of workers sharing the
        machine (probe latency under `-n 2` is about 3x serial) are never compared as if alike (gate
        baselines); hardware is left out (a history summary has no provenance).
        """
        return (self.engine, self.concurrency, self.workers) == (other.engine, other.concurrency, other.workers)


def eval_summary(record: EvalRecordData | Mapping[str, object]) -> EvalRecordData:
    """Return an eval record (or a history summary of one, which lacks its provenance and bulk) typed."""
    return record if isinstance(record, EvalRecordData) else EvalRecordData.from_dict(record, partial=True)


def serving_of(record: EvalRecordData | Mapping[str, object]) -> Serving:
    """Return the serving conditions of an eval record (hardware from its provenance, when it has one); older
    records, without an engine or workers, were served by hf at concurrency 1 with 1 worker."""
    run = eval_summary(record)
    engine = run.engine
    name, concurrency = (engine.engine, engine.concurrency) if engine is not None else (None, None)
    return Serving(str(name or "hf"), int(concurrency or 1), int(run.workers or 1), _hardware(run))


def _hardware(run: EvalRecordData) -> str | None:
    machine = run.machine
    if not machine:
        return None
    device = run.model.device if run.model else None
    parts = [
        given(machine.machine),
        f"{machine.cpu_count} CPUs" if given(machine.cpu_count) else None,
        ", ".join(given(machine.gpus) or []) or None,
        f"device {device}" if device else None,
    ]
    return ", ".join(str(part) for part in parts if part) or None


def differences(
    record: EvalRecordData | Mapping[str, object],
    baseline: EvalRecordData | Mapping[str, object],
    here: str = "here",
    there: str = "in the baseline",
) -> list[str]:
    """Return how `baseline` was served otherwise than `record` ("engine openai here, hf in the baseline")."""
    now, then = serving_of(record), serving_of(baseline)
    found = []
    for name in ("engine", "concurrency", "workers", "hardware"):
        a, b = getattr(now, name), getattr(then, name)
        if a != b and not (name == "hardware" and (a is None or b is None)):
            found.append(f"{name} {a} {here}, {b} {there}")
    return found
