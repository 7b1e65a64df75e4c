"""The typed state one training run carries from phase to phase (what `run.py` passes around)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunebench.config import Config
from tunebench.data import Example
from tunebench.training import resilience
from tunebench.training.recipe import Phase, Recipe
from tunebench.training.throughput import Throughput

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["TrainingRun"]


@dataclass
class TrainingRun:
    """One run: its inputs (recipe, config, data), its persisted state (`run.json`) and the loaded model.

    `state` is what survives a preemption; the rest is rebuilt by every attempt.
    """

    recipe: Recipe
    config: Config
    output_dir: Path
    state: resilience.RunState
    plans: dict[str, list[Example]]
    validation: list[Example]
    latch: resilience.PreemptionLatch
    callbacks: Sequence[Any] = ()
    started_at: str = ""
    clock: float = 0.0
    base: PreTrainedModel | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    base_path: str = ""
    base_location: str = ""
    device: str = "cpu"
    dtype: torch.dtype | None = None
    throughput: Throughput | None = None  # resolved when the base model loads

    @property
    def is_main(self) -> bool:
        """Rank 0 of a multi-process run (or the only process): the one that writes files and records."""
        return int(os.environ.get("RANK", "0")) == 0

    def phase_dir(self, phase: Phase) -> Path:
        return self.output_dir / "phases" / phase.name

    def batch_layout(self) -> tuple[int, int]:
        """The (per-device batch, grad_accum) in force: the recipe's, or what OOM retries halved it to."""
        data = self.state.data
        return data.get("batch_size") or self.recipe.batch_size, data.get("grad_accum") or self.recipe.grad_accum

    def save_state(self) -> None:
        if self.is_main:
            self.state.save()
