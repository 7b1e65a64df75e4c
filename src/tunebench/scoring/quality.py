"""Quality grades 1-5 for probe answers: a deterministic rubric grader, and an opt-in LLM judge.

Rubric grader (`grade`, version `RUBRIC_VERSION`). Text is normalized first: Unicode NFKC, lower case,
"½" as ".5", "%" as " percent", thousands separators and "$" dropped (so "$23,000" reads "23000"), then
split into word tokens.

- A key point is hit when every content word of one of its alternatives ("a|b") appears in the answer.
- A forbidden claim is found when its words appear in the answer as one contiguous run.
- Similarity is the token F1 between the answer's and the reference's content words.

coverage = hit key points / key points, mapped to a score by the first row that applies:

    5  coverage >= 0.75 and similarity >= 0.25
    4  coverage >= 0.75, or coverage >= 0.5 and similarity >= 0.25
    3  coverage >= 0.5, or coverage >= 0.25 and similarity >= 0.25
    2  coverage >= 0.25, or similarity >= 0.15
    1  otherwise (an empty answer is 1)

then each forbidden claim found takes 2 points off (never below 1). The evidence keeps what was hit,
missed and found, the two measures and the row that applied. The same answer always gets the same grade.

Judge (`judge_grade`): a registry model reads the question, the rubric, the reference and the answer
under the fixed prompt `JUDGE_PROMPT` (version `JUDGE_PROMPT_VERSION`, its sha256 recorded) and replies
with one digit; greedy decoding, so a given judge and answer always give the same grade.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tunebench.errors import TunebenchError
from tunebench.suites import Probe

__all__ = [
    "Grade",
    "grade",
    "normalize",
    "tokens",
    "RUBRIC_VERSION",
    "THRESHOLDS",
    "JUDGE_PROMPT",
    "JUDGE_PROMPT_VERSION",
    "JUDGE_PROMPT_SHA256",
    "JudgeError",
    "judge_grade",
]

RUBRIC_VERSION = "rubric-v1"
# (score, minimum coverage, minimum similarity), first match wins; see the module docstring.
THRESHOLDS = (
    (5, 0.75, 0.25),
    (4, 0.75, 0.0),
    (4, 0.5, 0.25),
    (3, 0.5, 0.0),
    (3, 0.25, 0.25),
    (2, 0.25, 0.0),
    (2, 0.0, 0.15),
)
FORBIDDEN_PENALTY = 2
_STOPWORDS = frozenset(
    "a an the of to in on for and or is are be was were it its this that with as at by from your you i my me "
    "we our can may will should would do does not no if so than then there their they them what which how".split()
)


@dataclass(frozen=True)
class Grade:
    """A 1-5 grade with the evidence it rests on."""

    score: int
    evidence: dict[str, Any] = field(default_factory=dict)


def normalize(text: str) -> str:
    """Return `text` normalized for matching (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text.replace("½", ".5")).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    text = text.replace("%", " percent ").replace("$", " ")
    text = re.sub(r"[\u2010-\u2015]", "-", text)
    return " ".join(tokens_of(text))


def tokens_of(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?|[a-z0-9]+", text)


def tokens(text: str) -> list[str]:
    """Return the normalized word tokens of `text`."""
    return normalize(text).split()


def _content(words: list[str]) -> list[str]:
    return [w for w in words if w not in _STOPWORDS]


def grade(answer: str, probe: Probe) -> Grade:
    """Return the rubric grade (1-5) of `answer` to `probe`, with its evidence."""
    words = tokens(answer)
    present = set(words)
    hit = [point for point in probe.key_points if _point_hit(point, present)]
    missed = [point for point in probe.key_points if point not in hit]
    found = [claim for claim in probe.forbidden if _contains_run(words, tokens(claim))]
    coverage = len(hit) / len(probe.key_points)
    similarity = _token_f1(_content(words), _content(tokens(probe.reference)))
    score, rule = _score(coverage, similarity) if words else (1, "empty answer")
    penalized = max(1, score - FORBIDDEN_PENALTY * len(found))
    return Grade(
        penalized,
        {
            "grader": RUBRIC_VERSION,
            "hit": hit,
            "missed": missed,
            "forbidden_found": found,
            "coverage": round(coverage, 4),
            "similarity": round(similarity, 4),
            "rule": rule,
            "score_before_penalty": score,
        },
    )


def _point_hit(point: str, present: set[str]) -> bool:
    for alternative in point.split("|"):
        needed = _content(tokens(alternative)) or tokens(alternative)
        if needed and all(word in present for word in needed):
            return True
    return False


def _contains_run(words: list[str], run: list[str]) -> bool:
    if not run:
        return False
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def _token_f1(answer: list[str], reference: list[str]) -> float:
    common = sum((Counter(answer) & Counter(reference)).values())
    if not common:
        return 0.0
    precision, recall = common / len(answer), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _score(coverage: float, similarity: float) -> tuple[int, str]:
    for score, min_coverage, min_similarity in THRESHOLDS:
        if coverage >= min_coverage and similarity >= min_similarity:
            return score, f"coverage >= {min_coverage} and similarity >= {min_similarity} -> {score}"
    return 1, "below every threshold -> 1"


JUDGE_PROMPT_VERSION = "judge-v1"
JUDGE_PROMPT = """You grade answers to financial-planning questions. Be strict and factual.

Question:
{prompt}

A good answer states these key points:
{key_points}

A good answer must not claim:
{forbidden}

Reference answer:
{reference}

Answer to grade:
{answer}

Grade the answer from 1 (wrong or harmful) to 5 (complete and correct): 5 states every key point correctly,
4 misses one minor point, 3 is partly correct, 2 is mostly wrong or makes a forbidden claim, 1 is wrong,
empty or off topic. Reply with the grade as a single digit and nothing else."""
JUDGE_PROMPT_SHA256 = hashlib.sha256(JUDGE_PROMPT.encode("utf-8")).hexdigest()


class JudgeError(TunebenchError):
    """The judge model's reply held no grade from 1 to 5."""


def judge_grade(
    answer: str, probe: Probe, judge_model: Any, judge_tokenizer: Any, judge_name: str, **generate_kwargs: Any
) -> Grade:
    """Return the judge model's 1-5 grade of `answer`, its reply and the prompt's version and sha256 as evidence."""
    from tunebench.scoring.generation import timed_generate

    text = JUDGE_PROMPT.format(
        prompt=probe.prompt,
        key_points="\n".join(f"- {p}" for p in probe.key_points),
        forbidden="\n".join(f"- {c}" for c in probe.forbidden) or "- (none)",
        reference=probe.reference,
        answer=answer or "(empty)",
    )
    reply = timed_generate(
        judge_model,
        judge_tokenizer,
        [{"role": "user", "content": text}],
        max_new_tokens=8,
        repeats=1,
        warmup=0,
        **generate_kwargs,
    ).text
    evidence = {
        "grader": f"judge:{judge_name}",
        "judge_model": judge_name,
        "prompt_version": JUDGE_PROMPT_VERSION,
        "prompt_sha256": JUDGE_PROMPT_SHA256,
        "reply": reply,
    }
    match = re.search(r"[1-5]", reply)
    if match is None:
        raise JudgeError(
            f"judge {judge_name!r} ({JUDGE_PROMPT_VERSION}) on probe {probe.id}: expected a grade "
            f"1-5 in its reply, found {reply!r}"
        )
    return Grade(int(match.group()), evidence)
