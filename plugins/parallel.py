"""Whether `-n N` (pytest-xdist) can be faster than a serial run here, said once at start.

Each xdist worker loads the model itself. With an in-process engine on the CPU, one process already runs
torch on every core, so N workers split the same cores N ways, each paying its own model load: measured
on tiny on a 2-core machine, `-n 2` took 2-3x as long as serial (`nox -s bench -k parallel`). A served
engine (the server does the work) or a GPU per worker can gain; there the hint stays silent.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["workers", "cannot_be_faster", "hint"]


def workers(config: pytest.Config) -> int:
    """Return the number of xdist workers this run starts (0 when serial)."""
    n = getattr(config.option, "numprocesses", None)
    return n if isinstance(n, int) and config.pluginmanager.hasplugin("xdist") else 0


def cannot_be_faster(engine: str, n: int) -> bool:
    """Return True when `n` workers cannot beat one process: an in-process engine and fewer GPUs than workers."""
    from tunebench.engines.registry import engine_class

    if n < 2 or not engine_class(engine).needs_weights:
        return False
    import torch

    return torch.cuda.device_count() < n


def hint(config: pytest.Config, engine: str) -> str | None:
    """Return the start-up line saying a parallel run here is slower than serial, or None."""
    n = workers(config)
    if not cannot_be_faster(engine, n):
        return None
    return (
        f"tunebench: -n {n} is slower than a serial run here: each of the {n} workers loads the model and "
        f"they share {os.cpu_count()} CPU cores that one process already uses (engine {engine}, no GPU per "
        "worker); run without -n"
    )
