"""The lm_eval section and the provenance are read typed (issue 25): what the commands print from them is what
the stored records hold. `history compare --json` gives each task back as recorded (a typed part is not JSON
itself), the gate and the comparison pair documents by (task, doc id), and the HTML header reads the machine."""

from __future__ import annotations

import json

from record_factory import PROVENANCE, graded_run

from tunebench.cli import main
from tunebench.gate import GateRules
from tunebench.gate.evaluate import eval_run
from tunebench.gate.tasks import task_checks
from tunebench.history.store import open_store
from tunebench.report.html import build_page
from tunebench.stats import proportion


def _with_tasks(record: dict, right: list[bool], run_id: str) -> dict:
    """`record` with one multiple-choice lm-eval task whose documents are right as `right` says, and one task that
    could not load."""
    documents = [
        {
            "task": "arc",
            "doc_id": i,
            "status": "answered",
            "score": float(ok),
            "correct": ok,
            "metrics": {"acc": float(ok)},
            "loglikelihoods": [-0.5, -2.0] if ok else [-2.0, -0.5],
            "gold": 0,
        }
        for i, ok in enumerate(right)
    ]
    arc = {
        "name": "arc",
        "status": "scored",
        "output_type": "multiple_choice",
        "metric": "acc",
        "config_sha256": "c" * 64,
        "documents": len(right),
        "accuracy": proportion(sum(right), len(right)),
        "mean": sum(right) / len(right),
    }
    gone = {"name": "gone", "status": "unavailable", "reason": "its data cannot load <here>"}
    return {**record, "run_id": run_id, "lm_eval": {"tasks": [arc, gone], "documents": documents}}


def _history(tmp_path) -> tuple[dict, dict]:
    before = _with_tasks(graded_run("tiny", 8, 10, 10), [True] * 6 + [False] * 2, "run-before")
    after = _with_tasks(graded_run("tiny", 8, 11, 10), [True, False, False, True, True, True, True, True], "run-after")
    after["provenance"] = {
        **PROVENANCE,
        "git_dirty": True,
        "hardware": {"machine": "x86_64", "cpu_count": 16, "memory_gb": 62.5, "gpus": ["H200"], "hostname": "h"},
    }
    store = open_store(tmp_path)
    store.write(before)
    store.write(after)
    return before, after


def test_history_compare_json_gives_each_task_as_recorded_and_pairs_its_documents(tmp_path, capsys):
    before, after = _history(tmp_path)
    assert main(["history", "compare", "run-before", "run-after", "--history", str(tmp_path), "--json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)["lm_eval_tasks"]}
    assert rows["arc"]["a"] == before["lm_eval"]["tasks"][0] and rows["arc"]["b"] == after["lm_eval"]["tasks"][0]
    # Documents 1 and 2 went right -> wrong, 6 and 7 wrong -> right: paired by (task, doc id).
    assert (rows["arc"]["paired"], rows["arc"]["worse"], rows["arc"]["better"]) == (8, 2, 2)
    assert rows["gone"]["a"] == before["lm_eval"]["tasks"][1] and rows["gone"]["paired"] == 0  # no documents
    assert main(["history", "compare", "run-before", "run-after", "--history", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "2 worse, 2 better of 8" in text and "75.0%" in text


def test_the_gate_judges_the_typed_section_as_stored(tmp_path):
    before, after = _history(tmp_path)
    rules = GateRules(min_task_accuracy=0.8)
    checks = {c.rule: c for c in task_checks(eval_run(after), rules, eval_run(before))}
    assert not checks["task[gone] ran"].passed and checks["task[gone] ran"].detail == "its data cannot load <here>"
    floor = checks["task[arc] accuracy"]
    assert not floor.passed and floor.value == 0.75 and floor.detail.startswith("6/8, 95% CI [")
    assert checks["task[arc] drop vs baseline"].value == 0.0  # 2 worse, 2 better: no drop
    older = {**after, "lm_eval": {**after["lm_eval"]}}  # a document without `status` (lenient read) is answered
    older["lm_eval"]["documents"] = [
        {k: v for k, v in d.items() if k != "status"} for d in after["lm_eval"]["documents"]
    ]
    again = {c.rule: c for c in task_checks(eval_run(older), rules, eval_run(before))}
    assert again["task[arc] drop vs baseline"].detail == checks["task[arc] drop vs baseline"].detail


def test_the_report_header_reads_the_machine_and_commit_from_the_typed_provenance(tmp_path):
    before, after = _history(tmp_path)
    header = dict(build_page(after).header)
    assert header["hardware"] == "H200, 16 CPUs, 62.5 GB RAM" and header["commit"].endswith("(uncommitted changes)")
    assert header["command"] == PROVENANCE["command"] and header["tunebench"] == PROVENANCE["tunebench_version"]
    assert dict(build_page(before).header)["hardware"] == "—"  # the factory's provenance names no machine key
    sections = {s.name: s for s in build_page(after).lm_eval_tasks}
    assert [d.correct for d in sections["arc"].documents] == [d["correct"] for d in after["lm_eval"]["documents"]]
    assert sections["gone"].reason == "its data cannot load <here>" and sections["gone"].accuracy == "unavailable"
