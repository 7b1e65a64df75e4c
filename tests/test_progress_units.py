"""Progress of multiple choice counts questions on every engine (issue 26: "16/100" in-process, "16/400" served).

The in-process engine scored rows (one per question, or four when a question's choices need rows of their own)
and the served one requests (four per question): the terminal showed two units for the same work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openai_fault_server import FaultServer

from tunebench.engines import score_choices
from tunebench.engines.hf_choice import score_questions
from tunebench.engines.openai_api import OpenAIEngine
from tunebench.suites import load_questions

QUESTIONS = load_questions(Path(__file__).resolve().parents[1] / "eval_suites" / "benchmark_100" / "questions.jsonl")[
    :10
]


def _calls(run) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    run(lambda done, total: seen.append((done, total)))
    return seen


def _counts_questions(seen: list[tuple[int, int]]) -> None:
    assert seen and {total for _, total in seen} == {len(QUESTIONS)}, seen
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and dones[-1] == len(QUESTIONS), seen


@pytest.mark.parametrize("one_pass", [True, False], ids=["one row per question", "a row per choice"])
def test_in_process_multiple_choice_counts_questions(tiny, one_pass):
    model, tokenizer = tiny
    _counts_questions(
        _calls(lambda p: score_questions(model, tokenizer, QUESTIONS, batch_size=4, progress=p, one_pass=one_pass))
    )


def test_served_multiple_choice_counts_questions_not_requests():
    with FaultServer() as server:
        engine = OpenAIEngine(server.url, "fake-model", max_retries=0, batch_size=8)
        _counts_questions(_calls(lambda p: score_choices(engine, QUESTIONS, progress=p)))
