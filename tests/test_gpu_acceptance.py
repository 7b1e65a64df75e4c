"""benchmarks/gpu/acceptance.py: the dry run (tiny shape, CPU) runs every stage; without a GPU it stops at once.

The full run needs a GPU machine (issue 23); here the dry run keeps the script from rotting: it builds a base,
runs doctor, trains three phases, evaluates the adapter and runs the microbenchmarks, each as its own process,
and writes the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / "benchmarks" / "gpu"
sys.path.insert(0, str(GPU))

from run_gpu_bench import gpu_missing  # noqa: E402

OFFLINE = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# Runs a script's main() in a fresh interpreter, then says whether torch was imported on the way.
PROBE = "import runpy, sys\ntry:\n    runpy.run_path({script!r}, run_name='__main__')\nexcept SystemExit as e:\n"
PROBE += "    print('torch imported:', 'torch' in sys.modules)\n    sys.exit(e.code)\n"


@pytest.mark.parametrize("script", ["acceptance.py", "run_gpu_bench.py"])
def test_without_a_gpu_the_full_run_stops_before_importing_torch_with_one_line(script):
    if gpu_missing() is None:
        pytest.skip("this machine has a GPU")
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(script=str(GPU / script))],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 4, done.stdout + done.stderr
    assert lines[0].startswith(f"{script}: no NVIDIA GPU here") and lines[1:] == ["torch imported: False"]
    assert done.stderr == ""


def _dry_run(work: Path, report: Path, *flags: str) -> str:
    """Run `acceptance.py --dry-run FLAGS` in its own process; return its report (the run must succeed)."""
    done = subprocess.run(
        [sys.executable, str(GPU / "acceptance.py"), "--dry-run", *flags, "--work", str(work), "--output", str(report)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=OFFLINE,
        timeout=3600,
    )
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    assert done.returncode == 0, text + done.stdout[-2000:] + done.stderr[-2000:]
    return text


@pytest.mark.slow
def test_dry_run_runs_every_stage_and_reports_memory_against_the_estimate(tmp_path):
    text = _dry_run(tmp_path, tmp_path / "ACCEPTANCE.md")
    for stage in ("base", "doctor", "train", "eval", "bench"):
        assert f"| {stage} | ok |" in text, text
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()]
    figures = {row[0]: row[1] for row in cells if len(row) >= 2}
    assert figures["training peak memory (measured)"].endswith(("MB", "GB"))
    assert figures["training peak memory (tunebench's estimate)"].endswith(("MB", "GB"))
    assert figures["measured / estimated"].endswith("x")
    assert "## Microbenchmarks (run_gpu_bench.py, shortened)" in text and "### Training" in text


@pytest.mark.slow
def test_throughput_dry_run_trains_once_per_setting_and_reports_padding_and_mfu(tmp_path):
    """Issue 24: `acceptance.py --throughput` on the tiny shape: one `tunebench train` per setting, and a row each
    with the setting the record says ran, its tokens/s, its padding (none when padding-free) and its MFU."""
    text = _dry_run(tmp_path, tmp_path / "THROUGHPUT.md", "--throughput")
    rows = {
        cells[0]: cells
        for line in text.splitlines()
        if (cells := [c.strip() for c in line.strip().strip("|").split("|")]) and len(cells) == 9
    }
    padded, flat, auto = rows["LoRA r16, sdpa, padded"], rows["LoRA r16, sdpa, padding-free"], rows["LoRA r16, auto"]
    assert padded[1:4] == ["sdpa", "no", "no"] and flat[1:4] == ["sdpa", "yes", "no"]
    assert flat[6] == "0.0%" and float(padded[6].rstrip("%")) > 0  # mixed lengths: real padding when padded
    assert auto[1] == "sdpa" and auto[8].startswith(">= 35% (")  # on a CPU auto is sdpa, padded
    assert all(row[7].endswith("%") for row in (padded, flat, auto)) and "DoRA r128, auto" in rows


def test_a_dry_runs_report_is_never_written_where_the_gpu_runs_report_is_committed():
    # A dry run wrote benchmarks/gpu/ACCEPTANCE.md into the checkout, where the GPU run's report is committed.
    from acceptance import parse_args

    for flags, name in (([], "ACCEPTANCE"), (["--throughput"], "THROUGHPUT")):
        assert parse_args(flags).output == GPU / f"{name}.md"
        dry = parse_args([*flags, "--dry-run"]).output
        assert dry == GPU / f"{name}.dry-run.md"
        ignored = subprocess.run(["git", "check-ignore", "-q", str(dry)], cwd=REPO, check=False)
        assert ignored.returncode == 0, f"{dry.name} is not ignored by .gitignore"
    assert parse_args(["--dry-run", "--output", "here.md"]).output == Path("here.md")
