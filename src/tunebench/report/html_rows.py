"""The per-run HTML report's rows: a question with its choices, a probe with its reply cut at its evidence."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tunebench.history.record_parts import GateCheck, Probe, Question, given

_LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class ChoiceCell:
    """One answer choice: its letter, text and probability among the choices."""

    letter: str
    text: str | None
    probability: float | None
    is_answer: bool
    is_chosen: bool


@dataclass(frozen=True)
class QuestionRow:
    """One benchmark question as the page shows it."""

    key: str
    id: str
    domain: str
    difficulty: str
    status: str
    text: str | None
    choices: list[ChoiceCell]
    answer: str | None
    chosen: str | None
    correct: bool
    flip: str | None = None  # "right_to_wrong" or "wrong_to_right" in compare mode
    baseline_chosen: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of a probe reply; `kind` is set when grading evidence points at it ("hit" or "forbidden")."""

    text: str
    kind: str | None = None
    label: str = ""


@dataclass(frozen=True)
class ProbeRow:
    """One probe: prompt, reply (with evidence spans), timings and grade."""

    id: str
    domain: str
    status: str
    prompt: str | None
    reply: list[Segment]
    stop_reason: str | None
    prompt_tokens: int | None
    new_tokens: int | None
    ttft_s: float | None
    tokens_per_s: float | None
    latency_s: float | None
    grade: float | None
    hit: list[str]
    missed: list[str]
    forbidden_found: list[str]
    evidence: list[tuple[str, str]]
    baseline_latency_s: float | None = None


@dataclass(frozen=True)
class GateCheckRow:
    """One check of the gate's verdict; None (shown "—") where the stored check lacks an optional key."""

    rule: str
    passed: bool
    value: Any = None
    limit: Any = None
    baseline: Any = None
    detail: str = ""
    comparable: bool | None = None  # False: not applied (served otherwise); None: an older record lacks it


def gate_check_row(check: GateCheck) -> GateCheckRow:
    """Return a stored gate check as a row: the schema requires only `rule` and `passed`."""
    return GateCheckRow(
        rule=str(given(check.rule, "?")),
        passed=bool(given(check.passed, False)),
        value=given(check.value),
        limit=given(check.limit),
        baseline=given(check.baseline),
        detail=given(check.detail) or "",
        comparable=given(check.comparable),
    )


def choice_probabilities(loglikelihoods: Sequence[float] | None) -> list[float | None]:
    """Return each choice's probability normalized over the choices (softmax of the log-likelihoods)."""
    if not loglikelihoods:
        return [None] * len(_LETTERS)
    top = max(loglikelihoods)
    weights = [math.exp(value - top) for value in loglikelihoods]
    total = sum(weights)
    return [w / total for w in weights]


def evidence_spans(evidence: Any, reply_length: int) -> list[tuple[int, int, str, str]]:
    """Return (start, end, kind, label) for every piece of the reply the grading evidence points at.

    The rubric records `[start, end]` character spans under each key point (`key_points[].spans`, kind
    "hit"), each forbidden claim (`forbidden[].spans`: "forbidden" when asserted, "negated" when a negation
    cancelled it) and the reply's echo of the prompt (`echoed_spans`, "echo"). Evidence without offsets
    is listed beside the reply, not highlighted.
    """
    if not isinstance(evidence, dict) or not reply_length:
        return []
    spans: list[tuple[int, int, str, str]] = []

    def add(pairs: Any, kind: str, label: str) -> None:
        for pair in pairs or []:
            if isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(v, int) for v in pair):
                start, end = pair
                if 0 <= start < end <= reply_length:
                    spans.append((start, end, kind, label))

    for point in evidence.get("key_points") or []:
        if isinstance(point, dict) and point.get("hit"):
            add(point.get("spans"), "hit", f"key point: {point.get('matched') or point.get('point')}")
    for claim in evidence.get("forbidden") or []:
        if isinstance(claim, dict):
            if claim.get("asserted"):
                add(claim.get("spans"), "forbidden", f"forbidden claim: {claim.get('claim')}")
            else:
                negations = ", ".join(map(str, claim.get("negated_by") or []))
                add(claim.get("spans"), "negated", f"forbidden claim {claim.get('claim')}, negated by {negations}")
    add(evidence.get("echoed_spans"), "echo", "echoes the prompt (not credited)")
    return sorted(spans)


def _segments(reply: str, spans: Iterable[tuple[int, int, str, str]]) -> list[Segment]:
    """Cut the reply into plain and highlighted pieces; overlapping spans keep the first."""
    segments, at = [], 0
    for start, end, kind, label in spans:
        if start < at:
            continue
        if start > at:
            segments.append(Segment(reply[at:start]))
        segments.append(Segment(reply[start:end], kind, label))
        at = end
    if at < len(reply):
        segments.append(Segment(reply[at:]))
    return segments


def question_row(question: Question, known: dict[str, Any], flips: dict[str, tuple[str, Any]]) -> QuestionRow:
    """Return a question's row: its choices with their probabilities, and its flip in compare mode."""
    # Texts are the suite file's (`known`); a record never holds them, but an old hand-made one may (`extra`).
    texts = question.extra.get("choices") or known.get("choices") or []
    probabilities = choice_probabilities(given(question.loglikelihoods))
    answer, chosen = given(question.answer), given(question.chosen)
    choices = [
        ChoiceCell(
            letter,
            texts[i] if i < len(texts) else None,
            probabilities[i] if i < len(probabilities) else None,
            letter == answer,
            letter == chosen,
        )
        for i, letter in enumerate(_LETTERS[: max(len(texts), len(probabilities), 4)])
    ]
    key = f"{question.suite}/{question.id}" if question.suite else question.id
    flip, baseline_chosen = flips.get(key, (None, None))
    return QuestionRow(
        key=key,
        id=question.id,
        domain=given(question.domain, "unknown"),
        difficulty=given(question.difficulty, "unknown"),
        status=given(question.status, "answered"),
        text=question.extra.get("question") or known.get("question"),
        choices=choices,
        answer=answer,
        chosen=chosen,
        correct=bool(question.correct),
        flip=flip,
        baseline_chosen=baseline_chosen,
    )


def _evidence_rows(evidence: dict[str, Any] | None) -> list[tuple[str, str]]:
    shown = []
    for key, value in (evidence or {}).items():
        if key in ("hit", "missed", "forbidden_found"):
            continue
        shown.append((key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)))
    return shown


def _names(values: Any) -> list[str]:
    """Evidence lists hold strings (or dicts naming a point or claim): return what each says."""
    names = []
    for value in values or []:
        if isinstance(value, dict):
            names.append(str(next((value[k] for k in ("point", "claim", "text", "match") if value.get(k)), value)))
        else:
            names.append(str(value))
    return names


def _hits(evidence: dict[str, Any]) -> list[str]:
    """The key points hit, each as the alternative that matched ("$23,000"), else as written."""
    points = [p for p in evidence.get("key_points") or [] if isinstance(p, dict) and p.get("hit")]
    if points:
        return [str(p.get("matched") or p.get("point")) for p in points]
    return _names(evidence.get("hit"))


def probe_key(probe: Probe) -> tuple[str, str]:
    """Return (suite, id): what names a probe across runs (two suites may both have a probe `p1`)."""
    return (given(probe.suite) or "", probe.id)


def probe_row(probe: Probe, known: dict[str, Any], baseline_latency: dict[tuple[str, str], float]) -> ProbeRow:
    """Return a probe's row: its reply cut at the grading evidence, its timings and grade."""
    reply = given(probe.answer) or ""
    evidence = given(probe.evidence) or {}
    # A judge-graded probe keeps the rubric's evidence (the spans) under "rubric" beside the judge's own.
    rubric = evidence["rubric"] if isinstance(evidence.get("rubric"), dict) else evidence
    return ProbeRow(
        id=probe.id,
        domain=given(probe.domain, "unknown"),
        status=given(probe.status, "answered"),
        prompt=probe.extra.get("prompt") or known.get("prompt"),
        reply=_segments(reply, evidence_spans(rubric, len(reply))),
        stop_reason=given(probe.stop_reason),
        prompt_tokens=given(probe.prompt_tokens),
        new_tokens=given(probe.new_tokens),
        ttft_s=given(probe.ttft_s),
        tokens_per_s=given(probe.decode_tokens_per_s),
        latency_s=given(probe.latency_median_s),
        grade=given(probe.grade),
        hit=_hits(rubric),
        missed=_names(rubric.get("missed")),
        forbidden_found=_names(rubric.get("forbidden_found")),
        evidence=_evidence_rows(evidence),
        baseline_latency_s=baseline_latency.get(probe_key(probe)),
    )
