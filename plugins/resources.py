"""Peak memory of an eval run: each process's peak RSS, or CUDA's peak allocated where the model is on a GPU.

Every process (the serial run, each xdist worker, the controller) opens a `tunebench.memory.PeakMemory`
block in `pytest_configure`, before any session fixture loads the model, and closes it in
`pytest_sessionfinish`. Workers send theirs to the controller in `workeroutput`; the record keeps the
largest, which is what one machine needs to run the evaluation in one process.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tunebench.memory import GPU_MEASURES, PeakMemory, format_bytes, memory_measure, memory_measure_of
from tunebench_pytest.fixtures import MODEL_INFO

__all__ = ["WORKER_OUTPUT_KEY", "start", "finish", "combine", "describe"]

WORKER_OUTPUT_KEY = "tunebench_resources"
_PEAK = pytest.StashKey[PeakMemory]()


def start(config: pytest.Config) -> None:
    """Start measuring this process's peak memory (idempotent)."""
    if _PEAK not in config.stash:
        # Where the peak RSS cannot be reset (not Linux) PeakMemory samples: coarsely, for a whole session.
        config.stash[_PEAK] = PeakMemory(device="cpu", sample_interval_s=0.05).__enter__()


def finish(config: pytest.Config) -> dict[str, Any] | None:
    """Stop measuring and return this process's `resources` entry, or None when `start` never ran."""
    peak = config.stash.get(_PEAK, None)
    if peak is None:
        return None
    del config.stash[_PEAK]
    peak.__exit__(None, None, None)
    device = (config.stash.get(MODEL_INFO, None) or {}).get("device")
    resources = {
        "peak_memory_bytes": int(peak.peak_bytes),
        "memory_measure": memory_measure_of(peak),
        "device": device,
        "exact": peak.exact,
        "start_rss_bytes": int(peak.start_bytes),
        "peak_rss_bytes": int(peak.peak_bytes),
        "processes": 1,
    }
    cuda_peak = _cuda_peak(device)
    if cuda_peak is not None:
        resources.update(peak_memory_bytes=cuda_peak, memory_measure="cuda_max_allocated", exact=True)
    return resources


def _cuda_peak(device: str | None) -> int | None:
    if not device or not str(device).startswith("cuda"):
        return None
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    # Torch's peak since the process started: this process's work is the evaluation (nothing in the eval
    # path resets the counter), so there is no block to open before CUDA is first used.
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def combine(entries: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Return the largest process's entry (GPU peaks before RSS ones), counting how many processes reported."""
    present = [e for e in entries if e]
    if not present:
        return None
    largest = max(present, key=lambda e: (memory_measure(e) in GPU_MEASURES, e["peak_memory_bytes"]))
    return {**largest, "processes": len(present)}


def describe(resources: dict[str, Any] | None) -> str | None:
    """Return "peak memory 812 MB (rss)" for the summary line, or None when nothing was measured."""
    if not resources:
        return None
    kind = "GPU allocated" if memory_measure(resources) in GPU_MEASURES else "RSS"
    return f"peak memory {format_bytes(resources['peak_memory_bytes'])} ({kind})"
