"""Training: recipes, the curriculum sampler, phase-by-phase runs that survive preemption and OOM, preflight."""

from __future__ import annotations

__all__ = ["train", "load_recipe", "Recipe", "Phase", "TrainingRecord"]


def __getattr__(name: str) -> object:
    # Lazy: `tunebench doctor` and recipe validation should not pay for importing transformers and trl.
    if name == "train":
        from tunebench.training.run import train

        return train
    if name == "TrainingRecord":
        from tunebench.training.record import TrainingRecord

        return TrainingRecord
    if name in ("load_recipe", "Recipe", "Phase"):
        from tunebench.training import recipe

        return getattr(recipe, name)
    raise AttributeError(f"module 'tunebench.training' has no attribute {name!r}")
