"""The judge: pinned prompt (literal text hash), strict parsing, n judgments with agreement, errors never a grade."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tunebench.errors import JudgeError
from tunebench.scoring.judge import (
    JUDGE_PROMPT,
    JUDGE_PROMPT_SHA256,
    JUDGE_PROMPT_VERSION,
    Judge,
    judge_grade,
    judge_prompt,
    parse_judgment,
)
from tunebench.suites import load_probes

PROBES = load_probes(Path(__file__).resolve().parents[1] / "eval_suites" / "domain_probes" / "probes.jsonl")
PROBE = PROBES[0]


def test_the_judge_prompt_is_pinned_by_its_literal_hash_and_text():
    # Recorded grades name the prompt by version and hash: edit the prompt, bump the version, update both pins.
    pinned = "4abada3dab6b16c052576af43f99c6227ec041fcf845c8b9eeda19cc2e7c9372"
    assert (JUDGE_PROMPT_VERSION, hashlib.sha256(JUDGE_PROMPT.encode()).hexdigest()) == ("judge-v2", pinned)
    assert JUDGE_PROMPT_SHA256 == pinned
    assert JUDGE_PROMPT.endswith(
        "Reply with exactly two lines and nothing else:\nGrade: <one digit from 1 to 5>\nReason: <one sentence>"
    )
    assert "A fluent answer that makes a forbidden claim is wrong." in JUDGE_PROMPT


def test_the_prompt_carries_the_key_points_forbidden_claims_and_reference():
    text = judge_prompt("My answer.", PROBE)
    assert PROBE.prompt in text and PROBE.reference in text and "My answer." in text
    assert "- $23,000 or 23000" in text and "- no limit or unlimited or as much as you want" in text


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Grade: 4\nReason: misses the catch-up.", (4, "misses the catch-up.")),
        ("grade:2\n\nreason: wrong limit", (2, "wrong limit")),
    ],
)
def test_a_two_line_reply_parses_to_grade_and_reason(reply, expected):
    assert parse_judgment(reply) == expected


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("4", "expected two lines"),
        ("The answer is good. Grade: 5", "expected two lines"),
        ("Grade: 7\nReason: great", "expected the first line 'Grade: N'"),
        ("Grade: 4/5\nReason: fine", "expected the first line 'Grade: N'"),
        ("Grade: 3\nBecause it is partly right", "expected the second line 'Reason: ...'"),
        ("Grade: 3\nReason:", "expected the second line 'Reason: ...'"),
        ("", "expected two lines"),
    ],
)
def test_anything_else_is_refused_never_read_as_a_grade(reply, message):
    with pytest.raises(ValueError, match=message):
        parse_judgment(reply)


def _scripted(*replies):
    """A judge whose replies are given: a stand-in for the model so parsing and agreement can be checked."""
    queue = list(replies)
    return Judge("scripted", "scripted-model", "test", lambda messages, limit: queue.pop(0), n=len(replies))


def test_n_judgments_give_the_median_grade_with_its_agreement_and_identity():
    result = judge_grade("x", PROBE, _scripted("Grade: 4\nReason: a", "Grade: 5\nReason: b", "Grade: 4\nReason: c"))
    assert result.score == 4 and result.evidence["agreement"] == round(2 / 3, 4)
    assert result.evidence["reason"] == "judge: a" and result.evidence["errors"] == 0
    identity = {k: result.evidence[k] for k in ("judge_model", "judge_model_id", "judge_engine", "prompt_sha256")}
    assert identity == {
        "judge_model": "scripted",
        "judge_model_id": "scripted-model",
        "judge_engine": "test",
        "prompt_sha256": JUDGE_PROMPT_SHA256,
    }


def test_a_judgment_without_a_grade_counts_against_agreement_and_all_bad_is_an_error():
    partly = judge_grade("x", PROBE, _scripted("Grade: 3\nReason: ok", "no idea"))
    assert (partly.score, partly.evidence["errors"], partly.evidence["agreement"]) == (3, 1, 0.5)
    with pytest.raises(
        JudgeError, match=r"judge 'scripted' \(judge-v2\) on probe probe-ret-1: expected two lines"
    ) as info:
        judge_grade("x", PROBE, _scripted("5 stars"))
    assert info.value.evidence["judgments"][0]["reply"] == "5 stars"


def test_the_tiny_judge_on_the_hf_engine_replies_without_a_grade_and_that_is_an_error(tiny_dir):
    from tunebench.config import Config
    from tunebench.engines.select import load_judge

    judge = load_judge("tiny", Config(root=Path(tiny_dir)), max_new_tokens=4)
    assert (judge.engine, judge.name) == ("hf", "tiny")
    with pytest.raises(JudgeError, match="judge 'tiny' .judge-v2. on probe probe-ret-1: expected"):
        judge_grade("Contribute 6%.", PROBE, judge)


def test_a_registry_judge_with_an_endpoint_grades_through_the_openai_engine(tmp_path):
    # The fault server is a real OpenAI-compatible HTTP server (tests/openai_fault_server.py); its "ok"
    # mode streams the words it is given, here a judge's reply.
    from openai_fault_server import FaultServer

    from tunebench.config import load_config
    from tunebench.engines.select import load_judge

    with FaultServer(served=("judge-served",)) as server:
        (tmp_path / "pyproject.toml").write_text(
            f'[tool.tunebench.models.judge-ep]\nendpoint = "{server.url}"\nserved_name = "judge-served"\n'
        )
        judge = load_judge("judge-ep", load_config(tmp_path))
        assert (judge.engine, judge.model_id) == ("openai", "judge-served")
        server.words = ["Grade: 4", "\nReason: misses", " the catch-up."]
        result = judge_grade("Contribute 6%.", PROBE, judge)
        assert (result.score, result.evidence["reason"]) == (4, "judge: misses the catch-up.")
        assert result.evidence["judge_engine"] == "openai"
        server.words = ["Sure, ", "the answer looks fine!"]
        with pytest.raises(JudgeError, match="judge 'judge-ep' .judge-v2. on probe probe-ret-1: expected two lines"):
            judge_grade("Contribute 6%.", PROBE, judge)
