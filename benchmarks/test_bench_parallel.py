"""`pytest eval_suites -n 2` against a serial run of the same items on tiny (issue 26).

Each xdist worker starts, loads the model and runs torch on the same CPU cores. Where the plugin
says so at start (`tunebench_pytest.parallel`: an in-process engine, fewer GPUs than workers), the goal is
that its hint is true: `-n 2` takes at least as long as serial (ratio >= 1.0). Where it says nothing (a GPU
per worker), the goal is that `-n 2` is faster (<= 1.0). Each side runs in its own subprocess, as a user
runs it; nothing is recorded or gated (`--no-record --no-gate`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tunebench_pytest.parallel import cannot_be_faster

ROOT = Path(__file__).resolve().parents[1]
GROUP = "parallel-tiny"
SUITES = ["eval_suites/benchmark_100", "eval_suites/domain_probes"]


def _eval(*args: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [sys.executable, "-m", "pytest", *SUITES, "-p", "no:cacheprovider", "--no-record", "--no-gate"]
    done = subprocess.run([*command, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]  # 1: wrong answers fail items
    return done.stdout


def test_parallel_serial_baseline(paired_benchmark):
    paired_benchmark(_eval, side="baseline", group=GROUP, rounds=2, warmup_rounds=0)


def test_parallel_n2(paired_benchmark):
    slower_said = cannot_be_faster("hf", 2)
    out = paired_benchmark(
        _eval,
        "-n",
        "2",
        side="tunebench",
        group=GROUP,
        goal=">= 1.0" if slower_said else "<= 1.0",
        goal_note="the start-up hint 'slower than serial' is true" if slower_said else "-n 2 faster than serial",
        rounds=2,
        warmup_rounds=0,
        interleave=_eval,
    )
    assert ("slower than a serial run here" in out) == slower_said
