"""benchmarks/gpu/run_gpu_bench.py runs on the CPU with a tiny shape and writes RESULTS.md's exact layout.

The script is meant for a GPU machine and is never run by CI at full size; running it here with `--tiny`
keeps it from rotting, and comparing its layout with the committed benchmarks/RESULTS.md keeps the two in
step (a change to the output format must come with a regenerated RESULTS.md).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu" / "run_gpu_bench.py"
COMMITTED = REPO / "benchmarks" / "RESULTS.md"


def _load_script():
    if "run_gpu_bench" in sys.modules:
        return sys.modules["run_gpu_bench"]
    spec = importlib.util.spec_from_file_location("run_gpu_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_gpu_bench"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _layout(text: str) -> list[str]:
    """Headings, table header rows and each table row's first cell: everything but the figures."""
    layout = []
    for line in text.splitlines():
        if line.startswith("#"):
            layout.append(line)
        elif line.startswith("| ") and not line.startswith("| ---"):
            layout.append(line.split(" | ")[0])
        elif line.startswith("|"):
            layout.append("---")
    return layout


def _tables(text: str) -> dict[str, list[list[str]]]:
    tables: dict[str, list[list[str]]] = {}
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
            tables[section] = []
        elif line.startswith("| ") and not line.startswith("| ---") and section:
            tables[section].append([cell.strip() for cell in line.strip("|").split("|")])
    return tables


@pytest.fixture(scope="module")
def tiny_results(tiny_dir, tmp_path_factory) -> str:
    output = tmp_path_factory.mktemp("gpu-bench") / "RESULTS.md"
    assert _load_script().main(["--tiny", "--limit", "3", "--output", str(output)]) == 0
    return output.read_text(encoding="utf-8")


def test_tiny_run_writes_the_layout_of_the_committed_results(tiny_results):
    assert _layout(tiny_results) == _layout(COMMITTED.read_text(encoding="utf-8"))


def test_tiny_run_reports_every_inference_figure_and_training_config(tiny_results):
    tables = _tables(tiny_results)
    inference = {row[0]: row for row in tables["Inference"][1:]}
    for label in (
        "decode base (ms/token)",
        "decode merged DoRA (ms/token)",
        "decode unmerged DoRA (ms/token)",
        "TTFT probes, median (s)",
        "score the questions (s)",
    ):
        value, peak, estimate = inference[label][1], inference[label][4], inference[label][5]
        assert float(value) > 0, label
        assert re.fullmatch(r"[0-9.]+ (MB|GB)", peak) and re.fullmatch(r"[0-9.]+ (MB|GB)", estimate), label
    training = [(row[0], row[1]) for row in tables["Training"][1:]]
    assert training == [("lora", "16"), ("lora", "64"), ("dora", "16"), ("dora", "64")]
    assert all(float(row[2]) > 0 for row in tables["Training"][1:])


def test_device_table_names_the_package_versions(tiny_results):
    import torch

    device = dict(tables_row[:2] for tables_row in _tables(tiny_results)["Device"][1:])
    assert device["torch"] == torch.__version__
    assert device["device"].startswith("CPU")
    assert "CPU or tiny-shape run" in tiny_results  # a tiny run never passes for GPU figures


def test_qwen2_5_14b_shape_has_the_published_parameter_count():
    from tunebench.memory import ModelShape

    shape = ModelShape.from_config(_load_script().QWEN2_5_14B)
    assert shape.parameter_count() / 1e9 == pytest.approx(14.77, abs=0.01)
