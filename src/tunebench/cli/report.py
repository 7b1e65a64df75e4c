"""`tunebench report RUN [--compare RUN | --baseline auto] [--out FILE.html]`: one run's HTML page."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report`."""
    parser = subparsers.add_parser(
        "report",
        help="write one eval run's self-contained HTML report (every question and probe)",
        description="Write one eval run's HTML report: a static page that opens from file:// with no network.",
    )
    parser.add_argument("run", help="run id (or a unique prefix), or a model name (its newest complete eval run)")
    against = parser.add_mutually_exclusive_group()
    against.add_argument("--compare", metavar="RUN", help="compare with this run (before): flips, deltas, McNemar p")
    against.add_argument(
        "--baseline",
        metavar="SPEC",
        help="compare with the gate's baseline: auto (newest complete run of a production model on the same "
        "suite files), a model name, or a run id",
    )
    parser.add_argument("--out", metavar="FILE.html", help="where to write (default: reports/RUN.html beside the log)")
    parser.add_argument("--history", metavar="URI", help="history location (default: the configured one)")
    parser.set_defaults(func=write)


def write(args: argparse.Namespace) -> int:
    """Write the report and print where."""
    from tunebench.config import load_config
    from tunebench.errors import RecordError
    from tunebench.gate import judge_recorded
    from tunebench.history.reference import resolve_run
    from tunebench.history.store import open_store
    from tunebench.report.html import report_path, write_report

    config = load_config()
    store = open_store(config.history_at(args.history))
    history = store.read_summaries()
    record = store.get(resolve_run(args.run, history.records)["run_id"])
    if record.get("kind") != "eval":
        raise RecordError(f"run {record['run_id']} is a {record.get('kind')} record: only eval runs have a report")
    baseline, verdict = None, None
    if args.compare:
        baseline = store.get(resolve_run(args.compare, history.records)["run_id"])
        if baseline["run_id"] == record["run_id"]:
            raise RecordError(f"--compare {args.compare}: that is run {record['run_id']} itself")
    elif args.baseline:
        judgement = judge_recorded(record, store, spec=args.baseline, config=config, history=history)
        if judgement.baseline is None:
            raise RecordError(f"--baseline {args.baseline}: no baseline run: {judgement.how}")
        baseline, verdict = judgement.baseline, judgement.verdict.to_dict()
    if baseline is not None and baseline.get("kind") != "eval":
        raise RecordError(f"run {baseline['run_id']} is a {baseline.get('kind')} record: only eval runs compare")
    out = Path(args.out) if args.out else report_path(config.log, record["run_id"])
    path = write_report(record, out, baseline=baseline, root=config.root, verdict=verdict)
    against = f" compared with {baseline['run_id']}" if baseline is not None else ""
    print(f"wrote {path} (run {record['run_id']}{against}); open file://{path.resolve()}")
    return 0
