"""Rubric grades: documented thresholds, evidence, forbidden claims, determinism; the judge's prompt is pinned."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tunebench.scoring.quality import (
    JUDGE_PROMPT,
    JUDGE_PROMPT_SHA256,
    JUDGE_PROMPT_VERSION,
    JudgeError,
    grade,
    judge_grade,
    normalize,
)
from tunebench.suites import Probe, load_probes

PROBES = load_probes(Path(__file__).resolve().parents[1] / "eval_suites" / "domain_probes" / "probes.jsonl")
PROBE = Probe(
    id="p",
    domain="retirement_planning",
    prompt="How much can I put in my 401(k) for tax year 2024?",
    key_points=("$23,000|23000", "catch-up", "employer match|free money", "59½"),
    forbidden=("limit is $19,500",),
    reference="For tax year 2024 you can defer $23,000; a catch-up "
    "applies from age 50; take the employer match; withdrawals before 59½ are penalized.",
)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_each_shipped_reference_answer_hits_every_key_point_and_grades_5(probe):
    result = grade(probe.reference, probe)
    assert (result.score, result.evidence["missed"], result.evidence["forbidden_found"]) == (5, [], [])


def test_an_empty_answer_grades_1():
    assert grade("", PROBE).score == 1
    assert grade("   \n\n", PROBE).evidence["rule"] == "empty answer"


def test_normalization_matches_money_percent_and_fractions_written_differently():
    assert normalize("You may defer $23,000 (6%) until 59½.") == "you may defer 23000 6 percent until 59.5"
    evidence = grade("Defer 23000 dollars, use the catch-up, age 59.5, get the free money.", PROBE).evidence
    assert evidence["missed"] == [] and evidence["coverage"] == 1.0


def test_coverage_and_similarity_map_to_scores_by_the_documented_thresholds():
    half = "You can defer $23,000 and use a catch-up."  # 2 of 4 key points
    evidence = grade(half, PROBE).evidence
    assert evidence["coverage"] == 0.5 and evidence["hit"] == ["$23,000|23000", "catch-up"]
    expected = 4 if evidence["similarity"] >= 0.25 else 3
    assert grade(half, PROBE).score == expected
    assert grade("Something unrelated about weather.", PROBE).score == 1


def test_each_forbidden_claim_found_costs_two_points_and_is_named():
    good = "For tax year 2024 you can defer $23,000; a catch-up applies from age 50; take the employer match; 59½."
    bad = good + " Note the limit is $19,500."
    assert grade(good, PROBE).score == 5
    result = grade(bad, PROBE)
    assert result.score == 3 and result.evidence["forbidden_found"] == ["limit is $19,500"]
    assert result.evidence["score_before_penalty"] == 5


def test_a_negated_claim_with_other_words_is_not_a_forbidden_claim():
    assert grade("The limit is not $19,500.", PROBE).evidence["forbidden_found"] == []


def test_the_same_answer_gets_the_same_grade_and_evidence_every_time():
    answer = "Take the employer match; the 2024 limit is $23,000."
    assert grade(answer, PROBE) == grade(answer, PROBE)


def test_grades_of_two_generation_runs_on_tiny_are_identical(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunebench.scoring.generation import timed_generate

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)
    probe = PROBES[0]
    runs = [
        timed_generate(
            model, tokenizer, [{"role": "user", "content": probe.prompt}], max_new_tokens=8, repeats=1, warmup=0
        )
        for _ in range(2)
    ]
    assert runs[0].text == runs[1].text
    assert grade(runs[0].text, probe) == grade(runs[1].text, probe)


def test_changing_the_judge_prompt_requires_a_new_version():
    # Recorded grades name the prompt by version and hash: edit the prompt, bump the version, update this pin.
    assert JUDGE_PROMPT_SHA256 == hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()
    pinned = "778ac554c2204b4b0891e0d262d3273d727a77219d2f01da39f3ec57e431aed8"
    assert (JUDGE_PROMPT_VERSION, JUDGE_PROMPT_SHA256) == ("judge-v1", pinned)


class _AlwaysToken:
    """A real logits processor that makes the judge reply with one chosen token."""

    def __init__(self, token: int):
        self.token = token

    def __call__(self, input_ids, scores):
        forced = scores.new_full(scores.shape, float("-inf"))
        forced[:, self.token] = 0.0
        return forced


def test_a_judge_reply_becomes_the_grade_with_its_name_prompt_version_and_hash(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)
    four = tokenizer.convert_tokens_to_ids("4")
    result = judge_grade(
        "Some answer.", PROBE, model, tokenizer, "tiny", logits_processor=LogitsProcessorList([_AlwaysToken(four)])
    )
    assert result.score == 4
    assert result.evidence["grader"] == "judge:tiny" and result.evidence["prompt_sha256"] == JUDGE_PROMPT_SHA256
    assert result.evidence["prompt_version"] == JUDGE_PROMPT_VERSION


def test_a_judge_reply_without_a_grade_is_an_error_naming_the_judge(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)
    with pytest.raises(JudgeError, match=r"judge 'tiny' \(judge-v1\) on probe p: expected a grade 1-5"):
        judge_grade("Some answer.", PROBE, model, tokenizer, "tiny")  # random tiny replies with newlines
