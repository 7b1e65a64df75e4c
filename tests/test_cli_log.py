"""`tunebench log render` and `history show` over a history holding a record that cannot be trusted: never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from record_factory import random_eval

from tunebench.cli import main
from tunebench.history.records import to_json
from tunebench.history.store import open_store


def test_log_render_skips_a_flipped_byte_record_naming_its_path_and_renders_the_rest(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "BENCHMARK_LOG.md"\n')
    store = open_store(project.root / "hist")
    store.write(random_eval("run-good-0001", "dora-v2", 1))
    flipped = Path(store.write(random_eval("run-flip-0001", "dora-v3", 2, started_at="2026-02-03T10:00:00Z")))
    data = json.loads(flipped.read_bytes())
    data["aggregates"]["accuracy"]["value"] = round(data["aggregates"]["accuracy"]["high"] + 0.1, 6)
    flipped.write_bytes(to_json(data))  # the checksum no longer matches; the value lies outside its interval
    assert main(["log", "render"]) == 0
    err = capsys.readouterr().err
    assert f"history record skipped: {flipped}: record: content checksum mismatch" in err and "Traceback" not in err
    log = (project.root / "BENCHMARK_LOG.md").read_text(encoding="utf-8")
    assert "dora-v2" in log and "run-flip-0001" not in log and "dora-v3" not in log
    assert (project.root / "BENCHMARK_LOG_plots" / "accuracy.png").is_file()


def test_history_show_of_a_tampered_record_says_why_it_is_not_shown(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\n')
    path = Path(open_store(project.root / "hist").write(random_eval("run-flip-0002", "dora-v3", 2)))
    data = json.loads(path.read_bytes())
    data["model"]["name"] = "dora-v4"
    path.write_bytes(to_json(data))
    assert main(["history", "show", "run-flip-0002"]) == 2
    err = capsys.readouterr().err
    assert f"run id 'run-flip-0002': the record at {path} cannot be trusted: record: content checksum mismatch" in err
