"""The benchmark log, its plots, and comparisons of two runs, all rendered from history records."""

from __future__ import annotations

from tunebench.report.markdown import render_log, render_log_file

__all__ = ["render_log", "render_log_file"]
