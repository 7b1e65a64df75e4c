"""Writers of user-named outputs write only regular files: a device, FIFO, socket, folder or symlink is refused."""

from __future__ import annotations

import os
import socket
import stat

import pytest
from hostile_support import snapshot
from record_factory import random_eval

from tunebench.cli import main
from tunebench.errors import StorageError
from tunebench.history.store import open_store
from tunebench.storage.local import write_atomic


def test_write_atomic_refuses_a_fifo_and_leaves_it_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(StorageError, match=r"pipe: a FIFO, not a regular file"):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_write_atomic_refuses_a_symlink_and_never_touches_what_it_points_to(tmp_path):
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0", encoding="utf-8")
    link = tmp_path / "log.md"
    link.symlink_to(victim)
    with pytest.raises(StorageError, match=r"log.md: a symlink, not a regular file"):
        write_atomic(link, "# log")
    assert link.is_symlink() and victim.read_text(encoding="utf-8") == "root:x:0:0"


def test_write_atomic_refuses_a_socket(tmp_path):
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(StorageError, match="a socket"):
            write_atomic(path, "x")
        assert stat.S_ISSOCK(path.lstat().st_mode)
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root (the case the issue saw)")
def test_write_atomic_refuses_a_device_node_and_keeps_it_a_device(tmp_path):
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a copy of /dev/null's node
    with pytest.raises(StorageError, match="a character device"):
        write_atomic(device, "x" * 1000)
    assert stat.S_ISCHR(device.lstat().st_mode)


def _history_with_one_run(project):
    project.write('[tool.tunebench]\nhistory = "hist"\nlog = "BENCHMARK_LOG.md"\n')
    store = open_store(project.root / "hist")
    store.write(random_eval("run-out-0001", "dora-v2", 1))
    store.read_all()  # builds the derived index now, so "before" holds it too
    return project.root / "hist"


def test_report_out_an_existing_folder_is_one_error_exit_2_no_traceback(project, capsys):
    history = _history_with_one_run(project)
    before = snapshot(history)
    folder = project.root / "somewhere"
    folder.mkdir()
    assert main(["report", "run-out-0001", "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a folder, not a regular file" in err and str(folder) in err
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert snapshot(history) == before


def test_log_render_out_a_fifo_is_refused_before_any_plot_is_written(project, capsys):
    history = _history_with_one_run(project)
    before = snapshot(history)
    fifo = project.root / "LOG.md"
    os.mkfifo(fifo)
    assert main(["log", "render", "--out", str(fifo)]) == 2
    assert "a FIFO, not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert not (project.root / "LOG_plots").exists()
    assert snapshot(history) == before


def test_log_render_out_a_symlink_leaves_the_link_and_its_target(project, capsys):
    history = _history_with_one_run(project)
    before = snapshot(history)
    victim = project.root / "important.txt"
    victim.write_text("keep me", encoding="utf-8")
    link = project.root / "LOG.md"
    link.symlink_to(victim)
    assert main(["log", "render", "--out", str(link), "--no-plots"]) == 2
    assert "a symlink, not a regular file" in capsys.readouterr().err
    assert link.is_symlink() and victim.read_text(encoding="utf-8") == "keep me"
    assert snapshot(history) == before
