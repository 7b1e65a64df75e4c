"""The gate's rules: `[tool.tunebench.gate]`, with `[tool.tunebench.gate.models.NAME]` on top for one model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["GateRules", "per_domain"]


@dataclass(frozen=True)
class GateRules:
    """The rules for one model (None: rule off). A number or a {domain: number} table for per-domain rules."""

    enabled: bool = True
    min_accuracy: float | None = None
    min_domain_accuracy: float | dict[str, float] | None = None
    min_quality: float | dict[str, float] | None = None
    min_task_accuracy: float | dict[str, float] | None = None  # lm-eval tasks: a floor for each (gate/tasks.py)
    latency_budget_s: float | dict[str, float] | None = None  # total latency: only when set
    ttft_budget_s: float | dict[str, float] | None = None
    time_per_token_budget_s: float | dict[str, float] | None = None
    latency_metrics: tuple[str, ...] = ("ttft", "time_per_token")  # regression vs baseline; add "total" to judge it
    max_drop: float = 0.05
    alpha: float = 0.05
    max_latency_increase: float = 0.25
    require_baseline: bool = False
    prob_drop: bool = True
    max_prob_drop: float = 0.0  # see tunebench.gate.paired: 0 keeps the test's own level and power
    prob_alpha: float = 0.05

    @classmethod
    def from_config(cls, gate: dict[str, Any], model: str | None = None) -> GateRules:
        """Return the rules of `[tool.tunebench.gate]` with `gate.models.<model>` applied on top."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in gate.items() if k in names}
        values.update({k: v for k, v in gate.get("models", {}).get(model or "", {}).items() if k in names})
        if "latency_metrics" in values:
            values["latency_metrics"] = tuple(values["latency_metrics"])
        return cls(**values)


def per_domain(rule: float | dict[str, float] | None, present: Iterable[str]) -> list[tuple[str, float]]:
    """Return (domain, limit) pairs of a per-domain rule: its table, or one number for every domain present."""
    if rule is None:
        return []
    if isinstance(rule, dict):
        return sorted(rule.items())
    return [(domain, rule) for domain in sorted(present)]
