"""How a training step runs fast: the attention kernel, padding-free batches and the fused loss, per recipe.

Three recipe keys, each `"auto"` by default and resolved here once per run from what is installed and where
the run trains (the record keeps what was resolved, `hyperparameters.throughput`):

- `attn_implementation`: `flash_attention_2` on CUDA where flash-attn is installed (its varlen kernel runs each
  sequence of a padding-free batch on its own), else `sdpa` (torch's fused attention); `eager` on request.
- `padding_free`: each batch is one flattened sequence, its examples told apart by `position_ids` (TRL's
  collator; transformers builds a block-diagonal mask from them for `sdpa`/`eager`, and flash attention runs
  varlen), so no token is padding and the curriculum's order is kept (no packing, which reorders or cuts
  examples). `auto`: on with flash_attention_2 only; with sdpa or eager the block-diagonal mask spans the whole
  flattened batch (attention over sum(lengths)^2 instead of batch x longest^2), which the CPU bench measures
  slower than the padding it saves (benchmarks/test_bench_training.py). Losses equal the padded batches'
  (tests/test_training_throughput.py).
- `liger_kernel`: Liger's Triton kernels (RMSNorm, SwiGLU, RoPE; its fused linear cross-entropy where trl
  lacks its own fused LM head). `auto`: on where liger-kernel, Triton and CUDA are present and trl does not
  fuse the loss itself; trl 1.16 computes the loss through its own fused, chunked LM head
  (`compat.trl_fuses_lm_head`), which the record notes as `fused_lm_head`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunebench import compat
from tunebench.errors import RecipeError
from tunebench.training.recipe import Recipe
from tunebench.training.recipe_keys import ATTENTION

__all__ = ["ATTENTION", "Throughput", "resolve", "padded_tokens"]


@dataclass(frozen=True)
class Throughput:
    """What a run's steps use: the attention implementation, padding-free batches, Liger, trl's fused LM head."""

    attn_implementation: str
    padding_free: bool
    liger_kernel: bool
    fused_lm_head: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the record's `hyperparameters.throughput` object."""
        return {
            "attn_implementation": self.attn_implementation,
            "padding_free": self.padding_free,
            "liger_kernel": self.liger_kernel,
            "fused_lm_head": self.fused_lm_head,
        }


def resolve(recipe: Recipe, on_cuda: bool) -> Throughput:
    """Return the recipe's throughput settings on this machine; RecipeError for one asked for and not runnable."""
    attention = _attention(recipe, on_cuda)
    return Throughput(
        attn_implementation=attention,
        padding_free=_padding_free(recipe, attention),
        liger_kernel=_liger(recipe, on_cuda),
        fused_lm_head=compat.trl_fuses_lm_head(),
    )


def _attention(recipe: Recipe, on_cuda: bool) -> str:
    flash = on_cuda and compat.flash_attention_2_available()
    if recipe.attn_implementation == "auto":
        return "flash_attention_2" if flash else "sdpa"
    if recipe.attn_implementation == "flash_attention_2" and not flash:
        where = "flash-attn is not installed or not usable" if on_cuda else "the run trains on the CPU"
        raise RecipeError(
            f"{recipe.path}: key attn_implementation: expected an implementation this machine runs, found "
            f'\'flash_attention_2\' ({where}); pip install flash-attn on a CUDA machine, or set "auto" or "sdpa"'
        )
    return recipe.attn_implementation


def _padding_free(recipe: Recipe, attention: str) -> bool:
    if recipe.padding_free == "auto":
        # Varlen flash attention runs each example on its own; sdpa and eager attend over the whole flattened
        # batch through a block-diagonal mask, which costs more than the padding saved at the seed's lengths.
        return attention == "flash_attention_2"
    return bool(recipe.padding_free)


def _liger(recipe: Recipe, on_cuda: bool) -> bool:
    available = on_cuda and compat.liger_kernel_available()
    if recipe.liger_kernel is True and not available:
        raise RecipeError(
            f"{recipe.path}: key liger_kernel: expected liger-kernel to run here, found "
            f"{'it not installed (or no Triton)' if on_cuda else 'a CPU run (Liger is Triton kernels for CUDA)'}; "
            'pip install liger-kernel on a CUDA machine, or set "auto"'
        )
    if recipe.liger_kernel == "auto":
        return available and not compat.trl_fuses_lm_head()
    return bool(recipe.liger_kernel)


def padded_tokens(lengths: list[int], batch: int) -> int:
    """Return the tokens a padded pass computes over sequences of `lengths` in order, `batch` at a time."""
    return sum(max(lengths[i : i + batch]) * len(lengths[i : i + batch]) for i in range(0, len(lengths), batch))
