"""The project's exceptions (one base class, a child per kind of bad input or failure) and its exit statuses.

Exit statuses, kept by the `tunebench` command and the pytest plugin (`EXIT_*` below; the README's
"Exit statuses" table repeats them and a test checks that the two agree):

    0    success; `pytest eval_suites`: every item ran, the record was written, the gate passed or is off
    1    the work ran and found a failure: a failing gate (`pytest eval_suites`, `tunebench gate`) or
         test item, failing `doctor` checks, log lines `history import-log` could not parse, judge errors
    2    `tunebench`: bad input or an error it names (a TunebenchError: malformed file, unknown model,
         unreadable history) or a command-line usage error; `pytest`: interrupted (Ctrl-C), or a malformed
         suite file (each problem named with its file and line, at collection, before any model loads)
    3    `pytest eval_suites`: the run finished but its record was invalid or could not be written (it is
         kept in a fallback file whose path is printed)
    4    `pytest eval_suites`: could not start, no item ran: a bad option or config value, an unknown or
         unreachable model (no cloud credentials, a missing adapter folder, a served endpoint that is
         malformed, down or cannot score), an unwritable history
    5    `pytest eval_suites`: no tests collected
    75   `tunebench train`: preempted by SIGTERM with a checkpoint saved; run again with `--resume`
    141  `tunebench`: the reader of its output went away (`tunebench history list | head`)

1-5 are pytest's own `ExitCode` values, used with these meanings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_NOT_RECORDED",
    "EXIT_CANNOT_START",
    "EXIT_NO_TESTS",
    "EXIT_PREEMPTED",
    "EXIT_BROKEN_PIPE",
    "EXIT_STATUSES",
    "TunebenchError",
    "ConfigError",
    "RegistryError",
    "LoadError",
    "RecipeError",
    "DataError",
    "SuiteError",
    "RecordError",
    "UntrustedRecordError",
    "StorageError",
    "ChecksumError",
    "ConflictError",
    "PreflightError",
    "TrainingPreempted",
    "OutOfMemoryAtBatchOne",
    "JudgeError",
    "SuiteFileError",
]

EXIT_OK = 0
EXIT_FAILED = 1  # a failing gate, check or test item
EXIT_BAD_INPUT = 2  # tunebench: a TunebenchError or usage error (pytest: interrupted)
EXIT_NOT_RECORDED = 3  # pytest: the record was not written (pytest.ExitCode.INTERNAL_ERROR)
EXIT_CANNOT_START = 4  # pytest: refused before any item ran (pytest.ExitCode.USAGE_ERROR)
EXIT_NO_TESTS = 5  # pytest: nothing collected
EXIT_PREEMPTED = 75  # tunebench train: SIGTERM, checkpoint saved (EX_TEMPFAIL)
EXIT_BROKEN_PIPE = 141  # tunebench: stdout closed by its reader (128 + SIGPIPE)
# status -> its meaning, as in the table above (the README's copy is checked against these keys).
EXIT_STATUSES: dict[int, str] = {
    EXIT_OK: "success",
    EXIT_FAILED: "a failure found: failing gate, check or test item",
    EXIT_BAD_INPUT: "bad input (tunebench) / interrupted (pytest)",
    EXIT_NOT_RECORDED: "the record was not written",
    EXIT_CANNOT_START: "could not start: bad option, config, model or history",
    EXIT_NO_TESTS: "no tests collected",
    EXIT_PREEMPTED: "training preempted: resume with --resume",
    EXIT_BROKEN_PIPE: "the output's reader went away",
}


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


class UntrustedRecordError(RecordError):
    """A stored record cannot be used now: damaged, failing its checks, or unsealed (`HistoryStore.get`)."""

    def __init__(self, location: str, reason: str):
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


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
    """The judge model's reply held no grade from 1 to 5; `evidence`: every reply the judge gave, for the record."""

    evidence: dict[str, Any] | None = None


class SuiteFileError(SuiteError):
    """A suite file is malformed; `problems` lists each problem (a `suites.SuiteProblem`: file, line, field)."""

    MAX_SHOWN = 20  # problems listed in the message; the rest are counted

    def __init__(self, problems: Sequence[Any]):
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        shown = [str(p) for p in self.problems[: self.MAX_SHOWN]]
        if len(self.problems) > self.MAX_SHOWN:
            shown.append(f"... and {len(self.problems) - self.MAX_SHOWN} more problem(s)")
        super().__init__("\n".join(shown))
