"""The history never loses a run and never trusts what it cannot check: files it cannot parse, links out of
its folder, names outside its layout, records without a checksum (unsealed), bytes that rot in place."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from record_factory import graded_run

from tunebench.cli import main
from tunebench.errors import StorageError, UntrustedRecordError
from tunebench.history.integrity import CHECKSUM_KEY
from tunebench.history.records import to_json
from tunebench.history.store import open_store

PYPROJECT = """
[tool.tunebench]
history = "hist"
log = "LOG.md"

[tool.tunebench.models.prod]
base = "builtin:tiny"
status = "production"

[tool.tunebench.models.candidate]
base = "builtin:tiny"
status = "experimental"
"""
SECRET = "SECRET-TOKEN-do-not-print-0123456789"


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def history(project):
    """A project whose history holds prod's runs of days 10 and 11 and candidate's of day 12 (30 questions)."""
    project.write(PYPROJECT)
    store = open_store(project.root / "hist")
    runs = {
        "old": graded_run("prod", 27, 10, 30),
        "new": graded_run("prod", 27, 11, 30),
        "candidate": graded_run("candidate", 27, 12, 30),
    }
    paths = {name: Path(store.write(record)) for name, record in runs.items()}
    return store, runs, paths


def _strip_checksum(path: Path) -> None:
    """What a hand edit leaves: the same record without its checksum line (a forger deletes it)."""
    data = json.loads(path.read_bytes())
    del data[CHECKSUM_KEY]
    path.write_bytes(to_json(data))


def test_files_the_reader_cannot_parse_are_named_by_path_in_list_gate_and_log_never_quoted(history, capsys, tmp_path):
    store, runs, paths = history
    folder = paths["old"].parent
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET + "\n")
    bad = {
        "nested": folder / "20260105T000000Z_deadbeef0001.json",
        "link": folder / "20260105T000001Z_deadbeef0002.json",
        "binary": folder / "20260105T000002Z_deadbeef0003.json",
        "huge": folder / "20260105T000003Z_deadbeef0004.json",
        "name": folder / "notes.json",
    }
    bad["nested"].write_text("[" * 3000)  # 3 kB: a RecursionError in json.loads
    bad["link"].symlink_to(secret)  # out of the folder: never read, never printed
    bad["binary"].write_bytes(os.urandom(2048) + b"\0")
    with bad["huge"].open("wb") as handle:  # sparse: 100 MB on the listing, nothing on disk
        handle.truncate(100 * 1024 * 1024)
    bad["name"].write_text(SECRET)
    for argv in (("history", "list"), ("gate", "latest", "--model", "candidate"), ("log", "render")):
        code, out, err = _cli(capsys, *argv)
        assert code == 0, (argv, err)
        assert "Traceback" not in err and SECRET not in out + err
        for path in bad.values():
            assert f"history record skipped: {path}: " in err, (argv, path)
    assert "nested deeper than any record" in err and "a symbolic link (to " in err
    assert "larger than any record" in err and "not a record name" in err
    _, out, _ = _cli(capsys, "gate", "latest", "--model", "candidate")
    assert f"baseline: {runs['new']['run_id']}" in out  # the good records are still judged as before


@pytest.mark.parametrize("linked", ["runs/2026", "runs"])
def test_a_symlinked_year_folder_is_a_named_problem_not_an_empty_history(history, capsys, tmp_path, linked):
    store, runs, paths = history
    year = store.backend.root / linked
    year.rename(tmp_path / "elsewhere")
    year.symlink_to(tmp_path / "elsewhere")
    code, out, err = _cli(capsys, "history", "list")
    assert code == 0
    assert f"history record skipped: {year}: a symbolic link (to {tmp_path / 'elsewhere'})" in err
    assert [p.location for p in store.read_all().problems] == [str(year)]


def test_a_write_through_a_symlinked_year_folder_is_refused_naming_the_link(history, tmp_path):
    store, runs, paths = history
    year = paths["old"].parent
    year.rename(tmp_path / "elsewhere")
    year.symlink_to(tmp_path / "elsewhere")
    before = sorted(os.listdir(tmp_path / "elsewhere"))
    with pytest.raises(StorageError, match=rf"{year}: a symbolic link .*nothing was published"):
        store.write(graded_run("candidate", 20, 13, 30))
    with pytest.raises(StorageError, match=rf"{year}: a symbolic link"):
        store.backend.check_writable(year.name)  # the plugin's session-start check
    assert sorted(os.listdir(tmp_path / "elsewhere")) == before


def test_an_unsealed_record_is_listed_as_such_and_is_never_a_baseline_or_a_log_row(history, capsys):
    store, runs, paths = history
    # A forgery: prod's newest run rewritten to 30/30 with consistent numbers, its checksum line deleted.
    forged = graded_run("prod", 30, 11, 30)
    forged["run_id"] = runs["new"]["run_id"]
    forged.pop("checksum", None)
    paths["new"].write_bytes(to_json(forged))
    code, out, err = _cli(capsys, "history", "list")
    assert code == 0
    [line] = [row for row in out.splitlines() if row.startswith(forged["run_id"])]
    assert "UNSEALED" in line and "1 UNSEALED record(s)" in out
    assert f"{paths['new']}: unsealed: no checksum" not in err  # listed, not repeated as a warning
    code, out, err = _cli(capsys, "gate", "latest", "--model", "candidate")
    assert f"baseline: {runs['old']['run_id']}" in out  # the forged newer one is passed over
    assert f"{paths['new']}: unsealed: no checksum" in err and "tunebench history seal" in err
    code, out, err = _cli(capsys, "gate", "latest", "--model", "candidate", "--baseline", forged["run_id"])
    assert code == 2 and "unsealed" in err
    _cli(capsys, "log", "render")
    assert forged["run_id"] not in (store.backend.root.parent / "LOG.md").read_text(encoding="utf-8")


def test_seal_trusts_an_unsealed_record_on_purpose_saying_who_and_when_and_pins_its_bytes(history, capsys):
    store, runs, paths = history
    _strip_checksum(paths["new"])
    before = paths["new"].read_bytes()
    code, out, err = _cli(capsys, "history", "seal", str(paths["new"]), "--reason", "checked by hand")
    assert code == 0, err
    assert paths["new"].read_bytes() == before  # the sealed file is not rewritten: a seal is its own record
    [seal] = [r for r in store.read_all().records if r["kind"] == "seal"]
    assert seal["target_run_id"] == runs["new"]["run_id"] and seal["reason"] == "checked by hand"
    assert seal["sealed_by"] and seal["started_at"] and seal["target_sha256"].startswith("sha256:")
    assert seal["target_name"] == str(paths["new"].relative_to(store.backend.root))
    _, out, _ = _cli(capsys, "gate", "latest", "--model", "candidate")
    assert f"baseline: {runs['new']['run_id']}" in out
    assert store.get(runs["new"]["run_id"])["run_id"] == runs["new"]["run_id"]
    code, _, err = _cli(capsys, "history", "seal", runs["new"]["run_id"])
    assert code == 2 and "already trusted" in err
    code, _, err = _cli(capsys, "history", "seal", runs["old"]["run_id"])
    assert code == 2 and "already trusted" in err
    # The seal pins these bytes: edited after, the record is unsealed again.
    paths["new"].write_bytes(before.replace(b'"prod"', b'"prod" '))
    assert runs["new"]["run_id"] not in store.read_all().locations
    with pytest.raises(UntrustedRecordError, match="unsealed"):
        store.get(runs["new"]["run_id"])


def test_bytes_that_rot_keeping_size_mtime_and_inode_are_rechecked_before_they_become_a_baseline(history, capsys):
    store, runs, paths = history
    assert len(store.read_summaries().records) == 3  # the summary index now knows every file
    path = paths["new"]
    info = path.stat()
    with path.open("r+b") as handle:  # in place: same inode, same size
        data = handle.read()
        handle.seek(data.index(b'"chosen": "A"'))
        handle.write(b'"chosen": "C"')  # one letter: still JSON, still the same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (info.st_size, info.st_mtime_ns, info.st_ino)
    with pytest.raises(UntrustedRecordError) as failure:
        store.get(runs["new"]["run_id"])
    assert failure.value.location == str(path) and "checksum" in failure.value.reason
    # The index forgot what it believed: the next listing names the file instead of offering it.
    assert store.read_summaries().problem_for(runs["new"]["run_id"]) is not None
    _, out, err = _cli(capsys, "gate", "latest", "--model", "candidate")
    assert f"baseline: {runs['old']['run_id']}" in out and str(path) in err


def test_an_import_from_before_checksums_is_sealed_by_importing_the_same_log_again(project, capsys):
    project.write(PYPROJECT)
    seed = Path(__file__).parent / "data" / "seed_log.md"
    assert _cli(capsys, "history", "import-log", str(seed))[0] == 0
    files = sorted((project.root / "hist" / "runs").rglob("*.json"))
    for path in files:
        _strip_checksum(path)  # as an import written before records carried a checksum
    edited = files[0]
    data = json.loads(edited.read_bytes())
    data["provenance"]["command"] = "by hand"  # provenance may differ: still the same import
    edited.write_bytes(to_json(data))
    _, out, _ = _cli(capsys, "history", "list")
    assert f"{len(files)} UNSEALED record(s)" in out
    code, out, err = _cli(capsys, "history", "import-log", str(seed))
    assert code == 0, err
    assert f"sealed {len(files)} imported before checksums" in out
    _, out, _ = _cli(capsys, "history", "list")
    assert "UNSEALED" not in out
    # A record whose content is not what the log gives is not the user's import: it stays unsealed.
    data = json.loads(files[1].read_bytes())
    data["imported_from"]["line"] = data["imported_from"].get("line", 0) + 1000
    files[1].write_bytes(to_json(data))
    _cli(capsys, "history", "import-log", str(seed))
    _, out, _ = _cli(capsys, "history", "list")
    assert "1 UNSEALED record(s)" in out


def test_check_writable_refuses_this_years_folder_as_a_link(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / time.strftime("%Y", time.gmtime())).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StorageError, match="a symbolic link"):
        open_store(tmp_path).check_writable()
