"""Load lm-eval tasks by name through lm-eval's own TaskManager and build their requests, as simple_evaluate does.

Each named task (or every leaf task of a named group or tag) is loaded on its own, so one that cannot
load (an unknown name, a data set that is neither reachable nor in the local cache) is a `TaskProblem`
naming it and why, in one line, while the others run. The requests of every document (up to `limit`) are
built here, once, with simple_evaluate's settings: `num_fewshot` from the task (0 when it names none) and
the few-shot sampler seeded with simple_evaluate's default seed, so each document's prompt is the one
lm-eval builds whatever subset of documents is later selected. tunebench fetches nothing itself: the data
comes from where lm-eval's task config says (the hub, the local HF cache, a local `dataset_path: json`).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LoadedTask", "TaskProblem", "load_tasks", "FEWSHOT_SEED", "SUPPORTED_OUTPUT_TYPES"]

FEWSHOT_SEED = 1234  # simple_evaluate's default fewshot_random_seed
SUPPORTED_OUTPUT_TYPES = ("multiple_choice", "generate_until")


@dataclass
class LoadedTask:
    """One lm-eval task, its requests built: the lm-eval Task object and its instances by document id."""

    name: str
    task: Any  # lm_eval.api.task.Task
    output_type: str
    instances: dict[int, list[Any]]  # doc id -> its lm_eval Instances, in request order
    limit: int | None = None
    metric: str = ""  # the primary metric: the first of the task's metric list
    filter: str = ""  # the primary filter: the first of the task's filter list ("none" without one)
    version: str | None = None
    config_sha256: str = ""  # of the task's dumped config: prompt, few-shot, filters, metrics
    total_docs: int = 0  # documents in the task's evaluation split (before `limit`)

    @property
    def doc_ids(self) -> list[int]:
        return sorted(self.instances)

    def info(self) -> dict[str, Any]:
        """Return what the record keeps of the task (JSON-serializable)."""
        return {
            "name": self.name,
            "output_type": self.output_type,
            "metric": self.metric,
            "filter": self.filter,
            "version": self.version,
            "config_sha256": self.config_sha256,
            "limit": self.limit,
            "documents": len(self.instances),
        }


@dataclass(frozen=True)
class TaskProblem:
    """A named task that cannot run here: which, and why (one line)."""

    name: str
    reason: str


@dataclass
class _Loaded:
    tasks: list[LoadedTask] = field(default_factory=list)
    problems: list[TaskProblem] = field(default_factory=list)


def load_tasks(
    names: Sequence[str], include: Sequence[str | Path] = (), limit: int | None = None
) -> tuple[list[LoadedTask], list[TaskProblem]]:
    """Return (the loaded tasks, the named ones that cannot run here), each in the order named."""
    from lm_eval.tasks import TaskManager

    include_paths = [str(Path(p)) for p in include]
    manager = TaskManager(include_path=include_paths or None, include_defaults=False) if include_paths else None
    if manager is None or any(name not in manager.all_tasks for name in names):
        # lm-eval's own task library: indexing it takes seconds, so only when a name is not in `include`.
        manager = TaskManager(include_path=include_paths or None)
    out = _Loaded()
    seen: set[str] = set()
    for name in names:
        if name not in manager.all_tasks:
            out.problems.append(TaskProblem(name, f"lm-eval knows no task, group or tag {name!r}{_where(include)}"))
            continue
        try:
            loaded = manager.load([name])["tasks"]
        except Exception as exc:  # noqa: BLE001 - a data set lm-eval cannot load is a recorded problem, not a crash
            out.problems.append(TaskProblem(name, _reason(exc)))
            continue
        for task_name, task in loaded.items():
            if task_name in seen:
                continue
            seen.add(task_name)
            try:
                out.tasks.append(_prepare(task_name, task, limit))
            except _Unsupported as exc:
                out.problems.append(TaskProblem(task_name, str(exc)))
    return out.tasks, out.problems


class _Unsupported(Exception):
    pass


def _prepare(name: str, task: Any, limit: int | None) -> LoadedTask:
    """Set simple_evaluate's defaults on the task and build every document's requests."""
    output_type = task.get_config("output_type")
    if output_type not in SUPPORTED_OUTPUT_TYPES:
        raise _Unsupported(
            f"output_type {output_type!r}: tunebench scores {' and '.join(SUPPORTED_OUTPUT_TYPES)} tasks"
        )
    if task.get_config("num_fewshot") is None:
        task.set_config(key="num_fewshot", value=0)
    task.set_fewshot_seed(seed=FEWSHOT_SEED)
    task.build_all_requests(limit=limit, rank=0, world_size=1)
    instances: dict[int, list[Any]] = defaultdict(list)
    for instance in task.instances:
        instances[instance.doc_id].append(instance)
    for group in instances.values():
        group.sort(key=lambda i: i.idx)
    config = task.dump_config()
    metrics = [m["metric"] for m in (config.get("metric_list") or []) if isinstance(m.get("metric"), str)]
    filters = [f.name for f in getattr(task, "_filters", [])]
    version = (config.get("metadata") or {}).get("version")
    return LoadedTask(
        name=name,
        task=task,
        output_type=output_type,
        instances=dict(instances),
        limit=limit,
        metric=metrics[0] if metrics else next(iter(task._metric_fn_list), ""),
        filter=filters[0] if filters else "none",
        version=None if version is None else str(version),
        config_sha256=hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
        total_docs=len(task.eval_docs),
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    offline = any(
        word in text.lower() for word in ("offline", "connection", "couldn't reach", "not reachable", "no such file")
    )
    hint = " (offline and not in the local HF cache?)" if offline else ""
    return f"cannot load its data set{hint}: {type(exc).__name__}: {text[:300]}"


def _where(include: Sequence[str | Path]) -> str:
    return f" (lm-eval's task library and {', '.join(map(str, include))})" if include else " (lm-eval's task library)"
