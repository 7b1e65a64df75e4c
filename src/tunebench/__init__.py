"""tunebench: train LoRA/DoRA adapters, evaluate them with pytest suites, gate CI on the history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunebench.errors import TunebenchError
from tunebench.provenance import tunebench_version

__version__ = tunebench_version()

if TYPE_CHECKING:
    from pathlib import Path

    from tunebench.training.recipe import Recipe
    from tunebench.training.record import TrainingRecord

__all__ = ["TunebenchError", "__version__", "train"]


def train(recipe: Recipe | str | Path, **kwargs: Any) -> TrainingRecord:
    """Run a training recipe and return its TrainingRecord (see `tunebench.training.run.train`)."""
    from tunebench.training.run import train as _train

    return _train(recipe, **kwargs)
