"""storage/local.write_atomic: the one writer of whole local files (log, plots, registry entries, run state)."""

from __future__ import annotations

import stat

import pytest

from tunebench.errors import StorageError
from tunebench.storage.local import write_atomic


def test_write_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "log.md"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, "new — text")
    assert target.read_text(encoding="utf-8") == "new — text"
    write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"
    assert [p.name for p in tmp_path.iterdir()] == ["log.md"]


def test_a_folder_at_the_target_is_refused_and_kept(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("kept", encoding="utf-8")
    with pytest.raises(StorageError, match="a folder, not a regular file"):
        write_atomic(target, "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert (target / "inside").read_text(encoding="utf-8") == "kept"


def test_a_failed_write_removes_the_temp_file_and_keeps_the_old_content(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("{}", encoding="utf-8")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]  # fails inside the write, after the temp file exists
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert target.read_text(encoding="utf-8") == "{}"


def test_a_missing_folder_is_an_error_not_a_silent_create(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "such" / "file", "x")
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_the_mode_open_would_give_not_mkstemps_0600(tmp_path):
    # A log or report written by write_atomic must be readable by whoever can read a file open() made.
    plain = tmp_path / "plain.txt"
    plain.write_text("x", encoding="utf-8")
    target = tmp_path / "log.md"
    write_atomic(target, "# log")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
