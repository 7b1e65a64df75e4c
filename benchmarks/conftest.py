"""Benchmark conventions, fixtures and models: read this before adding a `benchmarks/test_bench_*.py`.

Run with `nox -s bench` (or `pytest benchmarks --benchmark-json=.benchmarks/bench.json` and then
`python benchmarks/report.py .benchmarks/bench.json`). The plain `pytest` run never collects this folder
(`testpaths = ["tests"]`).

THE CONVENTION (`benchmarks/report.py` reads exactly this)
------------------------------------------------------------
* Every figure is a ratio of two times measured in the same run: tunebench's and a baseline's (the
  tool a user would otherwise use). Never assert an absolute time.
* A benchmark GROUP pairs them. Put both sides in the same pytest-benchmark group, e.g.
  `@pytest.mark.benchmark(group="choice-tiny")`, or pass `group=` to `paired_benchmark` (handy when the
  group name depends on a parameter such as the model size).
* Each benchmark says which side it is: `benchmark.extra_info["side"] = "baseline"` for exactly ONE
  benchmark in the group, `"tunebench"` for each of the others. Every tunebench-side benchmark becomes one
  row of the table, compared with the group's baseline.
* The goal goes on the tunebench side: `benchmark.extra_info["goal"] = "<= 0.5"` or `">= 0.95"`. It is
  always a bound on the ratio of TIMES, tunebench / baseline, for the same amount of work (the fastest
  round of each side: on a shared machine the minimum is the round least disturbed by other work).
  A trailing "x" is allowed ("<= 0.5x"). A throughput goal is written as a time ratio: "tokens/s at
  least 0.95x the baseline" is `"<= 1.053"`; say what it means in `extra_info["goal_note"]` (e.g.
  "tokens/s >= 0.95x"), which the table prints beside the goal. No goal: the row is informational.
* Interleaving: a time measured minutes apart from its baseline's carries the machine's changes in
  load. Pass `interleave=baseline_fn` (and `interleave_setup=` for its per-round arguments) on the
  tunebench side: each round then runs the baseline once, untimed by pytest-benchmark but timed by the
  fixture, right before the tunebench call. The pairs land in `extra_info["interleaved_baseline_s"]`
  and `["interleaved_tunebench_s"]`; the report compares that row with them (marked "*": medians, and
  the ratio is the median of the per-round ratios) instead of with the group's baseline test, which
  still runs on its own and stays the group's baseline for every other row.
* Peak memory: `paired_benchmark` records the process's peak RSS during the rounds (or CUDA peak
  allocated) as `extra_info["peak_mb"]` and what the rounds added above their start as
  `extra_info["peak_delta_mb"]`; the table prints both.

THE HELPER
----------
    def test_choice_tunebench(paired_benchmark, model_size):
        paired_benchmark(score, questions, side="tunebench", group=f"choice-{model_size}",
                         goal="<= 0.5", rounds=3)

`paired_benchmark(fn, *args, side, group=None, goal=None, goal_note=None, rounds=3, warmup_rounds=1,
iterations=1, setup=None, label=None, interleave=None, interleave_setup=None, **kwargs)` runs
`benchmark.pedantic` (fixed rounds, no calibration, so an expensive model call runs a known number of
times), fills `extra_info` as above and returns `fn`'s last result. `setup` (untimed, before each
round) may return `(args, kwargs)` for that round instead of `*args`/`**kwargs`, e.g. a fresh output
folder per round. `label` names the row when a group has several tunebench-side benchmarks (default:
the test's name).

Threads: torch runs single-threaded here (`TUNEBENCH_BENCH_THREADS`, default 1): on a busy 2-core
machine two OpenMP threads that wait on each other make round times swing several-fold, one does not.
Both sides of a group run under the same setting, so the ratios stay fair.

Models: `model_size` is parametrized over `MODEL_SIZES` ("tiny": overhead dominates; "bench": a 23M-
parameter random Qwen2 where model time dominates); `cpu_model_dir` is that model's folder (built offline
and cached on first use); `dora_adapter_dir` a DoRA adapter (rank 16, random non-zero B) for it.
"""

from __future__ import annotations

import os
import time

import pytest

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"

from bench_models import MODEL_SIZES, make_dora_adapter, model_path  # noqa: E402
from report import parse_goal  # noqa: E402

from tunebench.memory import PeakMemory  # noqa: E402

SIDES = ("tunebench", "baseline")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("TUNEBENCH_BENCH_THREADS", "1")))


@pytest.fixture(scope="session", params=MODEL_SIZES)
def model_size(request: pytest.FixtureRequest) -> str:
    """The benchmark model's size name: "tiny" or "bench"."""
    return request.param


@pytest.fixture(scope="session")
def cpu_model_dir(model_size: str):
    """The folder of the model named by `model_size` (built and cached on first use)."""
    return model_path(model_size)


@pytest.fixture(scope="session")
def dora_adapter_dir(cpu_model_dir, model_size: str, tmp_path_factory: pytest.TempPathFactory):
    """A rank-16 DoRA adapter for `cpu_model_dir`, with non-zero weights so merging changes the model."""
    return make_dora_adapter(cpu_model_dir, tmp_path_factory.mktemp(f"dora-{model_size}"))


@pytest.fixture
def paired_benchmark(benchmark):
    """Run one side of a paired benchmark with fixed rounds; see this module's docstring."""

    def run(
        fn,
        *args,
        side: str,
        group: str | None = None,
        goal: str | None = None,
        goal_note: str | None = None,
        rounds: int = 3,
        warmup_rounds: int = 1,
        iterations: int = 1,
        setup=None,
        label: str | None = None,
        interleave=None,
        interleave_setup=None,
        **kwargs,
    ):
        if side not in SIDES:
            raise ValueError(f"paired_benchmark: side must be one of {SIDES}, got {side!r}")
        if interleave is not None and (side != "tunebench" or iterations != 1):
            raise ValueError("paired_benchmark: interleave= belongs on the tunebench side, with iterations=1")
        if goal is not None:
            parse_goal(goal)  # a malformed goal fails here, not silently in the report
        if group is not None:
            benchmark.group = group
        benchmark.extra_info.update({"side": side, "goal": goal, "goal_note": goal_note, "label": label})
        baseline_times: list[float] = []
        own_times: list[float] = []
        if interleave is not None:
            setup = _interleaved(setup, interleave, interleave_setup, baseline_times)
            fn = _timed(fn, own_times)
        with PeakMemory() as peak:
            result = benchmark.pedantic(
                fn, args, kwargs or None, setup=setup, rounds=rounds, warmup_rounds=warmup_rounds, iterations=iterations
            )
        measured = peak.as_dict()
        benchmark.extra_info.update(
            {"peak_mb": measured["peak_mb"], "peak_delta_mb": measured["delta_mb"], "peak_kind": measured["kind"]}
        )
        if interleave is not None:
            benchmark.extra_info["interleaved_baseline_s"] = baseline_times[warmup_rounds:]
            benchmark.extra_info["interleaved_tunebench_s"] = own_times[warmup_rounds:]
        return result

    return run


def _timed(fn, times: list[float]):
    """Return `fn`, also noting each call's duration (to pair it with the baseline round before it)."""

    def call(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - start)

    return call


def _interleaved(setup, baseline, baseline_setup, times: list[float]):
    """Return a setup hook that first runs and times the baseline once, then does `setup`'s work.

    pytest-benchmark never times a setup hook, so each tunebench round is timed right after a baseline
    round: both sides see the same machine load, which on a shared CPU moves times more than the code does.
    """

    def hook():
        args, kwargs = baseline_setup() if baseline_setup else ((), {})
        start = time.perf_counter()
        baseline(*args, **kwargs)
        times.append(time.perf_counter() - start)
        return setup() if setup else None

    return hook
