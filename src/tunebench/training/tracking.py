"""Experiment tracking through transformers' own integrations (`report_to`): TensorBoard, MLflow, W&B.

tunebench writes no metrics itself: each phase's trainer is given `report_to` and a run name, and the
integrations are pointed at their location through the environment variables they read. Where each goes:

- TensorBoard: `<tracking_dir>/tensorboard/<run name>/<phase>`, one event folder per phase.
- MLflow: `tracking_uri`, else `$MLFLOW_TRACKING_URI`, else a local file store `<tracking_dir>/mlruns`
  (MLflow 3 keeps that store in maintenance mode; asking for it here is the opt-in it requires). One parent
  run per tunebench run (named after it, reopened on `--resume`) with a nested run per phase, named after the
  phase. Both carry the tags `tunebench.run_id`, `tunebench.output`, and the phase run `tunebench.phase`.
  tunebench opens and closes these runs so the validation loss lands in its phase's run; the trainer's
  MLflowCallback logs every step into the active one.
- W&B: offline unless `$WANDB_MODE` says otherwise, files under `<tracking_dir>`, the run's phases grouped by
  the tunebench run id (`WANDB_RUN_GROUP`), tagged with it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunebench.training.context import TrainingRun
from tunebench.training.recipe import Phase

__all__ = ["session", "phase_attempt", "Attempt", "describe", "run_name", "tracking_dir"]

_EXPERIMENT = "tunebench"


def run_name(run: TrainingRun) -> str:
    return run.recipe.run_name or run.recipe.output


def tracking_dir(run: TrainingRun) -> Path:
    return run.recipe.tracking_dir or run.output_dir / "tracking"


def mlflow_uri(run: TrainingRun) -> str:
    return run.recipe.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (tracking_dir(run) / "mlruns").as_uri()


def describe(run: TrainingRun) -> dict[str, Any] | None:
    """The record's `tracking` section: which trackers, under what name, where (None when there are none)."""
    trackers = list(run.recipe.report_to)
    if not trackers:
        return None
    info: dict[str, Any] = {"report_to": trackers, "run_name": run_name(run)}
    if "tensorboard" in trackers:
        info["tensorboard_dir"] = str(tracking_dir(run) / "tensorboard" / run_name(run))
    if "mlflow" in trackers:
        info["mlflow_uri"] = mlflow_uri(run)
        info["mlflow_experiment"] = os.environ.get("MLFLOW_EXPERIMENT_NAME", _EXPERIMENT)
        info["mlflow_run_id"] = run.state.data.get("mlflow_run_id")
    if "wandb" in trackers:
        info["wandb_dir"] = str(tracking_dir(run))
    return info


@dataclass
class Attempt:
    """One attempt at a phase, as its tracker run sees it: FINISHED unless marked otherwise."""

    status: str = "FINISHED"


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Raise a third-party logger to WARNING for a call: train's output is tunebench's table, not its INFO."""
    import logging

    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def session(run: TrainingRun) -> Iterator[None]:
    """Around all phases: open the tunebench run's MLflow parent run (reopened on --resume), close it after."""
    if "mlflow" not in run.recipe.report_to or not run.is_main:
        yield
        return
    import mlflow

    from tunebench.errors import TrainingPreempted

    with _patched_environ(_mlflow_environment(run)):
        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        with _quiet("mlflow.tracking.fluent"):  # its INFO "Experiment ... does not exist. Creating ..." line
            mlflow.set_experiment(os.environ["MLFLOW_EXPERIMENT_NAME"])
        known = run.state.data.get("mlflow_run_id")
        tags = _tags(run)
        parent = mlflow.start_run(run_id=known) if known else mlflow.start_run(run_name=run_name(run), tags=tags)
        run.state.data["mlflow_run_id"] = parent.info.run_id
        status = "FAILED"
        try:
            yield
            status = "FINISHED"
        except TrainingPreempted:
            status = "KILLED"  # --resume reopens it
            raise
        finally:
            mlflow.flush_async_logging()
            mlflow.end_run(status)
            mlflow.set_tracking_uri("")  # the next run (another tunebench run in this process) sets its own


@contextlib.contextmanager
def phase_attempt(run: TrainingRun, phase: Phase) -> Iterator[Attempt]:
    """Around one attempt at a phase (build, train, evaluate): point the trackers at it; a nested MLflow run."""
    attempt = Attempt()
    if not run.recipe.report_to or not run.is_main:
        yield attempt
        return
    with _patched_environ(_environment(run, phase)):
        if "mlflow" not in run.recipe.report_to:
            yield attempt
            return
        import mlflow

        mlflow.start_run(run_name=phase.name, nested=True, tags={**_tags(run), "tunebench.phase": phase.name})
        try:
            yield attempt
        except BaseException:
            attempt.status = "KILLED" if attempt.status == "KILLED" else "FAILED"
            raise
        finally:
            mlflow.flush_async_logging()
            mlflow.end_run(attempt.status)


def _tags(run: TrainingRun) -> dict[str, str]:
    return {"tunebench.run_id": run.state.data["run_id"], "tunebench.output": run.recipe.output}


def _mlflow_environment(run: TrainingRun) -> dict[str, str]:
    env = {
        "MLFLOW_TRACKING_URI": mlflow_uri(run),
        "MLFLOW_EXPERIMENT_NAME": os.environ.get("MLFLOW_EXPERIMENT_NAME", _EXPERIMENT),
    }
    if env["MLFLOW_TRACKING_URI"].startswith("file:"):
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3's opt-in for the local file store
    return env


def _environment(run: TrainingRun, phase: Phase) -> dict[str, str]:
    trackers, base = run.recipe.report_to, tracking_dir(run)
    tags = _tags(run)
    env: dict[str, str] = {}
    if "tensorboard" in trackers:
        env["TENSORBOARD_LOGGING_DIR"] = str(base / "tensorboard" / run_name(run) / phase.name)
    if "mlflow" in trackers:
        env.update(_mlflow_environment(run))
    if "wandb" in trackers:
        env["WANDB_MODE"] = os.environ.get("WANDB_MODE", "offline")
        env["WANDB_DIR"] = str(base)
        env["WANDB_PROJECT"] = os.environ.get("WANDB_PROJECT", _EXPERIMENT)
        env["WANDB_RUN_GROUP"] = tags["tunebench.run_id"]
        env["WANDB_TAGS"] = f"tunebench.run_id={tags['tunebench.run_id']},tunebench.phase={phase.name}"
    if env.get("TENSORBOARD_LOGGING_DIR"):
        Path(env["TENSORBOARD_LOGGING_DIR"]).mkdir(parents=True, exist_ok=True)
    base.mkdir(parents=True, exist_ok=True)
    return env


@contextlib.contextmanager
def _patched_environ(env: dict[str, str]) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
