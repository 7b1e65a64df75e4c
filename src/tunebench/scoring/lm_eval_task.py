"""Run a question file through lm-eval itself (the reference `score_questions` is proven equal to).

The task is the YAML shipped with the benchmark (`eval_suites/benchmark_100/lm_eval/`), pointed at any
question file by an absolute `data_files` path, so users' own suites run there too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LmEvalScores", "task_config", "run_lm_eval"]


@dataclass(frozen=True)
class LmEvalScores:
    """lm-eval's per-question outcome: log-likelihood and greedy flag per choice, and its acc/acc_norm."""

    id: str
    loglikelihoods: tuple[float, ...]
    is_greedy: tuple[bool, ...]
    acc: float
    acc_norm: float


def task_config(yaml_path: Path | str, questions_path: Path | str) -> dict[str, Any]:
    """Return the task config of `yaml_path` with its data file replaced by `questions_path` (absolute)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config: dict[str, Any] = load_yaml(yaml_path)
    config["dataset_kwargs"] = {"data_files": {"test": str(Path(questions_path).resolve())}}
    return config


def run_lm_eval(
    model: Any, tokenizer: Any, questions_path: Path | str, yaml_path: Path | str, batch_size: int = 16
) -> dict[str, LmEvalScores]:
    """Return lm-eval's scores per question id: `simple_evaluate` with HFLM over the already-loaded model."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    config = task_config(yaml_path, questions_path)
    manager = TaskManager(include_path=str(Path(yaml_path).parent), include_defaults=False)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size)
    results = simple_evaluate(model=lm, tasks=[config], task_manager=manager, log_samples=True, bootstrap_iters=0)
    scores = {}
    for sample in results["samples"][config["task"]]:
        pairs = [resp[0] for resp in sample["resps"]]
        scores[sample["doc"]["id"]] = LmEvalScores(
            id=sample["doc"]["id"],
            loglikelihoods=tuple(float(ll) for ll, _ in pairs),
            is_greedy=tuple(bool(g) for _, g in pairs),
            acc=float(sample["acc"]),
            acc_norm=float(sample["acc_norm"]),
        )
    return scores
