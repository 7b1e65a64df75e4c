"""A new user's walk through the README (issue 26): figures `history compare` printed unlike the rest of the output
(a 56 µs TTFT difference as "-5.6e-05s", an unchanged p(right answer) as "drop -0.0 points")."""

from __future__ import annotations

import json
import re

from record_factory import DOMAINS, eval_record, probe, question

from tunebench.cli import main
from tunebench.history.store import open_store
from tunebench.units import format_ms, format_points, format_seconds


def test_seconds_never_in_exponent_notation_and_signed_like_unsigned():
    assert format_seconds(-5.6e-05) == "-0.000056s"
    assert format_seconds(5.6e-05) == "0.000056s"
    assert format_seconds(-0.00096) == "-0.00096s"
    assert format_seconds(0.0026) == "0.0026s"
    assert format_seconds(0.000999) == "0.0010s"  # two significant digits after rounding
    assert format_seconds(-1.5) == "-1.50s"  # as 1.50s, not "-1.5s"
    assert format_ms(1.4e-08) == "0.000014 ms"


def test_a_difference_that_rounds_to_zero_has_no_minus_sign():
    assert format_points(-0.0004) == "+0.0 points"
    assert format_points(-0.0004, unit=False) == "+0.0"
    assert format_points(-0.0005) == "-0.1 points"


def test_history_compare_writes_a_tiny_latency_difference_as_the_other_seconds(project, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    project.write('[tool.tunebench]\nhistory = "history"\n')
    store = open_store(str(project.root / "history"))
    runs = []
    for run_id, latency, started in (
        ("aaaaaaaaaaaa", 0.057, "2026-02-01T10:00:00Z"),
        ("bbbbbbbbbbbb", 0.05644, "2026-02-02T10:00:00Z"),
    ):
        outcomes = [question(f"q-{i:03d}", DOMAINS[i % 5], i % 4 == 0, "A") for i in range(20)]
        outcomes += [probe(f"probe-{d}", d, latency, 1) for d in DOMAINS]
        runs.append(eval_record(run_id, "tiny", outcomes, started))
        store.write(runs[-1])
    assert main(["history", "compare", "aaaaaaaaaaaa", "bbbbbbbbbbbb"]) == 0
    out = capsys.readouterr().out
    ttft = next(line for line in out.splitlines() if line.startswith("TTFT "))
    assert ttft.split()[-1] == format_seconds(0.005644 - 0.0057) == "-0.000056s", ttft
    assert not re.search(r"\de-\d", out), out  # no figure in exponent notation anywhere
    assert "-0.0 points" not in out and "-0.00s" not in out, out


def _two_runs(project, skill_b: int = 4, registry: str = ""):
    project.write('[tool.tunebench]\nhistory = "history"\n\n' + registry)
    store = open_store(str(project.root / "history"))
    for run_id, every, started in (
        ("aaaaaaaaaaaa", 4, "2026-02-01T10:00:00Z"),
        ("bbbbbbbbbbbb", skill_b, "2026-02-02T10:00:00Z"),
    ):
        outcomes = [question(f"q-{i:03d}", DOMAINS[i % 5], i % every == 0, "A") for i in range(40)]
        outcomes += [probe(f"probe-{d}", d, 0.057, 1) for d in DOMAINS]
        store.write(eval_record(run_id, "tiny", outcomes, started))


def test_the_gate_writes_an_accuracy_drop_in_points_as_its_power_line(project, capsys):
    # "drop +0.000 on 100 paired questions (...); detects a drop of 7.8 points": one quantity, two formats.
    _two_runs(project, skill_b=5)
    main(["gate", "bbbbbbbbbbbb", "--baseline", "aaaaaaaaaaaa", "--format", "json"])
    checks = json.loads(capsys.readouterr().out)["verdict"]["checks"]
    [mcnemar] = [c for c in checks if c["rule"] == "accuracy drop vs baseline"]
    drop = mcnemar["value"]
    assert drop > 0 and f"drop {format_points(drop)} on 40 paired questions" in mcnemar["detail"], mcnemar
    assert re.search(r"detects a drop of \d+\.\d points", mcnemar["detail"]), mcnemar


def test_the_gate_writes_a_latency_limit_as_the_value_beside_it(project, capsys):
    # "ttft increase vs baseline  -0.004  <= 25% or p >= 0.05": the value a proportion, its limit a percent.
    _two_runs(project)
    main(["gate", "bbbbbbbbbbbb", "--baseline", "aaaaaaaaaaaa", "--format", "json"])
    checks = json.loads(capsys.readouterr().out)["verdict"]["checks"]
    latency = [c for c in checks if "increase vs baseline" in c["rule"]]
    assert latency and all(c["limit"].startswith("<= 0.25") and "%" not in c["limit"] for c in latency), latency
    [mcnemar] = [c for c in checks if c["rule"] == "accuracy drop vs baseline"]
    assert mcnemar["limit"].startswith("<= 0.05"), mcnemar  # as max_drop: the config's values, as written


def test_tunebench_gate_s_power_warning_fits_the_terminal(project, capsys, monkeypatch):
    # "warning: this comparison cannot detect its own max_drop of 5.0 points: ..." was one 314-character line
    # under a table that fits 100 columns.
    monkeypatch.setenv("COLUMNS", "100")
    _two_runs(project, skill_b=5)
    main(["gate", "bbbbbbbbbbbb", "--baseline", "aaaaaaaaaaaa"])
    out = capsys.readouterr().out
    assert "warning: this comparison cannot detect its own max_drop" in out and "tunebench plan --drop 0.05" in out
    table = out[out.index("rule ") :]
    assert max(len(line) for line in table.splitlines()) <= 100, table


def test_gate_and_plan_prose_fits_the_terminal(project, capsys, monkeypatch):
    # `tunebench gate latest`: "baseline: none found (newest complete run of production model(s) ...)" 133
    # characters; `tunebench plan --drop 0.05`: "exact McNemar test on paired questions, ..." 139.
    monkeypatch.setenv("COLUMNS", "100")
    production = "".join(
        f'[tool.tunebench.models.{name}]\nbase = "builtin:tiny"\nstatus = "production"\n\n'
        for name in ("dora-v2", "dora-v3", "elson-finance-trading-14b")
    )
    _two_runs(project, skill_b=5, registry=production)
    assert main(["gate", "bbbbbbbbbbbb"]) == 0  # no run of a production model: nothing to judge
    gate = capsys.readouterr().out
    assert gate.startswith("run: bbbbbbbbbbbb") and "\nbaseline: none found" in gate, gate
    assert "elson-finance-trading-14b" in gate, gate  # the baseline line names the production models
    assert main(["plan", "--drop", "0.05", "--from", "aaaaaaaaaaaa", "bbbbbbbbbbbb"]) == 0
    plan = capsys.readouterr().out
    assert "exact McNemar test on paired questions" in plan and "40 paired questions" in plan, plan
    for out in (gate, plan):
        assert max(len(line) for line in out.splitlines()) <= 100, out
