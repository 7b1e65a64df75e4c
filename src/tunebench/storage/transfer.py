"""How transfers run (workers, chunk size, retry back-off) and how they report progress."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tunebench.units import format_bytes

__all__ = ["TransferSettings", "Progress", "format_bytes", "format_size", "run_largest_first"]

T = TypeVar("T")

_MIB = 1 << 20


@dataclass(frozen=True)
class TransferSettings:
    """Knobs of a push or pull; the defaults suit multi-GB shards over a datacentre link."""

    workers: int = 8
    # Files above this size go up as resumable uploads in `chunk_size` pieces, so a dropped connection
    # costs one chunk, not the whole 5 GB shard. GCS needs chunks in multiples of 256 KiB.
    resumable_threshold: int = 8 * _MIB
    chunk_size: int = 32 * _MIB
    retry_initial_s: float = 1.0
    retry_maximum_s: float = 32.0
    retry_timeout_s: float = 600.0
    # Checksum mismatches on download are retried this many times before the pull fails.
    download_attempts: int = 2
    progress: bool | None = None  # None: show bars only when stderr is a terminal

    def __post_init__(self) -> None:
        if self.chunk_size <= 0 or self.chunk_size % (256 * 1024):
            raise ValueError(f"chunk_size must be a positive multiple of 256 KiB, found {self.chunk_size}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, found {self.workers}")


def format_size(count: int) -> str:
    """Return `count` bytes with two decimals, as bucket listings show them (27.52 GB)."""
    return format_bytes(count, decimals=2)


class Progress:
    """A thread-safe byte counter that shows bytes done, total and rate.

    On a terminal it draws a tqdm bar; elsewhere (CI logs) it prints a plain line to stderr at most
    every `interval_s` seconds, so a 28 GB pull is never silent for minutes. `show=False`: nothing.
    """

    def __init__(self, total: int, description: str, show: bool | None = None, interval_s: float = 30.0):
        self.total = total
        self.done = 0
        self.description = description
        self._lock = threading.Lock()
        self._start = time.perf_counter()
        self._bar: Any = None
        self._lines = show is None and not sys.stderr.isatty()
        self._interval, self._next_line = interval_s, self._start + interval_s
        if show if show is not None else sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=sys.stderr,
                mininterval=0.5,
                dynamic_ncols=True,
            )

    def add(self, count: int) -> None:
        """Count `count` more bytes."""
        with self._lock:
            self.done += count
            if self._bar is not None:
                self._bar.update(count)
            elif self._lines and time.perf_counter() >= self._next_line:
                self._next_line += self._interval
                print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        """Return `description: done / total (percent), rate, ETA`."""
        rate = self.done / self.seconds if self.seconds > 0 else 0.0
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = f", ETA {(self.total - self.done) / rate:.0f} s" if rate > 0 and self.done < self.total else ""
        return (
            f"{self.description}: {format_bytes(self.done)} / {format_bytes(self.total)} ({percent:.0f}%), "
            f"{format_bytes(rate)}/s{eta}"
        )

    @property
    def seconds(self) -> float:
        """Seconds since the counter started."""
        return time.perf_counter() - self._start

    def close(self) -> None:
        """Finish the bar."""
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_largest_first(items: Sequence[T], size: Callable[[T], int], work: Callable[[T], None], workers: int) -> None:
    """Run `work` on every item in a thread pool, largest first; the first failure cancels what has not started.

    Largest first: a 5 GB shard starting last would leave the other workers idle at the end.
    """
    order = sorted(items, key=lambda item: -size(item))
    if not order:
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(order))) as pool:
        futures = [pool.submit(work, item) for item in order]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for pending in futures:
                pending.cancel()
            raise
