"""The TrainingRecord: one JSON record per finished training run, validated and written to the history."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from typing import Any

from tunebench.config import Config

__all__ = ["TrainingRecord", "describe_hardware", "write_record", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class TrainingRecord:
    """A finished run's record (`data`, valid against training_record.schema.json) and where it was written."""

    data: dict[str, Any]
    location: str | None = None

    @property
    def run_id(self) -> str:
        return self.data["run_id"]

    @property
    def model_name(self) -> str:
        return self.data["output"]["name"]

    @property
    def phases(self) -> list[dict[str, Any]]:
        return self.data["phases"]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


def describe_hardware(device: str) -> dict[str, Any]:
    """Return what the run trained on: GPU name, count and memory, or the CPU; and the process count."""
    import psutil
    import torch

    info: dict[str, Any] = {
        "device": device,
        "gpu_name": None,
        "gpu_count": 0,
        "gpu_memory_bytes": None,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
    if device == "cuda" and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_name=props.name, gpu_count=torch.cuda.device_count(), gpu_memory_bytes=props.total_memory)
    return info


def write_record(record: dict[str, Any], config: Config) -> str:
    """Validate `record` against its schema, write it to the config's history store, return where it went."""
    from tunebench.history.store import open_store

    return open_store(config.history_uri).write(record)
