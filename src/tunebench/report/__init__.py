"""The benchmark log, its plots, and comparisons of two runs, all rendered from history records."""

from __future__ import annotations

from tunebench.report.compare import compare_runs, format_comparison, resolve_run
from tunebench.report.markdown import render_log
from tunebench.report.plots import render_plots
from tunebench.report.publishing import render_log_file

__all__ = ["compare_runs", "format_comparison", "render_log", "render_log_file", "render_plots", "resolve_run"]
