"""The gate: judge an eval record against floors, budgets and a baseline run; the verdict sets the exit status.

Rules come from `[tool.tunebench.gate]`, with `[tool.tunebench.gate.models.NAME]` overriding them for one
model. A benchmark drop against the baseline fails only when it is larger than `max_drop` AND the exact
McNemar test on the paired per-question outcomes gives p < `alpha`. A latency regression fails only when
the median of the repeated measurements grew by more than `max_latency_increase` AND the two sets of
measurements do not overlap (the fastest current one is slower than the slowest baseline one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.records import parse_utc
from tunebench.history.store import ReadResult, is_future
from tunebench.stats import mcnemar_exact, median
from tunebench.table import format_table

__all__ = ["GateRules", "Check", "Verdict", "evaluate", "find_baseline", "paired_outcomes", "BaselineChoice"]


@dataclass(frozen=True)
class GateRules:
    """The rules for one model (None: rule off). A number or a {domain: number} table for per-domain rules."""

    enabled: bool = True
    min_accuracy: float | None = None
    min_domain_accuracy: float | dict[str, float] | None = None
    min_quality: float | dict[str, float] | None = None
    latency_budget_s: float | dict[str, float] | None = None
    max_drop: float = 0.05
    alpha: float = 0.05
    max_latency_increase: float = 0.25

    @classmethod
    def from_config(cls, gate: dict[str, Any], model: str | None = None) -> GateRules:
        """Return the rules of `[tool.tunebench.gate]` with `gate.models.<model>` applied on top."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in gate.items() if k in names}
        values.update({k: v for k, v in gate.get("models", {}).get(model or "", {}).items() if k in names})
        return cls(**values)


@dataclass
class Check:
    """One rule's outcome: what was measured, the limit, the baseline's value, pass or fail, and why."""

    rule: str
    value: Any
    limit: Any
    passed: bool
    baseline: Any = None
    detail: str = ""


@dataclass
class Verdict:
    """All checks of one run; the run passes when every check passes."""

    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        """Return the verdict as stored in the record's `gate` field."""
        return {"passed": self.passed, "checks": [asdict(check) for check in self.checks]}

    def table(self) -> str:
        """Return the verdict as a text table: rule, value, limit, baseline, result, detail."""
        rows = [
            (c.rule, _show(c.value), _show(c.limit), _show(c.baseline), "pass" if c.passed else "FAIL", c.detail)
            for c in self.checks
        ]
        return format_table(["rule", "value", "limit", "baseline", "result", "detail"], rows)

    def markdown(self) -> str:
        """Return the verdict as a Markdown table (for $GITHUB_STEP_SUMMARY)."""
        lines = ["| rule | value | limit | baseline | result | detail |", "| --- | --- | --- | --- | --- | --- |"]
        for c in self.checks:
            cells = [
                c.rule,
                _show(c.value),
                _show(c.limit),
                _show(c.baseline),
                "pass" if c.passed else "**FAIL**",
                c.detail,
            ]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
        return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def evaluate(record: dict[str, Any], rules: GateRules, baseline: dict[str, Any] | None = None) -> Verdict:
    """Return the verdict on `record` under `rules`, comparing with `baseline` when given."""
    verdict = Verdict()
    verdict.checks.append(
        Check(
            "run complete",
            record["status"],
            "complete",
            record["status"] == "complete",
            detail=_incomplete_detail(record),
        )
    )
    aggregates = record["aggregates"]
    if rules.min_accuracy is not None and "accuracy" in aggregates:
        verdict.checks.append(_floor("accuracy", aggregates["accuracy"], rules.min_accuracy, baseline, None))
    for domain, limit in _per_domain(rules.min_domain_accuracy, aggregates.get("by_domain", {})):
        verdict.checks.append(
            _floor(f"accuracy[{domain}]", aggregates.get("by_domain", {}).get(domain), limit, baseline, domain)
        )
    for domain, limit in _per_domain(rules.min_quality, aggregates.get("quality_by_domain", {})):
        value = aggregates.get("quality_by_domain", {}).get(domain)
        verdict.checks.append(
            Check(
                f"quality[{domain}]",
                value,
                f">= {limit}",
                value is not None and value >= limit,
                detail="" if value is not None else "no graded probe in this domain",
            )
        )
    for domain, limit in _per_domain(rules.latency_budget_s, aggregates.get("latency_by_domain_s", {})):
        stats = aggregates.get("latency_by_domain_s", {}).get(domain) or {}
        value = stats.get("p50")
        detail = "no latency measured in this domain"
        if value is not None:
            over = f"; {value - limit:.3g}s over budget" if value > limit else ""
            detail = f"median of {stats.get('n', 0)} measurements{over}"
        verdict.checks.append(
            Check(
                f"latency[{domain}] median s", value, f"<= {limit}", value is not None and value <= limit, detail=detail
            )
        )
    if baseline is not None:
        verdict.checks.append(_accuracy_regression(record, baseline, rules))
        verdict.checks.extend(_latency_regressions(record, baseline, rules))
    return verdict


def _incomplete_detail(record: dict[str, Any]) -> str:
    items = record["items"]
    parts = [f"{len(items[key])} {key}" for key in ("crashed", "failed", "missing") if items.get(key)]
    return ", ".join(parts) + " item(s); an incomplete run is never a baseline" if parts else ""


def _per_domain(rule: float | dict[str, float] | None, present: dict[str, Any]) -> list[tuple[str, float]]:
    if rule is None:
        return []
    if isinstance(rule, dict):
        return sorted(rule.items())
    return [(domain, rule) for domain in sorted(present)]


def _floor(rule: str, measured: dict[str, Any] | None, limit: float, baseline, domain) -> Check:
    base = None
    if baseline is not None:
        part = (
            baseline["aggregates"].get("by_domain", {}).get(domain)
            if domain
            else baseline["aggregates"].get("accuracy")
        )
        base = part.get("value") if part else None
    if not measured or measured.get("value") is None:
        return Check(rule, None, f">= {limit}", False, base, "no question answered")
    value = measured["value"]
    detail = f"{measured['k']}/{measured['n']}, 95% CI [{measured['low']:.3f}, {measured['high']:.3f}]"
    if value < limit:
        detail += f"; {limit - value:.3f} below the floor"
    return Check(rule, value, f">= {limit}", value >= limit, base, detail)


def paired_outcomes(record: dict[str, Any], baseline: dict[str, Any]) -> tuple[int, int, int, int]:
    """Return (n paired, b: baseline right -> now wrong, c: baseline wrong -> now right, unpaired)."""

    def key(q):
        return q.get("suite", ""), q["id"]

    before = {key(q): q["correct"] for q in baseline["questions"]}
    now = {key(q): q["correct"] for q in record["questions"]}
    paired = before.keys() & now.keys()
    b = sum(1 for k in paired if before[k] and not now[k])
    c = sum(1 for k in paired if not before[k] and now[k])
    return len(paired), b, c, len(now.keys() - paired)


def _accuracy_regression(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules) -> Check:
    n, b, c, unpaired = paired_outcomes(record, baseline)
    rule = "accuracy drop vs baseline"
    limit = f"<= {rules.max_drop} or p >= {rules.alpha}"
    if n == 0:
        return Check(rule, None, limit, True, baseline["run_id"], "no question in common with the baseline")
    drop = (b - c) / n
    p = mcnemar_exact(b, c)
    significant = p < rules.alpha
    passed = not (drop > rules.max_drop and significant)
    why = (
        "larger than allowed and significant"
        if not passed
        else "within noise"
        if drop > rules.max_drop
        else "within the allowed drop"
    )
    detail = f"drop {drop:+.3f} on {n} paired questions (b={b}, c={c}), exact McNemar p={p:.4g}: {why}"
    if unpaired:
        detail += f"; {unpaired} question(s) not in the baseline"
    return Check(rule, round(drop, 6), limit, passed, baseline["run_id"], detail)


def _domain_samples(record: dict[str, Any]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}
    for probe in record["probes"]:
        if probe.get("status") == "answered" and probe.get("latency_s"):
            samples.setdefault(probe["domain"], []).extend(probe["latency_s"])
    return samples


def _latency_regressions(record: dict[str, Any], baseline: dict[str, Any], rules: GateRules) -> list[Check]:
    checks = []
    before, now = _domain_samples(baseline), _domain_samples(record)
    for domain in sorted(before.keys() & now.keys()):
        old, new = before[domain], now[domain]
        rule = f"latency[{domain}] increase vs baseline"
        limit = f"<= {rules.max_latency_increase:.0%} or overlapping"
        if len(old) < 2 or len(new) < 2:
            checks.append(
                Check(
                    rule,
                    None,
                    limit,
                    True,
                    baseline["run_id"],
                    "fewer than 2 repeated measurements on a side: not compared",
                )
            )
            continue
        increase = median(new) / median(old) - 1 if median(old) else 0.0
        separated = min(new) > max(old)
        passed = not (increase > rules.max_latency_increase and separated)
        detail = (
            f"median {median(old):.3g}s -> {median(new):.3g}s over {len(old)}/{len(new)} measurements, "
            f"{'no overlap' if separated else 'overlapping'}"
        )
        checks.append(Check(rule, round(increase, 6), limit, passed, baseline["run_id"], detail))
    return checks


@dataclass(frozen=True)
class BaselineChoice:
    """The chosen baseline record (None: no baseline) and how it was chosen, for the record and the summary."""

    record: dict[str, Any] | None
    how: str


def _suite_hashes(record: dict[str, Any]) -> set[str]:
    return {s["sha256"] for s in record.get("suites", []) if s.get("sha256")}


def _usable(candidate: dict[str, Any], current: dict[str, Any], now: datetime | None) -> bool:
    hashes = _suite_hashes(current)
    return (
        candidate.get("kind") == "eval"
        and candidate.get("status") == "complete"
        and candidate["run_id"] != current["run_id"]
        and not is_future(candidate, now)
        and bool(hashes)
        and hashes <= _suite_hashes(candidate)
    )


def find_baseline(
    spec: str,
    current: dict[str, Any],
    history: ReadResult,
    production: list[str],
    models: list[str],
    now: datetime | None = None,
) -> BaselineChoice:
    """Return the baseline for `spec`: "none", "auto" (newest complete run of a production model on the
    same suite files), a model name (its newest such run) or a record id."""
    if spec == "none":
        return BaselineChoice(None, "none requested")
    rejected = history.problem_for(spec)
    if rejected is not None and spec not in history.locations:
        raise RecordError(f"baseline {spec}: the record at {rejected.location} cannot be trusted: {rejected.reason}")
    if spec in history.locations:
        record = next(r for r in history.records if r["run_id"] == spec)
        if record.get("kind") != "eval":
            raise RecordError(f"baseline {spec}: that is a {record.get('kind')} record, not an eval run")
        if record.get("status") != "complete":
            raise RecordError(
                f"baseline {spec}: that run is {record.get('status')}; an incomplete run is never a baseline"
            )
        if is_future(record, now):
            raise RecordError(f"baseline {spec}: that record is stamped in the future ({record['finished_at']})")
        return BaselineChoice(record, f"record {spec}")
    if spec == "auto":
        names, how = set(production), f"newest complete run of production model(s) {', '.join(sorted(production))}"
    elif spec in models:
        names, how = {spec}, f"newest complete run of {spec}"
    else:
        raise RecordError(f"baseline {spec!r}: expected auto, none, a model name or a record id in the history")
    # Only eval runs are baselines: training, imported and note records share the history.
    evals = (r for r in history.records if r.get("kind") == "eval")
    candidates = [r for r in evals if r["model"]["name"] in names and _usable(r, current, now)]
    if not candidates:
        return BaselineChoice(None, f"none found ({how} on the same suite files)")
    chosen = max(candidates, key=lambda r: (parse_utc(r["finished_at"]), r["run_id"]))
    return BaselineChoice(chosen, f"{how} on the same suite files")
