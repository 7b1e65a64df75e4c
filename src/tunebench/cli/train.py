"""`tunebench train RECIPE [--set KEY=VALUE ...] [--resume | --new-version | --overwrite] [--allow-contamination]`.

Runs a training recipe, registers its adapter, records it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunebench.config import Config


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `train`."""
    parser = subparsers.add_parser(
        "train",
        help="train an adapter from a recipe (recipes/*.toml)",
        description="Run a training recipe phase by phase, add the adapter to the registry and write a "
        "TrainingRecord to the history. Exit status 75 means preempted: run again with --resume.",
    )
    parser.add_argument("recipe", help="the recipe file (TOML)")
    parser.add_argument(
        "--resume", action="store_true", help="continue a preempted or crashed run from its last complete checkpoint"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe key (TOML value), validated like the file: --set learning_rate=1e-4 "
        "--set phases.B.size=200 --set report_to='[\"tensorboard\"]'; repeatable; recorded in the run",
    )
    rerun = parser.add_mutually_exclusive_group()
    rerun.add_argument(
        "--new-version",
        action="store_true",
        help="when the output name is taken, train NAME-v2 (then -v3, ...) as a new registry model",
    )
    rerun.add_argument(
        "--overwrite",
        action="store_true",
        help="when the output name is taken, archive the old output folder and registry entry "
        "(<home>/archive/NAME-TIME/) and train NAME again",
    )
    parser.add_argument(
        "--allow-contamination",
        action="store_true",
        help="train even when examples overlap the evaluation suites (recorded; evaluations of the model are marked)",
    )
    parser.add_argument(
        "--history",
        metavar="URI",
        help="write the TrainingRecord to this history (a folder or gs://bucket/prefix) instead of the configured "
        "one, as `pytest eval_suites --history` does for its eval record",
    )
    parser.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Train, print a summary of the phases; return 75 when preempted by SIGTERM."""
    from tunebench.contamination import describe
    from tunebench.history.record_parts import given
    from tunebench.report.formatting import dollars, format_duration, format_loss
    from tunebench.report.training_table import phase_table
    from tunebench.training.cost import missing_price
    from tunebench.training.resilience import PREEMPTED_EXIT, TrainingPreempted
    from tunebench.training.run import train

    try:
        record = train(
            args.recipe,
            config=_config_with_history(args.history),
            resume=args.resume,
            overrides=args.overrides,
            new_version=args.new_version,
            overwrite=args.overwrite,
            allow_contamination=args.allow_contamination,
        )
    except TrainingPreempted as stop:
        print(f"tunebench: {stop}", flush=True)
        return PREEMPTED_EXIT
    if record.location is None:  # not rank 0 of a multi-process run: rank 0 reports
        return 0
    run = record.typed  # read once through its typed parts (history.training_parts)
    print(phase_table(run))  # the table history show prints too
    base_loss = given(run.base_validation_loss)
    cost = run.cost
    usd = "unknown" if cost is None or cost.usd is None else dollars(cost.usd)  # as history and the log write it
    hardware = cost.hardware if cost is not None else "?"
    print(f"model {run.output.name!r} registered: adapter {run.output.adapter}")
    print(
        f"total {format_duration(run.totals.wall_s)} on {hardware}, cost {usd}; "
        f"validation loss {format_loss(run.validation_loss)}"
        + (f" (base {format_loss(base_loss)} before training)" if base_loss is not None else "")
    )
    if cost is not None and cost.usd is None:
        print(missing_price(cost.hardware))
    print(f"contamination check: {describe(run.data.contamination.to_dict())}")
    for difficulty in given(run.difficulties) or []:
        print(f"difficulty: {difficulty.detail}")
    tracking = given(run.tracking)
    if tracking:
        where = [given(tracking.tensorboard_dir), given(tracking.mlflow_uri), given(tracking.wandb_dir)]
        print(f"tracked in {', '.join(tracking.report_to)}: {', '.join(w for w in where if w)}")
    print(f"record {run.run_id} written to {record.location}")
    return 0


def _config_with_history(history: str | None) -> Config:
    """The configuration, its history replaced by `--history` (`Config.history_at`)."""
    import dataclasses

    from tunebench.config import load_config

    config = load_config()
    return dataclasses.replace(config, history=config.history_at(history)) if history else config
