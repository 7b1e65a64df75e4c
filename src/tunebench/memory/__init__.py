"""Memory: measure real peaks (`measure`) and estimate them from a model's config before anything loads.

`estimate` is the arithmetic (shapes in, bytes out); `targets` reads the config files of a registry
model or a recipe's base and hands them to it. The names below are the package's public API.
"""

from __future__ import annotations

from tunebench.memory.estimate import (
    AdapterShape,
    MemoryEstimate,
    ModelShape,
    estimate_eval,
    estimate_recipe_phase,
    estimate_training,
)
from tunebench.memory.measure import (
    GPU_MEASURES,
    MEMORY_MEASURES,
    MiB,
    PeakMemory,
    current_rss_bytes,
    memory_measure,
    memory_measure_of,
)
from tunebench.memory.targets import estimate_for_entry, estimate_for_recipe, read_model_config
from tunebench.units import format_bytes

__all__ = [
    "MiB",
    "ModelShape",
    "AdapterShape",
    "MemoryEstimate",
    "PeakMemory",
    "MEMORY_MEASURES",
    "GPU_MEASURES",
    "memory_measure",
    "memory_measure_of",
    "estimate_eval",
    "estimate_training",
    "estimate_for_entry",
    "estimate_for_recipe",
    "estimate_recipe_phase",
    "read_model_config",
    "current_rss_bytes",
    "format_bytes",
]
