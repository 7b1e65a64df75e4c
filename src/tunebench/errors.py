"""The project's exceptions: one base class, a child per kind of bad input or failure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "TunebenchError",
    "ConfigError",
    "RegistryError",
    "LoadError",
    "RecipeError",
    "DataError",
    "SuiteError",
    "RecordError",
    "StorageError",
    "ChecksumError",
    "ConflictError",
    "PreflightError",
    "TrainingPreempted",
    "OutOfMemoryAtBatchOne",
    "JudgeError",
    "SuiteFileError",
]


class TunebenchError(Exception):
    """Base class. The CLI prints it and exits with status 2. The pytest plugin reports it where it happens:
    a usage error (exit 4) for bad options or config, a collection error (exit 2) for a bad suite file, a
    setup error on the items when the model, engine or judge cannot load (exit 1), and an error listed in
    the summary (exit 3 if all else passed) when the record cannot be built, written or gated."""


class ConfigError(TunebenchError):
    """`[tool.tunebench]` or `tunebench.toml` is malformed: names the file, the key and what was expected."""


class RegistryError(TunebenchError):
    """An unknown model name or a malformed registry entry."""


class LoadError(TunebenchError):
    """A model or adapter cannot be loaded: missing files, or an adapter built for another base."""


class RecipeError(TunebenchError):
    """A training recipe is malformed."""


class DataError(TunebenchError):
    """Training or evaluation data is malformed, short, or contaminated."""


class SuiteError(DataError):
    """An evaluation suite file is malformed."""


class RecordError(TunebenchError):
    """A history record is corrupt or violates its schema."""


class StorageError(TunebenchError):
    """A storage location cannot be read or written."""


class ChecksumError(StorageError):
    """Downloaded or uploaded bytes do not match their recorded size, crc32c or sha256."""


class ConflictError(StorageError):
    """A create-only or compare-and-swap write found someone else's object; nothing was overwritten."""


class PreflightError(TunebenchError):
    """A run would fail later (disk, packages, hardware): refused before anything loads."""


class TrainingPreempted(TunebenchError):
    """The run stopped on SIGTERM after saving a checkpoint; `--resume` continues it."""


class OutOfMemoryAtBatchOne(TunebenchError):
    """Out of memory with a per-device batch of 1: nothing left to halve."""


class JudgeError(TunebenchError):
    """The judge model's reply held no grade from 1 to 5."""


class SuiteFileError(SuiteError):
    """A suite file is malformed; `problems` lists each problem (a `suites.SuiteProblem`: file, line, field)."""

    MAX_SHOWN = 20  # problems listed in the message; the rest are counted

    def __init__(self, problems: Sequence[Any]):
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        shown = [str(p) for p in self.problems[: self.MAX_SHOWN]]
        if len(self.problems) > self.MAX_SHOWN:
            shown.append(f"... and {len(self.problems) - self.MAX_SHOWN} more problem(s)")
        super().__init__("\n".join(shown))
