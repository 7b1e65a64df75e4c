"""What a new user reads in the first hour (issue 26): small wording papercuts of the CLI's output."""

from __future__ import annotations

import json
import re
from pathlib import Path

from record_factory import graded_run
from training_support import phase, write_recipe

from tunebench.cli import main
from tunebench.history.store import open_store
from tunebench.report.formatting import format_duration, format_tokens_per_s

CANDIDATE = '[tool.tunebench.models.candidate]\nbase = "builtin:tiny"\nstatus = "experimental"\n'


def test_gate_without_a_production_model_says_the_registry_has_none(project, capsys):
    # Was "newest complete run of production model(s)  on the same suite files": an empty list, two spaces.
    project.write(f'[tool.tunebench]\nhistory = "history"\n\n{CANDIDATE}')
    open_store(str(project.root / "history")).write(graded_run("candidate", 20, 10, 30))
    assert main(["gate", "latest", "--model", "candidate"]) == 0
    out = capsys.readouterr().out
    assert "production model(s)  on" not in out
    assert "baseline: none found (no model in the registry has status production)" in out


def test_models_list_marks_a_note_it_elides(project, capsys, monkeypatch):
    # Was cut at 60 characters with nothing to say so ("DoRA r=64 alpha=128, flat, 408 examp").
    monkeypatch.setenv("COLUMNS", "300")  # one line per row: the cell as the command elides it
    note = "Session 4 (2026-01-17): DoRA r=64 alpha=128, flat, 408 examples, H100, 2.07 GB."
    project.write(f'[tool.tunebench.models.m]\nbase = "builtin:tiny"\nnotes = "{note}"\n')
    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("m "))
    assert row.endswith(note[:59] + "…")


def test_train_and_history_show_write_a_phase_s_time_and_speed_alike(project, capsys, monkeypatch):
    # train printed "1.5" under "wall s" and "4313" tokens/s; history show "1.455" and "4,313"; the log "1.5 s".
    monkeypatch.setenv("COLUMNS", "300")
    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], merge=False)
    assert main(["train", str(recipe)]) == 0
    trained = capsys.readouterr().out
    record = next(r for r in open_store(project.root / ".tb" / "history").read_all().records if r["kind"] == "training")
    [phase_a] = record["phases"]
    assert main(["history", "show", record["run_id"]]) == 0
    shown = capsys.readouterr().out
    cells = f"{format_duration(phase_a['wall_s'])} +{re.escape(format_tokens_per_s(phase_a['tokens_per_s']))}"
    for out in (trained, shown):
        row = next(line for line in out.splitlines() if line.startswith("A "))
        assert re.search(rf" {cells}( |$)", row), row
    assert re.search(r"^phase .* wall +tokens/s", trained, re.M) and "wall s" not in trained


def test_doctor_s_memory_lines_fit_the_terminal(project, capsys, monkeypatch):
    # "memory tiny: training: ~54 MB peak (weights 428 kB, adapter 135 kB, ...)" was one 150-character line.
    monkeypatch.setenv("COLUMNS", "100")
    project.write('[tool.tunebench]\nhome = ".tb"\n')
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "memory tiny: training: ~" in out and "logits + loss" in out  # wrapped, not cut
    assert max(len(line) for line in out.splitlines()) <= 100, out


def test_history_compare_fits_the_terminal(project, capsys, monkeypatch):
    # "power: a drop of 30.5 points or more is detected 80% of the time by this comparison (exact McNemar, ...)"
    # and "p(right answer): ..." were single lines of 130-170 characters under tables that fit.
    monkeypatch.setenv("COLUMNS", "100")
    project.write(f'[tool.tunebench]\nhistory = "history"\n\n{CANDIDATE}')
    store = open_store(str(project.root / "history"))
    a, b = graded_run("candidate", 20, 10, 30), graded_run("candidate", 17, 11, 30)
    store.write(a)
    store.write(b)
    assert main(["history", "compare", a["run_id"], b["run_id"]]) == 0
    out = capsys.readouterr().out
    assert "power: a drop of" in out and "see tunebench plan)" in out
    assert max(len(line) for line in out.splitlines()) <= 100, out


def test_history_show_writes_latency_and_speed_as_the_log_and_states_the_grade_scale(real_tiny_history, capsys):
    # Was "0.2883" under "latency s", TTFT "0.01152", tok/s "227.3" and a bare "grade" column; the log writes
    # "0.29s" and "227", and a grade means something only on its 1-5 scale.
    from tunebench.report.formatting import format_seconds
    from tunebench.report.views import EvalView

    run = "70b00f51b066"
    record = next(r for r in open_store(real_tiny_history).read_all().records if r["run_id"] == run)
    assert main(["history", "show", run, "--history", str(real_tiny_history)]) == 0
    shown = capsys.readouterr().out
    latency = format_seconds(EvalView(record).latency_by_domain_s["compliance"])
    assert re.search(rf"^compliance .* {re.escape(latency)} +1\.00$", shown, re.M), shown
    assert main(["history", "show", run, "--probes", "--history", str(real_tiny_history)]) == 0
    probes = capsys.readouterr().out.splitlines()
    assert re.match(r"probe +domain +stop +tokens +TTFT +tok/s +latency +grade \(1-5\) +reply$", probes[0])
    row = next(line for line in probes if line.startswith("probe-cmp-1 "))
    [first] = [p for p in record["probes"] if p["id"] == "probe-cmp-1"]  # 0.0106 s to the first token, 148 tok/s
    assert re.search(rf" {re.escape(format_seconds(first['ttft_s']))} +148 +0\.\d\ds +1 ", row), row


def test_history_list_never_wraps_a_run_id(project, capsys, monkeypatch):
    # At 100 columns an imported record's id wrapped: "imp-437474347a093d" and "04" on the next line.
    monkeypatch.setenv("COLUMNS", "100")
    project.write('[tool.tunebench]\nhistory = "history"\n')
    log = Path(__file__).parent / "data" / "seed_log.md"  # the hand-written log: ids of 20 characters
    assert main(["history", "import-log", str(log)]) == 0
    capsys.readouterr()
    assert main(["history", "list", "--json"]) == 0
    ids = [r["run_id"] for r in json.loads(capsys.readouterr().out)]
    assert main(["history", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ids and all(any(line.startswith(f"{run_id}  ") for line in lines) for run_id in ids), lines
    assert max(len(line) for line in lines) <= 100


def test_train_does_not_blame_the_filesystem_for_checkpoints_under_a_second_apart(project, capfd):
    # transformers orders checkpoints by mtime and, two of them under 1 s apart, printed "mtime may not be
    # reliable on this filesystem, falling back to numerical ordering" into the phase's progress bar.
    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 6)], merge=False, save_steps=1)
    assert main(["train", str(recipe)]) == 0
    out, err = capfd.readouterr()
    assert "phase  kind" in out and "mtime may not be reliable" not in out + err


def test_the_load_table_says_why_itl_has_no_figures_in_process():
    # At --concurrency 2 in process the ITL row read "—  —  —  —" with nothing to say why.
    from tunebench.history.record_parts import LoadFigures
    from tunebench.report.load_figures import load_table

    timed = {"mean": 0.0055, "p50": 0.0054, "p90": 0.0082, "p99": 0.0082}
    untimed = dict.fromkeys(timed)
    figures = {"concurrency": 2, "requests": 8, "wall_s": 0.7, "output_tokens": 512, "output_tokens_per_s": 719.0}
    parts = {"ttft_s": timed, "tpot_s": timed, "e2e_s": timed}
    in_process = LoadFigures.from_dict({**figures, **parts, "itl_s": untimed})
    note = "ITL —: measured between a served stream's chunks (--engine openai)"
    assert load_table(in_process).splitlines()[-1] == note
    served = LoadFigures.from_dict({**figures, **parts, "itl_s": timed})
    assert "ITL —:" not in load_table(served)
