"""Print one table from a pytest-benchmark JSON file: tunebench vs its baseline, ratio, goal, peak memory.

    python benchmarks/report.py .benchmarks/bench.json [--strict]

Reads the convention written at the top of `benchmarks/conftest.py`: benchmarks paired by group, one
`extra_info["side"] == "baseline"` per group, goals as bounds on the time ratio tunebench / baseline
(fastest round of each side). Exit status 0; with `--strict`, 1 when a goal is missed or a group is malformed.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tunebench.table import format_table

__all__ = ["Goal", "Row", "parse_goal", "build_rows", "render", "statistics_lines", "main"]

_GOAL = re.compile(r"^\s*(<=|>=)\s*([0-9]*\.?[0-9]+)\s*x?\s*$")
HEADERS = ("benchmark", "tunebench", "baseline", "ratio", "goal", "met?", "peak mem MB (+delta)")


@dataclass(frozen=True)
class Goal:
    """A bound on the time ratio tunebench / baseline."""

    op: str
    bound: float

    def met(self, ratio: float) -> bool:
        return ratio <= self.bound if self.op == "<=" else ratio >= self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}x"


@dataclass(frozen=True)
class Row:
    """One line of the table: a tunebench-side benchmark against its group's baseline."""

    name: str
    time_s: float | None
    baseline_s: float | None
    goal: Goal | None
    goal_note: str | None
    peak: str
    problem: str | None = None
    interleaved: bool = False  # the baseline ran round by round beside this benchmark, not in its own test
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.time_s is None or not self.baseline_s:
            return None
        return self.time_s / self.baseline_s

    @property
    def met(self) -> bool | None:
        if self.problem:
            return False
        if self.goal is None or self.ratio is None:
            return None
        return self.goal.met(self.ratio)


def parse_goal(text: str) -> Goal:
    """Return the Goal written as "<= 0.5", ">= 0.95x"; ValueError naming the text otherwise."""
    match = _GOAL.match(text)
    if not match:
        raise ValueError(
            f"benchmark goal {text!r}: expected '<= NUMBER' or '>= NUMBER' (a time ratio "
            "tunebench/baseline, optional trailing x)"
        )
    return Goal(match.group(1), float(match.group(2)))


def build_rows(data: dict) -> list[Row]:
    """Return the table rows of a pytest-benchmark JSON document, groups in name order."""
    groups: dict[str, list[dict]] = {}
    for bench in data.get("benchmarks", []):
        if bench.get("extra_info", {}).get("kind") == "statistics":
            continue  # not a timing: printed by statistics_lines
        groups.setdefault(bench.get("group") or bench["name"], []).append(bench)
    rows: list[Row] = []
    for group in sorted(groups):
        rows.extend(_group_rows(group, groups[group]))
    return rows


def _group_rows(group: str, benches: list[dict]) -> list[Row]:
    baselines = [b for b in benches if b.get("extra_info", {}).get("side") == "baseline"]
    ours = [b for b in benches if b.get("extra_info", {}).get("side") == "tunebench"]
    problem = None
    if len(baselines) != 1:
        problem = f"group {group!r} has {len(baselines)} baseline benchmarks, expected 1"
    elif not ours:
        problem = f"group {group!r} has no tunebench-side benchmark"
    baseline_s = baselines[0]["stats"]["min"] if len(baselines) == 1 else None
    if problem:
        return [Row(group, None, baseline_s, None, None, "", problem)]
    return [_row(group, bench, baseline_s, len(ours) > 1) for bench in ours]


def _row(group: str, bench: dict, baseline_s: float, several: bool) -> Row:
    info = bench.get("extra_info", {})
    label = info.get("label") or _short_name(bench["name"])
    name = f"{group} [{label}]" if several else group
    goal, problem = None, None
    if info.get("goal"):
        try:
            goal = parse_goal(info["goal"])
        except ValueError as exc:
            problem = str(exc)
    ours_s, theirs_s = info.get("interleaved_tunebench_s") or [], info.get("interleaved_baseline_s") or []
    pairs = list(zip(ours_s, theirs_s, strict=False))  # lengths differ only if a round raised
    if pairs:
        # Paired rounds ran under the same load: the median of their ratios is the robust comparison.
        ours, theirs = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        paired = statistics.median(p[0] / p[1] for p in pairs)
        return Row(name, ours, theirs, goal, info.get("goal_note"), _peak(info), problem, True, paired)
    return Row(name, bench["stats"]["min"], baseline_s, goal, info.get("goal_note"), _peak(info), problem)


def _short_name(name: str) -> str:
    return name.removeprefix("test_")


def _peak(info: dict) -> str:
    if info.get("peak_mb") is None:
        return ""
    return f"{info['peak_mb']:.0f} (+{info.get('peak_delta_mb', 0):.0f})"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1e3:.1f} ms"


def render(rows: Sequence[Row]) -> str:
    """Return the table, then one line per problem, then a summary line."""
    cells = []
    for row in rows:
        goal = "" if row.goal is None else str(row.goal) + (f" ({row.goal_note})" if row.goal_note else "")
        met = {True: "yes", False: "NO", None: "-"}[row.met]
        ratio = "-" if row.ratio is None else f"{row.ratio:.3f}x"
        baseline = _seconds(row.baseline_s) + (" *" if row.interleaved else "")
        cells.append((row.name, _seconds(row.time_s), baseline, ratio, goal, met, row.peak))
    lines = [format_table(HEADERS, cells), ""]
    lines += [f"problem: {row.problem}" for row in rows if row.problem]
    if any(row.interleaved for row in rows):
        lines.append(
            "* baseline rounds interleaved with the tunebench rounds in the same test (same machine load): "
            "medians, ratio = median of the per-round ratios"
        )
    with_goal = [row for row in rows if row.met is not None]
    missed = [row.name for row in with_goal if not row.met]
    lines.append(
        f"{len(with_goal) - len(missed)} of {len(with_goal)} goals met"
        + (f"; missed: {', '.join(missed)}" if missed else "")
        + ". Times: each side's fastest round (rows marked *: medians); ratio = tunebench / baseline."
    )
    return "\n".join(lines)


def statistics_lines(data: dict) -> list[str]:
    """Return the text that statistical benchmarks (`extra_info["kind"] == "statistics"`) left in `lines`."""
    lines = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if info.get("kind") == "statistics":
            lines += ["", f"{bench['name']}:", *info.get("lines", [])]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table for a pytest-benchmark JSON file; return 1 under --strict when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file", type=Path)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    try:
        data = json.loads(args.json_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"report: cannot read {args.json_file}: {exc}", file=sys.stderr)
        return 2
    rows = build_rows(data)
    machine = data.get("machine_info", {})
    print(
        f"tunebench benchmarks: {machine.get('cpu', {}).get('brand_raw', machine.get('processor', '?'))}, "
        f"python {machine.get('python_version', '?')}, {data.get('datetime', '')}"
    )
    print(render(rows))
    for line in statistics_lines(data):
        print(line)
    failed = any(row.met is False for row in rows)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
