"""Memory estimates of named things: a registry model or a recipe, from their config files (no weights).

These read the config files, then hand the numbers to `tunebench.memory.estimate`'s arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunebench.memory.estimate import (
    AdapterShape,
    MemoryEstimate,
    ModelShape,
    estimate_eval,
    estimate_recipe_phase,
    estimate_training,
)

__all__ = ["estimate_for_entry", "estimate_for_recipe", "read_model_config"]


def read_model_config(folder: str | Path) -> dict[str, Any]:
    """Return the config.json of a model folder as a dict (no weights are read)."""
    from tunebench.errors import LoadError

    path = Path(folder) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadError(f"{path}: cannot read the model config ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise LoadError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None


def estimate_for_entry(
    entry: Any,
    config: Any,
    *,
    device: str | None = None,
    batch_size: int | None = None,
    seq_len: int = 512,
    rank: int = 16,
    use_dora: bool = True,
    gradient_checkpointing: bool = True,
) -> dict[str, MemoryEstimate]:
    """Return {"eval": ..., "training": ...} for a registry entry, reading only its config files.

    The dtype follows `tunebench.loading`: bf16 on a CUDA device, fp32 on the CPU. The eval estimate uses
    the config's eval settings (batch size, max_new_tokens); the training one a phase of `rank`, DoRA or
    LoRA, `batch_size` x `seq_len` tokens.
    """
    from tunebench.registry import Registry

    registry = Registry(config)
    folder = _config_folder(entry.base, registry, "config.json")
    shape = ModelShape.from_config(read_model_config(folder), where=str(Path(folder) / "config.json"))
    adapter = None
    if entry.adapter:
        adapter_folder = _config_folder(entry.adapter, registry, "adapter_config.json")
        adapter_cfg = json.loads((Path(adapter_folder) / "adapter_config.json").read_text(encoding="utf-8"))
        adapter = AdapterShape.from_adapter_config(adapter_cfg)
    on_gpu = (device or ("cuda" if _cuda_available() else "cpu")).startswith("cuda")
    dtype = "bfloat16" if on_gpu else "float32"
    settings = config.eval
    eval_estimate = estimate_eval(
        shape,
        dtype=dtype,
        adapter=adapter,
        merged=True,
        batch_size=batch_size or settings.batch_size,
        max_new_tokens=settings.max_new_tokens,
        device="cuda" if on_gpu else "cpu",
    )
    train_adapter = adapter or AdapterShape(rank=rank, use_dora=use_dora)
    training = estimate_training(
        shape,
        train_adapter,
        dtype=dtype,
        batch_size=batch_size or 4,
        seq_len=seq_len,
        gradient_checkpointing=gradient_checkpointing,
        fused_loss=True,
    )
    return {"eval": eval_estimate, "training": training}


def _pulled_folder(uri: str, file_name: str) -> str | None:
    """Return the newest pulled version folder of `uri` in the cache holding `file_name`, or None."""
    from tunebench.storage.cache import cache_dir_for
    from tunebench.storage.location import GcsLocation

    found = sorted(cache_dir_for(GcsLocation.parse(uri)).glob(f"*/{file_name}"), key=lambda p: p.stat().st_mtime)
    return str(found[-1].parent) if found else None


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _config_folder(location: str, registry: Any, file_name: str) -> str:
    """Return a local folder holding `location`'s `file_name`, without fetching weights."""
    from tunebench.errors import LoadError
    from tunebench.registry import TINY_BASE

    if location == TINY_BASE:
        from tunebench.tiny import tiny_path

        return str(tiny_path())
    if location.startswith("gs://"):
        pulled = _pulled_folder(location, file_name)
        if pulled is None:
            raise LoadError(
                f"{location}: no pulled copy with {file_name} in the cache; the estimate reads only "
                "local config files (pull the model once: tunebench models pull NAME)"
            )
        return pulled
    local = registry.resolve_local(location)
    if Path(local).is_dir():
        return local
    from huggingface_hub import snapshot_download

    try:  # a hub id already in the local cache (we never download here)
        return snapshot_download(local, allow_patterns=["*.json"], local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises several unrelated types here
        raise LoadError(f"{location}: not a local folder and not in the hub cache ({exc})") from None


def estimate_for_recipe(recipe: Any, config: Any, *, device: str | None = None) -> MemoryEstimate | None:
    """Return a recipe's training-phase estimate, or None when its base config.json is not on this machine."""
    from tunebench.training.preflight import read_base_config

    model_config = read_base_config(recipe, config)
    if model_config is None:
        return None
    on_gpu = (device or ("cuda" if _cuda_available() else "cpu")).startswith("cuda") and recipe.device != "cpu"
    return estimate_recipe_phase(recipe, model_config, on_gpu=on_gpu)
