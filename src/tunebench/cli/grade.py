"""`tunebench grade --calibrate`: measure a grader (rubric or judge) against the shipped calibration replies."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["register"]

SHIPPED_PROBES = Path("eval_suites") / "domain_probes" / "probes.jsonl"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `grade`."""
    parser = subparsers.add_parser(
        "grade",
        help="measure the probe grader against replies with known grades",
        description="Grade the calibration replies (known grades 5, 3, 1-2, 1 per probe) with the rubric or "
        "the judge and report agreement: exact, within one, Spearman, per probe and overall.",
    )
    parser.add_argument("--calibrate", action="store_true", required=True, help="grade the calibration set")
    parser.add_argument(
        "--grader", choices=("rubric", "judge"), default="rubric", help="which grader (default: rubric)"
    )
    parser.add_argument("--judge", metavar="MODEL", help="judge registry model (default: [tool.tunebench.eval.judge])")
    parser.add_argument("--probes", metavar="FILE", help=f"probes file (default: the shipped {SHIPPED_PROBES})")
    parser.add_argument("--calibration", metavar="FILE", help="calibration replies (default: beside the probes)")
    parser.add_argument("--rows", action="store_true", help="also list every reply's known and given grade")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=grade_command)


def grade_command(args: argparse.Namespace) -> int:
    """Run the calibration and print the agreement table; exit 1 when the grader erred on any reply."""
    from tunebench.config import load_config
    from tunebench.errors import ConfigError
    from tunebench.scoring.calibration import SHIPPED_NAME, calibrate, format_calibration, load_calibration
    from tunebench.scoring.quality import RUBRIC_VERSION, Grade, grade
    from tunebench.suites import Probe, load_probes

    config = load_config()
    probes_path = Path(args.probes) if args.probes else _shipped_probes(config.root)
    probes = load_probes(probes_path)
    replies = load_calibration(
        Path(args.calibration) if args.calibration else probes_path.parent / SHIPPED_NAME, probes
    )
    grader: Callable[[str, Probe], Grade]
    if args.grader == "rubric":
        name, grader = RUBRIC_VERSION, grade
    else:
        from tunebench.engines.select import load_judge
        from tunebench.scoring.judge import judge_grade

        model = args.judge or config.eval.judge
        if not model:
            raise ConfigError(
                "--grader judge: no judge model: pass --judge NAME or set [tool.tunebench.eval.judge] model"
            )
        judge = load_judge(model, config, n=config.eval.judge_n, max_new_tokens=config.eval.judge_max_new_tokens)
        name = f"judge:{judge.name}"

        def judged(reply: str, probe: Probe) -> Grade:
            return judge_grade(reply, probe, judge)

        grader = judged

    def progress(done: int, total: int) -> None:
        if args.grader == "judge":
            print(f"\rgrading {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)

    calibration = calibrate(replies, probes, grader, name, progress=progress)
    if args.json:
        print(json.dumps({**calibration.to_dict(), "rows": calibration.rows}, indent=2))
    else:
        print(format_calibration(calibration, show_rows=args.rows))
    return 1 if calibration.figures()["errors"] else 0


def _shipped_probes(root: Path) -> Path:
    here = root / SHIPPED_PROBES
    if here.is_file():
        return here
    import tunebench

    return Path(tunebench.__file__).resolve().parents[2] / SHIPPED_PROBES  # a source checkout
