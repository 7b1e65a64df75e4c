"""The shipped calibration set: four known-grade tuning replies per probe and held-out ones; the CLI reports both."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tunebench.cli import main
from tunebench.errors import SuiteFileError
from tunebench.scoring.calibration import calibrate, load_calibration
from tunebench.scoring.quality import RUBRIC_VERSION, grade
from tunebench.suites import load_probes

SUITE = Path(__file__).resolve().parents[1] / "eval_suites" / "domain_probes"
PROBES = load_probes(SUITE / "probes.jsonl")
REPLIES = load_calibration(SUITE / "calibration.jsonl", PROBES)
TUNING = [r for r in REPLIES if r.split == "tuning"]  # the rubric was tuned on these
HELD_OUT = [r for r in REPLIES if r.split == "held_out"]
GRADED = {r: grade(r.reply, next(p for p in PROBES if p.id == r.probe)).score for r in REPLIES}


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_every_probe_has_the_four_kinds_of_reply_with_their_grades(probe):
    kinds = {r.kind: r.grade for r in TUNING if r.probe == probe.id}
    assert set(kinds) == {"model", "partial", "forbidden", "off_topic"}
    assert (kinds["model"], kinds["partial"], kinds["off_topic"]) == (5, 3, 1) and kinds["forbidden"] in (1, 2)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_the_rubric_ranks_each_probes_replies_in_their_known_order(probe):
    replies = [r for r in TUNING if r.probe == probe.id]
    for a, b in itertools.permutations(replies, 2):
        if a.grade > b.grade:
            assert GRADED[a] > GRADED[b], (a.kind, GRADED[a], b.kind, GRADED[b])


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_a_fluent_reply_with_a_forbidden_claim_never_grades_above_the_partly_right_one(probe):
    by_kind = {r.kind: GRADED[r] for r in TUNING if r.probe == probe.id}
    assert by_kind["forbidden"] < by_kind["partial"] and by_kind["forbidden"] <= 2


def test_the_rubric_figures_per_probe_and_overall():
    figures = calibrate(TUNING, PROBES, grade, RUBRIC_VERSION).to_dict()
    # In-sample: the rubric was tuned on these replies (see scoring/calibration.py).
    assert {k: figures[k] for k in ("n", "errors", "exact", "within_one", "spearman")} == {
        "n": 40,
        "errors": 0,
        "exact": 1.0,
        "within_one": 1.0,
        "spearman": 1.0,
    }
    assert all(f["spearman"] == 1.0 for f in figures["by_probe"].values())


def test_a_grader_that_always_says_3_agrees_within_one_only_with_the_middle(tmp_path):
    from tunebench.scoring.quality import Grade

    figures = calibrate(TUNING, PROBES, lambda reply, probe: Grade(3), "constant").figures()
    assert figures["exact"] == 0.25 and figures["spearman"] is None  # a constant grader has no rank order


def test_a_bad_calibration_line_is_named_by_file_line_and_field(tmp_path):
    path = tmp_path / "calibration.jsonl"
    rows = [
        {"probe": "probe-ret-1", "kind": "model", "grade": 5, "reply": "x"},
        {"probe": "nope", "kind": "model", "grade": 9, "reply": "x"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(SuiteFileError, match=rf"{path}:2: field grade: expected .*<= 5.*found 9"):
        load_calibration(path, PROBES)
    rows[1]["grade"] = 1
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(SuiteFileError, match=rf"{path}:2: field probe: expected one of the probes' ids"):
        load_calibration(path, PROBES)


def test_grade_calibrate_prints_the_held_out_agreement_first_and_the_tuning_set_labelled_in_sample(
    capsys, monkeypatch, tmp_path
):
    # Issue 26: it printed 100% exact, Spearman 1.00: the 40 replies the rubric was tuned on, as its only figure.
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "--calibrate", "--probes", str(SUITE / "probes.jsonl")]) == 0
    lines = capsys.readouterr().out.splitlines()
    n = len(REPLIES)
    assert lines[0] == f"grader {RUBRIC_VERSION}: {n}/{n} calibration replies graded, 0 grader error(s)"
    held_out = f"held-out replies (never used to tune the rubric)          {len(HELD_OUT)}       0       90.9%   100.0%"
    assert lines[3].startswith(held_out), lines
    tuning = "tuning replies (the rubric was tuned on them: in-sample)  40       0       100.0%  100.0%      +1.00"
    assert lines[4] == tuning, lines
    assert main(["grade", "--calibrate", "--json", "--probes", str(SUITE / "probes.jsonl")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["by_split"]) == ["held_out", "tuning"] and data["by_split"]["tuning"]["exact"] == 1.0
    assert len(data["rows"]) == n and {r["split"] for r in data["rows"]} == {"held_out", "tuning"}


def test_a_calibration_file_without_splits_is_held_out(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"probe": "probe-ret-1", "kind": "model", "grade": 5, "reply": "x"}) + "\n")
    (reply,) = load_calibration(path, PROBES)
    assert reply.split == "held_out"
    assert list(calibrate([reply], PROBES, grade, RUBRIC_VERSION).figures_by_split()) == ["held_out"]


def test_grade_calibrate_with_no_judge_configured_says_how_to_configure_one(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "--calibrate", "--grader", "judge", "--probes", str(SUITE / "probes.jsonl")]) == 2
    assert "pass --judge NAME or set [tool.tunebench.eval.judge] model" in capsys.readouterr().err


@pytest.mark.slow
def test_grade_calibrate_with_the_tiny_judge_reports_every_judge_error(capsys, monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.tunebench.eval.judge]\nmodel = "tiny"\nmax_new_tokens = 2\n')
    monkeypatch.chdir(tmp_path)
    from tunebench.config import _load_cached

    _load_cached.cache_clear()
    assert main(["grade", "--calibrate", "--grader", "judge", "--probes", str(SUITE / "probes.jsonl")]) == 1
    out = capsys.readouterr().out
    n = len(REPLIES)
    assert f"grader judge:tiny: 0/{n} calibration replies graded, {n} grader error(s)" in out
    assert f"(all)        {n}       {n}      —      —           —" in out
    assert "probe-ret-1 (model): judge 'tiny' (judge-v2) on probe probe-ret-1: expected" in out
    _load_cached.cache_clear()


def test_an_eval_record_keeps_the_graders_calibration_figures():
    from record_factory import eval_record, probe

    from tunebench.history.records import validate

    figures = {"file": "domain_probes/calibration.jsonl", "sha256": "0" * 64, "graders": {}}
    figures["graders"][RUBRIC_VERSION] = calibrate(TUNING, PROBES, grade, RUBRIC_VERSION).figures()
    outcome = {**probe("p1", "investment", 1.0, 4), "grader_calibration": figures}
    record = eval_record("run-1", "m", [outcome])
    validate(record, where="test")
    assert record["aggregates"]["grader_calibration"]["graders"][RUBRIC_VERSION]["exact"] == 1.0


def test_the_rubric_on_replies_written_after_it_was_tuned():
    # The held-out split: replies written after rubric-v2's thresholds and the probes' alternatives were set,
    # and not used to set them (ten at 590d7ac: exact 0.9, within one 1.0, rho 0.99; one more for probe-cmp-1).
    assert len(HELD_OUT) >= 10
    figures = calibrate(HELD_OUT, PROBES, grade, RUBRIC_VERSION).figures()
    assert figures["within_one"] == 1.0 and figures["exact"] >= 0.8 and figures["spearman"] >= 0.95
    wrong = [r for r in HELD_OUT if r.kind == "forbidden"]
    assert all(grade(r.reply, next(p for p in PROBES if p.id == r.probe)).score <= 2 for r in wrong)
