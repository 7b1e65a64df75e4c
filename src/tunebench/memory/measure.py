"""Measure the real peak memory of a block: peak allocated on CUDA, peak resident set size on the CPU.

The CPU peak is Linux's VmHWM, reset through `/proc/self/clear_refs` where the kernel allows it (exact),
else the resident set size sampled by a thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MiB",
    "PeakMemory",
    "current_rss_bytes",
    "MEMORY_MEASURES",
    "GPU_MEASURES",
    "memory_measure",
    "memory_measure_of",
]

MiB = 1 << 20

# How a record's peak memory was measured: the one field name (`memory_measure`) and vocabulary of the eval
# record's `resources` and the training record's phases. CUDA's max allocated, Linux's exact peak RSS (VmHWM),
# the RSS sampled by a thread, or (hand-imported training runs) the RSS sampled at the trainer's steps.
MEMORY_MEASURES = ("cuda_max_allocated", "rss_peak", "rss_sampled", "rss_sampled_at_steps")
GPU_MEASURES = frozenset({"cuda_max_allocated"})


def memory_measure_of(peak: PeakMemory) -> str:
    """Return how `peak` (a closed PeakMemory block) measured: one of MEMORY_MEASURES."""
    if peak.kind == "cuda":
        return "cuda_max_allocated"
    return "rss_peak" if peak.exact else "rss_sampled"


def memory_measure(entry: Mapping[str, object] | None) -> str | None:
    """Return an eval `resources` or training phase entry's `memory_measure`, old records' names mapped to it.

    The one place the deprecated eval field `memory_kind` ("rss", "cuda_allocated"; records before the field
    was renamed) is read: "cuda_allocated" is "cuda_max_allocated", "rss" is "rss_peak" where the entry says
    the peak was exact and "rss_sampled" where not. None for an entry that says neither.
    """
    if not entry:
        return None
    if entry.get("memory_measure") is not None:
        return str(entry["memory_measure"])
    old = entry.get("memory_kind")
    if old == "cuda_allocated":
        return "cuda_max_allocated"
    if old == "rss":
        return "rss_peak" if entry.get("exact") else "rss_sampled"
    return None


def current_rss_bytes() -> int:
    """Return this process's resident set size in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _read_hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    # Linux >= 4.0: writing 5 resets the peak RSS (VmHWM) to the current RSS; exact, no sampling.
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return _read_hwm_bytes() is not None


class PeakMemory:
    """Context manager: the peak memory reached inside the block, and the level at its start.

    `kind` is "cuda" (peak allocated by torch on the current device) or "rss" (peak resident set size of
    the process). `peak_bytes` is the absolute peak; `delta_bytes` is the peak above the start level,
    what the block itself added at its worst moment. Blocks may nest: resetting the process-wide peak
    for an inner block first hands the peak so far to the enclosing ones.
    """

    def __init__(self, device: str | None = None, sample_interval_s: float = 0.002):
        self.kind = "cuda" if (device or "").startswith("cuda") or (device is None and _cuda_ready()) else "rss"
        self.start_bytes = 0
        self.peak_bytes = 0
        self._interval = sample_interval_s
        self._sampler: threading.Thread | None = None
        self._stop = threading.Event()
        self._exact = False
        self._carried = 0  # peaks seen before an inner block reset the process-wide counter

    @property
    def exact(self) -> bool:
        """True when the peak is the counter's own (CUDA, or Linux's VmHWM), False when it was sampled."""
        return self.kind == "cuda" or self._exact

    @property
    def delta_bytes(self) -> int:
        return max(0, self.peak_bytes - self.start_bytes)

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda":
            import torch

            torch.cuda.synchronize()
            _hand_over_peak(self.kind, torch.cuda.max_memory_allocated())
            torch.cuda.reset_peak_memory_stats()
            self.start_bytes = torch.cuda.memory_allocated()
            _ACTIVE.append(self)
            return self
        self.start_bytes = current_rss_bytes()
        _hand_over_peak(self.kind, _read_hwm_bytes() or 0)
        self._exact = _reset_hwm()
        if self._exact:
            _ACTIVE.append(self)
        else:
            self.peak_bytes = self.start_bytes
            self._sampler = threading.Thread(target=self._sample, name="tunebench-peak-rss", daemon=True)
            self._sampler.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.kind == "cuda":
            import torch

            torch.cuda.synchronize()
            self.peak_bytes = max(torch.cuda.max_memory_allocated(), self._carried)
            _ACTIVE.remove(self)
            return
        if self._exact:
            self.peak_bytes = max(_read_hwm_bytes() or 0, self._carried, self.start_bytes)
            _ACTIVE.remove(self)
            return
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        self.peak_bytes = max(self.peak_bytes, current_rss_bytes())

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, current_rss_bytes())
            time.sleep(self._interval)

    def as_dict(self) -> dict[str, Any]:
        """Return the measurement as JSON-ready values (MiB, rounded), for records and benchmark tables."""
        return {
            "kind": self.kind,
            "peak_mb": round(self.peak_bytes / MiB, 1),
            "delta_mb": round(self.delta_bytes / MiB, 1),
            "start_mb": round(self.start_bytes / MiB, 1),
        }


_ACTIVE: list[PeakMemory] = []  # open blocks that rely on a resettable process-wide peak


def _hand_over_peak(kind: str, peak: int) -> None:
    for outer in _ACTIVE:
        if outer.kind == kind:
            outer._carried = max(outer._carried, peak)


def _cuda_ready() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and torch.cuda.is_initialized())
