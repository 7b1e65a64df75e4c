"""`tunebench plan --drop D`: how many paired questions a drop needs, and the drop a suite's size can detect."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from tunebench.errors import TunebenchError
from tunebench.table import fit_line

__all__ = ["register", "run_plan"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `plan`."""
    parser = subparsers.add_parser(
        "plan",
        help="power analysis: the questions needed to detect a drop, and the drop N questions can detect",
        description="Power of the gate's exact McNemar test on paired questions (two runs, the same questions). "
        "The discordance is the fraction of questions right in one run and wrong in the other; `tunebench "
        "history compare A B` and every gate verdict show the observed one.",
    )
    parser.add_argument("--drop", type=float, required=True, help="the accuracy drop to detect (0.05 = 5 points)")
    parser.add_argument(
        "--discordance",
        type=float,
        help="fraction of flipped questions (default: observed between the --from runs, else 0.1)",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05, two-sided)")
    parser.add_argument("--power", type=float, default=0.8, help="probability of detecting the drop (default 0.8)")
    parser.add_argument("--questions", type=int, default=100, help="suite size to report on (default 100)")
    parser.add_argument(
        "--from",
        dest="runs",
        nargs=2,
        metavar=("A", "B"),
        help="two recorded eval runs (ids or model names): their paired questions' discordance, and what the "
        "probability test on their recorded log-likelihoods can detect",
    )
    parser.add_argument("--history", metavar="URI", help="history for --from (default: the configured one)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Print the plan."""
    from tunebench.power import MAX_QUESTIONS, plan

    if not 1 <= args.questions <= MAX_QUESTIONS:  # the exact test holds arrays of --questions entries
        raise TunebenchError(f"--questions: expected 1 to {MAX_QUESTIONS}, found {args.questions}")
    observed = _observed(args) if args.runs else None
    discordance = args.discordance if args.discordance is not None else (observed or {}).get("discordance", 0.1)
    if not 0 <= discordance <= 1:
        raise TunebenchError(f"--discordance: expected a fraction between 0 and 1, found {discordance}")
    try:
        result = plan(args.drop, discordance, args.alpha, args.power, args.questions)
    except ValueError as exc:
        raise TunebenchError(f"tunebench plan: {exc}") from None
    if args.json:
        print(json.dumps({**asdict(result), "observed": observed}, indent=2, sort_keys=True))
        return 0
    # each line of prose wrapped to the terminal, as the other commands' tables and lines are
    text = result.describe() + ("" if observed is None else "\n" + _describe_observed(observed, args.power))
    print("\n".join(fit_line(line) for line in text.splitlines()))
    return 0


def _observed(args: argparse.Namespace) -> dict[str, Any]:
    """Return what two recorded runs say: paired questions, discordance, the probability test's reach."""

    from tunebench.config import load_config
    from tunebench.history.reference import resolve_pair
    from tunebench.history.store import open_store
    from tunebench.power import detectable_drop, t_detectable_drop
    from tunebench.report.compare import compare_runs

    records = open_store(load_config().history_at(args.history)).read_all().records
    first, second = args.runs
    a, b = resolve_pair(first, second, records, what="plan --from")
    comparison = compare_runs(a, b)
    if not comparison.paired or comparison.discordance is None:
        raise TunebenchError(f"--from: runs {a['run_id']} and {b['run_id']} have no question in common")
    test = comparison.probability
    odds = _log_odds_reach(a, b, args)
    return {
        "runs": [a["run_id"], b["run_id"]],
        "paired": comparison.paired,
        "discordance": comparison.discordance,
        "detectable_drop": detectable_drop(comparison.paired, comparison.discordance, args.alpha, args.power),
        "probability_sd": None if test is None else test.sd,
        "probability_detectable_drop": None
        if test is None
        else t_detectable_drop(test.n, test.sd, args.alpha, args.power),
        **odds,
    }


def _log_odds_reach(a: dict[str, Any], b: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The prob_drop rule's test (paired t on the right answer's log-odds) on these two runs: the sd of the
    differences, the smallest mean log-odds drop it detects, and how often it detects an accuracy drop of --drop
    (turned into log-odds by the choice model fitted to the two runs; None where the runs cannot be fitted)."""
    from tunebench.errors import RecordError
    from tunebench.gate.paired import paired_log_odds
    from tunebench.power import t_detectable_drop, t_power
    from tunebench.simulation import fit, shift_for_drop
    from tunebench.stats import paired_t_drop

    before, after = paired_log_odds(b, a)
    if len(before) < 2:
        return {"log_odds_sd": None, "log_odds_detectable_drop": None, "log_odds_power_at_drop": None}
    test = paired_t_drop(before, after, args.alpha)
    try:
        shift = shift_for_drop(fit(a, b), args.drop)
    except (RecordError, ValueError):
        shift = None
    return {
        "log_odds_sd": test.sd,
        "log_odds_detectable_drop": t_detectable_drop(test.n, test.sd, args.alpha, args.power),
        "log_odds_power_at_drop": None if shift is None else t_power(test.n, test.sd, shift, args.alpha),
    }


def _describe_observed(observed: dict[str, Any], power: float) -> str:
    reach = observed["detectable_drop"]
    lines = [
        f"runs {observed['runs'][0]} and {observed['runs'][1]}: {observed['paired']} paired questions, discordance "
        f"{observed['discordance']:.3g}; their exact McNemar test detects "
        + ("no drop" if reach is None else f"a drop of {100 * reach:.1f} points")
        + f" {power:.0%} of the time"
    ]
    if observed["probability_detectable_drop"] is not None:
        lines.append(
            f"the paired t test on their probabilities of the right answer (sd of the differences "
            f"{observed['probability_sd']:.3g}) detects a mean probability drop of "
            f"{100 * observed['probability_detectable_drop']:.2f} points {power:.0%} of the time"
        )
    if observed.get("log_odds_detectable_drop") is not None:
        at = observed.get("log_odds_power_at_drop")
        lines.append(
            f"the prob_drop rule's test (paired t on the log-odds of the right answer, sd of the differences "
            f"{observed['log_odds_sd']:.3g}) detects a mean log-odds drop of "
            f"{observed['log_odds_detectable_drop']:.3f} {power:.0%} of the time"
            + ("" if at is None else f"; the asked accuracy drop, on these runs' fitted choice model, {at:.0%}")
        )
    return "\n".join(lines)
