"""The seed log imported into records: values as written, nothing lost or invented, importing twice adds nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunebench.history.importer import import_log, parse_log
from tunebench.history.records import validate
from tunebench.history.store import open_store
from tunebench.markdown_tables import parse_cell
from tunebench.report.markdown import render_log

SEED = Path(__file__).parent / "data" / "seed_log.md"
SUMMARY_SECTIONS = {
    name: name
    for name in ("Model Comparison", "Benchmark Evaluation Results", "GCS Model Registry", "Training Cost Tracking")
}


def _plain(text: str) -> str:
    return text.replace("**", "").replace("`", "").strip()


def _row(line: str) -> list[str]:
    return [_plain(c) for c in line.strip().strip("|").split("|")]


def _is_separator(line: str) -> bool:
    return set(line.replace("|", "").strip()) <= {"-"}


def _structure(text: str) -> dict[tuple[str, str, str], object]:
    """Map (section, session, block title) to its table ({columns, rows}) or its list of items.

    Written apart from the importer on purpose, so the round trip is checked by a second reader.
    """
    found: dict[tuple[str, str, str], object] = {}
    section = session = ""
    title = "attributes"
    lines = text.splitlines()
    index, fence = 0, False
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("```"):
            fence = not fence
        elif fence:
            pass
        elif line.startswith("## "):
            section, session, title = line[3:], "", "table"
        elif line.startswith("### Session"):
            session, title = re.match(r"### Session (\d+)", line).group(1), "attributes"
        elif re.fullmatch(r"\*\*[^*]+:\*\*", line):
            title = line.strip("*:")
        elif (field := re.fullmatch(r"\*\*([^*]+):\*\* (.+)", line)) and session:
            found[(section, session, field.group(1))] = _plain(field.group(2))
        elif line.startswith("|") and index + 1 < len(lines) and _is_separator(lines[index + 1]):
            columns, rows, index = _row(line), [], index + 2
            while index < len(lines) and lines[index].startswith("|"):
                rows.append(_row(lines[index]))
                index += 1
            found[(section, session, title)] = {"columns": columns, "rows": rows}
            continue
        elif line.startswith("- ") and session:
            found.setdefault((section, session, title), []).append(line[2:])
        index += 1
    return found


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def imported(seed_text):
    return parse_log(seed_text, source="TRAINING_BENCHMARK_LOG.md")


def test_seed_log_parses_without_problems_into_valid_imported_records(imported):
    assert imported.problems == []
    kinds = [r["kind"] for r in imported.records]
    assert kinds.count("imported_session") == 5
    assert kinds.count("imported_row") == 4 + 3 + 5 + 4  # comparison, benchmark, registry, cost (total computed)
    for record in imported.records:
        validate(record)
        assert record["source"] == "imported"


def test_rendered_seed_keeps_every_value_of_every_table_and_invents_none(seed_text, imported):
    rendered = render_log(imported.records)
    seed, out = _structure(seed_text), _structure(rendered)
    section_of = {"Training Sessions": "Training Sessions", **SUMMARY_SECTIONS}
    compared = 0
    for (section, session, title), expected in seed.items():
        if section not in section_of:
            continue
        actual = out.get((section_of[section], session, title))
        assert actual is not None, f"{section} / session {session} / {title}: missing from the rendered log"
        if isinstance(expected, list) or isinstance(expected, str):
            assert actual == expected, f"{section} / session {session} / {title}"
            compared += len(expected) if isinstance(expected, list) else 1
            continue
        assert set(expected["columns"]) <= set(actual["columns"]), (section, session, title)
        assert len(actual["rows"]) == len(expected["rows"]), f"{section} / {title}: rows added or lost"
        for seed_row, out_row in zip(expected["rows"], actual["rows"], strict=True):
            out_cells = dict(zip(actual["columns"], out_row, strict=True))
            for column, value in zip(expected["columns"], seed_row, strict=True):
                assert out_cells[column] == value, f"{section} / session {session} / {title} / {column}"
                compared += 1
            extra = {c: v for c, v in out_cells.items() if c not in expected["columns"]}
            assert set(extra.values()) <= {"—"}, f"{section} / {title}: invented values {extra}"
    # The seed holds 246 values in its session tables, lists and fields and its four summary tables.
    assert compared == 246
    # Nothing invented: the rendered log has no session or summary table the seed lacks (plots aside).
    extra_keys = {k for k in out if k[0] in section_of.values()} - {
        (section_of[k[0]], k[1], k[2]) for k in seed if k[0] in section_of
    }
    assert extra_keys == set()


def test_approximate_and_missing_values_are_kept_as_written():
    assert parse_cell("~80%") == {"text": "~80%", "value": 80, "unit": "%", "approximate": True}
    assert parse_cell("TBD") == {"text": "TBD", "value": None, "missing": True}
    assert parse_cell("**7,198**") == {"text": "**7,198**", "value": 7198}
    assert parse_cell("~$1.75") == {"text": "~$1.75", "value": 1.75, "unit": "$", "approximate": True}
    assert parse_cell("2e-4")["value"] == pytest.approx(2e-4)
    assert parse_cell("2-4")["value"] is None  # a range is text, not a number
    assert parse_cell("0.7560") == {"text": "0.7560", "value": 0.756}


def test_tbd_accuracy_is_missing_not_zero(imported):
    rows = [r for r in imported.records if r["kind"] == "imported_row" and r["table"] == "benchmark"]
    pending = next(r for r in rows if r["label"] == "wealth-dora-v3-curriculum")
    assert pending["cells"][1] == {"text": "TBD", "value": None, "missing": True}


def test_importing_the_same_file_twice_adds_nothing(tmp_path):
    store = open_store(tmp_path / "history")
    first = import_log(SEED, store)
    second = import_log(SEED, store)
    assert len(first.added) == 21 and first.skipped == []
    assert second.added == [] and sorted(second.skipped) == sorted(first.added)
    assert len(store.read_all(strict=True).records) == 21


def test_editing_one_session_reimports_only_that_session_and_the_log_shows_the_correction(tmp_path, seed_text):
    store = open_store(tmp_path / "history")
    import_log(SEED, store)
    edited = tmp_path / SEED.name
    edited.write_text(seed_text.replace("| Final Loss | 0.14 |", "| Final Loss | 0.15 |"), encoding="utf-8")
    again = import_log(edited, store)
    assert len(again.added) == 1
    assert store.get(again.added[0])["session"] == 4
    rendered = render_log(store.read_all().records)
    assert rendered.count("### Session 4:") == 1
    assert "| Final Loss | 0.15 |" in rendered and "| Final Loss | 0.14 |" not in rendered


def test_a_log_with_unparseable_lines_imports_nothing_unless_partial(tmp_path, seed_text):
    broken = tmp_path / "log.md"
    broken.write_text(seed_text.replace("**Notes:**\n- 6 SafeTensor", "**Notes:**\nstray\n- 6 SafeTensor"))
    store = open_store(tmp_path / "history")
    refused = import_log(broken, store)
    assert refused.added == [] and [p.text for p in refused.problems] == ["stray"]
    assert store.read_all().records == []
    partial = import_log(broken, store, partial=True)
    assert len(partial.added) == 21 and len(partial.problems) == 1


def test_unparseable_lines_are_reported_with_their_line_numbers(seed_text):
    lines = seed_text.splitlines()
    at = lines.index("**Output Model:** `wealth-dora-elson14b-h100-v2`")
    lines.insert(at, "this sentence is neither a table nor a list")
    lines.insert(3, "stray words in the preamble")
    result = parse_log("\n".join(lines))
    assert [(p.line, p.text) for p in result.problems] == [
        (4, "stray words in the preamble"),
        (at + 2, "this sentence is neither a table nor a list"),
    ]
    assert "expected a table" in result.problems[1].reason


def test_a_cost_total_that_does_not_add_up_is_reported(seed_text):
    result = parse_log(seed_text.replace("| **Total** | | | ~$2.58 |", "| **Total** | | | ~$3.00 |"))
    assert len(result.problems) == 1
    assert "rows sum to 2.58" in result.problems[0].reason and "~$3.00" in result.problems[0].reason


def test_a_short_table_row_is_reported_and_kept(seed_text):
    result = parse_log(seed_text.replace("| wealth-lora-vm1 | ~75% | TBD | Lower rank |", "| wealth-lora-vm1 | ~75% |"))
    assert [p.reason for p in result.problems] == ["table row has 2 cells, header has 4"]
    row = next(r for r in result.records if r.get("label") == "wealth-lora-vm1" and r["table"] == "benchmark")
    assert row["cells"][1]["text"] == "~75%" and row["cells"][3].get("missing")


# -- names in the log linked to registry names --------------------------------------------------------------
def _seed_registry():
    from tunebench.registry import ModelEntry

    bucket = "gs://elson-33a95-elson-models"
    base = f"{bucket}/elson-finance-trading-14b-final/"
    return [
        ModelEntry(name="elson-finance-trading-14b", base=base),
        ModelEntry(name="dora-v3", base=base, adapter=f"{bucket}/wealth-dora-elson14b-h100-v3-curriculum/"),
        ModelEntry(name="dora-v2", base=base, adapter=f"{bucket}/wealth-dora-elson14b-h100-v2/"),
        ModelEntry(name="lora-vm2", base=base, adapter=f"{bucket}/wealth-lora-elson14b-vm2/"),
        ModelEntry(name="lora-vm1", base=base, adapter=f"{bucket}/wealth-lora-elson14b-vm1/"),
    ]


def test_the_seeds_names_link_to_registry_names_by_gs_path_folder_and_words():
    from tunebench.history.aliases import ModelLinker, link_records

    records = parse_log(SEED.read_text(encoding="utf-8")).records
    linker = ModelLinker(_seed_registry())
    assert link_records(records, linker) == len(records)  # every session and row names a registry model
    linked = {(r.get("output_model") or r["label"]): r["registry_model"] for r in records}
    assert linked["DoRA v2"] == "dora-v2"  # the log's registry table: label -> gs:// path -> entry
    assert linked["wealth-dora-v2"] == "dora-v2"  # its words are in exactly one adapter folder
    assert linked["wealth-dora-elson14b-h100-v2"] == "dora-v2"  # the adapter's folder name
    assert linked["Session 4 (DoRA v2)"] == "dora-v2"
    assert linked["gs://elson-33a95-elson-models/wealth-dora-elson14b-h100-v3-curriculum/"] == "dora-v3"
    assert linked["Base Model"] == "elson-finance-trading-14b"
    assert linker.link("wealth") is None and linker.link("something else") is None


def test_an_alias_overrides_the_links_and_must_name_a_registry_model():
    from tunebench.errors import ConfigError
    from tunebench.history.aliases import ModelLinker, parse_aliases

    names = [e.name for e in _seed_registry()]
    linker = ModelLinker(_seed_registry(), parse_aliases(["wealth-dora-v2=lora-vm1"], names))
    assert linker.link("wealth-dora-v2") == "lora-vm1"
    with pytest.raises(ConfigError, match=r"'dora-v9' is not a registry model; expected one of dora-v2, dora-v3"):
        parse_aliases(["wealth-dora-v2=dora-v9"], names)
    with pytest.raises(ConfigError, match="expected OLD=NEW"):
        parse_aliases(["dora-v2"], names)


def test_each_imported_row_is_dated_by_the_session_it_is_about_not_by_last_updated(imported):
    rows = {(r["table"], r["label"]): r for r in imported.records if r["kind"] == "imported_row"}
    expected = {
        ("cost", "Session 2 (LoRA v1)"): "2026-01-15",  # "Session N" in the label
        ("model_registry", "DoRA v2"): "2026-01-17",  # the session's title
        ("model_registry", "Base Model"): "2026-01-14",  # its gs:// path ends in the session's output folder
        ("model_comparison", "wealth-lora-vm2"): "2026-01-16",  # its words are the output folder's
        ("benchmark", "wealth-lora-vm1"): "2026-01-15",
        ("benchmark", "wealth-dora-v3-curriculum"): "2026-01-20",
    }
    for key, date in expected.items():
        assert (rows[key]["date"], rows[key]["started_at"]) == (date, f"{date}T00:00:00Z"), key
    assert len({r["date"] for r in rows.values()}) == 5  # was one date (Last Updated) for all 15 rows
    for record in imported.records:
        validate(record)


def test_a_row_no_session_is_about_says_date_unknown_in_history_list(tmp_path, seed_text, capsys):
    from tunebench.cli import main

    log = tmp_path / "log.md"
    log.write_text(seed_text.replace("| wealth-lora-vm1 | ~75% |", "| some-other-model | ~75% |"), encoding="utf-8")
    row = next(r for r in parse_log(log.read_text()).records if r.get("label") == "some-other-model")
    assert row["date"] is None and "session" not in row
    assert main(["history", "import-log", str(log), "--history", str(tmp_path / "h")]) == 0
    capsys.readouterr()
    assert main(["history", "list", "--history", str(tmp_path / "h")]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if "some-other-model" in line)
    assert "date unknown" in line and "2026-01-20" not in line
