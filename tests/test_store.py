"""The append-only history store under real processes: concurrent writers, kill -9, a full disk, bad files."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tunebench.errors import RecordError, StorageError
from tunebench.history.records import to_json
from tunebench.history.store import LocalBackend, open_store, record_name

# A minimal valid eval record built without git or torch, so each writer process starts fast.
RECORD_FACTORY = """
import secrets, sys
from tunebench.history.records import utc_now

def make_record(writer=0, index=0, pad=0):
    now = utc_now()
    return {"kind": "eval", "schema_version": 1, "run_id": secrets.token_hex(6), "started_at": now,
            "finished_at": now, "source": "measured", "status": "complete",
            "provenance": {"tunebench_version": "test", "packages": {}, "git_commit": None, "hardware": None,
                           "command": "test"},
            "notes": ["x" * pad] if pad else [], "model": {"name": f"writer-{writer}", "base": "b", "adapter": None},
            "suites": [], "questions": [{"id": f"{writer}-{index}", "domain": "tax", "difficulty": "easy",
                                         "status": "answered", "correct": True}],
            "probes": [], "aggregates": {}, "items": {"expected": 1, "reported": 1, "crashed": [], "failed": []},
            "baseline": None, "gate": None}
"""
namespace: dict = {}
exec(RECORD_FACTORY, namespace)
make_record = namespace["make_record"]


def _run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", RECORD_FACTORY + textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_written_record_reads_back_equal_under_its_runs_year_stamp_name(tmp_path):
    store = open_store(tmp_path)
    record = make_record()
    location = store.write(record)
    assert Path(location) == tmp_path / record_name(record)
    assert Path(location).parent.parent.name == "runs" and Path(location).parent.name == record["started_at"][:4]
    assert store.read_all(strict=True).records == [record]
    assert store.get(record["run_id"]) == record


def test_a_published_name_is_never_overwritten(tmp_path):
    backend = LocalBackend(tmp_path)
    backend.create("runs/2026/a_b.json", b"first")
    with pytest.raises(StorageError, match="already exists; history records are never overwritten"):
        backend.create("runs/2026/a_b.json", b"second")
    assert (tmp_path / "runs/2026/a_b.json").read_bytes() == b"first"
    assert [p.name for p in (tmp_path / "runs/2026").iterdir()] == ["a_b.json"]  # no temp file left


def test_invalid_record_is_refused_before_anything_is_written(tmp_path):
    record = make_record()
    del record["status"]
    with pytest.raises(RecordError, match="'status' is a required property"):
        open_store(tmp_path).write(record)
    assert not (tmp_path / "runs").exists()


def test_eight_concurrent_writer_processes_lose_nothing(tmp_path):
    go = tmp_path / "go"
    code = """
    import os, sys, time
    from tunebench.history.store import open_store
    writer, root, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    store = open_store(root)
    while not os.path.exists(go):  # start together: maximal contention on the same folders
        time.sleep(0.005)
    for index in range(20):
        store.write(make_record(writer, index))
    """
    writers = [_run_python(code, str(w), str(tmp_path / "hist"), str(go)) for w in range(8)]
    time.sleep(0.5)
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    result = open_store(tmp_path / "hist").read_all(strict=True)
    ids = sorted(q["id"] for r in result.records for q in r["questions"])
    assert ids == sorted(f"{w}-{i}" for w in range(8) for i in range(20))
    assert len({r["run_id"] for r in result.records}) == 160
    assert not list((tmp_path / "hist").rglob(".tmp-*"))


def test_kill_9_during_writes_leaves_only_parsable_records(tmp_path):
    root = tmp_path / "hist"
    code = """
    import sys
    from tunebench.history.store import open_store
    store = open_store(sys.argv[1])
    index = 0
    while True:  # large records widen the window in which a kill lands mid-write
        store.write(make_record(0, index, pad=400_000))
        index += 1
    """
    for delay in (0.6, 0.9, 1.2):
        writer = _run_python(code, str(root))
        time.sleep(delay)
        deadline = time.monotonic() + 30
        while not list(root.rglob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
        assert writer.returncode == -signal.SIGKILL
    result = open_store(root).read_all(strict=True)
    assert len(result.records) >= 3 and not result.problems
    for path in root.rglob("*.json"):
        if not path.name.startswith("."):
            json.loads(path.read_bytes())


def test_full_disk_leaves_the_history_byte_identical_and_exits_nonzero_with_a_message(tmp_path):
    root = tmp_path / "hist"
    store = open_store(root)
    for index in range(2):
        store.write(make_record(0, index))
    before = _snapshot(root)
    # A size-capped writer: RLIMIT_FSIZE makes every write past 4 KiB fail with EFBIG, as a full disk would.
    code = """
    import resource, signal, sys
    from tunebench.errors import StorageError
    from tunebench.history.store import open_store
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        open_store(sys.argv[1]).write(make_record(1, 0, pad=50_000))
    except StorageError as exc:
        print(f"tunebench: error: {exc}", file=sys.stderr)
        sys.exit(1)
    """
    writer = _run_python(code, str(root))
    _, err = writer.communicate(timeout=60)
    assert writer.returncode == 1
    assert "File too large" in err and "nothing was published and the history is unchanged" in err
    assert _snapshot(root) == before
    assert len(open_store(root).read_all(strict=True).records) == 2


def test_corrupt_truncated_and_schema_violating_files_are_reported_by_path(tmp_path):
    store = open_store(tmp_path)
    good = make_record()
    store.write(good)
    folder = tmp_path / "runs" / "2026"
    folder.mkdir(parents=True, exist_ok=True)
    truncated = folder / "20260101T000000Z_trunc0001.json"
    truncated.write_bytes(to_json(make_record())[:200])
    garbage = folder / "20260101T000001Z_garb00001.json"
    garbage.write_bytes(b"\xff\xfe not json")
    violating = make_record()
    violating["status"] = "finished"
    bad_schema = folder / f"20260101T000002Z_{violating['run_id']}.json"
    bad_schema.write_bytes(to_json(violating))
    renamed = folder / "20260101T000003Z_otherid01.json"
    renamed.write_bytes(to_json(make_record()))
    result = store.read_all()
    assert result.records == [good]
    reasons = {Path(p.location).name: p.reason for p in result.problems}
    assert reasons[truncated.name].startswith("line ") and "truncated" in reasons[truncated.name]
    assert "not UTF-8" in reasons[garbage.name]
    assert "key status: 'finished' is not one of ['complete', 'incomplete', 'crashed'" in reasons[bad_schema.name]
    assert "does not match its run id" in reasons[renamed.name]
    with pytest.raises(RecordError, match="4 unreadable record") as failure:
        store.read_all(strict=True)
    for path in (truncated, garbage, bad_schema, renamed):
        assert str(path) in str(failure.value)


def test_records_stamped_in_the_future_are_flagged(tmp_path):
    record = make_record()
    record["started_at"] = record["finished_at"] = "2099-01-01T00:00:00.000Z"
    store = open_store(tmp_path)
    store.write(record)
    result = store.read_all()
    assert result.records == [record]
    assert "stamped in the future" in result.flagged[0].reason


def test_hidden_temp_files_are_not_records(tmp_path):
    (tmp_path / "runs" / "2026").mkdir(parents=True)
    (tmp_path / "runs" / "2026" / ".tmp-abc.part").write_bytes(b"{partial")
    assert open_store(tmp_path).read_all(strict=True).records == []


def test_open_store_dispatches_on_the_scheme(tmp_path):
    assert isinstance(open_store(f"file://{tmp_path}").backend, LocalBackend)
    with pytest.raises(StorageError, match=r"unknown scheme s3://; expected a local folder or gs://"):
        open_store("s3://bucket/history")


def test_each_kind_of_non_record_file_is_named_for_what_it_is(tmp_path):
    folder = tmp_path / "runs" / "2026"
    folder.mkdir(parents=True)
    names = {
        kind: f"20260101T00000{i}Z_{kind}0001.json"
        for i, kind in enumerate(("x", "empty", "bin", "words", "bad", "cut"))
    }
    (folder / names["x"]).mkdir()
    (folder / names["empty"]).write_bytes(b"")
    (folder / names["bin"]).write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\x00")
    (folder / names["words"]).write_bytes(b"hello, this is a note\n")
    (folder / names["bad"]).write_bytes(b'{"kind": "eval", "run_id": x}\n')
    (folder / names["cut"]).write_bytes(b'{"kind": "eval", "run_id": "abc')
    reasons = {Path(p.location).name: p.reason for p in open_store(tmp_path).read_all().problems}
    assert reasons == {
        names["x"]: "a folder named like a record, not a record file",
        names["empty"]: "an empty file (0 bytes), not a record",
        names["bin"]: "binary data (18 bytes; byte 0 is not UTF-8), not a record",
        names["words"]: "not JSON (22 bytes of text), not a record",
        names["bad"]: "line 1 column 28: not valid JSON: Expecting value",
        names["cut"]: "line 1: truncated: the JSON ends before the record does (Unterminated string starting at)",
    }


def test_a_file_given_as_the_history_is_refused(tmp_path):
    file = tmp_path / "history.json"
    file.write_text("{}")
    with pytest.raises(StorageError, match=r"history .*history.json: is a file; expected a history folder"):
        open_store(file)


def test_a_stale_temp_file_left_by_kill_9_is_removed_by_the_next_write(tmp_path):
    folder = tmp_path / "runs" / "2026"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".tmp-killed.part", folder / ".tmp-writing.part"
    stale.write_bytes(b'{"partial')
    fresh.write_bytes(b'{"partial')
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    open_store(tmp_path).write(make_record())
    assert not stale.exists()
    assert fresh.exists()  # a temp file this young may belong to a writer still running
