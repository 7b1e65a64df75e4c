"""The hf engine's log-likelihoods: batched forward passes of a transformers model, lm-eval's way.

Context and continuation are tokenized as lm-eval's HFLM does (`engines.base.encode_pair`: encode the whole
string, the continuation is what follows the context's tokens). When every continuation is one token after
the same context, which is the case for the multiple-choice prompt with byte-level BPE tokenizers, one
forward pass over the context scores all four choices: the choice log-likelihoods are the log-softmax at
the context's last position. Otherwise each (context, continuation) pair is scored on its own row, summing
the continuation tokens' log-probabilities, as lm-eval does.

Rows are sorted by length (longest first, as lm-eval does) and batched with right padding and an
attention mask; each row reads the logits at its own last real position, so padding changes nothing.
Log-softmax runs in float32 whatever the model's dtype.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tunebench.engines.base import encode_pair
from tunebench.scoring.choice import TARGET_DELIMITER, ChoiceResult, format_prompt, result_of
from tunebench.suites import LETTERS, Question

__all__ = ["score_questions", "score_pairs", "model_max_length"]


def score_questions(
    model: Any,
    tokenizer: Any,
    questions: Sequence[Question],
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
    one_pass: bool = True,
) -> list[ChoiceResult]:
    """Return one ChoiceResult per question, in the questions' order (see the module docstring for how).

    `progress(done, total)` counts questions (those longer than the model's context are not scored).

    `one_pass=False` scores every choice on its own row even when one pass would do (lm-eval's layout
    without its logits cache); the results are the same, which tests/test_choice.py checks.
    """
    rows = [row for i, q in enumerate(questions) for row in _Row.for_question(i, q, tokenizer, one_pass)]
    lls: dict[int, dict[int, tuple[float, bool]]] = {i: {} for i in range(len(questions))}
    limit = model_max_length(model)
    too_long = {row.question for row in rows if len(row.tokens) > limit}
    todo = sorted((r for r in rows if r.question not in too_long), key=lambda r: (-len(r.tokens), r.tokens))
    rows_left = Counter(row.question for row in todo)  # progress counts questions whose every row is scored
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        for row, scores in zip(batch, _score_batch(model, batch, _pad_id(tokenizer)), strict=True):
            lls[row.question].update(scores)
            rows_left[row.question] -= 1
        if progress:
            progress(sum(1 for left in rows_left.values() if not left), len(rows_left))
    return [_result(q, lls[i], too_long, limit, i) for i, q in enumerate(questions)]


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[float, bool]]:
    """lm-eval's `loglikelihood`: (sum of continuation log-probs, continuation is greedy) per (context, cont).

    Each pair is its own row (context + continuation without its last token), batched longest first.
    A pair longer than the model's context is an error naming it (lm-eval would truncate its context).
    """
    limit = model_max_length(model)
    rows = []
    for i, (context, continuation) in enumerate(pairs):
        ctx, cont = encode_pair(tokenizer, context, continuation)
        if len(ctx) + len(cont) > limit:
            raise ValueError(f"request {i}: {len(ctx) + len(cont)} tokens, longer than the model's {limit}")
        rows.append(_Row(i, (ctx + cont)[:-1], {0: cont}))
    out: list[tuple[float, bool]] = [(math.nan, False)] * len(rows)
    todo = sorted(rows, key=lambda r: (-len(r.tokens), r.tokens))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        for row, scores in zip(batch, _score_batch(model, batch, _pad_id(tokenizer)), strict=True):
            out[row.question] = scores[0]
        if progress:
            progress(min(start + batch_size, len(todo)), len(todo))
    return out


@dataclass
class _Row:
    """One forward-pass row: input tokens and, per choice scored on it, the continuation tokens."""

    question: int
    tokens: list[int]
    conts: dict[int, list[int]]

    @classmethod
    def for_question(cls, index: int, question: Question, tokenizer: Any, one_pass: bool = True) -> list[_Row]:
        context = format_prompt(question)
        pairs = [encode_pair(tokenizer, context, TARGET_DELIMITER + label) for label in LETTERS]
        contexts = {tuple(ctx) for ctx, _ in pairs}
        if one_pass and len(contexts) == 1 and all(len(cont) == 1 for _, cont in pairs):
            return [cls(index, pairs[0][0], {i: cont for i, (_, cont) in enumerate(pairs)})]
        # lm-eval's input: context + continuation without its last token; the last len(cont) logits score it.
        return [cls(index, (ctx + cont)[:-1], {i: cont}) for i, (ctx, cont) in enumerate(pairs)]


def _score_batch(model: Any, batch: list[_Row], pad_id: int) -> list[dict[int, tuple[float, bool]]]:
    import torch

    width = max(len(row.tokens) for row in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, row in enumerate(batch):
        ids[i, : len(row.tokens)] = torch.tensor(row.tokens)
        mask[i, : len(row.tokens)] = 1
    longest_cont = max(len(c) for row in batch for c in row.conts.values())
    # Positions whose logits are needed: each row's last len(cont) real positions.
    needed = sorted({p for row in batch for p in range(len(row.tokens) - longest_cont, len(row.tokens)) if p >= 0})
    with torch.inference_mode():
        logits, kept = _forward(model, ids.to(model.device), mask.to(model.device), needed)
        logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
    column = {p: j for j, p in enumerate(kept)}
    out = []
    for i, row in enumerate(batch):
        scores = {}
        for choice, cont in row.conts.items():
            positions = [column[p] for p in range(len(row.tokens) - len(cont), len(row.tokens))]
            row_lp = logprobs[i, positions]
            target = torch.tensor(cont)
            ll = float(row_lp.gather(1, target[:, None]).sum())
            scores[choice] = (ll, bool((row_lp.argmax(dim=-1) == target).all()))
        out.append(scores)
    return out


def _forward(model: Any, ids: Any, mask: Any, needed: list[int]) -> tuple[Any, list[int]]:
    """Return (logits at `needed` positions, those positions); all positions if the model can't slice."""
    import torch

    if len(needed) < ids.shape[1]:
        try:
            keep = torch.tensor(needed, device=ids.device)
            return model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits, needed
        except TypeError:  # a model class without `logits_to_keep`
            pass
    return model(input_ids=ids, attention_mask=mask).logits, list(range(ids.shape[1]))


def _result(
    question: Question, scores: dict[int, tuple[float, bool]], too_long: set[int], limit: int, index: int
) -> ChoiceResult:
    if index in too_long:
        return ChoiceResult(question.id, question.answer, error=f"prompt longer than the model's {limit} tokens")
    return result_of(question, [scores[i] for i in range(len(LETTERS))])


def _pad_id(tokenizer: Any) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if isinstance(value, int):
            return value
    return 0


def model_max_length(model: Any) -> int:
    """Return the model's context length from its config (n_positions, max_position_embeddings, n_ctx); 2048."""
    config = getattr(model, "config", None)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return 2048
