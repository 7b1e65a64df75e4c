"""An eval record's aggregates: accuracy with 95% Wilson intervals (overall, per domain, per difficulty), latency
percentiles, time to first token and per output token, answer lengths, and quality, from its questions and probes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from tunebench.stats import mean, percentiles, proportion

__all__ = ["aggregate"]


def aggregate(questions: Sequence[dict[str, Any]], probes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return accuracy (overall, per domain, per difficulty, with 95% Wilson intervals), latency, quality."""
    result: dict[str, Any] = {}
    if questions:
        result["accuracy"] = _accuracy(questions, "correct")
        if any(q.get("correct_norm") is not None for q in questions):
            result["accuracy_norm"] = _accuracy(questions, "correct_norm")
        result["by_domain"] = {d: _accuracy(qs, "correct") for d, qs in _group(questions, "domain").items()}
        result["by_difficulty"] = {d: _accuracy(qs, "correct") for d, qs in _group(questions, "difficulty").items()}
    answered = [p for p in probes if p.get("status") == "answered"]
    if answered:
        result["latency_s"] = percentiles(_latencies(answered))
        by_domain = _group(answered, "domain")
        result["latency_by_domain_s"] = {d: percentiles(_latencies(ps)) for d, ps in by_domain.items()}
        # Speed apart from length: time to first token and time per output token, with the answers' lengths.
        for key, value in (("ttft_s", _ttft), ("time_per_output_token_s", _tpot), ("new_tokens", _tokens)):
            result[key] = percentiles(_values(answered, value))
            result[f"{key}_by_domain"] = {d: percentiles(_values(ps, value)) for d, ps in by_domain.items()}
        calibration = next((p["grader_calibration"] for p in answered if p.get("grader_calibration")), None)
        if calibration is not None:  # the graders' agreement with the shipped calibration replies
            result["grader_calibration"] = calibration
        grades = [p["grade"] for p in answered if p.get("grade") is not None]
        result["quality"] = _round(mean(grades))
        result["quality_by_domain"] = {
            d: _round(mean(g))
            for d, ps in _group(answered, "domain").items()
            if (g := [p["grade"] for p in ps if p.get("grade") is not None])
        }
    return result


def _ttft(probe: dict[str, Any]) -> float | None:
    return probe.get("ttft_s")


def _tpot(probe: dict[str, Any]) -> float | None:
    """Seconds per output token after the first; derived from decode tokens/s in records from before it."""
    if probe.get("time_per_output_token_s") is not None:
        tpot: float = probe["time_per_output_token_s"]
        return tpot
    rate = probe.get("decode_tokens_per_s")
    return 1 / rate if rate else None


def _tokens(probe: dict[str, Any]) -> float | None:
    return probe.get("new_tokens")


def _values(probes: Sequence[dict[str, Any]], value: Any) -> list[float]:
    return [v for p in probes if (v := value(p)) is not None]


def _accuracy(questions: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    return proportion(sum(1 for q in questions if q.get(key) is True), len(questions))


def _group(entries: Sequence[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        groups[str(entry.get(key, "unknown"))].append(entry)
    return dict(sorted(groups.items()))


def _latencies(probes: Sequence[dict[str, Any]]) -> list[float]:
    """Every repeated measurement (not one number per probe), so percentiles see the spread."""
    values: list[float] = []
    for probe in probes:
        if probe.get("latency_s"):
            values.extend(probe["latency_s"])
        elif probe.get("latency_median_s") is not None:
            values.append(probe["latency_median_s"])
    return values


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
