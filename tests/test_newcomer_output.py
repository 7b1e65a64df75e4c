"""What a new user reads in the first hour (issue 26): small wording papercuts of the CLI's output."""

from __future__ import annotations

import pytest
from record_factory import graded_run

from tunebench.cli import main
from tunebench.history.store import open_store

PYPROJECT = """
[tool.tunebench]
history = "{history}"
{models}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with a local history; returns configure(models) that rewrites its registry."""
    from tunebench.config import _load_cached

    history = tmp_path / "history"

    def configure(models: str) -> None:
        (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(history=history.as_posix(), models=models))
        _load_cached.cache_clear()  # a process reads its configuration once; this test rewrites it

    monkeypatch.chdir(tmp_path)
    return history, configure


def test_gate_without_a_production_model_says_the_registry_has_none(project, capsys):
    # Was "newest complete run of production model(s)  on the same suite files": an empty list, two spaces.
    history, configure = project
    configure('[tool.tunebench.models.candidate]\nbase = "builtin:tiny"\nstatus = "experimental"\n')
    open_store(str(history)).write(graded_run("candidate", 20, 10, 30))
    assert main(["gate", "latest", "--model", "candidate"]) == 0
    out = capsys.readouterr().out
    assert "production model(s)  on" not in out
    assert "baseline: none found (no model in the registry has status production)" in out


def test_models_list_marks_a_note_it_elides(project, capsys, monkeypatch):
    # Was cut at 60 characters with nothing to say so ("DoRA r=64 alpha=128, flat, 408 examp").
    _, configure = project
    monkeypatch.setenv("COLUMNS", "300")  # one line per row: the cell as the command elides it
    note = "Session 4 (2026-01-17): DoRA r=64 alpha=128, flat, 408 examples, H100, 2.07 GB."
    configure(f'[tool.tunebench.models.m]\nbase = "builtin:tiny"\nnotes = "{note}"\n')
    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("m "))
    assert row.endswith(note[:59] + "…")
