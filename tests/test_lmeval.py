"""lm-eval tasks through tunebench: loaded by lm-eval's TaskManager, scored on the hf engine, recorded, gated.

The tasks are YAMLs over local JSON data written by the test (tests/lmeval_support.py): one
`multiple_choice`, one `generate_until` with a regex filter and `exact_match`. The reference is lm-eval's
own `simple_evaluate(..., log_samples=True)` with its HFLM on the same tiny weights, document by document.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
from lmeval_support import GEN_DOCS, GEN_TASK, MC_DOCS, MC_TASK, sabotage, simple_evaluate_samples, write_tasks

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.usefixtures("one_torch_thread")
ROOT = Path(__file__).resolve().parents[1]
GENERAL = ROOT / "eval_suites" / "general"


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory, tiny) -> Path:
    return write_tasks(tmp_path_factory.mktemp("lm-eval-tasks"), *tiny)


@pytest.fixture(scope="module")
def reference(task_dir, tiny) -> dict[str, list[dict]]:
    return simple_evaluate_samples(task_dir, *tiny)


@pytest.fixture(scope="module")
def engine(tiny):
    from tunebench.engines.hf import HFEngine

    model, tokenizer = tiny
    # The engine reads the loaded model's weights and tokenizer; the rest of a LoadedModel is provenance.
    return HFEngine(SimpleNamespace(model=model, tokenizer=tokenizer, load_seconds=0.0), batch_size=8)


@pytest.fixture(scope="module")
def loaded(task_dir):
    from tunebench.lmeval.tasks import load_tasks

    tasks, problems = load_tasks([MC_TASK, GEN_TASK], include=[task_dir])
    assert problems == []
    return tasks


def test_every_document_scores_as_lm_eval_simple_evaluate_scores_it(loaded, engine, reference):
    from tunebench.lmeval.score import score_documents

    ours = score_documents(loaded, engine)
    assert len(ours) == MC_DOCS + GEN_DOCS
    for sample in reference[MC_TASK]:
        outcome = ours[(MC_TASK, sample["doc_id"])]
        lls = [resp[0][0] for resp in sample["resps"]]
        assert outcome.loglikelihoods == pytest.approx(lls, abs=1e-4)
        assert outcome.metrics == {"acc": float(sample["acc"]), "acc_norm": float(sample["acc_norm"])}
        assert outcome.correct is bool(sample["acc"])
    for sample in reference[GEN_TASK]:
        outcome = ours[(GEN_TASK, sample["doc_id"])]
        assert outcome.response == sample["resps"][0][0]
        assert outcome.filtered_response == sample["filtered_resps"][0]
        assert outcome.filter == sample["filter"] == "first_word"
        assert outcome.score == float(sample["exact_match"])
    # Keyed to tiny's own answers on 3 documents in 4: the comparison sees right and wrong outcomes alike.
    for task, n in ((MC_TASK, MC_DOCS), (GEN_TASK, GEN_DOCS)):
        assert sum(ours[(task, d)].correct for d in range(n)) == n * 3 // 4


def test_a_selection_of_documents_scores_each_as_the_full_run_does(loaded, engine):
    """Few-shot prompts and batching do not depend on which documents are selected (-k, node ids)."""
    from tunebench.lmeval.score import score_documents

    full = score_documents(loaded, engine)
    part = score_documents(loaded, engine, {MC_TASK: [3, 17], GEN_TASK: [5]})
    assert set(part) == {(MC_TASK, 3), (MC_TASK, 17), (GEN_TASK, 5)}
    for key, outcome in part.items():
        assert outcome.score == full[key].score
        assert outcome.response == full[key].response
        if outcome.loglikelihoods is not None:
            assert outcome.loglikelihoods == pytest.approx(full[key].loglikelihoods, abs=1e-5)


def test_a_task_whose_data_cannot_load_is_a_problem_named_in_one_line(tmp_path, task_dir):
    from tunebench.lmeval.tasks import load_tasks

    yaml = (task_dir / f"{MC_TASK}.yaml").read_text(encoding="utf-8").replace(MC_TASK, "tb_test_gone")
    (tmp_path / "gone.yaml").write_text(yaml.replace(str(task_dir / "mc.jsonl"), str(tmp_path / "absent.jsonl")))
    tasks, problems = load_tasks(["tb_test_gone", "no_such_task"], include=[tmp_path])
    assert tasks == []
    assert [p.name for p in problems] == ["tb_test_gone", "no_such_task"]
    assert problems[0].reason.startswith("cannot load its data set")
    assert "knows no task, group or tag 'no_such_task'" in problems[1].reason
    assert all("\n" not in p.reason for p in problems)


# -- through pytest: items, the record, the gate -------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_dir):
    """A tunebench config with `prod` (tiny, production) and `broken` (tiny with noise in every weight)."""
    broken = sabotage(tiny_dir, tmp_path / "broken")
    config = tmp_path / "tunebench.toml"
    config.write_text(
        f'home = "{tmp_path / "home"}"\nhistory = "{tmp_path / "hist"}"\nlog = "{tmp_path / "LOG.md"}"\n'
        '[models.prod]\nbase = "builtin:tiny"\nstatus = "production"\n'
        f'[models.broken]\nbase = "{broken}"\nstatus = "experimental"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
    return tmp_path


def _run(pytester, task_dir, *args: str):
    return pytester.runpytest_inprocess(
        str(GENERAL),
        f"--rootdir={ROOT}",
        "--lm-eval-include",
        str(task_dir),
        "--lm-eval-task",
        MC_TASK,
        "--lm-eval-task",
        GEN_TASK,
        "-p",
        "no:cacheprovider",
        *args,
    )


def _records(folder: Path) -> list[dict]:
    from tunebench.history.store import open_store

    return open_store(folder / "hist").read_all(strict=True).records


def test_documents_are_items_and_the_record_keeps_outcomes_accuracy_and_loglikelihoods(
    pytester, project, task_dir, reference
):
    result = _run(pytester, task_dir, "--model", "prod", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [f"*test_lm_eval.py::test_document[[]{MC_TASK}/0]", f"*::test_document[[]{GEN_TASK}/15]"]
    )
    selected = _run(pytester, task_dir, "--model", "prod", "--collect-only", "-q", "-k", GEN_TASK)
    selected.stdout.fnmatch_lines([f"{GEN_DOCS}/{MC_DOCS + GEN_DOCS} tests collected ({MC_DOCS} deselected)*"])

    result = _run(pytester, task_dir, "--model", "prod")
    assert result.ret == pytest.ExitCode.OK
    [record] = _records(project)
    assert record["status"] == "complete"
    assert record["selection"] == {"selected": MC_DOCS + GEN_DOCS, "total": MC_DOCS + GEN_DOCS}
    tasks = {t["name"]: t for t in record["lm_eval"]["tasks"]}
    assert tasks[MC_TASK]["accuracy"]["k"] == MC_DOCS * 3 // 4 and tasks[MC_TASK]["accuracy"]["n"] == MC_DOCS
    assert tasks[MC_TASK]["accuracy"]["low"] < 0.75 < tasks[MC_TASK]["accuracy"]["high"]
    assert (tasks[GEN_TASK]["metric"], tasks[GEN_TASK]["filter"]) == ("exact_match", "first_word")
    docs = {(d["task"], d["doc_id"]): d for d in record["lm_eval"]["documents"]}
    for sample in reference[MC_TASK]:
        lls = [resp[0][0] for resp in sample["resps"]]
        assert docs[(MC_TASK, sample["doc_id"])]["loglikelihoods"] == pytest.approx(lls, abs=1e-4)
        assert docs[(MC_TASK, sample["doc_id"])]["correct"] is bool(sample["acc"])
    for sample in reference[GEN_TASK]:
        assert docs[(GEN_TASK, sample["doc_id"])]["filtered_response"] == sample["filtered_resps"][0]
        assert docs[(GEN_TASK, sample["doc_id"])]["score"] == float(sample["exact_match"])
    assert {s["file"] for s in record["suites"]} == {f"lm-eval:{MC_TASK}", f"lm-eval:{GEN_TASK}"}
    # The run's HTML report has a section per task, every document in it.
    page = (project / "reports" / f"{record['run_id']}.html").read_text(encoding="utf-8")
    for task, n in ((MC_TASK, MC_DOCS), (GEN_TASK, GEN_DOCS)):
        assert f'id="lm-eval-{task}"' in page and f"{n} documents." in page


def test_the_gate_fails_a_sabotaged_model_on_each_task_and_passes_the_unchanged_one(
    pytester, project, task_dir, capsys
):
    assert _run(pytester, task_dir, "--model", "prod").ret == pytest.ExitCode.OK
    same = _run(pytester, task_dir, "--model", "prod")
    assert same.ret == pytest.ExitCode.OK
    first, second = _records(project)
    assert second["baseline"]["run_id"] == first["run_id"] and second["gate"]["status"] == "pass"
    same.stdout.fnmatch_lines([f"task[[]{MC_TASK}] drop vs baseline*pass*b=0, c=0*detects a drop of*"])

    worse = _run(pytester, task_dir, "--model", "broken", "--baseline", "auto")
    assert worse.ret == pytest.ExitCode.TESTS_FAILED
    record = _records(project)[-1]
    assert record["baseline"]["run_id"] == second["run_id"]
    checks = {c["rule"]: c for c in record["gate"]["checks"]}
    for task in (MC_TASK, GEN_TASK):
        drop = checks[f"task[{task}] drop vs baseline"]
        assert drop["passed"] is False and drop["value"] > 0.1, drop
        assert "larger than allowed and significant" in drop["detail"] and "at 80% power" in drop["detail"]
    assert checks[f"task[{MC_TASK}] prob_drop vs baseline"]["passed"] is False
    worse.stdout.fnmatch_lines(
        [f"*gate FAIL (task[[]{GEN_TASK}] drop vs baseline; task[[]{MC_TASK}] drop vs baseline*"]
    )

    # The log lists each run's tasks with accuracy and interval; `history compare` pairs their documents.
    log = (project / "LOG.md").read_text(encoding="utf-8")
    assert "### lm-eval Tasks (did it forget?)" in log and f"| {MC_TASK} | 75.0% |" in log
    from tunebench.cli import main

    assert main(["history", "compare", second["run_id"], record["run_id"]]) == 0
    shown = capsys.readouterr().out
    assert "lm-eval tasks:" in shown and "75.0% [" in shown and "12 worse, 0 better of 16" in shown


def test_task_floors_and_a_task_that_cannot_load_fail_the_run_never_pass_it(pytester, project, task_dir, tmp_path):
    config = Path(project / "tunebench.toml")
    config.write_text(
        config.read_text(encoding="utf-8") + f"[gate]\nmin_task_accuracy = {{{MC_TASK} = 0.9, {GEN_TASK} = 0.5}}\n"
    )
    gone = tmp_path / "gone"
    gone.mkdir()
    yaml = (task_dir / f"{MC_TASK}.yaml").read_text(encoding="utf-8").replace(MC_TASK, "tb_test_gone")
    (gone / "gone.yaml").write_text(yaml.replace(str(task_dir / "mc.jsonl"), str(gone / "absent.jsonl")))
    result = _run(
        pytester, task_dir, "--model", "prod", "--lm-eval-include", str(gone), "--lm-eval-task", "tb_test_gone"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*test_document[[]tb_test_gone/unavailable]*", "lm-eval task tb_test_gone: cannot load*"]
    )
    record = _records(project)[-1]
    assert record["status"] == "incomplete"
    tasks = {t["name"]: t for t in record["lm_eval"]["tasks"]}
    assert tasks["tb_test_gone"]["status"] == "unavailable"
    checks = {c["rule"]: c for c in record["gate"]["checks"]}
    assert checks["task[tb_test_gone] ran"]["passed"] is False
    assert checks[f"task[{MC_TASK}] accuracy"]["passed"] is False  # 0.75 < 0.9
    assert checks[f"task[{GEN_TASK}] accuracy"]["passed"] is True  # 0.75 >= 0.5
    assert math.isclose(checks[f"task[{MC_TASK}] accuracy"]["value"], 0.75)
    assert json.dumps(record)  # the record is plain JSON
