"""`tunebench plan --drop D`: how many paired questions a drop needs, and the drop a suite's size can detect."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from tunebench.errors import TunebenchError

__all__ = ["register", "run_plan"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `plan`."""
    parser = subparsers.add_parser(
        "plan",
        help="power analysis: the questions needed to detect a drop, and the drop N questions can detect",
        description="Power of the gate's exact McNemar test on paired questions (two runs, the same questions). "
        "The discordance is the fraction of questions right in one run and wrong in the other; `tunebench "
        "history compare A B` and every gate verdict show the observed one.",
    )
    parser.add_argument("--drop", type=float, required=True, help="the accuracy drop to detect (0.05 = 5 points)")
    parser.add_argument("--discordance", type=float, default=0.1, help="fraction of flipped questions (default 0.1)")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05, two-sided)")
    parser.add_argument("--power", type=float, default=0.8, help="probability of detecting the drop (default 0.8)")
    parser.add_argument("--questions", type=int, default=100, help="suite size to report on (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan."""
    from tunebench.power import plan

    if args.questions < 1:
        raise TunebenchError(f"--questions: expected at least 1, found {args.questions}")
    if not 0 <= args.discordance <= 1:
        raise TunebenchError(f"--discordance: expected a fraction between 0 and 1, found {args.discordance}")
    try:
        result = plan(args.drop, args.discordance, args.alpha, args.power, args.questions)
    except ValueError as exc:
        raise TunebenchError(f"tunebench plan: {exc}") from None
    print(json.dumps(asdict(result), indent=2, sort_keys=True) if args.json else result.describe())
    return 0
