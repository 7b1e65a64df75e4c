"""`tunebench report RUN --compare OTHER` and `tunebench history compare A B` on runs that are not alike.

Two runs of different suites cover different domains and difficulties, and a record's gate checks may omit the
keys the schema leaves optional (value, limit, baseline, detail, comparable): the page still renders, through the
real CLI, and a domain or difficulty present in one run only reads as absent on the other side, never as 0.
"""

from __future__ import annotations

import json
import re

import pytest
from record_factory import graded_run, random_eval

from tunebench.cli import main
from tunebench.history.records import validate
from tunebench.history.store import open_store

MARKUP = "<script>window.pwned = 3</script>"


def _table(html: str, table_id: str) -> str:
    match = re.search(rf'<table id="{table_id}">.*?</table>', html, re.S)
    assert match, f"no table #{table_id} on the page"
    return match.group(0)


def _row(table: str, name: str) -> list[str]:
    """The cells (tags stripped) of the row whose first cell is `name`."""
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)]
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in {table}")


@pytest.fixture
def unlike_history(project):
    """run-mini: 4 questions of suite "mini" (4 domains, easy only, no probes; its gate records every key).
    run-full: 100 questions of 5 domains and 4 difficulties, a probe per domain; its gate checks record only
    the keys the schema requires, and one check's rule and detail carry markup."""
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    store = open_store(project.root / "hist")
    mini = graded_run("mini-model", right=3, day=1, n=4)
    mini["run_id"] = "run-mini"
    mini["gate"] = {
        "passed": True,
        "status": "pass",
        "checks": [{"rule": "min_accuracy", "passed": True, "value": 0.75, "limit": 0.5, "baseline": None,
                    "detail": "", "comparable": True}],
        "warnings": [],
        "detectable_drop": None,
    }  # fmt: skip
    full = random_eval("run-full", "full-model", seed=3, started_at="2026-02-03T10:00:00Z")
    full["gate"]["checks"].append({"rule": f"rule {MARKUP}", "passed": False, "detail": f"detail {MARKUP}"})
    full["gate"]["passed"] = False
    for record in (mini, full):
        validate(record, where=record["run_id"])
        store.write(record)
    return project.root


def test_report_compare_of_a_run_whose_gate_checks_omit_optional_keys_renders(unlike_history):
    out = unlike_history / "full-vs-mini.html"
    assert main(["report", "run-full", "--compare", "run-mini", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    gate = _table(html, "gate")
    # a check without value, limit, baseline or detail: dashes and an empty detail, not a crash
    assert _row(gate, "min_accuracy") == ["min_accuracy", "—", "—", "—", "pass", ""]
    assert "<script>window.pwned" not in html  # the record's strings stay escaped
    assert f"rule {MARKUP}".replace("<", "&lt;").replace(">", "&gt;") in gate
    assert _row(gate, "rule &lt;script&gt;window.pwned = 3&lt;/script&gt;")[4:] == [
        "FAIL",
        "detail &lt;script&gt;window.pwned = 3&lt;/script&gt;",
    ]
    assert main(["report", "run-full", "--out", str(unlike_history / "full.html")]) == 0  # without --compare too


def test_a_domain_in_one_run_only_is_absent_on_the_other_side_of_the_compare_page(unlike_history):
    # now: the full run (5 domains), then: the mini run (4; no compliance question)
    out = unlike_history / "full-vs-mini.html"
    assert main(["report", "run-full", "--compare", "run-mini", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    compliance = _row(_table(html, "by-domain"), "compliance")
    assert compliance[4:] == ["—", "—"], "then: not in run-mini (a dash, never 0.0%); no change to show"
    assert _row(_table(html, "by-domain"), "investment")[4] == "0.0%"  # a real 0 of 1 stays a 0
    assert _row(_table(html, "by-difficulty"), "hard")[4:] == ["—", "—"]
    # the other way round: now the mini run; compliance and the harder levels are only in the then-run
    out = unlike_history / "mini-vs-full.html"
    assert main(["report", "run-mini", "--compare", "run-full", "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    by_domain, by_difficulty = _table(html, "by-domain"), _table(html, "by-difficulty")
    row = _row(by_domain, "compliance")
    assert row[1] == "not in this run" and row[-1] == "—"
    assert re.fullmatch(r"\d+\.\d%", row[-2]), f"then: run-full's compliance accuracy, got {row[-2]!r}"
    assert "0/0" not in by_domain and "0.0%" not in row
    assert {name: _row(by_difficulty, name)[1] for name in ("medium", "hard", "extreme")} == dict.fromkeys(
        ("medium", "hard", "extreme"), "not in this run"
    )
    assert _row(by_difficulty, "easy")[1] == "3/4"
    # the then-run's probes' latency and quality per domain: this run has none, a dash (as before)
    assert _row(_table(html, "latency-deltas"), "compliance")[2:] == ["—", "—"]
    assert _row(_table(html, "quality-deltas"), "compliance")[2:] == ["—", "—"]


def test_history_compare_shows_a_domain_in_one_run_only_as_absent(unlike_history, capsys):
    assert main(["history", "compare", "run-full", "run-mini"]) == 0
    text = capsys.readouterr().out
    section = text.split("per-domain accuracy", 1)[1]
    compliance = next(line for line in section.splitlines() if line.startswith("compliance"))
    assert compliance.split()[2:] == ["—", "—"], compliance  # A's figure, then B: absent, no difference
    assert main(["history", "compare", "run-full", "run-mini", "--json"]) == 0
    domains = {d["name"]: d for d in json.loads(capsys.readouterr().out)["domains"]}
    assert domains["compliance"]["b"] is None and domains["compliance"]["delta"] is None
    outcomes = [q["correct"] for q in random_eval("run-full", "full-model", seed=3)["questions"]
                if q["domain"] == "compliance"]  # fmt: skip
    assert domains["compliance"]["a"] == pytest.approx(sum(outcomes) / len(outcomes))


def test_a_probe_is_matched_with_the_baseline_probe_of_its_own_suite(project):
    # Two suites may both name a probe p1: the compare page's "baseline latency" took whichever came last by id.
    from record_factory import eval_record, probe

    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    store = open_store(project.root / "hist")
    runs = {}
    for run_id, day, latencies in (("run-then", "01", (2.0, 9.0)), ("run-now", "02", (1.0, 5.0))):
        record = eval_record(
            run_id, "m", [probe("p1", "tax", latencies[0], 3), probe("p1b", "tax", latencies[1], 3)],
            started_at=f"2026-02-{day}T10:00:00Z",
        )  # fmt: skip
        record["probes"][1].update(id="p1", suite="my_probes")  # same id, another suite
        validate(record, where=run_id)
        store.write(record)
        runs[run_id] = record
    out = project.root / "now-vs-then.html"
    assert main(["report", "run-now", "--compare", "run-then", "--out", str(out)]) == 0
    rows = re.findall(r'<tr class="probe".*?</tr>', out.read_text(encoding="utf-8"), re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]
    # latency, then baseline latency: each probe beside its own suite's figure in run-then
    assert sorted((row[-3], row[-2]) for row in cells) == [("1.00s", "2.00s"), ("5.00s", "9.00s")], cells
