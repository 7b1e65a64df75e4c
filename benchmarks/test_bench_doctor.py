"""`tunebench doctor` against importing torch, the floor its GPU line needs (issue 26: doctor took ~5 s).

Plain doctor (no recipe) checks packages, the GPU, the disk and the default model's memory estimate. Only the
GPU line needs a heavy import (torch); everything else reads package metadata and config files. The goal: doctor
costs at most 1.5x `python -c "import torch"`. Before the fix it imported scipy.stats (through the gate, for
every command) and transformers' TrainingArguments (torch + peft): about 3x.
"""

from __future__ import annotations

import os
import subprocess
import sys

GROUP = "doctor"


def _run(*args: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # doctor: 1 when a check would refuse a run


def _import_torch() -> None:
    _run("-c", "import torch")


def test_doctor_import_torch_baseline(paired_benchmark):
    paired_benchmark(_import_torch, side="baseline", group=GROUP, rounds=3, warmup_rounds=1)


def test_doctor(paired_benchmark):
    paired_benchmark(
        _run,
        "-m",
        "tunebench.cli",
        "doctor",
        side="tunebench",
        group=GROUP,
        goal="<= 1.5",
        goal_note="doctor within 1.5x of importing torch (its GPU line's floor)",
        rounds=3,
        warmup_rounds=1,
        interleave=_import_torch,
    )
