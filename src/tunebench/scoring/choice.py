"""Multiple-choice scoring by log-likelihood, with lm-eval's `multiple_choice` semantics: prompt and picks.

The prompt is the question, its lettered choices and "Answer:"; the continuations are " A" .. " D"
(lm-eval's default target delimiter " " before each choice label). An engine (`tunebench.engines`) scores
them: `loglikelihood` per (context, continuation), or the hf engine's one forward pass per question
(`engines.hf_choice`); this module holds no model code.

acc picks argmax(ll); acc_norm picks argmax(ll / len(choice)), with len counted in characters of the
choice label as lm-eval 0.4 does (its `acc_bytes` uses UTF-8 bytes; for the ASCII letters A-D they agree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tunebench.suites import LETTERS, Question

__all__ = ["ChoiceResult", "TARGET_DELIMITER", "format_prompt", "pick", "result_of"]

TARGET_DELIMITER = " "


@dataclass(frozen=True)
class ChoiceResult:
    """One question's outcome: per-choice log-likelihoods, the picks by acc and acc_norm, or an error."""

    id: str
    answer: str
    loglikelihoods: tuple[float, ...] = ()
    is_greedy: tuple[bool, ...] = ()
    chosen: str | None = None
    chosen_norm: str | None = None
    error: str | None = None

    @property
    def correct(self) -> bool:
        """True when the highest log-likelihood choice is the answer (lm-eval's acc)."""
        return self.error is None and self.chosen == self.answer

    @property
    def correct_norm(self) -> bool:
        """True when the highest length-normalized log-likelihood choice is the answer (lm-eval's acc_norm)."""
        return self.error is None and self.chosen_norm == self.answer


def format_prompt(question: Question) -> str:
    """Return the prompt: the question, its lettered choices, then "Answer:" (the lm-eval YAML's doc_to_text)."""
    lines = [f"Question: {question.question}"]
    lines += [f"{letter}. {choice}" for letter, choice in zip(LETTERS, question.choices, strict=True)]
    lines.append("Answer:")
    return "\n".join(lines)


def pick(loglikelihoods: Sequence[float], labels: Sequence[str] = LETTERS) -> tuple[str, str]:
    """Return (acc pick, acc_norm pick): argmax of ll and of ll / len(label), first index on ties (numpy's)."""
    raw = max(range(len(loglikelihoods)), key=lambda i: (loglikelihoods[i], -i))
    norm = max(range(len(loglikelihoods)), key=lambda i: (loglikelihoods[i] / len(labels[i]), -i))
    return labels[raw], labels[norm]


def result_of(question: Question, scores: Sequence[tuple[float, bool]]) -> ChoiceResult:
    """Return a question's ChoiceResult from its choices' (log-likelihood, is_greedy), in LETTERS order."""
    lls = tuple(float(s[0]) for s in scores)
    if not all(math.isfinite(ll) for ll in lls):
        return ChoiceResult(question.id, question.answer, loglikelihoods=(), error=f"non-finite log-likelihoods {lls}")
    chosen, chosen_norm = pick(lls)
    return ChoiceResult(question.id, question.answer, lls, tuple(bool(s[1]) for s in scores), chosen, chosen_norm)
