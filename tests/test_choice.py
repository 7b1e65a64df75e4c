"""Multiple-choice scoring: equal to lm-eval run directly, unchanged by batching, honest about failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tunebench.engines.hf_choice import score_questions
from tunebench.scoring.choice import format_prompt, pick
from tunebench.suites import Question, load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
TASK_YAML = ROOT / "eval_suites" / "benchmark_100" / "lm_eval" / "tunebench_benchmark_100.yaml"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def questions():
    return load_questions(QUESTIONS)


@pytest.fixture(scope="module")
def ours(tiny, questions):
    return score_questions(*tiny, questions, batch_size=16)


@pytest.mark.slow
def test_scores_equal_lm_eval_run_directly_on_all_100_questions(tiny, questions, ours):
    from tunebench.scoring.lm_eval_task import run_lm_eval

    reference = run_lm_eval(*tiny, QUESTIONS, TASK_YAML, batch_size=16)
    assert sorted(reference) == sorted(q.id for q in questions)
    for result in ours:
        theirs = reference[result.id]
        assert result.loglikelihoods == pytest.approx(theirs.loglikelihoods, abs=1e-4), result.id
        assert (result.correct, result.correct_norm) == (theirs.acc == 1.0, theirs.acc_norm == 1.0), result.id
        assert result.is_greedy == theirs.is_greedy, result.id
    # Same chosen answer: lm-eval's argmax of its own log-likelihoods picks our letter.
    assert [pick(reference[r.id].loglikelihoods)[0] for r in ours] == [r.chosen for r in ours]


def test_prompt_choices_and_target_are_the_lm_eval_task_s_for_every_question(questions):
    from lm_eval.tasks import TaskManager

    from tunebench.scoring.lm_eval_task import task_config

    manager = TaskManager(include_path=str(TASK_YAML.parent), include_defaults=False)
    task = manager.load([task_config(TASK_YAML, QUESTIONS)])["tasks"]["tunebench_benchmark_100"]
    docs = {doc["id"]: doc for doc in task.test_docs()}
    for q in questions:
        doc = docs[q.id]
        assert format_prompt(q) == task.doc_to_text(doc), q.id
        assert task.doc_to_choice(doc) == ["A", "B", "C", "D"] and task.doc_to_target(doc) == q.answer
    assert task.config.target_delimiter == " "


def test_one_pass_per_question_gives_the_same_scores_as_one_row_per_choice(tiny, questions, ours):
    separate = score_questions(*tiny, questions[:24], batch_size=8, one_pass=False)
    for a, b in zip(ours[:24], separate, strict=True):
        assert a.loglikelihoods == pytest.approx(b.loglikelihoods, abs=1e-5)
        assert (a.chosen, a.chosen_norm, a.is_greedy) == (b.chosen, b.chosen_norm, b.is_greedy)


def test_padding_and_batch_composition_do_not_change_scores(tiny, questions, ours):
    alone = [score_questions(*tiny, [q], batch_size=1)[0] for q in questions[::10]]
    for a, b in zip(ours[::10], alone, strict=True):
        assert a.loglikelihoods == pytest.approx(b.loglikelihoods, abs=1e-5)
        assert a.chosen == b.chosen


def test_results_come_back_in_question_order_whatever_the_batching(tiny, questions, ours):
    assert [r.id for r in ours] == [q.id for q in questions]
    reversed_ = score_questions(*tiny, questions[::-1][:10], batch_size=3)
    assert [r.id for r in reversed_] == [q.id for q in questions[::-1][:10]]


def test_permuted_answer_key_flips_exactly_the_affected_outcomes(tiny, questions, ours):
    rotate = dict(zip("ABCD", "BCDA", strict=True))
    permuted = [
        dataclasses.replace(q, answer=rotate[q.answer]) if i % 3 == 0 else q for i, q in enumerate(questions[:30])
    ]
    rescored = score_questions(*tiny, permuted, batch_size=16)
    for i, (before, after) in enumerate(zip(ours[:30], rescored, strict=True)):
        assert after.loglikelihoods == pytest.approx(before.loglikelihoods, abs=1e-5)
        assert after.chosen == before.chosen
        if i % 3:
            assert after.correct == before.correct
        else:  # the key moved: correct now exactly when the model picked the new letter
            assert after.correct == (before.chosen == rotate[before.answer])
            assert not (before.correct and after.correct)


def test_acc_norm_divides_by_choice_length_and_ties_go_to_the_first_choice():
    assert pick([-2.0, -3.0], ["A", "BBBB"]) == ("A", "BBBB")  # -2/1 < -3/4
    assert pick([-1.0, -1.0, -1.0, -1.0]) == ("A", "A")


def test_a_question_longer_than_the_model_context_is_an_error_not_a_wrong_answer(tiny, questions):
    huge = dataclasses.replace(questions[0], question="tax " * 3000)
    result, fine = score_questions(*tiny, [huge, questions[1]])
    assert result.error and "longer than the model's 2048 tokens" in result.error
    assert not result.correct and fine.error is None


def test_a_question_built_by_hand_scores_like_one_loaded_from_a_file(tiny, questions):
    q = questions[7]
    by_hand = Question(q.id, q.domain, q.difficulty, q.question, q.choices, q.answer, q.explanation)
    assert score_questions(*tiny, [by_hand])[0].loglikelihoods == score_questions(*tiny, [q])[0].loglikelihoods


def test_multi_token_continuations_sum_their_token_log_probabilities(tiny):
    # The path a tokenizer takes when " A" is not one token: each choice on its own row, summed like lm-eval.
    import torch

    from tunebench.engines.base import encode_pair
    from tunebench.engines.hf_choice import _Row, _score_batch

    model, tokenizer = tiny
    context = "Question: Which account grows tax-free?\nAnswer:"
    conts = [" a Roth IRA", " a taxable brokerage account"]
    pairs = [encode_pair(tokenizer, context, c) for c in conts]
    assert all(len(cont) > 1 for _, cont in pairs)
    rows = [_Row(0, (ctx + cont)[:-1], {i: cont}) for i, (ctx, cont) in enumerate(pairs)]
    scored = _score_batch(model, rows, tokenizer.pad_token_id)
    for i, (ctx, cont) in enumerate(pairs):
        with torch.inference_mode():
            logprobs = model(torch.tensor([ctx + cont])).logits.log_softmax(-1)[0]
        expected = sum(float(logprobs[len(ctx) + k - 1, t]) for k, t in enumerate(cont))
        assert scored[i][i][0] == pytest.approx(expected, abs=1e-5)
