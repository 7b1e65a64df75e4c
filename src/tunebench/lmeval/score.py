"""Score lm-eval documents on a tunebench engine: one batched pass per request type, then lm-eval's own
filters and `process_results`, as `lm_eval.evaluator.evaluate` does.

The selected documents' requests (built by `tasks.load_tasks`) are answered together: every
`loglikelihood` request of every task in one `engine.loglikelihood` call (`multiple_choice` tasks send
one per choice), every `generate_until` request in one `engine.generate_until` call (greedy). Each
request is repeated `repeats` times, as lm-eval does. Then each task's filter ensembles run over the
selected documents' responses and `task.process_results(doc, filtered)` gives the per-document metrics,
for every filter, exactly as lm-eval computes them. The outcome of a document is its primary filter's
metrics; `correct` is the primary metric when that is 0/1 (acc, exact_match), else None.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tunebench.lmeval.tasks import LoadedTask

__all__ = ["DocOutcome", "score_documents"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DocOutcome:
    """One document's outcome on its task's primary filter, and what the model answered."""

    task: str
    doc_id: int
    metric: str
    filter: str
    score: float | None  # the primary metric's value
    correct: bool | None  # the primary metric as right/wrong, when it is 0 or 1
    metrics: dict[str, float] = field(default_factory=dict)  # every numeric metric of the primary filter
    by_filter: dict[str, dict[str, float]] = field(default_factory=dict)  # every filter's numeric metrics
    loglikelihoods: tuple[float, ...] | None = None  # multiple_choice: one per choice, in the task's order
    gold: int | None = None  # multiple_choice: the right choice's index (None: several or none)
    response: str | None = None  # generate_until: the raw generation (first repeat)
    filtered_response: str | None = None  # generate_until: after the primary filter
    target: str = ""


def score_documents(
    tasks: Sequence[LoadedTask],
    engine: Any,
    selected: Mapping[str, Sequence[int]] | None = None,
    progress: Progress | None = None,
) -> dict[tuple[str, int], DocOutcome]:
    """Return each selected document's outcome, keyed (task name, doc id); all documents when `selected` is None."""
    chosen = {
        t.name: t.doc_ids if selected is None else [d for d in selected.get(t.name, ()) if d in t.instances]
        for t in tasks
    }
    by_type: dict[str, list[Any]] = {"loglikelihood": [], "generate_until": []}
    for task in tasks:
        for doc_id in chosen[task.name]:
            for instance in task.instances[doc_id]:
                instance.resps, instance.filtered_resps = [], {}
                if instance.request_type not in by_type:
                    raise ValueError(f"{task.name}: request type {instance.request_type!r} is not supported")
                by_type[instance.request_type].extend([instance] * (instance.repeats or 1))
    _answer(by_type["loglikelihood"], engine.loglikelihood, progress)
    _answer(by_type["generate_until"], engine.generate_until, progress)
    outcomes = {}
    for task in tasks:
        selected_instances = [i for d in chosen[task.name] for i in task.instances[d]]
        if not selected_instances:
            continue
        for ensemble in task.task._filters:  # lm-eval's FilterEnsemble.apply: all responses of the task at once
            ensemble.apply(selected_instances)
        for doc_id in chosen[task.name]:
            outcomes[(task.name, doc_id)] = _outcome(task, doc_id)
    return outcomes


def _answer(instances: list[Any], method: Callable[..., list[Any]], progress: Progress | None) -> None:
    if not instances:
        return
    answers = method([instance.args for instance in instances], progress=progress)
    if len(answers) != len(instances):
        raise ValueError(f"the engine answered {len(answers)} of {len(instances)} requests")
    for instance, answer in zip(instances, answers, strict=True):
        instance.resps.append(answer)


def _outcome(loaded: LoadedTask, doc_id: int) -> DocOutcome:
    task, requests = loaded.task, loaded.instances[doc_id]
    doc = requests[0].doc
    by_filter = {}
    for key in requests[0].filtered_resps:
        metrics = task.process_results(doc, [request.filtered_resps[key] for request in requests])
        by_filter[key] = {name: float(value) for name, value in metrics.items() if _is_number(value)}
    primary = by_filter.get(loaded.filter) or next(iter(by_filter.values()), {})
    score = primary.get(loaded.metric)
    outcome: dict[str, Any] = {}
    if loaded.output_type == "multiple_choice":
        outcome["loglikelihoods"] = tuple(float(request.resps[0][0]) for request in requests)
        outcome["gold"] = _gold(task, doc)
    else:
        outcome["response"] = str(requests[0].resps[0])
        filtered = requests[0].filtered_resps.get(loaded.filter)
        outcome["filtered_response"] = filtered if isinstance(filtered, str) else str(filtered)
    return DocOutcome(
        task=loaded.name,
        doc_id=doc_id,
        metric=loaded.metric,
        filter=loaded.filter,
        score=score,
        correct=None if score not in (0.0, 1.0) else score == 1.0,
        metrics=primary,
        by_filter=by_filter,
        target=str(task.doc_to_target(doc)),
        **outcome,
    )


def _gold(task: Any, doc: Any) -> int | None:
    """The right choice's index as lm-eval's process_results finds it (None when several or out of range)."""
    choices = task.doc_to_choice(doc)
    gold = task.doc_to_target(doc)
    if isinstance(gold, str):
        gold = choices.index(gold) if gold in choices else None
    return gold if isinstance(gold, int) and 0 <= gold < len(choices) else None


def _is_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool | str) and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
