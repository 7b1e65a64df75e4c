"""Quality grades 1-5 for probe answers: the deterministic rubric grader (`grade`, version `RUBRIC_VERSION`).

The reply is read as tokens with character offsets into the reply as given (Python `str` indices), so the
evidence can be highlighted. Words are lower-cased and stemmed (Snowball English: "itemizing" reads
"item", like "itemize"); "n't"/"cannot" read as "not"; numbers are read by value, written in digits or
words, with their scale and unit: "$23,000", "23,000", "$23k", "23 thousand" are all 23000; "6%", "six
percent" are 6 percent; "59½" is 59.5. A reply splits into sentences at . ! ? ; and line breaks.

- Echo: a run of `ECHO_RUN` or more reply tokens copied from the prompt is an echo; its tokens count for
  nothing (neither key points nor similarity).
- Key point "a|b|...": hit when one alternative's content words (stopwords dropped) appear in order in
  one sentence of the reply, at most `CLAIM_GAP` tokens apart, none inside an echo. An alternative made
  only of the prompt's words counts only in an arrangement the prompt does not have: "bonds" never counts
  for a question about bonds, "bonds in the IRA" counts for "bonds or stocks in my taxable account versus
  my IRA?". Paraphrases are caught by listing their wordings as alternatives, and by similarity.
- Forbidden claim "a|b|...": found when one alternative's words (articles and "is/are" dropped, negations
  kept) appear in order in one sentence, at most `CLAIM_GAP` tokens apart, and the claim is asserted: no
  negation ("not", "no", "never", "myth", "wrong", ...) other than the claim's own words within
  `NEGATION_BEFORE` tokens before the claim, inside it, or `NEGATION_AFTER` after it ("the penalty is not
  50%", "no 50% penalty", "the 50% penalty is a myth" do not assert it).
- Similarity: token F1 between the reply's and the reference's content words, both without the prompt's
  words (copying the question earns nothing).

coverage = hit key points / key points, mapped to a score by the first row of `THRESHOLDS` that applies:

    5  coverage >= 0.75 and similarity >= 0.2
    4  coverage >= 0.75, or coverage >= 0.5 and similarity >= 0.4
    3  coverage >= 0.5, or coverage >= 0.25 and similarity >= 0.2
    2  coverage >= 0.25, or similarity >= 0.2
    1  otherwise (an empty answer is 1)

then a reply asserting a forbidden claim is wrong, however fluent: one claim caps the grade at 2, two or
more give 1. The evidence (`Grade.evidence`) names each key point with the alternative and spans that hit
it, each forbidden claim with its spans (and the negation that cancelled it), the echoed spans, the
reply's spans shared with the reference, the two measures, the row that applied and a one-line reason.
The same answer always gets the same grade.

Known limits (a judge, `scoring.judge`, reads meaning; the rubric reads words): stems conflate the modal
"will avoid" with the noun in the claim "will avoids probate"; a negation more than `NEGATION_BEFORE`
tokens before a claim does not cancel it; a key point stated and then denied still counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import snowballstemmer

from tunebench.suites import Probe

__all__ = ["Grade", "Token", "grade", "tokenize", "reason", "RUBRIC_VERSION", "THRESHOLDS"]

RUBRIC_VERSION = "rubric-v2"
# (score, minimum coverage, minimum similarity), first match wins; see the module docstring.
THRESHOLDS = (
    (5, 0.75, 0.2),
    (4, 0.75, 0.0),
    (4, 0.5, 0.4),
    (3, 0.5, 0.0),
    (3, 0.25, 0.2),
    (2, 0.25, 0.0),
    (2, 0.0, 0.2),
)
FORBIDDEN_CAP = 2  # one asserted forbidden claim caps the grade here; two or more give 1
ECHO_RUN = 4
CLAIM_GAP = 3
NEGATION_BEFORE = 4
NEGATION_AFTER = 3
_STEMMER = snowballstemmer.stemmer("english")


def _stems(words: str) -> frozenset[str]:
    """The words and their stems (tokens are compared stemmed)."""
    return frozenset(words.split()) | frozenset(_STEMMER.stemWords(words.split()))


_STOPWORDS = _stems(
    "a an the of to in on for and or is are be was were it its this that with as at by from your you i my me "
    "we our can may will should would do does not no if so than then there their they them what which how "
    "have has had been being any all each more most much also just only s"
)
_CLAIM_FILLERS = _stems("a an the is are be was were")
_NEGATIONS = _stems(
    "not no never none neither nor without myth false wrong incorrect untrue outdated misconception mistaken"
)
_ONES = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_SCALES = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "million": 1e6, "bn": 1e9, "b": 1e9, "billion": 1e9}
_TOKEN = re.compile(
    r"\$?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<half>½)?(?P<suffix>%|(?:k|mm|m|bn)\b)?"
    r"|(?P<word>[^\W\d_]+(?:[-'’][^\W\d_]+)*)",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?;\n]")


@dataclass(frozen=True)
class Token:
    """One reply token: its normalized form, where it is in the text, and its value if it is a number."""

    text: str
    start: int
    end: int
    sentence: int
    value: float | None = None
    percent: bool = False

    def matches(self, other: Token) -> bool:
        """Same word (stem), or the same number (a percent only matches a percent)."""
        if self.value is not None or other.value is not None:
            return self.value == other.value and (self.percent == other.percent)
        return self.text == other.text


@dataclass(frozen=True)
class Grade:
    """A 1-5 grade with the evidence it rests on."""

    score: int
    evidence: dict[str, Any] = field(default_factory=dict)


def tokenize(text: str) -> list[Token]:
    """Return the tokens of `text` (see the module docstring), each with its character span in `text`."""
    raw: list[Token] = []
    sentence, last_end = 0, 0
    for match in _TOKEN.finditer(text):
        if _SENTENCE_END.search(text, last_end, match.start()):
            sentence += 1
        last_end = match.end()
        raw.extend(_read(match, sentence))
    return _attach_units(raw)


def _read(match: re.Match[str], sentence: int) -> list[Token]:
    start, end = match.span()
    if match.group("num"):
        value = float(match.group("num").replace(",", "")) + (0.5 if match.group("half") else 0.0)
        suffix = (match.group("suffix") or "").lower()
        percent = suffix == "%"
        if suffix and not percent:
            value *= _SCALES[suffix]
        return [Token(_number_text(value, percent), start, end, sentence, value, percent)]
    word = unicodedata.normalize("NFKC", match.group("word")).lower().replace("’", "'")
    number = _number_word(word)
    if number is not None:
        return [Token(_number_text(number, False), start, end, sentence, number)]
    tokens: list[Token] = []
    offset = start
    for part in re.split(r"([-'])", word):
        if part and part not in "-'":
            tokens.extend(_word_tokens(part, offset, offset + len(part), sentence))
        offset += len(part)
    return _contractions(tokens, word, start, end, sentence)


def _word_tokens(part: str, start: int, end: int, sentence: int) -> list[Token]:
    if part == "cannot":
        return [Token("can", start, end, sentence), Token("not", start, end, sentence)]
    return [Token(_STEMMER.stemWord(part), start, end, sentence)]


def _contractions(tokens: list[Token], word: str, start: int, end: int, sentence: int) -> list[Token]:
    """ "don't" -> do not; "won't" -> will not (the "t" after the apostrophe is the negation)."""
    if word.endswith("n't") and tokens and tokens[-1].text == "t":
        base = {"wo": "will", "ca": "can", "sha": "shall"}.get(word[:-3], word[:-3])
        return [Token(_STEMMER.stemWord(base), start, end, sentence), Token("not", start, end, sentence)]
    return tokens


def _number_word(word: str) -> float | None:
    if word in _ONES:
        return float(_ONES[word])
    if word in _TENS:
        return float(_TENS[word])
    tens, _, ones = word.partition("-")
    if tens in _TENS and ones in _ONES and 0 < _ONES[ones] < 10:
        return float(_TENS[tens] + _ONES[ones])
    return None


def _attach_units(tokens: list[Token]) -> list[Token]:
    """Fold "thousand/million/billion", "percent" and "dollars" after a number into the number."""
    out: list[Token] = []
    for token in tokens:
        previous = out[-1] if out else None
        if previous is not None and previous.value is not None and previous.sentence == token.sentence:
            scale = _SCALES.get(token.text) if token.text in ("thousand", "million", "billion") else None
            if scale and not previous.percent:
                value = previous.value * scale
                out[-1] = Token(_number_text(value, False), previous.start, token.end, token.sentence, value)
                continue
            if token.text == "percent" and not previous.percent:
                out[-1] = Token(
                    _number_text(previous.value, True), previous.start, token.end, token.sentence, previous.value, True
                )
                continue
            if token.text in ("dollar", "usd"):
                out[-1] = Token(previous.text, previous.start, token.end, token.sentence, previous.value)
                continue
        out.append(token)
    return out


def _number_text(value: float, percent: bool) -> str:
    shown = f"{value:.6g}" if value != int(value) else str(int(value))
    return f"#{shown}{'%' if percent else ''}"


def _content(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.value is not None or t.text not in _STOPWORDS]


def grade(answer: str, probe: Probe) -> Grade:
    """Return the rubric grade (1-5) of `answer` to `probe`, with its evidence."""
    reply = tokenize(answer)
    prompt = tokenize(probe.prompt)
    prompt_terms = {t.text for t in prompt}
    echoed = _echoes(reply, prompt)
    usable = [t for i, t in enumerate(reply) if i not in echoed]
    points = [_key_point(point, reply, prompt, echoed) for point in probe.key_points]
    claims = [_claim(claim, reply) for claim in probe.forbidden]
    hit = [p["point"] for p in points if p["hit"]]
    found = [c["claim"] for c in claims if c["asserted"]]
    coverage = len(hit) / len(probe.key_points)
    similarity, shared = _similarity(usable, tokenize(probe.reference), prompt_terms)
    score, rule = _score(coverage, similarity) if reply else (1, "empty answer")
    final = score if not found else min(score, FORBIDDEN_CAP) if len(found) == 1 else 1
    evidence = {
        "grader": RUBRIC_VERSION,
        "key_points": points,
        "hit": hit,
        "missed": [p["point"] for p in points if not p["hit"]],
        "forbidden": claims,
        "forbidden_found": found,
        "echoed_spans": _merge_spans([(reply[i].start, reply[i].end) for i in sorted(echoed)]),
        "reference_spans": _merge_spans([(t.start, t.end) for t in shared]),
        "coverage": round(coverage, 4),
        "similarity": round(similarity, 4),
        "rule": rule,
        "score_before_penalty": score,
    }
    evidence["reason"] = reason(evidence)
    return Grade(final, evidence)


def reason(evidence: dict[str, Any]) -> str:
    """One line for people: "3/4 key points; no forbidden claim" (or the claims found)."""
    total = len(evidence.get("hit", ())) + len(evidence.get("missed", ()))
    found = evidence.get("forbidden_found") or []
    claims = "forbidden: " + ", ".join(f'"{c}"' for c in found) if found else "no forbidden claim"
    return f"{len(evidence.get('hit', ()))}/{total} key points; {claims}"


def _echoes(reply: list[Token], prompt: list[Token]) -> set[int]:
    """Indexes of reply tokens inside a run of `ECHO_RUN` or more tokens copied from the prompt."""
    grams = {tuple(t.text for t in prompt[i : i + ECHO_RUN]) for i in range(len(prompt) - ECHO_RUN + 1)}
    echoed: set[int] = set()
    for i in range(len(reply) - ECHO_RUN + 1):
        if tuple(t.text for t in reply[i : i + ECHO_RUN]) in grams:
            echoed.update(range(i, i + ECHO_RUN))
    return echoed


def _key_point(point: str, reply: list[Token], prompt: list[Token], echoed: set[int]) -> dict[str, Any]:
    result: dict[str, Any] = {"point": point, "hit": False, "matched": None, "spans": []}
    prompt_terms = {t.text for t in prompt}
    for alternative in _alternatives(point):
        needed = _content(tokenize(alternative)) or tokenize(alternative)
        if all(t.text in prompt_terms for t in needed) and _ordered_matches(needed, prompt):
            continue  # the prompt already says it: repeating it states nothing
        for positions in _ordered_matches(needed, reply):
            if not echoed.intersection(positions):
                spans = [[reply[positions[0]].start, reply[positions[-1]].end]]
                return {**result, "hit": True, "matched": alternative, "spans": spans}
    return result


def _claim(claim: str, reply: list[Token]) -> dict[str, Any]:
    result: dict[str, Any] = {"claim": claim, "asserted": False, "matched": None, "spans": [], "negated_by": []}
    negated: dict[str, Any] | None = None
    for alternative in _alternatives(claim):
        needed = [t for t in tokenize(alternative) if t.text not in _CLAIM_FILLERS]
        for positions in _ordered_matches(needed, reply):
            spans = [[reply[positions[0]].start, reply[positions[-1]].end]]
            negations = _negations(positions, reply)
            if not negations:
                return {**result, "asserted": True, "matched": alternative, "spans": spans}
            if negated is None:
                negated = {**result, "matched": alternative, "spans": spans, "negated_by": negations}
    return negated or result


def _ordered_matches(needed: list[Token], reply: list[Token]) -> list[list[int]]:
    """Every way `needed` appears in order in one sentence with gaps of at most `CLAIM_GAP` tokens."""
    if not needed:
        return []
    found: list[list[int]] = []

    def extend(positions: list[int]) -> None:
        if len(positions) == len(needed):
            found.append(positions)
            return
        last = positions[-1]
        for j in range(last + 1, min(last + 2 + CLAIM_GAP, len(reply))):
            if reply[j].sentence == reply[last].sentence and reply[j].matches(needed[len(positions)]):
                extend([*positions, j])

    for i, token in enumerate(reply):
        if token.matches(needed[0]):
            extend([i])
    return found


def _negations(positions: list[int], reply: list[Token]) -> list[list[int]]:
    sentence = reply[positions[0]].sentence
    low, high = max(0, positions[0] - NEGATION_BEFORE), min(len(reply), positions[-1] + NEGATION_AFTER + 1)
    return [
        [reply[i].start, reply[i].end]
        for i in range(low, high)
        if i not in positions and reply[i].sentence == sentence and reply[i].text in _NEGATIONS
    ]


def _similarity(reply: list[Token], reference: list[Token], prompt_terms: set[str]) -> tuple[float, list[Token]]:
    """Token F1 of the content words beyond the prompt's, and the reply tokens the reference shares."""
    answer = [t for t in _content(reply) if t.text not in prompt_terms]
    wanted = [t for t in _content(reference) if t.text not in prompt_terms]
    common = Counter(t.text for t in answer) & Counter(t.text for t in wanted)
    total = sum(common.values())
    if not total:
        return 0.0, []
    precision, recall = total / len(answer), total / len(wanted)
    return 2 * precision * recall / (precision + recall), [t for t in answer if t.text in common]


def _alternatives(text: str) -> list[str]:
    return [a.strip() for a in text.split("|") if a.strip()]


def _merge_spans(spans: list[tuple[int, int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, end in sorted(set(spans)):
        if merged and start <= merged[-1][1] + 1:  # "catch-up", "bonds in": one highlight
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def _score(coverage: float, similarity: float) -> tuple[int, str]:
    for score, min_coverage, min_similarity in THRESHOLDS:
        if coverage >= min_coverage and similarity >= min_similarity:
            return score, f"coverage >= {min_coverage} and similarity >= {min_similarity} -> {score}"
    return 1, "below every threshold -> 1"
