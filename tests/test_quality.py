"""Rubric grades: echo, numbers by value, negation, evidence offsets, thresholds, the issue's false hits/misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunebench.scoring.quality import RUBRIC_VERSION, grade, tokenize
from tunebench.suites import Probe, load_probes

PROBES = {
    p.id: p for p in load_probes(Path(__file__).resolve().parents[1] / "eval_suites" / "domain_probes" / "probes.jsonl")
}
PROBE = Probe(
    id="p",
    domain="retirement_planning",
    prompt="How much can I put in my 401(k) for tax year 2024?",
    key_points=("$23,000|23000", "catch-up", "employer match|free money", "59½"),
    forbidden=("limit is $19,500", "penalty is 50%|50% penalty"),
    reference="For tax year 2024 you can defer $23,000; a catch-up "
    "applies from age 50; take the employer match; withdrawals before 59½ are penalized.",
)


def _values(text: str) -> list[tuple[float | None, bool]]:
    return [(t.value, t.percent) for t in tokenize(text) if t.value is not None]


@pytest.mark.parametrize("probe", PROBES.values(), ids=list(PROBES))
def test_each_shipped_reference_answer_hits_every_key_point_and_grades_5(probe):
    result = grade(probe.reference, probe)
    assert (result.score, result.evidence["missed"], result.evidence["forbidden_found"]) == (5, [], [])


@pytest.mark.parametrize("probe", PROBES.values(), ids=list(PROBES))
def test_copying_the_prompt_earns_nothing(probe):
    result = grade(probe.prompt, probe)
    assert (result.score, result.evidence["hit"], result.evidence["similarity"]) == (1, [], 0.0)


def test_an_empty_answer_grades_1():
    assert grade("", PROBE).score == 1
    assert grade("   \n\n", PROBE).evidence["rule"] == "empty answer"


def test_numbers_are_read_by_value_in_digits_words_and_scales():
    for text in ("$23,000", "23,000", "$23k", "23 thousand", "23000 dollars", "$23K"):
        assert _values(text) == [(23000.0, False)], text
    assert _values("6%, six percent and 6 percent") == [(6.0, True)] * 3
    assert _values("twenty-five percent; 59½; $13.61 million") == [(25.0, True), (59.5, False), (13610000.0, False)]
    assert _values("in 1958, 2024 and 12,000") == [(1958.0, False), (2024.0, False), (12000.0, False)]


@pytest.mark.parametrize("written", ["$23,000", "23,000", "$23k", "23 thousand"])
def test_a_limit_written_any_way_hits_the_key_point(written):
    evidence = grade(f"You can defer {written} this year.", PROBE).evidence
    assert evidence["hit"] == ["$23,000|23000"]


def test_evidence_gives_character_offsets_of_each_hit_and_claim():
    answer = "Defer $23k and use the catch-up. Note the limit is $19,500."
    evidence = grade(answer, PROBE).evidence
    points = {p["point"]: p for p in evidence["key_points"]}
    assert [answer[s:e] for s, e in points["$23,000|23000"]["spans"]] == ["$23k"]
    assert [answer[s:e] for s, e in points["catch-up"]["spans"]] == ["catch-up"]
    assert points["59½"] == {"point": "59½", "hit": False, "matched": None, "spans": []}
    claim = next(c for c in evidence["forbidden"] if c["asserted"])
    assert [answer[s:e] for s, e in claim["spans"]] == ["limit is $19,500"]
    assert all(answer[s:e] for s, e in evidence["reference_spans"])
    assert evidence["reason"] == '2/4 key points; forbidden: "limit is $19,500"'


def test_coverage_and_similarity_map_to_scores_by_the_documented_thresholds():
    half = "You can defer $23,000 and use a catch-up."  # 2 of 4 key points
    evidence = grade(half, PROBE).evidence
    assert evidence["coverage"] == 0.5 and evidence["hit"] == ["$23,000|23000", "catch-up"]
    expected = 4 if evidence["similarity"] >= 0.4 else 3
    assert grade(half, PROBE).score == expected
    assert grade("Something unrelated about weather.", PROBE).score == 1


def test_one_forbidden_claim_caps_the_grade_at_2_and_two_give_1():
    good = "For tax year 2024 you can defer $23,000; a catch-up applies from age 50; take the employer match; 59½."
    assert grade(good, PROBE).score == 5
    one = grade(good + " Note the limit is $19,500.", PROBE)
    assert (one.score, one.evidence["score_before_penalty"]) == (2, 5)
    assert one.evidence["forbidden_found"] == ["limit is $19,500"]
    assert grade(good + " The limit is $19,500 and the penalty is 50%.", PROBE).score == 1


@pytest.mark.parametrize(
    "negated",
    [
        "The penalty is not 50%.",
        "There is no 50% penalty any more.",
        "The 50% penalty is a myth.",
        "It is wrong that the penalty is 50%.",
        "The penalty isn't 50%.",
    ],
)
def test_a_negated_forbidden_claim_is_not_asserted_and_names_its_negation(negated):
    evidence = grade(negated, PROBE).evidence
    claim = next(c for c in evidence["forbidden"] if c["claim"].startswith("penalty"))
    assert evidence["forbidden_found"] == [] and not claim["asserted"] and claim["negated_by"]


@pytest.mark.parametrize("asserted", ["The penalty is 50%.", "You pay a 50% penalty.", "Expect a penalty of 50%."])
def test_a_forbidden_claim_in_any_listed_wording_is_asserted(asserted):
    assert grade(asserted, PROBE).evidence["forbidden_found"] == ["penalty is 50%|50% penalty"]


# --- The false hits and misses, with the reply texts ------------------------------------------------


def test_bonds_copied_from_the_prompt_do_not_hit_the_bonds_key_point():
    probe = PROBES["probe-inv-2"]  # "Should I hold bonds or stocks in my taxable account versus my IRA?"
    wrong = "You should hold bonds or stocks in your taxable account or your IRA, whichever you prefer."
    evidence = grade(wrong, probe).evidence
    assert evidence["hit"] == [] and grade(wrong, probe).score == 1
    assert evidence["echoed_spans"]  # "hold bonds or stocks ... taxable account" is the prompt's
    reversed_advice = "Put the stocks in the IRA and the bonds in the taxable account."
    assert not any("bonds in the ira" in p for p in grade(reversed_advice, probe).evidence["hit"])
    right = "Keep bonds in the IRA, where their interest is sheltered."
    assert any(p.startswith("bonds in the ira") for p in grade(right, probe).evidence["hit"])


def test_ten_percent_of_salary_does_not_hit_the_corrected_penalty_key_point():
    probe = PROBES["probe-ret-2"]
    reply = "Save 10% of your adjusted gross salary each year in the IRA."
    evidence = grade(reply, probe).evidence
    assert evidence["hit"] == [] and grade(reply, probe).score == 1
    corrected = "A missed RMD costs 25% of the shortfall, reduced to 10% if corrected within two years."
    assert grade(corrected, probe).evidence["hit"] == [probe.key_points[2], probe.key_points[3]]


def test_a_correct_paraphrase_without_the_original_words_grades_at_least_4():
    # The original key points were "probate", "incapacity|incapacitated", "revocable|change", "estate tax":
    # this reply uses none of them; the key points now list these wordings as alternatives.
    probe = PROBES["probe-est-1"]
    paraphrase = (
        "A will only acts after death, and the court-supervised process settles the estate. A living trust "
        "you fund now lets a successor trustee take over if you are unable to manage your affairs, and as "
        "you can amend it at any time, what it holds is still counted in your estate when you die."
    )
    result = grade(paraphrase, probe)
    for word in ("probate", "incapac", "revocable", "estate tax"):
        assert word not in paraphrase.lower()
    assert result.evidence["missed"] == [] and result.score >= 4


def test_the_same_answer_gets_the_same_grade_and_evidence_every_time():
    import copy

    answer = "Take the employer match; the 2024 limit is $23,000."
    first = grade(answer, PROBE)
    other = grade("Pay off the car loan first.", PROBE)  # grading another answer in between leaves nothing behind
    again = grade(answer, copy.deepcopy(PROBE))  # an equal probe, not the same object
    assert first == again and first.evidence == again.evidence
    # Not a constant: another answer gets another grade and evidence.
    assert (other.score, other.evidence["hit"]) != (first.score, first.evidence["hit"])
    assert first.evidence["grader"] == RUBRIC_VERSION == "rubric-v2"


def test_grades_of_two_generation_runs_on_tiny_are_identical(tiny_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunebench.engines.hf_generation import timed_generate

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)
    probe = PROBES["probe-ret-1"]
    runs = []
    for seed in (0, 1):
        # Different seeds: greedy decoding ignores them, sampling would not (tiny's next-token distribution is
        # near uniform, so two sampled replies of 24 tokens differ).
        torch.manual_seed(seed)
        messages = [{"role": "user", "content": probe.prompt}]
        runs.append(timed_generate(model, tokenizer, messages, max_new_tokens=24, repeats=1, warmup=0))
    assert runs[0].text and runs[0].text == runs[1].text
    assert grade(runs[0].text, probe) == grade(runs[1].text, probe)
