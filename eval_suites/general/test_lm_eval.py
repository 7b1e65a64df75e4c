"""lm-eval tasks: one item per document; a wrong answer is recorded, not failed.

The selected documents of every task are scored together (`lm_eval_results`, session-scoped); each item
reads its own outcome and records it. A task that cannot load here is one failing item naming why.
"""

import pytest

from tunebench.lmeval.record import doc_outcome
from tunebench.lmeval.tasks import TaskProblem


def test_document(lm_eval_doc, request, record):
    if isinstance(lm_eval_doc, TaskProblem):
        record(kind="lm_eval_task", task=lm_eval_doc.name, status="unavailable", reason=lm_eval_doc.reason)
        pytest.fail(f"lm-eval task {lm_eval_doc.name}: {lm_eval_doc.reason}", pytrace=False)
    results = request.getfixturevalue("lm_eval_results")
    record(**doc_outcome(lm_eval_doc.task, results[(lm_eval_doc.task.name, lm_eval_doc.doc_id)]))
