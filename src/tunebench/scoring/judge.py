"""An LLM judge for probe answers: a G-Eval-style rubric prompt, a strictly parsed grade and reason.

The judge is any registry model (`[tool.tunebench.eval.judge] model = "NAME"`). It reads the fixed prompt
`JUDGE_PROMPT` (version `JUDGE_PROMPT_VERSION`, sha256 `JUDGE_PROMPT_SHA256`, both recorded): the
criteria, the evaluation steps, the probe's key points, forbidden claims and reference answer, then the
answer. It must reply with exactly one line `Grade: N` (N in 1-5) and one line `Reason: ...`; anything
else is a `JudgeError` naming the judge and the reply (never a silent grade). Decoding is greedy
(temperature 0). With `n` > 1 the answer is judged n times and the grade is the median (lower middle)
with the share of judgments that agree with it; greedy local decoding repeats itself, so `n` matters on
engines that are not bit-reproducible (batched servers). Every grade records the judge's registry name,
model id (base and adapter) and engine.

Engine: the judge replies through a tunebench engine (`engines.Engine.generate`, greedy); this module
knows no engine. `engines.select.load_judge` opens a registry model as the judge, as the model under test
is opened: an entry with an `endpoint` is served (vLLM, SGLang, TGI, llama.cpp), any other is in-process.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunebench.errors import JudgeError
from tunebench.scoring.quality import Grade
from tunebench.suites import Probe

if TYPE_CHECKING:
    from tunebench.engines.base import Engine

__all__ = [
    "Judge",
    "JudgeError",
    "JUDGE_PROMPT",
    "JUDGE_PROMPT_VERSION",
    "JUDGE_PROMPT_SHA256",
    "judge_prompt",
    "parse_judgment",
    "judge_grade",
    "engine_judge",
]

JUDGE_PROMPT_VERSION = "judge-v2"
JUDGE_PROMPT = """You are grading an answer to a financial-planning question. Be strict and factual.

Criteria: the answer is correct, states the key points below, and makes none of the forbidden claims.
A fluent answer that makes a forbidden claim is wrong.

Evaluation steps:
1. Read the question, the key points, the forbidden claims and the reference answer.
2. Check which key points the answer states (in any wording). Repeating the question does not count.
3. Check whether the answer asserts any forbidden claim (saying it is false is not asserting it).
4. Choose the grade: 5 states every key point correctly; 4 misses one minor point; 3 is partly correct;
2 is mostly wrong or asserts a forbidden claim; 1 is wrong, empty or off topic.

Question:
{prompt}

Key points:
{key_points}

Forbidden claims:
{forbidden}

Reference answer:
{reference}

Answer to grade:
{answer}

Reply with exactly two lines and nothing else:
Grade: <one digit from 1 to 5>
Reason: <one sentence>"""
JUDGE_PROMPT_SHA256 = hashlib.sha256(JUDGE_PROMPT.encode("utf-8")).hexdigest()
_GRADE_LINE = re.compile(r"grade\s*:\s*(\S+)\s*", re.IGNORECASE)
_REASON_LINE = re.compile(r"reason\s*:\s*(.*)", re.IGNORECASE)


@dataclass(frozen=True)
class Judge:
    """A judge model: its registry name, model id, engine, and how it completes a chat."""

    name: str
    model_id: str
    engine: str
    complete: Callable[[list[dict[str, str]], int], str]
    n: int = 1
    max_new_tokens: int = 96


def judge_prompt(answer: str, probe: Probe) -> str:
    """Return the judge prompt for `answer` to `probe`."""
    return JUDGE_PROMPT.format(
        prompt=probe.prompt,
        key_points="\n".join(f"- {' or '.join(p.split('|'))}" for p in probe.key_points),
        forbidden="\n".join(f"- {' or '.join(c.split('|'))}" for c in probe.forbidden) or "- (none)",
        reference=probe.reference,
        answer=answer.strip() or "(empty)",
    )


def parse_judgment(reply: str) -> tuple[int, str]:
    """Return (grade, reason) from a judge reply of exactly `Grade: N` and `Reason: ...`; ValueError otherwise."""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if len(lines) != 2:
        raise ValueError(f"expected two lines (Grade: N, Reason: ...), found {len(lines)}")
    grade_line, reason_line = _GRADE_LINE.fullmatch(lines[0]), _REASON_LINE.fullmatch(lines[1])
    if grade_line is None or grade_line.group(1) not in ("1", "2", "3", "4", "5"):
        raise ValueError(f"expected the first line 'Grade: N' with N from 1 to 5, found {lines[0]!r}")
    if reason_line is None or not reason_line.group(1).strip():
        raise ValueError(f"expected the second line 'Reason: ...' with a reason, found {lines[1]!r}")
    return int(grade_line.group(1)), reason_line.group(1).strip()


def judge_grade(answer: str, probe: Probe, judge: Judge) -> Grade:
    """Return the judge's 1-5 grade of `answer` with its reason, agreement and identity as evidence."""
    messages = [{"role": "user", "content": judge_prompt(answer, probe)}]
    judgments: list[dict[str, Any]] = []
    for _ in range(judge.n):
        reply = judge.complete(messages, judge.max_new_tokens)
        try:
            score, why = parse_judgment(reply)
            judgments.append({"grade": score, "reason": why, "reply": reply})
        except ValueError as exc:
            judgments.append({"grade": None, "error": str(exc), "reply": reply})
    evidence: dict[str, Any] = {
        "grader": f"judge:{judge.name}",
        "judge_model": judge.name,
        "judge_model_id": judge.model_id,
        "judge_engine": judge.engine,
        "prompt_version": JUDGE_PROMPT_VERSION,
        "prompt_sha256": JUDGE_PROMPT_SHA256,
        "temperature": 0,
        "n": judge.n,
        "judgments": judgments,
    }
    grades = [j["grade"] for j in judgments if j["grade"] is not None]
    if not grades:
        first = judgments[0]
        error = JudgeError(
            f"judge {judge.name!r} ({JUDGE_PROMPT_VERSION}) on probe {probe.id}: {first['error']}; "
            f"its reply was {_shorten(first['reply'])}"
        )
        error.evidence = evidence  # the replies, for the record
        raise error
    final = statistics.median_low(grades)
    evidence["agreement"] = round(sum(1 for g in grades if g == final) / len(judgments), 4)
    evidence["reason"] = "judge: " + next(j["reason"] for j in judgments if j["grade"] == final)
    evidence["errors"] = sum(1 for j in judgments if j["grade"] is None)
    return Grade(final, evidence)


def engine_judge(name: str, engine: Engine, n: int = 1, max_new_tokens: int = 96) -> Judge:
    """Return a `Judge` that replies greedily through a tunebench engine (any `engines.Engine`)."""
    info = engine.info()

    def complete(messages: list[dict[str, str]], limit: int) -> str:
        return engine.generate(messages, max_new_tokens=limit, repeats=1, warmup=0).text

    return Judge(name, info.model_id, info.engine, complete, n=n, max_new_tokens=max_new_tokens)


def _shorten(reply: str, limit: int = 120) -> str:
    shown = repr(reply[:limit])
    return shown + (f" ... ({len(reply)} characters)" if len(reply) > limit else "")
