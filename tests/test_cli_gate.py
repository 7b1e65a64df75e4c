"""`tunebench gate` and `tunebench plan` against a gs:// history on fake-gcs-server (real client): exit codes,
text, Markdown and JSON verdicts, nothing to judge, require_baseline."""

from __future__ import annotations

import json

import pytest
from record_factory import graded_run

from tunebench.cli import main
from tunebench.history.store import open_store

pytest_plugins = ["gcs_server"]

PYPROJECT = """
[tool.tunebench]
history = "{history}"

[tool.tunebench.models.prod]
base = "builtin:tiny"
status = "production"

[tool.tunebench.models.candidate]
base = "builtin:tiny"
status = "experimental"
{extra}
"""


def _run(model, right, day, n=30):
    return graded_run(model, right, day, n)


@pytest.fixture
def project(tmp_path, monkeypatch, gcs):
    """A project whose configured history is a gs:// prefix; returns (history uri, write(record), configure)."""
    uri = gcs.uri("history")
    store = open_store(uri)

    def configure(extra: str = "") -> None:
        from tunebench.config import _load_cached

        (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(history=uri, extra=extra))
        _load_cached.cache_clear()  # a process reads its configuration once; this test rewrites it

    configure()
    monkeypatch.chdir(tmp_path)
    return uri, store.write, configure


def _gate(capsys, *args):
    status = main(["gate", *args])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_the_latest_run_of_a_model_passes_against_the_auto_baseline_from_gs(project, capsys):
    uri, write, _ = project
    base = _run("prod", 27, 10)
    write(base)
    write(_run("candidate", 27, 12))
    status, out, _ = _gate(capsys, "latest", "--model", "candidate", "--history", uri)
    assert status == 0
    assert f"baseline: {base['run_id']} (model prod; newest complete run of production model(s) prod" in out
    assert "accuracy drop vs baseline" in out and "detects a drop of" in out
    assert out.rstrip().endswith("tunebench gate: PASS: model candidate, run " + _latest_id(uri, "candidate"))


def _latest_id(uri, model):
    runs = [r for r in open_store(uri).read_all().records if r["model"]["name"] == model]
    return max(runs, key=lambda r: r["finished_at"])["run_id"]


def test_without_baseline_flag_a_run_is_judged_against_the_baseline_it_was_judged_against_when_it_finished(
    project, capsys
):
    # `pytest eval_suites --baseline candidate` failed this run against candidate's earlier 30/30; `tunebench gate
    # latest` then judged it against auto (prod's 10/30) and said PASS: one run, two verdicts.
    uri, write, _ = project
    write(_run("prod", 10, 10))
    earlier = _run("candidate", 30, 11)
    write(earlier)
    now = _run("candidate", 15, 12)
    now["baseline"] = {"run_id": earlier["run_id"], "model": "candidate", "how": "newest complete run of candidate"}
    write(now)
    status, out, _ = _gate(capsys, "latest", "--model", "candidate")
    assert status == 1 and f"baseline: {earlier['run_id']} (model candidate; record {earlier['run_id']}" in out
    status, out, _ = _gate(capsys, "latest", "--model", "candidate", "--baseline", "auto")  # asked for: auto
    assert status == 0 and "newest complete run of production model(s) prod" in out
    # A recorded baseline the history no longer holds: the configured baseline, as for any run.
    now["baseline"]["run_id"] = "gone"
    write({**now, "run_id": "run-later", "finished_at": "2026-03-01T00:00:00Z"})
    status, out, _ = _gate(capsys, "run-later")
    assert status == 0 and "newest complete run of production model(s) prod" in out


def test_a_worse_run_fails_with_exit_1_and_a_markdown_comment(project, capsys):
    uri, write, _ = project
    write(_run("prod", 30, 10))
    worse = _run("candidate", 0, 12)
    write(worse)
    status, out, _ = _gate(capsys, "latest", "--model", "candidate", "--format", "markdown")
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "## ❌ tunebench gate: FAIL — model candidate"
    assert any(line.startswith("| accuracy drop vs baseline | 1.000 |") and "**FAIL**" in line for line in lines)
    assert "### Flipped questions (30 right → wrong, 0 wrong → right)" in lines
    assert "<details><summary>30 right → wrong</summary>" in lines
    assert "| q000 | retirement_planning | easy | A | A | B |" in lines
    assert "| retirement_planning | 100.0% | 0.0% | -100.0 points |" in lines
    # The text form names the failed rule in its last line, for log scrapers.
    status, out, _ = _gate(capsys, worse["run_id"][:8])
    assert status == 1 and out.rstrip().splitlines()[-1].startswith("tunebench gate: FAIL (accuracy drop vs baseline")


def test_a_baseline_is_never_a_run_that_finished_after_the_judged_one(project, capsys):
    uri, write, _ = project
    early = _run("prod", 30, 10)
    judged = _run("candidate", 30, 12)
    for record in (early, judged, _run("prod", 0, 14)):
        write(record)
    status, out, _ = _gate(capsys, judged["run_id"], "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["baseline"]["run_id"] == early["run_id"] and data["status"] == "pass"


def test_a_zero_accuracy_run_without_baseline_is_nothing_to_judge_and_fails_when_a_baseline_is_required(
    project, capsys
):
    uri, write, configure = project
    zero = _run("candidate", 0, 12)
    write(zero)
    status, out, _ = _gate(capsys, "latest")
    assert status == 0 and "nothing to judge" in out.splitlines()[-1]
    status, out, _ = _gate(capsys, "latest", "--require-baseline", "--format", "json")
    assert status == 1 and json.loads(out)["verdict"]["checks"][-1]["rule"] == "baseline"
    configure("[tool.tunebench.gate]\nrequire_baseline = true")
    status, out, _ = _gate(capsys, "latest", "--format", "markdown")
    assert status == 1 and out.startswith("## ❌ tunebench gate: FAIL")
    assert "nothing to judge: no floor or budget is set either (require_baseline)" in out


def test_bad_references_are_exit_2_with_what_exists(project, capsys):
    uri, write, _ = project
    write(_run("prod", 30, 10))
    status, _, err = _gate(capsys, "latest", "--model", "nope")
    assert status == 2 and "no eval run of model 'nope' in the history (models with runs: prod)" in err
    status, _, err = _gate(capsys, "deadbeef")
    assert status == 2 and "no record with run id 'deadbeef'" in err


def test_plan_prints_the_questions_needed_and_the_detectable_drop(capsys):
    from tunebench.power import detectable_drop, questions_needed

    assert main(["plan", "--drop", "0.05"]) == 0
    out = capsys.readouterr().out
    assert f"to detect a drop of 5.0 points: {questions_needed(0.05, 0.1)} questions" in out
    assert f"with 100 questions: the smallest detectable drop is {100 * detectable_drop(100, 0.1):.1f} points" in out
    assert main(["plan", "--drop", "0"]) == 2
    assert "expected a drop between 0 and 1" in capsys.readouterr().err


def test_plan_from_two_recorded_runs_uses_their_discordance_and_probabilities(tmp_path, monkeypatch, capsys):
    from tunebench.power import detectable_drop

    history = tmp_path / "history"
    store = open_store(history)
    a, b = _run("prod", 20, 10), _run("candidate", 14, 11)  # 6 of 30 flipped right -> wrong
    store.write(a)
    store.write(b)
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--drop", "0.05", "--from", "prod", "candidate", "--history", str(history), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["discordance"] == 0.2 and data["observed"]["paired"] == 30
    assert data["observed"]["detectable_drop"] == detectable_drop(30, 0.2)
    assert data["observed"]["probability_detectable_drop"] > 0
    assert data["observed"]["log_odds_detectable_drop"] > 0 and data["observed"]["log_odds_sd"] > 0
    assert main(["plan", "--drop", "0.05", "--from", "prod", "candidate", "--history", str(history)]) == 0
    out = capsys.readouterr().out
    assert f"runs {a['run_id']} and {b['run_id']}: 30 paired questions, discordance 0.2" in out
