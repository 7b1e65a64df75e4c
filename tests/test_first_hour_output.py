"""What a new user meets in the first hour (issue 26), continued: a model name never broken, `history show latest`
after training, p(right answer) written as every proportion is, pytest's first progress line within the terminal."""

from __future__ import annotations

import re

from tunebench.cli import main

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
