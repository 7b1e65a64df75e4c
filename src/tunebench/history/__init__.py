"""The benchmark history: validated eval and training records in an append-only store."""

from __future__ import annotations

from tunebench.history.records import new_run_id, utc_now, validate
from tunebench.history.store import HistoryStore, Problem, ReadResult, is_future, open_store

__all__ = ["HistoryStore", "Problem", "ReadResult", "is_future", "new_run_id", "open_store", "utc_now", "validate"]
