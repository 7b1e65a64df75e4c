"""What a new user meets in the first hour (issue 26), continued: a model name never broken, `history show latest`
after training, p(right answer) written as every proportion is, pytest's first progress line within the terminal."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from record_factory import DOMAINS, eval_record, question, random_eval, training_record

from tunebench.cli import main
from tunebench.history.store import open_store

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "gs://elson-33a95-elson-models"
REGISTRY = "".join(
    f'[tool.tunebench.models.{name}]\nbase = "{BUCKET}/elson-finance-trading-14b-final/"\n'
    f'adapter = "{BUCKET}/wealth-{name}-h100-curriculum/"\nstatus = "production"\n'
    f'notes = "Session 5 (2026-01-20): DoRA r=128 alpha=256, 3-phase curriculum (A/B/C), 7,198 examples."\n\n'
    for name in ("dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum")
)


def test_models_list_never_breaks_a_model_name(project, capsys, monkeypatch):
    # At 100 columns the name column was narrowed to 20 like the others: "elson-finance-tradin" / "g-14b".
    monkeypatch.setenv("COLUMNS", "100")
    project.write(REGISTRY)
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum", "tiny"):
        assert any(re.match(rf"{re.escape(name)}( |$)", line) for line in lines), (name, lines)
    names = {line.split()[0] for line in lines[2:] if line and not line.startswith(" ")}
    assert names == {"dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum", "tiny"}
    assert max(len(line) for line in lines) <= 100, lines
    # the other columns wrap instead: the note (elided at 60 characters, whole in --json) keeps its words
    assert "3-phase" in " ".join(lines)


def test_history_show_latest_after_training_shows_the_training_run(project, capsys):
    # After `tunebench train` alone, `history show latest` said "no eval run in the history (models with runs:
    # none)" and exited 1, though the history held the run just trained.
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    open_store(project.root / "hist").write(training_record("run-train-1", "tiny-dora"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-train-1$", out, re.M) and re.search(r"^kind +training$", out, re.M)
    assert re.search(r"^A +domain_blocks ", out, re.M)  # the phases' table: the whole record is shown
    assert "no eval run in the history" in err and "training run run-train-1" in err
    assert main(["history", "show", "latest", "--json"]) == 0  # the remark is on stderr: --json stays JSON
    out, _ = capsys.readouterr()
    assert json.loads(out)["record"]["run_id"] == "run-train-1"


def test_history_show_latest_names_a_newer_training_run(project, capsys):
    # `latest` is the newest eval run for every command (gate, report, compare); show says when a newer training
    # run is in the history and how to show it.
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    store = open_store(project.root / "hist")
    store.write(random_eval("run-eval-1", "tiny", 1, started_at="2026-01-01T00:00:00Z"))
    store.write(training_record("run-train-2", "tiny-dora", started_at="2026-02-01T08:00:00Z"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-eval-1$", out, re.M)
    assert "training run run-train-2" in err and "tunebench history show run-train-2" in err
    store.write(random_eval("run-eval-3", "tiny", 3, started_at="2026-03-01T00:00:00Z"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-eval-3$", out, re.M) and err == ""  # the newest record: nothing to add


def _run_with_p_right(run_id: str, wrong: set[int], p_right: float) -> dict:
    outcomes = []
    for i in range(40):
        q = question(f"q-{i:03d}", DOMAINS[i % 5], i not in wrong, chosen="A" if i not in wrong else "B", answer="A")
        rest = math.log((1 - p_right) / 3)
        q["loglikelihoods"] = [math.log(p_right), rest, rest, rest]
        outcomes.append(q)
    return eval_record(run_id, "m", outcomes)


def test_p_right_answer_is_written_as_every_proportion_is(project, capsys, monkeypatch):
    # "p(right answer): A 0.700 -> B 0.600, drop +0.100, 95% CI [+0.100, +0.100]" beside "accuracy 95.0%" and
    # "difference (B - A): -5.0 points": a mean probability of the right answer is a proportion (units: percent),
    # its drop a difference of proportions (points), in history compare and on the HTML compare page alike.
    from tunebench.report.compare import compare_runs
    from tunebench.report.html import render_report
    from tunebench.units import format_percent, format_points

    monkeypatch.setenv("COLUMNS", "300")
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    a, b = _run_with_p_right("run-a", {1, 2}, 0.7), _run_with_p_right("run-b", {3, 4, 5, 6}, 0.6)
    store = open_store(project.root / "hist")
    store.write(a)
    store.write(b)
    assert main(["history", "compare", "run-a", "run-b"]) == 0
    out = capsys.readouterr().out
    t = compare_runs(a, b).probability
    assert t is not None and t.drop == pytest.approx(0.1)
    line = next(line for line in out.splitlines() if line.startswith("p(right answer):"))
    assert line.startswith(
        f"p(right answer): A {format_percent(t.before)} -> B {format_percent(t.after)}, drop {format_points(t.drop)}, "
        f"{t.confidence:.0%} CI [{format_points(t.low, unit=False)}, {format_points(t.high, unit=False)}] points, "
    ), line
    assert "p(right answer): A 70.0% -> B 60.0%, drop +10.0 points" in line
    html = render_report(b, baseline=a)
    assert f"{format_percent(t.before)} → {format_percent(t.after)}, drop (then − now) {format_points(t.drop)}" in html
    assert "0.700 → 0.600" not in html


def test_pytest_s_first_progress_line_fits_the_terminal(pytester, monkeypatch, tiny_dir):
    # At 100 columns the first line was 118 characters: 'eval_suites/benchmark_100/test_benchmark.py [tunebench:
    # questions scored 16/100 32/100 64/100 80/100 100/100] . [  0%]'. It wraps as fit_line wraps prose: the counts
    # go on on a continuation line indented two spaces, and the items' letters follow them on the same line.
    import shutil

    from tunebench.config import _load_cached

    monkeypatch.setenv("COLUMNS", "100")
    shutil.copytree(ROOT / "eval_suites", pytester.path / "eval_suites", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makefile(".toml", pyproject='[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    _load_cached.cache_clear()
    result = pytester.runpytest("eval_suites/benchmark_100", "-p", "no:cacheprovider", "--no-gate")
    _load_cached.cache_clear()
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if line.startswith("eval_suites/benchmark_100/test_benchmark.py"))
    progress = lines[start : next(i for i in range(start, len(lines)) if "[100%]" in lines[i]) + 1]
    assert max(len(line) for line in progress) <= 100, progress
    assert sum(line.startswith("eval_suites/") for line in lines) == 1, progress  # pytest's line is not ended
    text = " ".join(line.strip() for line in progress).removeprefix("eval_suites/benchmark_100/test_benchmark.py")
    counts = re.search(r"\[tunebench: questions scored ([^]]*)\]", text)
    assert counts and counts.group(1).split()[-1] == "100/100", progress
    letters = re.sub(r"\s|\[ *\d+%\]", "", text.replace(counts.group(0), ""))
    assert len(letters) == 100 and set(letters) <= set(".Fw"), progress  # one letter per question, none lost
