"""What a new user meets in the first hour (issue 26), continued: a model name never broken, `history show latest`
after training, p(right answer) written as every proportion is, pytest's first progress line within the terminal."""

from __future__ import annotations

import json
import re

from record_factory import random_eval, training_record

from tunebench.cli import main
from tunebench.history.store import open_store

BUCKET = "gs://elson-33a95-elson-models"
REGISTRY = "".join(
    f'[tool.tunebench.models.{name}]\nbase = "{BUCKET}/elson-finance-trading-14b-final/"\n'
    f'adapter = "{BUCKET}/wealth-{name}-h100-curriculum/"\nstatus = "production"\n'
    f'notes = "Session 5 (2026-01-20): DoRA r=128 alpha=256, 3-phase curriculum (A/B/C), 7,198 examples."\n\n'
    for name in ("dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum")
)


def test_models_list_never_breaks_a_model_name(project, capsys, monkeypatch):
    # At 100 columns the name column was narrowed to 20 like the others: "elson-finance-tradin" / "g-14b".
    monkeypatch.setenv("COLUMNS", "100")
    project.write(REGISTRY)
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum", "tiny"):
        assert any(re.match(rf"{re.escape(name)}( |$)", line) for line in lines), (name, lines)
    names = {line.split()[0] for line in lines[2:] if line and not line.startswith(" ")}
    assert names == {"dora-v3", "elson-finance-trading-14b", "wealth-dora-elson14b-h100-v3-curriculum", "tiny"}
    assert max(len(line) for line in lines) <= 100, lines
    # the other columns wrap instead: the note (elided at 60 characters, whole in --json) keeps its words
    assert "3-phase" in " ".join(lines)


def test_history_show_latest_after_training_shows_the_training_run(project, capsys):
    # After `tunebench train` alone, `history show latest` said "no eval run in the history (models with runs:
    # none)" and exited 1, though the history held the run just trained.
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    open_store(project.root / "hist").write(training_record("run-train-1", "tiny-dora"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-train-1$", out, re.M) and re.search(r"^kind +training$", out, re.M)
    assert re.search(r"^A +domain_blocks ", out, re.M)  # the phases' table: the whole record is shown
    assert "no eval run in the history" in err and "training run run-train-1" in err
    assert main(["history", "show", "latest", "--json"]) == 0  # the remark is on stderr: --json stays JSON
    out, _ = capsys.readouterr()
    assert json.loads(out)["record"]["run_id"] == "run-train-1"


def test_history_show_latest_names_a_newer_training_run(project, capsys):
    # `latest` is the newest eval run for every command (gate, report, compare); show says when a newer training
    # run is in the history and how to show it.
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    store = open_store(project.root / "hist")
    store.write(random_eval("run-eval-1", "tiny", 1, started_at="2026-01-01T00:00:00Z"))
    store.write(training_record("run-train-2", "tiny-dora", started_at="2026-02-01T08:00:00Z"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-eval-1$", out, re.M)
    assert "training run run-train-2" in err and "tunebench history show run-train-2" in err
    store.write(random_eval("run-eval-3", "tiny", 3, started_at="2026-03-01T00:00:00Z"))
    assert main(["history", "show", "latest"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^run_id +run-eval-3$", out, re.M) and err == ""  # the newest record: nothing to add
