"""Writing on pytest's terminal while items run, without breaking its progress line.

pytest prints a file's name and then one letter per item on the same line. A line written in between
(`write_line`) ends that line early: pytest then prints the file name again and the next letters start a
line of their own. So mid-line, tunebench's status goes on the same line in brackets
(`test_benchmark.py [tunebench: questions scored 25/100 ... 100/100] ....`); at the start of a line it is a
line of its own. Past output capture, like pytest's own reporter. A batched pass counts what the user selected
(questions, whatever engine and however many requests or rows they took), so every engine reads alike.

The bracket fits the terminal as `tunebench.table.fit_line` fits prose: a part that would run past the edge
(leaving no room for an item's letter and pytest's ` [ 42%]`) goes on a continuation line indented two spaces,
still pytest's line (its file name is not printed again; the letters follow on the continuation line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tunebench.table import fit_line

__all__ = ["progress", "status", "quiet_library_bars"]

_STEPS = 4  # a pass reports at most this many counts (and its total), however many batches it has
_INDENT = "  "  # a continuation line's, as fit_line's
_PYTEST_TAIL = len(" [100%]") + 1  # room pytest needs after a part: one item's letter and its percentage


def _reporter(config: pytest.Config) -> Any:
    if config.option.verbose < 0:
        return None
    return config.pluginmanager.get_plugin("terminalreporter")


def _uncaptured(config: pytest.Config) -> contextlib.AbstractContextManager:
    capture = config.pluginmanager.get_plugin("capturemanager")
    return capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()


def _mid_line(reporter: Any) -> bool:
    return bool(reporter.currentfspath) and reporter._tw.width_of_current_line > 0


def _write_part(reporter: Any, part: str) -> None:
    """Write `part` on pytest's open progress line, first going on to a continuation line when it would not fit."""
    used = reporter._tw.width_of_current_line
    if used > len(_INDENT) and used + len(part) + _PYTEST_TAIL > reporter._tw.fullwidth:
        reporter.write("\n" + _INDENT)
        part = part.lstrip()
    reporter.write(part)


def _write_line(reporter: Any, line: str) -> None:
    reporter.write_line(fit_line(line, reporter._tw.fullwidth))


def status(config: pytest.Config, text: str) -> None:
    """Write `tunebench: TEXT` on the terminal: in brackets on the progress line when one is open."""
    reporter = _reporter(config)
    if reporter is None:
        return
    with _uncaptured(config):
        if _mid_line(reporter):
            _write_part(reporter, f"[tunebench: {text}] ")
        else:
            _write_line(reporter, f"tunebench: {text}")
        reporter.flush()


def progress(config: pytest.Config, verb: str, noun: str) -> Callable[[int, int], None] | None:
    """Return a `(done, total)` callback showing "NOUN VERB done/total"; None when nothing is shown (-q -q).

    `done` and `total` count `noun` (the engines' multiple choice counts questions).
    """
    reporter = _reporter(config)
    if reporter is None:
        return None
    shown: list[int] = []

    def report(done: int, total: int) -> None:
        step = max(1, -(-total // _STEPS))
        if shown and done < total and done // step == shown[-1] // step:
            return  # not a new quarter yet
        first = not shown
        shown.append(done)
        with _uncaptured(config):
            if _mid_line(reporter):
                opening = f"[tunebench: {noun} {verb}" if first else ""
                _write_part(reporter, f"{opening} {done}/{total}{'] ' if done >= total else ''}")
            elif done >= total or first:
                _write_line(reporter, f"tunebench: {noun} {verb} {done}/{total}")
            reporter.flush()

    return report


@contextlib.contextmanager
def quiet_library_bars() -> Iterator[None]:
    """Turn off transformers' tqdm bars ("Loading weights") for the block.

    A bar redraws with carriage returns on stderr, which under pytest lands in the middle of the progress line.
    """
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()
