"""benchmarks/report.py: one table from pytest-benchmark JSON, by the convention in benchmarks/conftest.py."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPORT = Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _bench(name, group, side, minimum, median=None, **info):
    return {
        "name": name,
        "group": group,
        "stats": {"min": minimum, "median": median or minimum},
        "extra_info": {"side": side, **info},
    }


def test_each_tunebench_row_is_compared_with_its_groups_baseline(report):
    data = {
        "benchmarks": [
            _bench("test_lm_eval", "choice-tiny", "baseline", 2.0),
            _bench("test_ours", "choice-tiny", "tunebench", 0.8, goal="<= 0.5", peak_mb=512.0, peak_delta_mb=30.0),
            _bench("test_read", "render", "baseline", 1.0),
            _bench("test_render", "render", "tunebench", 0.5, goal="<= 1.0x", label="render alone"),
            _bench("test_render_plots", "render", "tunebench", 1.5, goal=">= 2"),
        ]
    }
    rows = {row.name: row for row in report.build_rows(data)}
    assert rows["choice-tiny"].ratio == pytest.approx(0.4) and rows["choice-tiny"].met is True
    assert rows["choice-tiny"].peak == "512 (+30)"
    assert rows["render [render alone]"].met is True
    assert rows["render [render_plots]"].ratio == pytest.approx(1.5) and rows["render [render_plots]"].met is False
    text = report.render(list(rows.values()))
    assert "2 of 3 goals met; missed: render [render_plots]" in text


def test_interleaved_rows_use_the_median_of_paired_round_ratios(report):
    data = {
        "benchmarks": [
            _bench("test_bare", "gen", "baseline", 0.1),
            # Round 2 ran while the machine was busy: both sides slowed, the ratio did not.
            _bench(
                "test_timed",
                "gen",
                "tunebench",
                1.0,
                goal="<= 1.05",
                interleaved_baseline_s=[1.0, 3.0, 1.0],
                interleaved_tunebench_s=[1.02, 3.03, 1.01],
            ),
        ]
    }
    (row,) = report.build_rows(data)
    assert row.interleaved and row.ratio == pytest.approx(1.01) and row.met is True
    assert " *" in report.render([row])


def test_a_group_without_exactly_one_baseline_is_reported_as_a_problem(report):
    data = {"benchmarks": [_bench("a", "g", "tunebench", 1.0), _bench("b", "g", "tunebench", 1.0)]}
    (row,) = report.build_rows(data)
    assert row.met is False and "0 baseline benchmarks, expected 1" in row.problem


@pytest.mark.parametrize("text", ["< 0.5", "0.5", "<= fast", ""])
def test_a_malformed_goal_is_refused_with_the_text_and_the_expected_form(report, text):
    with pytest.raises(ValueError, match="expected '<= NUMBER' or '>= NUMBER'"):
        report.parse_goal(text)


def test_strict_exit_status_is_1_when_a_goal_is_missed(report, tmp_path, capsys):
    path = tmp_path / "bench.json"
    path.write_text(
        json.dumps(
            {"benchmarks": [_bench("b", "g", "baseline", 1.0), _bench("t", "g", "tunebench", 2.0, goal="<= 1.05")]}
        )
    )
    assert report.main([str(path)]) == 0
    assert report.main([str(path), "--strict"]) == 1
    assert "NO" in capsys.readouterr().out
