"""The fixtures a suite author outside this repo uses: the model, the scorer, the generator, the grader."""

import json

from plugin_support import assert_answered, questions, records

pytest_plugins = ["pytester"]

AUTHOR_SUITE = """
import pathlib
import pytest
from tunebench.suites import load_questions, load_probes

HERE = pathlib.Path(__file__).parent
QUESTIONS = load_questions(HERE / "questions.jsonl")
PROBES = load_probes(HERE / "probes.jsonl")


@pytest.fixture(scope="session")
def scored(tb_score_questions):
    return {r.id: r for r in tb_score_questions(QUESTIONS)}


@pytest.mark.tunebench_suite("author")
@pytest.mark.parametrize("q", QUESTIONS, ids=[q.id for q in QUESTIONS])
def test_question(q, scored, record):
    r = scored[q.id]
    record(kind="question", suite="author", suite_file=str(q.source), id=q.id, domain=q.domain,
           difficulty=q.difficulty, answer=q.answer, chosen=r.chosen, correct=r.correct,
           loglikelihoods=list(r.loglikelihoods))


@pytest.mark.parametrize("p", PROBES, ids=[p.id for p in PROBES])
def test_probe(p, tb_generate, tb_grade, tb_model, record):
    result = tb_generate([{"role": "user", "content": p.prompt}], max_new_tokens=4, repeats=2, warmup=0)
    quality = tb_grade(result.text, p)
    record(kind="probe", suite="author-probes", suite_file=str(p.source), id=p.id, domain=p.domain,
           new_tokens=result.new_tokens, latency_s=list(result.latency_s), grade=quality.score,
           evidence=quality.evidence, answer=result.text, load_s=tb_model.load_seconds)
"""

PROBE = {
    "id": "probe-tax-1",
    "domain": "federal_income_tax",
    "prompt": "What is the standard deduction?",
    "key_points": ["standard deduction", "itemize"],
    "forbidden": ["always itemize"],
    "reference": "The standard deduction is a fixed amount; itemize when deductions exceed it.",
}


def test_an_outside_suite_uses_scorer_generator_and_grader_fixtures(pytester):
    pytester.makefile(".toml", pyproject='[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    pytester.makefile(
        ".jsonl",
        questions="\n".join(json.dumps({**q, "explanation": "x"}) for q in questions(4)),
        probes=json.dumps(PROBE),
    )
    pytester.makepyfile(test_author=AUTHOR_SUITE)
    result = pytester.runpytest("--model", "tiny")
    assert_answered(result, 5)
    [record] = records(pytester)
    assert record["status"] == "complete" and len(record["questions"]) == 4
    assert all(len(q["loglikelihoods"]) == 4 and q["chosen"] in "ABCD" for q in record["questions"])
    [probe] = record["probes"]
    assert len(probe["latency_s"]) == 2 and 1 <= probe["grade"] <= 5
    assert record["aggregates"]["latency_by_domain_s"]["federal_income_tax"]["n"] == 2
    assert record["model"]["device"] == "cpu"  # the loaded model's details reached the record
