"""Suite files: the shipped benchmark and probes are well formed; a broken file names file, line and field."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tunebench.errors import SuiteError
from tunebench.suites import DIFFICULTIES, DOMAINS, LETTERS, load_probes, load_questions, resolve_files, schema

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"


def _rows(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(tmp_path: Path, rows: list[dict], name: str = "questions.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _problem(tmp_path: Path, rows: list[dict], **kwargs) -> str:
    path = _write(tmp_path, rows)
    with pytest.raises(SuiteError) as caught:
        load_questions(path, **kwargs)
    return str(caught.value)


def test_shipped_benchmark_has_20_questions_per_domain_5_per_difficulty_and_25_per_answer_letter():
    questions = load_questions(QUESTIONS, per_domain=20)
    assert len(questions) == 100
    assert Counter(q.domain for q in questions) == {d: 20 for d in DOMAINS}
    assert Counter((q.domain, q.difficulty) for q in questions) == {(d, k): 5 for d in DOMAINS for k in DIFFICULTIES}
    assert Counter(q.answer for q in questions) == {letter: 25 for letter in LETTERS}
    assert all(Counter(q.answer for q in questions if q.domain == d) == {x: 5 for x in LETTERS} for d in DOMAINS)


def test_shipped_questions_have_distinct_choices_explanations_and_ids_in_file_order():
    questions = load_questions(QUESTIONS)
    assert all(len(set(q.choices)) == 4 and len(q.explanation) > 40 for q in questions)
    prefixes = {"retirement_planning": "ret", "federal_income_tax": "tax", "estate_planning": "est",
                "investment": "inv", "compliance": "cmp"}
    assert all(q.id.startswith(prefixes[q.domain] + "-") for q in questions)
    assert [q.line for q in questions] == list(range(1, 101))


def test_every_shipped_income_tax_figure_names_its_year():
    # Tax figures change every year: a question quoting one must say which year it belongs to.
    for q in load_questions(QUESTIONS):
        if q.domain == "federal_income_tax" and "$" in q.question + "".join(q.choices):
            assert re.search(r"\b(tax year )?20\d\d\b", q.question), q.id


def test_shipped_probes_cover_every_domain_twice_with_rubrics():
    probes = load_probes(PROBES, min_per_domain=2)
    assert Counter(p.domain for p in probes) == {d: 2 for d in DOMAINS}
    assert all(p.key_points and p.forbidden and p.reference for p in probes)


def test_duplicate_id_names_file_line_and_field(tmp_path):
    rows = _rows()
    rows[5]["id"] = rows[0]["id"]
    message = _problem(tmp_path, rows)
    where = tmp_path / "questions.jsonl"
    assert f"{where}:6: field id: expected a unique id, found 'ret-001' again (first on line 1)" in message


def test_answer_outside_the_choices_names_file_line_and_field(tmp_path):
    rows = _rows()
    rows[41]["answer"] = "E"
    message = _problem(tmp_path, rows)
    assert f"{tmp_path / 'questions.jsonl'}:42: field answer: expected one of A, B, C, D" in message
    assert 'found "E"' in message


def test_unknown_domain_names_file_line_field_and_the_known_domains(tmp_path):
    rows = _rows()
    rows[9]["domain"] = "crypto"
    message = _problem(tmp_path, rows)
    assert f"{tmp_path / 'questions.jsonl'}:10: field domain: expected one of retirement_planning" in message
    assert 'found "crypto"' in message


def test_wrong_per_domain_count_names_the_domain_and_counts(tmp_path):
    rows = [r for r in _rows() if r["id"] != "est-007"]
    message = _problem(tmp_path, rows, per_domain=20)
    assert "field domain: expected exactly 20 questions in domain estate_planning, found 19" in message
    assert str(tmp_path / "questions.jsonl") in message
    assert len(load_questions(tmp_path / "questions.jsonl")) == 99  # user suites: any count unless configured


def test_every_problem_in_a_file_is_reported_at_once_in_line_order(tmp_path):
    rows = _rows()[:3]
    rows[2]["choices"] = ["one", "two", "three"]
    rows[0]["extra"] = 1
    del rows[1]["explanation"]
    path = _write(tmp_path, rows)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(SuiteError) as caught:
        load_questions(path)
    lines = str(caught.value).splitlines()
    assert [re.match(r".*:(\d+): ", line).group(1) for line in lines] == ["1", "2", "3", "4"]
    assert "field extra: unknown field" in lines[0]
    assert "field explanation: expected it to be present" in lines[1]
    assert "field choices: expected at least 4 items" in lines[2]
    assert "expected one JSON object per line, found invalid JSON" in lines[3]
    assert [p.line for p in caught.value.problems] == [1, 2, 3, 4]


def test_probe_schema_errors_name_file_line_and_field(tmp_path):
    rows = _rows(PROBES)
    rows[3]["key_points"] = []
    rows[4]["domain"] = "astrology"
    path = _write(tmp_path, rows, "probes.jsonl")
    with pytest.raises(SuiteError) as caught:
        load_probes(path, min_per_domain=2)
    message = str(caught.value)
    assert f"{path}:4: field key_points: expected at least 1 items" in message
    assert f"{path}:5: field domain: expected one of" in message
    assert "expected at least 2 probes in domain estate_planning, found 1" in message


def test_a_missing_suite_file_is_a_suite_error_naming_it(tmp_path):
    with pytest.raises(SuiteError, match=r"nothing\.jsonl: cannot read the question file"):
        load_questions(tmp_path / "nothing.jsonl")


def test_suite_files_come_from_the_command_line_then_the_config_then_the_shipped_file(tmp_path):
    shipped, configured = tmp_path / "shipped.jsonl", tmp_path / "conf.jsonl"
    assert resolve_files(["mine.jsonl"], tmp_path, [configured], shipped) == [tmp_path / "mine.jsonl"]
    assert resolve_files(None, tmp_path, [configured], shipped) == [configured]
    assert resolve_files(None, tmp_path, [], shipped) == [shipped]


def test_schemas_ship_inside_the_package():
    assert schema("question")["properties"]["domain"]["enum"] == list(DOMAINS)
    assert set(schema("probe")["required"]) == {"id", "domain", "prompt", "key_points", "forbidden", "reference"}
