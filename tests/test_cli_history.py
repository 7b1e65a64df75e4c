"""`tunebench history ...` and `tunebench log render` against a real history folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from record_factory import eval_record, question, random_eval, training_record

from tunebench.cli import main
from tunebench.history.store import open_store

SEED = Path(__file__).parent / "data" / "seed_log.md"


@pytest.fixture
def history(project):
    """A project whose history is `hist/` under the working directory; yields the store."""
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "BENCHMARK_LOG.md"\n')
    return open_store(project.root / "hist")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_log_twice_adds_nothing_the_second_time(history, capsys):
    code, out, _ = _run(capsys, "history", "import-log", str(SEED))
    assert code == 0 and "imported 21 record(s)" in out
    code, out, _ = _run(capsys, "history", "import-log", str(SEED), "--json")
    data = json.loads(out)
    assert code == 0 and data["added"] == [] and len(data["skipped"]) == 21
    assert len(history.read_all(strict=True).records) == 21


def test_import_log_reports_unparseable_lines_by_number_and_exits_1(history, capsys, tmp_path):
    log = tmp_path / "log.md"
    log.write_text(
        SEED.read_text(encoding="utf-8").replace(
            "**Notes:**\n- First successful", "**Notes:**\nfree text here\n- First successful"
        )
    )
    code, _, err = _run(capsys, "history", "import-log", str(log))
    line = log.read_text().splitlines().index("free text here") + 1
    assert code == 1 and f"log.md: line {line}: expected a table" in err and "nothing imported" in err
    assert history.read_all().records == []
    code, out, _ = _run(capsys, "history", "import-log", str(log), "--partial")
    assert code == 1 and "imported 21 record(s)" in out


def test_list_filters_by_kind_model_and_since(history, capsys):
    history.write(random_eval("run-eval-old", "tiny", 1, started_at="2026-01-01T00:00:00Z"))
    history.write(random_eval("run-eval-new", "tiny", 2, started_at="2026-03-01T00:00:00Z"))
    history.write(training_record("run-train-1", "tiny-dora"))
    _run(capsys, "history", "import-log", str(SEED))
    code, out, _ = _run(capsys, "history", "list", "--kind", "eval", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["run-eval-old", "run-eval-new"]
    _, out, _ = _run(capsys, "history", "list", "--model", "tiny-dora", "--json")
    assert [r["run_id"] for r in json.loads(out)] == ["run-train-1"]
    _, out, _ = _run(capsys, "history", "list", "--since", "2026-02-15", "--json")
    assert [r["run_id"] for r in json.loads(out)] == ["run-eval-new"]
    _, out, _ = _run(capsys, "history", "list", "--kind", "imported_session")
    lines = out.splitlines()
    assert lines[0].split() == ["run", "id", "kind", "source", "date", "model", "summary"]
    assert len(lines) == 2 + 5 and "Session 5: Curriculum Training v3" in out
    code, _, err = _run(capsys, "history", "list", "--since", "March")
    assert code == 2 and "--since: expected a date YYYY-MM-DD, found 'March'" in err


def test_show_accepts_a_prefix_and_lists_attached_notes(history, capsys):
    history.write(random_eval("run-eval-abc1", "tiny", 1))
    _run(capsys, "history", "note", "run-eval-abc", "latency spikes on the first probe", "--section", "difficulties")
    code, out, _ = _run(capsys, "history", "show", "run-eval-abc")
    assert code == 0 and "run-eval-abc1" in out and "retirement_planning" in out
    assert "note (difficulties" in out and "latency spikes on the first probe" in out
    _, out, _ = _run(capsys, "history", "show", "run-eval-abc1", "--json")
    data = json.loads(out)
    assert data["record"]["run_id"] == "run-eval-abc1"
    assert [n["text"] for n in data["attached_notes"]] == ["latency spikes on the first probe"]


def test_note_on_an_unknown_run_is_an_error_naming_it(history, capsys):
    history.write(random_eval("run-eval-abc1", "tiny", 1))
    code, _, err = _run(capsys, "history", "note", "run-eval-abd1", "text")
    assert code == 2 and "no record with run id 'run-eval-abd1'" in err and "Did you mean 'run-eval-abc1'" in err
    assert len(history.read_all().records) == 1


def test_notes_are_appended_as_records_and_rendered_under_their_heading(history, capsys):
    history.write(training_record("run-train-1", "tiny-dora"))
    _run(capsys, "history", "note", "run-train-1", "OOM at batch 8", "--section", "difficulties")
    _run(capsys, "history", "note", "run-train-1", "try a longer phase A", "--section", "improvements")
    _run(capsys, "history", "note", "run-train-1", "second difficulty", "--section", "difficulties")
    notes = history.read_all().of_kind("note")
    assert len(notes) == 3 and {n["target_run_id"] for n in notes} == {"run-train-1"}
    code, _, _ = _run(capsys, "log", "render", "--no-plots")
    text = Path("BENCHMARK_LOG.md").read_text(encoding="utf-8")
    assert code == 0
    assert "**Difficulties Encountered:**\n- OOM at batch 8\n- second difficulty\n" in text
    assert "**Areas for Improvement:**\n- try a longer phase A\n" in text


def test_compare_by_model_names_prints_flips_and_p_value(history, capsys):
    history.write(
        eval_record(
            "run-a-0001",
            "base",
            [question("q1", "investment", True), question("q2", "compliance", False)],
            "2026-02-01T00:00:00Z",
        )
    )
    history.write(
        eval_record(
            "run-b-0001",
            "tuned",
            [question("q1", "investment", False, "C", answer="A"), question("q2", "compliance", True)],
            "2026-02-02T00:00:00Z",
        )
    )
    code, out, _ = _run(capsys, "history", "compare", "base", "tuned")
    assert code == 0
    assert "right -> wrong (A right, B wrong): 1" in out and "wrong -> right (A wrong, B right): 1" in out
    assert "exact McNemar p = 1" in out and "q1" in out and "investment" in out
    _, out, _ = _run(capsys, "history", "compare", "run-a-0001", "run-b-0001", "--json")
    data = json.loads(out)
    assert data["p_value"] == 1.0 and [f["id"] for f in data["right_to_wrong"]] == ["q1"]


def test_compare_of_an_imported_model_explains_there_is_nothing_to_pair(history, capsys):
    _run(capsys, "history", "import-log", str(SEED))
    history.write(random_eval("run-eval-1", "tiny", 1))
    code, _, err = _run(capsys, "history", "compare", "wealth-dora-v2", "tiny")
    assert code == 2 and "only an imported benchmark row (~80% | TBD | Baseline)" in err


def test_log_render_writes_the_log_with_linked_plots_and_is_byte_stable(history, capsys, project):
    _run(capsys, "history", "import-log", str(SEED))
    history.write(random_eval("run-eval-1", "tiny", 1))
    history.write(training_record("run-train-1", "tiny-dora"))
    code, out, _ = _run(capsys, "log", "render", "--out", "docs/LOG.md")
    log = project.root / "docs" / "LOG.md"
    first = log.read_bytes()
    assert code == 0 and "wrote" in out
    text = first.decode()
    assert "Generated by `tunebench log render`" in text
    for name in ("accuracy", "domain_accuracy", "latency", "loss", "cost"):
        assert f"](LOG_plots/{name}.png)" in text
        assert (project.root / "docs" / "LOG_plots" / f"{name}.png").stat().st_size > 10_000
    _run(capsys, "log", "render", "--out", "docs/LOG.md")
    assert log.read_bytes() == first


def test_a_corrupt_record_is_a_warning_by_default_and_fails_with_strict(history, capsys):
    history.write(random_eval("run-good", "tiny", 1))
    bad = Path(history.uri) / "runs" / "2026" / "20260101T000000Z_broken.json"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text('{"kind": "eval", "run_id": "broken"')  # truncated
    code, out, err = _run(capsys, "history", "list", "--json")
    assert code == 0 and [r["run_id"] for r in json.loads(out)] == ["run-good"]
    assert "20260101T000000Z_broken.json" in err and "skipped" in err
    code, _, err = _run(capsys, "history", "list", "--strict")
    assert code == 2 and "1 unreadable record(s)" in err and "20260101T000000Z_broken.json" in err


def test_history_list_refuses_a_file_given_as_the_history(history, capsys, tmp_path):
    file = tmp_path / "record.json"
    file.write_text("{}")
    code, out, err = _run(capsys, "history", "list", "--history", str(file))
    assert code == 2 and out == ""
    assert f"history {file}: is a file; expected a history folder" in err and "Traceback" not in err


# -- show --questions / --probes ----------------------------------------------------------------------------
def test_show_questions_lists_every_answer_and_filters_wrong_ones_by_domain(history, capsys):
    from report_support import shipped_record

    history.write(shipped_record("run-answers", wrong={"ret-001", "ret-002", "tax-001"}))
    code, out, _ = _run(capsys, "history", "show", "run-answers", "--questions")
    assert code == 0 and "100 question(s) shown: 97 right, 3 wrong" in out
    assert "For tax year 2024, what is the maximum elective deferral" in out  # text from the suite file
    code, out, _ = _run(capsys, "history", "show", "run-answers", "--questions", "--wrong", "--json")
    assert [q["id"] for q in json.loads(out)["questions"]] == ["ret-001", "ret-002", "tax-001"]
    wrong = json.loads(out)["questions"][0]
    assert wrong["chosen"] != wrong["answer"] and sum(c["probability"] for c in wrong["choices"]) == pytest.approx(1)
    code, out, _ = _run(
        capsys, "history", "show", "run-answers", "--questions", "--wrong", "--domain", "federal_income_tax"
    )
    assert code == 0 and "tax-001" in out and "ret-001" not in out


def test_show_probes_prints_reply_timings_and_grade(history, capsys):
    from report_support import PROBES, shipped_record

    from tunebench.suites import load_probes

    first = load_probes(PROBES)[0]
    history.write(shipped_record("run-probes", replies={first.id: "Line one\nline two | with a pipe"}))
    code, out, _ = _run(capsys, "history", "show", "run-probes", "--probes", "--json")
    probes = json.loads(out)["probes"]
    assert code == 0 and len(probes) == 10
    shown = next(p for p in probes if p["id"] == first.id)
    assert shown["reply"] == "Line one\nline two | with a pipe" and shown["prompt"] == first.prompt
    assert shown["stop_reason"] == "eos" and shown["grade"] is not None
    code, out, _ = _run(capsys, "history", "show", "run-probes", "--probes")
    assert code == 0 and "Line one line two | with a pipe" in out


def test_show_rejects_an_unknown_domain_with_the_allowed_list(history, capsys):
    from report_support import shipped_record

    history.write(shipped_record("run-domains"))
    code, _, err = _run(capsys, "history", "show", "run-domains", "--questions", "--domain", "taxes")
    assert code == 2 and "--domain: expected one of compliance, estate_planning" in err and "'taxes'" in err


# -- imported names linked to the registry; enumerated options --------------------------------------------
SEED_MODELS = """
[tool.tunebench.models.dora-v2]
base = "gs://elson-33a95-elson-models/elson-finance-trading-14b-final/"
adapter = "gs://elson-33a95-elson-models/wealth-dora-elson14b-h100-v2/"

[tool.tunebench.models.dora-v3]
base = "gs://elson-33a95-elson-models/elson-finance-trading-14b-final/"
adapter = "gs://elson-33a95-elson-models/wealth-dora-elson14b-h100-v3-curriculum/"
"""


def test_list_model_finds_the_imported_seed_rows_by_registry_name(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "BENCHMARK_LOG.md"\n' + SEED_MODELS)
    code, _, _ = _run(capsys, "history", "import-log", str(SEED))
    assert code == 0
    code, out, _ = _run(capsys, "history", "list", "--model", "dora-v2", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 5
    assert {r["model"] for r in rows} == {
        "wealth-dora-elson14b-h100-v2",
        "wealth-dora-v2",
        "DoRA v2",
        "Session 4 (DoRA v2)",
    }


def test_import_log_alias_links_a_name_and_a_bad_alias_lists_the_registry(project, capsys):
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "BENCHMARK_LOG.md"\n' + SEED_MODELS)
    code, _, err = _run(capsys, "history", "import-log", str(SEED), "--alias", "wealth-lora-vm1=dora-v9")
    assert code == 2 and "'dora-v9' is not a registry model; expected one of dora-v2, dora-v3, tiny" in err
    code, _, _ = _run(capsys, "history", "import-log", str(SEED), "--alias", "wealth-lora-vm1=dora-v3")
    code, out, _ = _run(capsys, "history", "list", "--model", "dora-v3", "--json")
    assert "wealth-lora-vm1" in {r["model"] for r in json.loads(out)}


def test_list_kind_rejects_an_unknown_kind_with_the_allowed_ones(history, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["history", "list", "--kind", "imported"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "invalid choice: 'imported'" in err and "'imported_session', 'imported_row'" in err


def test_show_and_the_log_print_each_phase_mfu_and_its_peak_source(history, capsys):
    from tunebench.history.records import validate
    from tunebench.report.markdown import render_log

    record = training_record("run-train-mfu", "mfu-adapter")
    peak = {"device": "NVIDIA H200", "flops": 989e12, "bandwidth_bytes_s": 4.8e12, "source": "table"}
    for i, phase_data in enumerate(record["phases"]):
        phase_data["efficiency"] = {
            "mfu": 0.255 + i / 100,
            "flops_per_token": 9e10,
            "seq_len": 2048,
            "devices": 1,
            "peak": peak,
        }
    validate(record)
    history.write(record)
    code, out, _ = _run(capsys, "history", "show", "run-train-mfu")
    assert code == 0 and "MFU" in out and "25.5% (table)" in out and "27.5% (table)" in out
    log = render_log([record])
    assert "| MFU |" in log and "| 26.5% (table) |" in log


def test_show_and_the_log_print_decode_time_against_the_bandwidth_floor(history, capsys):
    from record_factory import probe

    from tunebench.history.records import validate
    from tunebench.report.markdown import render_log

    training = training_record("run-train-floor", "floor-adapter")
    evaluation = eval_record(
        "run-eval-floor", "floor-adapter", [probe("p1", "investment", 2.0, 4)], started_at="2026-02-02T10:00:00Z"
    )
    evaluation["aggregates"]["time_per_output_token_s"] = {"n": 1, "p50": 0.0123}
    peak = {"device": "NVIDIA H200", "flops": 989e12, "bandwidth_bytes_s": 4.8e12, "source": "table"}
    evaluation["model"]["decode_floor"] = {"weight_bytes": 29_520_000_000, "floor_ms": 6.15, "peak": peak}
    validate(evaluation)
    history.write(training)
    history.write(evaluation)
    line = "decode 12.3 ms/token (median), 2.0x the memory-bandwidth floor 6.2 ms (weights / table bandwidth)"
    code, out, _ = _run(capsys, "history", "show", "run-eval-floor")
    assert code == 0 and line in out
    assert line in render_log([training, evaluation])


def test_train_and_history_show_print_one_phase_table(history, capsys, project):
    # train printed mean loss and no MFU, history show MFU and no mean loss: two tables of one run.
    from tunebench.history.typed import TrainingRecordData
    from tunebench.report.training_table import PHASE_COLUMNS, phase_table

    record = training_record("run-train-1", "tiny-dora")
    history.write(record)
    code, out, _ = _run(capsys, "history", "show", "run-train-1")
    header = next(line for line in out.splitlines() if line.startswith("phase"))
    assert code == 0 and header.split("  ")[0] == "phase" and "mean loss" in header and "MFU" in header
    table = phase_table(TrainingRecordData.from_dict(record))  # what tunebench train prints (cli/train.py)
    assert table in out and all(column in table.splitlines()[0] for column in PHASE_COLUMNS)
