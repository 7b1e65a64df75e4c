"""The 100-question benchmark: one item per question; a wrong answer is recorded, not failed.

All selected questions are scored together in one batched pass (`benchmark_results`, session-scoped);
each item reads its own result and records it. An item fails only when its question could not be scored.
"""

import pytest

from tunebench.suites import suite_name


def test_question(question, benchmark_results, record):
    result = benchmark_results[(question.source, question.id)]
    if result.error:
        pytest.fail(
            f"{question.id} ({question.source}:{question.line}) could not be scored: {result.error}", pytrace=False
        )
    record(
        kind="question",
        suite=suite_name(question.source),
        suite_file=str(question.source),
        id=question.id,
        domain=question.domain,
        difficulty=question.difficulty,
        answer=question.answer,
        chosen=result.chosen,
        correct=result.correct,
        loglikelihoods=list(result.loglikelihoods),
        chosen_norm=result.chosen_norm,
        correct_norm=result.correct_norm,
    )
