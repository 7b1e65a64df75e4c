"""Whether `-n N` (pytest-xdist) can be faster than a serial run here, said once at start.

Each xdist worker starts its own Python, loads the model itself and (under the default `--dist load`) scores
the selected questions itself. With an in-process engine on the CPU the workers split the same cores, each
paying that start-up: on tiny with 2 CPU cores `-n 2` took 1.4x as long as serial in one run (46 s vs 34 s)
and 1.9x in another on a busy machine (112 s vs 60 s, interleaved rounds), `nox -s bench -k parallel`. A served engine
(the server does the work) or a GPU per worker can gain; there the hint stays silent. Not measured: a CPU
machine with many more cores than workers running tiny (which runs single-threaded there).
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
        f"tunebench: -n {n} is slower than a serial run here: each of the {n} workers starts, loads the model "
        f"and scores on the same {os.cpu_count()} CPU cores (engine {engine}, no GPU per worker); run without -n"
    )
