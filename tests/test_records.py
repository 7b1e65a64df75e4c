"""Record validation by kind against the shipped schemas, and EvalRecord building from item outcomes."""

import json

import jsonschema
import pytest
from plugin_support import eval_record

from tunebench.errors import RecordError
from tunebench.history.eval_record import ItemResult, build_eval_record, check_outcome
from tunebench.history.records import _registry_and_schemas, known_kinds, parse_utc, to_json, utc_now, validate
from tunebench.provenance import collect


def test_every_shipped_schema_is_a_valid_draft_2020_12_schema():
    schemas = _registry_and_schemas()[1]
    assert "eval_record.schema.json" in schemas and "common.schema.json" in schemas
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    assert "eval" in known_kinds()


def test_a_built_eval_record_is_valid_and_survives_a_json_round_trip():
    record = eval_record({"q1": True, "q2": False}, latencies={"tax": [1.0, 2.0]})
    validate(record)
    assert json.loads(to_json(record)) == record


def test_the_kind_picks_the_schema_and_an_unknown_kind_lists_the_known_ones():
    with pytest.raises(RecordError, match=r"key kind: expected one of .*eval.*, found 'evaluation'"):
        validate({"kind": "evaluation"})
    with pytest.raises(RecordError, match="key kind: expected one of .*found None"):
        validate({"run_id": "x"})
    with pytest.raises(RecordError, match="expected a JSON object, found list"):
        validate([])


def test_a_violation_names_where_the_json_path_and_the_problem():
    record = eval_record({"q1": True})
    record["questions"][0]["correct"] = "yes"
    record["provenance"].pop("git_commit")
    with pytest.raises(RecordError) as failure:
        validate(record, where="runs/2026/x.json")
    message = str(failure.value)
    assert message.startswith("runs/2026/x.json: eval record violates its schema:")
    assert "key questions[0].correct: 'yes' is not of type 'boolean'" in message
    assert "key provenance: 'git_commit' is a required property" in message


def test_timestamps_must_be_utc_and_ordered():
    record = eval_record({"q1": True})
    record["started_at"] = "2026-01-20T10:00:00+02:00"
    with pytest.raises(RecordError, match="key started_at: .* does not match"):
        validate(record)
    record = eval_record({"q1": True}, started_at="2026-01-20T11:00:00Z", finished_at="2026-01-20T10:00:00Z")
    with pytest.raises(RecordError, match="key finished_at: expected a time at or after started_at"):
        validate(record)
    assert parse_utc(utc_now()).tzinfo is not None


def test_nan_is_not_stored():
    record = eval_record({"q1": True})
    record["aggregates"]["accuracy"]["value"] = float("nan")
    with pytest.raises(RecordError, match="not JSON-serializable"):
        to_json(record)


def test_outcome_contract_is_checked_with_the_missing_key_named():
    with pytest.raises(RecordError, match="missing key.s. difficulty, correct"):
        check_outcome({"kind": "question", "id": "q", "domain": "tax"})
    with pytest.raises(RecordError, match="key chosen: expected one of A, B, C, D, found 'E'"):
        check_outcome(
            {"kind": "question", "id": "q", "domain": "d", "difficulty": "easy", "correct": True, "chosen": "E"}
        )
    with pytest.raises(RecordError, match="key grade: expected 1-5, found 9"):
        check_outcome({"kind": "probe", "id": "p", "domain": "d", "grade": 9})
    check_outcome({"note": "free-form outcomes pass"})


def _question(qid, correct=True, domain="tax"):
    return {
        "kind": "question",
        "suite": "mini",
        "suite_file": "questions.jsonl",
        "id": qid,
        "domain": domain,
        "difficulty": "easy",
        "answer": "A",
        "chosen": "A" if correct else "B",
        "correct": correct,
    }


def test_crashed_items_become_crashed_questions_looked_up_in_the_suite_file(tmp_path):
    (tmp_path / "questions.jsonl").write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"id": "q1", "domain": "tax", "difficulty": "easy", "answer": "A"},
                {"id": "q2", "domain": "estate_planning", "difficulty": "hard", "answer": "C"},
            ]
        )
    )
    items = [
        ItemResult("t.py::test_q[q1]", "passed", [_question("q1")]),
        ItemResult("t.py::test_q[q2]", "crashed"),
        ItemResult("t.py::test_other", "missing"),
    ]
    record = build_eval_record(
        model={"name": "m", "base": "b", "adapter": None},
        items=items,
        started_at=utc_now(),
        finished_at=utc_now(),
        provenance=collect(command="x"),
        root=tmp_path,
    )
    validate(record)
    crashed = record["questions"][1]
    assert crashed == {
        "id": "q2",
        "suite": "mini",
        "domain": "estate_planning",
        "difficulty": "hard",
        "status": "crashed",
        "correct": False,
        "chosen": None,
        "answer": "C",
    }
    assert record["status"] == "incomplete" and record["aggregates"]["accuracy"]["n"] == 2
    assert record["items"]["missing"] == ["t.py::test_other"]
    assert any("t.py::test_other: missing before recording" in note for note in record["notes"])
    assert record["suites"][0]["file"] == "questions.jsonl" and len(record["suites"][0]["sha256"]) == 64


def test_a_question_recorded_twice_is_kept_once_with_a_note():
    items = [
        ItemResult("t.py::a", "passed", [_question("q1", True)]),
        ItemResult("t.py::b", "passed", [_question("q1", False)]),
    ]
    record = build_eval_record(
        model={"name": "m", "base": "b", "adapter": None},
        items=items,
        started_at=utc_now(),
        finished_at=utc_now(),
        provenance=collect(command="x"),
    )
    assert len(record["questions"]) == 1 and record["questions"][0]["correct"] is True
    assert "recorded twice" in record["notes"][0]


def test_aggregates_give_intervals_per_domain_and_difficulty_and_latency_percentiles():
    record = eval_record(
        {"q1": True, "q2": False, "q3": True}, latencies={"tax": [1.0, 2.0, 3.0, 4.0]}, grades={"tax": 4}
    )
    aggregates = record["aggregates"]
    assert aggregates["accuracy"]["k"] == 2 and aggregates["accuracy"]["n"] == 3
    assert set(aggregates["by_domain"]) == {"retirement_planning", "federal_income_tax", "estate_planning"}
    assert aggregates["latency_s"]["p50"] == 2.5 and aggregates["latency_s"]["n"] == 4
    assert aggregates["quality_by_domain"] == {"tax": 4.0}
