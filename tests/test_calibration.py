"""The shipped calibration set: four known-grade replies per probe; the rubric keeps their order; the CLI reports."""

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
GRADED = {r: grade(r.reply, next(p for p in PROBES if p.id == r.probe)).score for r in REPLIES}


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_every_probe_has_the_four_kinds_of_reply_with_their_grades(probe):
    kinds = {r.kind: r.grade for r in REPLIES if r.probe == probe.id}
    assert set(kinds) == {"model", "partial", "forbidden", "off_topic"}
    assert (kinds["model"], kinds["partial"], kinds["off_topic"]) == (5, 3, 1) and kinds["forbidden"] in (1, 2)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_the_rubric_ranks_each_probes_replies_in_their_known_order(probe):
    replies = [r for r in REPLIES if r.probe == probe.id]
    for a, b in itertools.permutations(replies, 2):
        if a.grade > b.grade:
            assert GRADED[a] > GRADED[b], (a.kind, GRADED[a], b.kind, GRADED[b])


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_a_fluent_reply_with_a_forbidden_claim_never_grades_above_the_partly_right_one(probe):
    by_kind = {r.kind: GRADED[r] for r in REPLIES if r.probe == probe.id}
    assert by_kind["forbidden"] < by_kind["partial"] and by_kind["forbidden"] <= 2


def test_the_rubric_figures_per_probe_and_overall():
    figures = calibrate(REPLIES, PROBES, grade, RUBRIC_VERSION).to_dict()
    # In-sample: the rubric was tuned on this set (see scoring/calibration.py).
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

    figures = calibrate(REPLIES, PROBES, lambda reply, probe: Grade(3), "constant").figures()
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


def test_grade_calibrate_prints_the_rubric_agreement(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["grade", "--calibrate", "--probes", str(SUITE / "probes.jsonl")]) == 0
    out = capsys.readouterr().out
    assert f"grader {RUBRIC_VERSION}: 40/40 calibration replies graded, 0 grader error(s)" in out
    assert "(all)        40       0       100%   100%        +1.00" in out
    assert main(["grade", "--calibrate", "--json", "--probes", str(SUITE / "probes.jsonl")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grader"] == RUBRIC_VERSION and len(data["rows"]) == 40 and data["by_probe"]["probe-ret-1"]["n"] == 4


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
    assert "grader judge:tiny: 0/40 calibration replies graded, 40 grader error(s)" in out
    assert "(all)        40       40      —      —           —" in out
    assert "probe-ret-1 (model): judge 'tiny' (judge-v2) on probe probe-ret-1: expected" in out
    _load_cached.cache_clear()


def test_an_eval_record_keeps_the_graders_calibration_figures():
    from record_factory import eval_record, probe

    from tunebench.history.records import validate

    figures = {"file": "domain_probes/calibration.jsonl", "sha256": "0" * 64, "graders": {}}
    figures["graders"][RUBRIC_VERSION] = calibrate(REPLIES, PROBES, grade, RUBRIC_VERSION).figures()
    outcome = {**probe("p1", "investment", 1.0, 4), "grader_calibration": figures}
    record = eval_record("run-1", "m", [outcome])
    validate(record, where="test")
    assert record["aggregates"]["grader_calibration"]["graders"][RUBRIC_VERSION]["exact"] == 1.0


def test_the_rubric_on_replies_written_after_it_was_tuned():
    # tests/data/rubric_heldout.jsonl: ten replies written after rubric-v2's thresholds and the probes'
    # alternatives were set, and not used to set them (at that commit: exact 0.9, within one 1.0, rho 0.99).
    heldout = load_calibration(Path(__file__).parent / "data" / "rubric_heldout.jsonl", PROBES)
    figures = calibrate(heldout, PROBES, grade, RUBRIC_VERSION).figures()
    assert figures["within_one"] == 1.0 and figures["exact"] >= 0.8 and figures["spearman"] >= 0.95
    wrong = [r for r in heldout if r.kind == "forbidden"]
    assert all(grade(r.reply, next(p for p in PROBES if p.id == r.probe)).score <= 2 for r in wrong)
