"""Surviving preemption and out-of-memory: run state, checkpoints, SIGTERM, and the OOM retry rule.

**Preemption.** A SIGTERM (a spot VM's notice, `kill`, Slurm's `--signal=TERM`) sets a latch for the whole
run. At the end of the step in progress the trainer saves a regular checkpoint and stops; the phase is
recorded as preempted, never as done, and `tunebench train RECIPE --resume` continues from the last
complete checkpoint of that phase, skipping finished phases.

transformers 5.24 has `TrainingArguments.enable_jit_checkpoint` for this, and we read its source
(`transformers/trainer_jit_checkpoint.py`) before deciding not to use it: (1) it waits 3 s on a timer
thread owned by one Trainer before asking for the checkpoint, and each phase builds a new Trainer, so a
SIGTERM in a phase's last seconds is lost when the next phase replaces the handler; (2) it usually fires
in `on_pre_optimizer_step`, saving a checkpoint in the middle of a step whose RNG state is already past
that step's forward pass, so a resumed run with dropout is not bit-identical to an uninterrupted one
(tried with transformers 5.24: SIGTERM after step 2 of 8 saved checkpoint-3 during step 4, and the resumed
adapter differed from the uninterrupted one); and (3) the run then ends with exit status 0, like a finished one.
The latch here spans phases and saves only at step ends, through the Trainer's own checkpoint path.

**OOM.** On `torch.OutOfMemoryError` the phase restarts from its starting adapter with half the
per-device batch and twice the accumulation, so the effective batch and the examples per optimizer step
stay the same. (`auto_find_batch_size` shrinks by 0.9x, keeps the accumulation and keeps weights already
updated by the failed attempt.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tunebench.errors import (  # TrainingPreempted, OutOfMemoryAtBatchOne: defined in errors, importable here too
    EXIT_PREEMPTED,
    OutOfMemoryAtBatchOne,
    TrainingPreempted,
)
from tunebench.storage.local import write_atomic

__all__ = [
    "RunState",
    "TrainingPreempted",
    "PreemptionLatch",
    "PreemptionCallback",
    "last_complete_checkpoint",
    "this_process",
    "failure_recorded",
    "is_out_of_memory",
    "halve_batch",
    "OutOfMemoryAtBatchOne",
    "PREEMPTED_EXIT",
]

PREEMPTED_EXIT = EXIT_PREEMPTED  # 75, EX_TEMPFAIL: try again (with --resume); the table is in errors.py
_INCOMPLETE_MARK = "checkpoint-is-incomplete.txt"  # transformers' JIT checkpoint sentinel, honoured if present


# --- run state -----------------------------------------------------------------------------------------


@dataclass
class RunState:
    """What a run has finished, kept in `<output dir>/run.json` so `--resume` can pick it up."""

    path: Path
    data: dict[str, Any]

    @classmethod
    def open(cls, path: Path, recipe_sha256: str) -> RunState:
        """Return the state at `path`, or a fresh one for this recipe."""
        if path.is_file():
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        return cls.fresh(path, recipe_sha256)

    @classmethod
    def fresh(cls, path: Path, recipe_sha256: str) -> RunState:
        """Return a new state for this recipe at `path` (nothing is written until `save`)."""
        return cls(
            path,
            {
                "recipe_sha256": recipe_sha256,
                "status": "new",
                "phases": {},
                "attempts": [],
                "oom_events": [],
                "batch_size": None,
                "grad_accum": None,
                "run_id": None,
            },
        )

    @property
    def status(self) -> str:
        return str(self.data["status"])

    def phase(self, name: str) -> dict[str, Any]:
        """Return the recorded figures of phase `name` (empty if it never ran)."""
        figures: dict[str, Any] = self.data["phases"].setdefault(name, {"status": "pending"})
        return figures

    def phase_done(self, name: str) -> bool:
        return self.phase(name).get("status") == "done"

    def process_gone(self) -> bool:
        """Return True when the state says "running" but the process that wrote it (on this host) is gone."""
        process = self.data.get("process") or {}
        if self.status != "running" or not process or process.get("host") != socket.gethostname():
            return False  # an older state, or another machine's process: this one cannot tell
        if process.get("pid") == os.getpid():
            return True  # this process is not training it (train() is not re-entered)
        try:
            os.kill(int(process["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError, KeyError):
            return False
        return False

    def trained_anything(self, output_dir: Path) -> bool:
        """Return True when a phase has started or a checkpoint exists (something a resume would keep)."""
        started = any(p.get("status") not in (None, "pending") for p in self.data["phases"].values())
        return started or any((output_dir / "phases").glob("*/checkpoint-*"))

    def describe_status(self) -> str:
        """Return the status with what explains it (whose process, which error)."""
        process = self.data.get("process") or {}
        if self.status == "running" and process:
            return f"running (process {process.get('pid')} on {process.get('host')})"
        if self.status == "crashed" and process:
            return f"crashed (its process {process.get('pid')} is gone)"
        if self.status in ("failed", "interrupted") and self.data.get("error"):
            return f"{self.status} ({self.data['error']})"
        return self.status

    def save(self) -> None:
        """Write the state atomically (`write_atomic`: temp file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True))


def this_process() -> dict[str, Any]:
    """Return {pid, host} of this process, kept in the state while it runs."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


@contextlib.contextmanager
def failure_recorded(state: RunState) -> Iterator[None]:
    """On an error (not a preemption, which saves its own state), mark a running state failed and save it."""
    try:
        yield
    except TrainingPreempted:
        raise
    except BaseException as exc:
        if state.data.get("status") == "running":
            state.data["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            state.data["error"] = f"{type(exc).__name__}: {exc}"[:500]
            with contextlib.suppress(OSError):  # a full disk may refuse this; the error itself still propagates
                state.save()
        raise


def last_complete_checkpoint(folder: Path) -> Path | None:
    """Return the highest-step `checkpoint-N` in `folder` that was written whole, or None."""
    if not folder.is_dir():
        return None
    complete = []
    for candidate in folder.iterdir():
        match = re.fullmatch(r"checkpoint-(\d+)", candidate.name)
        if match and (candidate / "trainer_state.json").is_file() and not (candidate / _INCOMPLETE_MARK).exists():
            complete.append((int(match.group(1)), candidate))
    return max(complete)[1] if complete else None


def clear_checkpoints(folder: Path) -> None:
    """Remove a phase's checkpoints (after an OOM restart they belong to another batch layout)."""
    shutil.rmtree(folder, ignore_errors=True)


# --- SIGTERM -------------------------------------------------------------------------------------------


class PreemptionLatch:
    """A SIGTERM handler for the whole run: it only records the signal; the trainer acts at a step end."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def install(self) -> PreemptionLatch:
        """Install the handler (main thread only); return self."""
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def restore(self) -> None:
        """Put back the handler that was there before."""
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __enter__(self) -> PreemptionLatch:
        return self.install()

    def __exit__(self, *exc_info: Any) -> None:
        self.restore()


class PreemptionCallback(TrainerCallback):
    """At each step end, if SIGTERM arrived (on any rank), save a checkpoint and stop training."""

    def __init__(self, latch: PreemptionLatch):
        self.latch = latch
        self.stopped_at: int | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if _any_rank(self.latch.requested, args):
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
        return control


def _any_rank(flag: bool, args: Any) -> bool:
    # Ranks must agree to stop at the same step, or the ones still training hang in their next all-reduce.
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([int(flag)], device=args.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


# --- OOM -----------------------------------------------------------------------------------------------


def is_out_of_memory(error: BaseException) -> bool:
    """Return True for torch's OutOfMemoryError (CUDA, MPS or XPU allocators)."""
    import torch

    return isinstance(error, torch.OutOfMemoryError)


def halve_batch(batch_size: int, grad_accum: int) -> tuple[int, int]:
    """Return a smaller (batch_size, grad_accum) with the same effective batch (batch_size * grad_accum).

    An even batch halves and grad_accum doubles (4 x 2 -> 2 x 4). An odd batch cannot halve exactly: it drops
    to the largest divisor of the effective batch that is at most half of it (3 x 1 -> 1 x 3, 5 x 2 -> 2 x 5).
    A batch of 1 raises OutOfMemoryAtBatchOne.
    """
    if batch_size <= 1:
        raise OutOfMemoryAtBatchOne(
            "out of memory with a per-device batch of 1: lower max_length, enable "
            "gradient_checkpointing, use a q-method (4-bit base) or a larger GPU"
        )
    if batch_size % 2:
        # An odd batch cannot halve exactly; keep the effective batch by rounding the batch down to a divisor.
        effective = batch_size * grad_accum
        smaller = max(d for d in range(1, batch_size // 2 + 1) if effective % d == 0)
        return smaller, effective // smaller
    return batch_size // 2, grad_accum * 2
