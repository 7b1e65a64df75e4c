"""Provenance for history records: tunebench and package versions, git commit, hardware, command line."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["collect", "package_versions", "tunebench_version", "git_state", "hardware", "PACKAGES"]

# The packages whose versions change results: the ML stack, the scorer, and the test runner.
PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "tokenizers",
    "safetensors",
    "lm-eval",
    "numpy",
    "jsonschema",
    "pytest",
    "pytest-xdist",
)


def collect(command: Sequence[str] | str | None = None, root: Path | str | None = None) -> dict[str, Any]:
    """Return {tunebench_version, packages, git_commit, git_dirty, hardware, command} for a record."""
    commit, dirty = git_state(root)
    if command is None:
        program = Path(sys.argv[0])
        # `python -m pytest` puts pytest/__main__.py in argv[0]: name the package, as a person typed it.
        command = [program.parent.name if program.name == "__main__.py" else program.name, *sys.argv[1:]]
    return {
        "tunebench_version": _version("tunebench"),
        "packages": package_versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "hardware": hardware(),
        "command": command if isinstance(command, str) else shlex.join(command),
    }


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Return {package: installed version or None}."""
    return {name: _version(name) for name in names}


def tunebench_version() -> str:
    """Return tunebench's installed version; "0.0.0+unknown" in a source tree that was never installed."""
    return _version("tunebench") or "0.0.0+unknown"


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def git_state(root: Path | str | None = None) -> tuple[str | None, bool | None]:
    """Return (HEAD commit, whether the tree has uncommitted changes), or (None, None) outside git."""
    cwd = str(root or Path.cwd())
    commit = _git(["rev-parse", "HEAD"], cwd)
    if commit is None:
        return None, None
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return commit, bool(status) if status is not None else None


def _git(args: list[str], cwd: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def hardware() -> dict[str, Any]:
    """Return the machine: OS, Python, CPU count, memory, and GPUs (when torch is already loaded)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
    }
    return info


def _memory_gb() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return round(float(psutil.virtual_memory().total) / 2**30, 1)


def _gpus() -> list[str]:
    # Importing torch costs seconds; a run that uses a GPU has loaded it already.
    torch = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except RuntimeError:
        return []
    return []
