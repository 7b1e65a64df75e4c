"""Whether two runs were measured alike: engine, concurrency, pytest-xdist workers and hardware.

Accuracy does not depend on how a run was served (the same weights give the same scores on every
engine), so it is compared whatever the conditions; latency is a measurement of the conditions as much as
of the model, so a baseline served otherwise is "not comparable" for latency, never a FAIL, whoever chose it
(`--baseline auto` skips such runs; an explicit `--baseline RUN_ID` is taken and its latency left unjudged).
Hardware is the machine type, CPU count, GPUs and device; a record without provenance (an older one) has
unknown hardware, which is not counted as a difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunebench.history.eval_record import serving

__all__ = ["Serving", "serving_of", "differences"]


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


def serving_of(record: dict[str, Any]) -> Serving:
    """Return the serving conditions of an eval record (hardware from its provenance, when it has one)."""
    engine, concurrency, workers = serving(record)
    return Serving(engine, concurrency, workers, _hardware(record))


def _hardware(record: dict[str, Any]) -> str | None:
    machine = (record.get("provenance") or {}).get("hardware") or {}
    if not machine:
        return None
    parts = [
        machine.get("machine"),
        f"{machine['cpu_count']} CPUs" if machine.get("cpu_count") else None,
        ", ".join(machine.get("gpus") or []) or None,
        f"device {(record.get('model') or {}).get('device')}" if (record.get("model") or {}).get("device") else None,
    ]
    return ", ".join(str(part) for part in parts if part) or None


def differences(
    record: dict[str, Any], baseline: dict[str, Any], here: str = "here", there: str = "in the baseline"
) -> list[str]:
    """Return how `baseline` was served otherwise than `record` ("engine openai here, hf in the baseline")."""
    now, then = serving_of(record), serving_of(baseline)
    found = []
    for name in ("engine", "concurrency", "workers", "hardware"):
        a, b = getattr(now, name), getattr(then, name)
        if a != b and not (name == "hardware" and (a is None or b is None)):
            found.append(f"{name} {a} {here}, {b} {there}")
    return found
