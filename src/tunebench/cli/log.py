"""`tunebench log render`: write the benchmark log (and its plots) from the history."""

from __future__ import annotations

import argparse
import time

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `log` and its subcommands."""
    parser = subparsers.add_parser("log", help="render the benchmark log from the history")
    commands = parser.add_subparsers(dest="log_command", metavar="SUBCOMMAND", required=True)
    render = commands.add_parser(
        "render",
        help="write BENCHMARK_LOG.md and its plots from the history",
        description="Render the benchmark log from the history; never edit it by hand.",
    )
    render.add_argument("--out", metavar="PATH", help="where to write the log (default: the configured `log`)")
    render.add_argument("--history", metavar="URI", help="history location (default: the configured one)")
    render.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    render.set_defaults(func=render_log)


def render_log(args: argparse.Namespace) -> int:
    """Render the configured history to the log file."""
    from dataclasses import replace

    from tunebench.config import load_config
    from tunebench.report.markdown import RENDER_COMMAND
    from tunebench.report.publishing import render_log_file
    from tunebench.units import format_duration

    config = load_config()
    if args.history:  # a local folder given on the command line is relative to where the command runs
        config = replace(config, history=config.history_at(args.history))
    start = time.perf_counter()
    path = render_log_file(config, args.out, command=RENDER_COMMAND, with_plots=not args.no_plots)
    print(f"wrote {path} in {format_duration(time.perf_counter() - start)}")  # as every duration is written
    return 0
