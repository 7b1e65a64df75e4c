"""Memory estimates of named things: a registry model or a recipe, from their config files (no weights).

These read the config files, then hand the numbers to `tunebench.memory.estimate`'s arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunebench.config import Config
from tunebench.loading import base_location, read_folder_config, read_location_config
from tunebench.memory import estimate as maths
from tunebench.registry import ModelEntry, Registry

if TYPE_CHECKING:
    from tunebench.training.recipe import Recipe

__all__ = ["estimate_for_entry", "estimate_for_recipe", "recipe_on_gpu", "read_model_config"]


# Kept for callers of `tunebench.memory.read_model_config(folder)`: the reader is loading's.
read_model_config = read_folder_config


def estimate_for_entry(
    entry: ModelEntry,
    config: Config,
    *,
    device: str | None = None,
    batch_size: int | None = None,
    seq_len: int = 512,
    rank: int = 16,
    use_dora: bool = True,
    gradient_checkpointing: bool = True,
) -> dict[str, maths.MemoryEstimate]:
    """Return {"eval": ..., "training": ...} for a registry entry, reading only its config files.

    The dtype follows `tunebench.loading`: bf16 on a CUDA device, fp32 on the CPU. The eval estimate uses
    the config's eval settings (batch size, max_new_tokens); the training one a phase of `rank`, DoRA or
    LoRA, `batch_size` x `seq_len` tokens.
    """
    registry = Registry(config)
    base = read_location_config(entry.base, registry)
    shape = maths.ModelShape.from_config(base, where=f"{entry.base.rstrip('/')}/config.json")
    adapter = None
    if entry.adapter:
        adapter = maths.AdapterShape.from_adapter_config(
            read_location_config(entry.adapter, registry, "adapter_config.json")
        )
    on_gpu = (device or ("cuda" if _cuda_available() else "cpu")).startswith("cuda")
    dtype = "bfloat16" if on_gpu else "float32"
    settings = config.eval
    eval_estimate = maths.estimate_eval(
        shape,
        dtype=dtype,
        adapter=adapter,
        merged=True,
        batch_size=batch_size or settings.batch_size,
        max_new_tokens=settings.max_new_tokens,
        device="cuda" if on_gpu else "cpu",
    )
    train_adapter = adapter or maths.AdapterShape(rank=rank, use_dora=use_dora)
    training = maths.estimate_training(
        shape,
        train_adapter,
        dtype=dtype,
        batch_size=batch_size or 4,
        seq_len=seq_len,
        gradient_checkpointing=gradient_checkpointing,
        fused_loss=True,
        device="cuda" if on_gpu else "cpu",
    )
    return {"eval": eval_estimate, "training": training}


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def estimate_for_recipe(recipe: Recipe, config: Config, *, device: str | None = None) -> maths.MemoryEstimate:
    """Return a recipe's training-phase estimate from its base's config.json; LoadError when it cannot be read."""
    registry = Registry(config)
    model_config = read_location_config(base_location(recipe.model, registry), registry)
    return maths.estimate_recipe_phase(recipe, model_config, on_gpu=recipe_on_gpu(recipe, device))


def recipe_on_gpu(recipe: Recipe, device: str | None = None) -> bool:
    """Return whether `recipe` trains on a GPU: its `device`, or for "auto" `device` (default: this machine's)."""
    if recipe.device in ("cpu", "cuda"):
        return recipe.device == "cuda"
    return (device or ("cuda" if _cuda_available() else "cpu")).startswith("cuda")
