"""lm-eval tasks: tunebench's scoring (TaskManager, requests, engine, lm-eval's filters) vs `lm_eval.simple_evaluate`.

Both sides run the same two tasks on the same loaded model, batch size 8: a `multiple_choice` task (80
documents, four choices each) and a `generate_until` task (16 documents, regex filter, `exact_match`),
the YAMLs over local JSON data that tests/test_lmeval.py uses. The baseline is what a user would call:
`simple_evaluate` with lm-eval's HFLM around the model and a `TaskManager` over the task folder only. The
tunebench side is what `pytest eval_suites --lm-eval-task ...` does: `load_tasks` (the same TaskManager,
requests built) and `score_documents` on the hf engine (one batched pass per request type, then lm-eval's
filters and process_results). Goal: no slower than lm-eval (`<= 1.0`), the per-document outcomes being
equal (tests/test_lmeval.py).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

from tunebench.config import Config
from tunebench.engines.hf import HFEngine
from tunebench.lmeval.score import score_documents
from tunebench.lmeval.tasks import load_tasks
from tunebench.loading import load_model
from tunebench.registry import ModelEntry

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = {"tiny": 3, "bench": 2}
BATCH = 8


def _support():
    # The tests' task writer, loaded by path: tests/ is not a package, and one copy of the YAMLs is enough.
    spec = importlib.util.spec_from_file_location("lmeval_support", ROOT / "tests" / "lmeval_support.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SUPPORT = _support()


@pytest.fixture(scope="session")
def lmeval_model(cpu_model_dir, model_size, tmp_path_factory):
    """The benchmark model loaded once through tunebench, shared by both sides."""
    config = Config(root=tmp_path_factory.mktemp("lmeval-project"))
    return load_model(ModelEntry(f"{model_size}-lmeval", base=str(cpu_model_dir)), config)


@pytest.fixture(scope="session")
def lmeval_tasks(lmeval_model, tmp_path_factory):
    return SUPPORT.write_tasks(tmp_path_factory.mktemp("lmeval-tasks"), lmeval_model.model, lmeval_model.tokenizer)


def _tunebench(loaded, folder):
    tasks, problems = load_tasks([SUPPORT.MC_TASK, SUPPORT.GEN_TASK], include=[folder])
    engine = HFEngine(SimpleNamespace(model=loaded.model, tokenizer=loaded.tokenizer, load_seconds=0.0), BATCH)
    return score_documents(tasks, engine)


def _lm_eval(loaded, folder):
    return SUPPORT.simple_evaluate_samples(folder, loaded.model, loaded.tokenizer, batch_size=BATCH)


def test_lmeval_simple_evaluate(paired_benchmark, lmeval_model, lmeval_tasks, model_size):
    samples = paired_benchmark(
        _lm_eval, lmeval_model, lmeval_tasks, side="baseline", group=f"lmeval-{model_size}", rounds=ROUNDS[model_size]
    )
    assert len(samples[SUPPORT.MC_TASK]) == SUPPORT.MC_DOCS


def test_lmeval_tunebench(paired_benchmark, lmeval_model, lmeval_tasks, model_size):
    outcomes = paired_benchmark(
        _tunebench,
        lmeval_model,
        lmeval_tasks,
        side="tunebench",
        group=f"lmeval-{model_size}",
        goal="<= 1.0",
        goal_note="two lm-eval tasks (80 mc + 16 generate_until documents) no slower than simple_evaluate",
        rounds=ROUNDS[model_size],
        # Each round runs simple_evaluate right before, so both see the same load on a shared machine.
        interleave=functools.partial(_lm_eval, lmeval_model, lmeval_tasks),
    )
    assert len(outcomes) == SUPPORT.MC_DOCS + SUPPORT.GEN_DOCS
