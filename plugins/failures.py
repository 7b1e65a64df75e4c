"""Item failures caused by a tunebench error (a server's protocol error mid-run, a named bad input): one line.

A TunebenchError already says what went wrong and where; its Python traceback (and, for a served engine, the
HTTP client's exception chain) adds tens of kilobytes per item and hides the reason. The report keeps the
error's type and message, on one line, its control characters shown visibly.
"""

from __future__ import annotations

from typing import Any

import pytest

from tunebench.errors import TunebenchError
from tunebench.escaping import terminal_text

__all__ = ["shorten"]

MAX_CHARS = 2000  # a server can put anything in an error message


def shorten(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> None:
    """Replace a failed report's traceback with one line when a TunebenchError caused the failure, or when the
    item (or a fixture) failed with `pytest.fail(..., pytrace=False)` (its chained exceptions are noise too)."""
    if not report.failed or call.excinfo is None:
        return
    error = call.excinfo.value
    if call.excinfo.errisinstance(TunebenchError):
        report.longrepr = f"{call.excinfo.typename}: {_one_line(str(error))}"
    elif isinstance(error, pytest.fail.Exception) and not error.pytrace:
        report.longrepr = _one_line(error.msg)


def _one_line(text: str) -> str:
    message = terminal_text(" ".join(text.split()))
    return message if len(message) <= MAX_CHARS else message[: MAX_CHARS - 1] + "…"
