"""The `hf` engine's `generate_until`: greedy generation to stop strings, as lm-eval's HFLM does it.

lm-eval tasks of `output_type: generate_until` send (context, generation kwargs) requests. This answers
them the way `lm_eval.models.huggingface.HFLM.generate_until` does, so a task scored here gives lm-eval's
outputs: contexts tokenized with the tokenizer's default special tokens (none when the text starts with
BOS), longest first, batched with left padding; greedy decoding up to `max_gen_toks` (256 unless the task
says) with lm-eval's stop-string criteria, the eos token added to the stop strings; the continuation
decoded without special tokens and cut at the first stop string. lm-eval's own helpers do the kwargs
normalisation, the stop criteria and the cut, so a change there changes both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tunebench.engines.base import DEFAULT_MAX_GEN_TOKS
from tunebench.engines.hf_choice import model_max_length

__all__ = ["generate_until", "DEFAULT_MAX_GEN_TOKS"]


def generate_until(
    model: Any,
    tokenizer: Any,
    requests: Sequence[tuple[str, dict[str, Any]]],
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Return the greedy continuation of each (context, gen_kwargs), cut at its stop strings, in order."""
    order = sorted(range(len(requests)), key=lambda i: (-len(tokenizer.encode(requests[i][0])), requests[i][0]))
    groups: dict[str, list[int]] = {}
    for i in order:  # lm-eval batches requests with equal generation kwargs together
        groups.setdefault(repr(sorted(requests[i][1].items())), []).append(i)
    out: list[str | None] = [None] * len(requests)
    done = 0
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            batch = indices[start : start + batch_size]
            texts = _generate_batch(model, tokenizer, [requests[i][0] for i in batch], requests[batch[0]][1])
            for i, text in zip(batch, texts, strict=True):
                out[i] = text
            done += len(batch)
            if progress:
                progress(done, len(requests))
    return [text or "" for text in out]


def _generate_batch(model: Any, tokenizer: Any, contexts: list[str], gen_kwargs: dict[str, Any]) -> list[str]:
    import torch

    normalize, stops, cut, criteria = _lm_eval_helpers()
    kwargs = normalize(gen_kwargs, DEFAULT_MAX_GEN_TOKS)
    eos = tokenizer.decode(tokenizer.eos_token_id, skip_special_tokens=False)
    until = stops(kwargs.pop("until", None), eos=eos)
    max_gen_toks = kwargs.pop("max_gen_toks")
    if kwargs.get("do_sample") or kwargs.get("temperature", 0.0) not in (0, 0.0, None):
        raise ValueError(f"generate_until: only greedy decoding is supported, the task asks for {gen_kwargs}")
    kwargs.pop("temperature", None)
    kwargs["do_sample"] = False
    ids, mask = _encode_left_padded(tokenizer, contexts, model_max_length(model) - max_gen_toks)
    ids, mask = ids.to(model.device), mask.to(model.device)
    with torch.inference_mode():
        output = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_length=ids.shape[1] + max_gen_toks,
            stopping_criteria=criteria(tokenizer, until, ids.shape[1], ids.shape[0]),
            pad_token_id=tokenizer.pad_token_id,
            use_cache=True,
            **kwargs,
        )
    return [
        cut(tokenizer.decode(row[ids.shape[1] :].tolist(), skip_special_tokens=True), until, None) for row in output
    ]


def _encode_left_padded(tokenizer: Any, contexts: list[str], max_context: int) -> tuple[Any, Any]:
    """HFLM.tok_batch_encode: left padding to the longest, no BOS added to a text that already has it."""
    if max_context <= 0:
        raise ValueError(f"generate_until: max_gen_toks leaves no room for a context ({max_context} tokens)")
    bos = getattr(tokenizer, "bos_token", None)
    special = {"add_special_tokens": False} if bos and contexts[0].startswith(bos) else {}
    before = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        encoding = tokenizer(contexts, padding="longest", return_tensors="pt", **special)
    finally:
        tokenizer.padding_side = before
    return encoding["input_ids"][:, -max_context:], encoding["attention_mask"][:, -max_context:]


def _lm_eval_helpers() -> tuple[Any, Any, Any, Any]:
    """lm-eval's kwargs normaliser, stop-string list, stop-string cut and stopping criteria."""
    from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text

    try:
        from lm_eval.models.utils_hf import stop_sequences_criteria
    except ImportError:  # lm-eval < 0.4.10 kept the HF helpers in models.utils
        from lm_eval.models.utils import stop_sequences_criteria
    return normalize_gen_kwargs, handle_stop_sequences, postprocess_generated_text, stop_sequences_criteria
