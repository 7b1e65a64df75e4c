"""The summary index beside a history: derived, never trusted over the records, rebuilt when missing or stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from record_factory import note, random_eval, training_record

from tunebench.history import index as index_module
from tunebench.history import store as store_module
from tunebench.history.index import INDEX_NAME
from tunebench.history.records import to_json
from tunebench.history.store import open_store

pytest_plugins = ["gcs_server"]


def _history(root: Path, evals: int = 3):
    store = open_store(root)
    for i in range(evals):
        store.write(random_eval(f"cafe{i:08d}", f"m{i % 2}", i, questions=10, started_at=f"2026-02-0{i + 1}T10:00:00Z"))
    store.write(training_record("beef00000001", "out"))
    store.write(note("beef00000002", "cafe00000000", "a note"))
    bad = root / "runs" / "2026" / "20260301T000000Z_deadbeef0001.json"
    bad.write_bytes(b'{"kind": "eval", "run_id": ')
    return store


def _no_checks(monkeypatch):
    """Make any full check of a record fail the test: what the index answers must not be checked again."""

    def refuse(*args, **kwargs):
        raise AssertionError("a record was checked again although the index had seen its bytes")

    monkeypatch.setattr(store_module.HistoryStore, "_check_bytes", refuse)


def test_a_second_full_read_answers_from_the_index_with_the_same_records_and_problems(tmp_path, monkeypatch):
    store = _history(tmp_path / "h")
    cold = store.read_all()
    assert (tmp_path / "h" / INDEX_NAME).is_file()
    assert (tmp_path / "h" / "index" / ".gitignore").read_text().splitlines()[-1] == "*"  # never committed
    _no_checks(monkeypatch)
    warm = store.read_all()
    assert warm.records == cold.records and len(warm.records) == 5
    assert [str(p) for p in warm.problems] == [str(p) for p in cold.problems] and len(cold.problems) == 1
    assert "truncated" in cold.problems[0].reason


def test_a_record_changed_after_indexing_is_checked_again_even_with_its_old_modification_time(tmp_path):
    store = _history(tmp_path / "h")
    store.read_all()
    path = next((tmp_path / "h" / "runs").rglob("*_cafe00000001.json"))
    stat = path.stat()
    text = path.read_text()
    flipped = text.replace('"name": "m1"', '"name": "m7"', 1)  # same size, and the old modification time:
    assert flipped != text and len(flipped) == len(text)
    path.write_text(flipped)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the listing version is unchanged
    result = store.read_all()
    assert "cafe00000001" not in {r["run_id"] for r in result.records}
    assert any(p.location == str(path) and "checksum mismatch" in p.reason for p in result.problems)


def test_summaries_leave_out_the_question_lists_and_read_only_new_files(tmp_path, monkeypatch):
    store = _history(tmp_path / "h")
    full = store.read_all()
    summaries = store.read_summaries()
    assert [r["run_id"] for r in summaries.records] == [r["run_id"] for r in full.records]
    evals = [r for r in summaries.records if r["kind"] == "eval"]
    assert evals and all("questions" not in r and "probes" not in r for r in evals)
    for summary, record in zip(evals, full.of_kind("eval"), strict=True):
        assert summary["aggregates"]["accuracy"] == record["aggregates"]["accuracy"]
        assert summary["aggregates"]["by_domain"] == record["aggregates"]["by_domain"]
        assert summary["model"] == record["model"] and summary["suites"] == record["suites"]
    store.write(random_eval("cafe00000009", "m9", 9, questions=10, started_at="2026-02-09T10:00:00Z"))
    reads = []
    real_read = store.backend.read
    monkeypatch.setattr(store.backend, "read", lambda name: reads.append(name) or real_read(name))
    again = store.read_summaries()
    assert len(again.records) == 6 and len(again.problems) == 1  # the truncated file, from the index
    assert [Path(n).name for n in reads] == ["20260209T100000Z_cafe00000009.json"]


def test_a_damaged_index_or_one_made_by_other_rules_is_rebuilt_from_the_records(tmp_path, monkeypatch):
    store = _history(tmp_path / "h")
    expected = store.read_all()
    index_file = tmp_path / "h" / INDEX_NAME
    index_file.write_bytes(b"\x00 not json")
    assert store.read_all().records == expected.records
    assert json.loads(index_file.read_bytes())["format"] == index_module.FORMAT
    monkeypatch.setattr(index_module, "fingerprint", lambda: "sha256:other-rules")
    content = json.loads(index_file.read_bytes())
    content["entries"] = {
        name: [v, d, {"run_id": "forged"}, None, True] for name, (v, d, _, _, _) in content["entries"].items()
    }
    index_file.write_text(json.dumps(content))  # a forged index, under other rules: it must not be believed
    assert store.read_summaries().records == [
        index_module.summary_of(r) for r in expected.records
    ]  # rebuilt, not forged


def test_an_index_entry_with_neither_a_summary_nor_a_problem_is_damage_and_the_index_is_rebuilt(tmp_path):
    store = _history(tmp_path / "h")
    expected = store.read_summaries()
    index_file = tmp_path / "h" / INDEX_NAME
    content = json.loads(index_file.read_bytes())
    name = next(n for n, (_, _, summary, _, _) in content["entries"].items() if summary is not None)
    content["entries"][name][2] = None  # same rules, same bytes: only the entry says nothing
    index_file.write_text(json.dumps(content))
    # Was: the entry was believed and `None` came back as a record (a crash in the baseline search).
    assert store.read_summaries().records == expected.records


def test_reading_a_history_that_does_not_exist_creates_nothing(tmp_path):
    assert open_store(tmp_path / "none").read_all().records == []
    assert not (tmp_path / "none").exists()


def test_concurrent_writers_and_readers_keep_every_record_and_a_readable_index(tmp_path):
    root = tmp_path / "h"
    code = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[3])
        from record_factory import random_eval
        from tunebench.history.store import open_store
        store = open_store(sys.argv[1])
        writer = int(sys.argv[2])
        for i in range(6):
            run = f"{writer:04x}{i:08x}"
            store.write(random_eval(run, "m", i, questions=5, started_at=f"2026-03-{writer + 1:02d}T10:00:0{i}Z"))
            store.read_summaries()
        """
    )
    tests = str(Path(__file__).parent)
    writers = [subprocess.Popen([sys.executable, "-c", code, str(root), str(w), tests]) for w in range(4)]
    assert all(w.wait(timeout=300) == 0 for w in writers)
    json.loads((root / INDEX_NAME).read_bytes())  # whole: written by rename, never half
    result = open_store(root).read_summaries()
    full = open_store(root).read_all()
    assert len(result.records) == 24 and not result.problems and not full.problems
    assert [r["run_id"] for r in full.records] == [r["run_id"] for r in result.records]


def test_a_gs_history_keeps_its_index_as_an_object_and_a_warm_listing_reads_no_record(gcs, fault_proxy):
    store = open_store(gcs.uri("hist"))
    for i in range(3):
        store.write(random_eval(f"cafe{i:08d}", "m", i, questions=5, started_at=f"2026-02-0{i + 1}T10:00:00Z"))
    first = store.read_summaries()
    assert "hist/" + INDEX_NAME in gcs.names("hist/index/")
    fault_proxy.log.clear()
    again = open_store(gcs.uri("hist")).read_summaries()
    assert again.records == first.records and len(again.records) == 3
    downloads = [path for method, path, _ in fault_proxy.log if method == "GET" and "alt=media" in path]
    assert len(downloads) == 1 and "records.json" in downloads[0], downloads


# --- the checksum checked on the stored bytes (integrity._content_bytes), without re-serializing ------------


@pytest.mark.parametrize(
    "record",
    [random_eval("cafe00000001", "m", 1, questions=4), {"a": 1, "b": [1, 2]}],  # the checksum line: middle, last
    ids=["middle", "last"],
)
def test_the_stored_bytes_without_their_checksum_line_are_the_sealed_content(record):
    from tunebench.history.integrity import _content_bytes, checksum, seal, unseal

    data = to_json(seal(record))
    stored, content = _content_bytes(data)
    assert content == to_json(record) and stored == checksum(record)
    assert unseal(json.loads(data), data=data) == record


def test_changed_or_reformatted_bytes_take_the_full_check():
    from tunebench.errors import RecordError
    from tunebench.history.integrity import seal, unseal

    record = random_eval("cafe00000002", "m", 2, questions=4)
    data = to_json(seal(record))
    compact = json.dumps(json.loads(data)).encode()  # same content, another layout: still a valid seal
    assert unseal(json.loads(compact), data=compact) == record
    tampered = data.replace(b'"name": "m"', b'"name": "n"', 1)
    with pytest.raises(RecordError, match="content checksum mismatch"):
        unseal(json.loads(tampered), data=tampered)


def test_history_list_says_the_same_from_summaries_as_from_full_records(tmp_path):
    from tunebench.cli.history import summarize

    store = _history(tmp_path / "h")
    full = [summarize(r) for r in store.read_all().records]
    assert [summarize(r) for r in store.read_summaries().records] == full and len(full) == 5


def test_the_listing_with_versions_names_what_the_plain_listing_names(tmp_path):
    store = _history(tmp_path / "h")
    (tmp_path / "h" / "runs" / "2026" / "20260302T000000Z_folder000001.json").mkdir()  # reported, not skipped
    (tmp_path / "h" / "runs" / "2026" / ".tmp-abc.part").write_bytes(b"{")  # a writer's temp file: not listed
    assert list(store.backend.versions()) == store.backend.list() and len(store.backend.list()) == 7
