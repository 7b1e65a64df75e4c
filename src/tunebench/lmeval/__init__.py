"""lm-eval tasks as tunebench suites: loaded by lm-eval's TaskManager, scored on a tunebench engine.

`tasks` loads each named task (its prompt, few-shot and filter configuration untouched) and builds its
requests; `score` answers the selected documents' requests on an engine, batched, then applies the task's
own filters and `process_results`; `record` turns the per-document outcomes into the eval record's
`lm_eval` section (per-task accuracy with its 95% interval).
"""

from __future__ import annotations

from tunebench.lmeval.score import DocOutcome, score_documents
from tunebench.lmeval.tasks import LoadedTask, TaskProblem, load_tasks

__all__ = ["DocOutcome", "LoadedTask", "TaskProblem", "load_tasks", "score_documents"]
