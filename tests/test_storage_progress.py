"""Transfer progress: bytes and rate reach a CI log even without a terminal."""

from __future__ import annotations

import re
import threading

from tunebench.storage.transfer import Progress


def test_progress_without_a_terminal_prints_bytes_total_and_rate(capsys):
    progress = Progress(4_000_000, "pull gs://bucket/base/", show=None, interval_s=0.0)
    progress.add(1_000_000)
    line = capsys.readouterr().err.strip()
    assert line.startswith("pull gs://bucket/base/: 1 MB / 4 MB (25%), ")
    assert re.search(r"/s, ETA \d+ s$", line), line  # 3 of 4 MB left, at the rate measured so far


def test_progress_counts_every_byte_from_many_threads(capsys):
    progress = Progress(8 * 1000 * 100, "push", show=False)
    threads = [threading.Thread(target=lambda: [progress.add(100) for _ in range(1000)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress.done == progress.total and capsys.readouterr().err == ""
