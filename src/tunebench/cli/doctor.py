"""`tunebench doctor [--recipe R]`: the preflight checks, printed; exit 1 if any would refuse a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tunebench.table import fit_line, format_table


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `doctor`."""
    parser = subparsers.add_parser(
        "doctor", help="check packages, GPU and disk (for a recipe: the preflight `train` runs)"
    )
    parser.add_argument("--recipe", help="check what this recipe needs (disk, GPU memory, bitsandbytes)")
    parser.add_argument(
        "--model",
        help="estimate this registry model's eval and training peak memory from its "
        "config (default: the default model, unless --recipe is given)",
    )
    parser.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    """Print each check with its result and fix; return 1 if any check fails."""
    from tunebench.config import load_config
    from tunebench.training import preflight

    config = load_config()
    recipe = None
    if args.recipe:
        from tunebench.training.recipe import load_recipe
        from tunebench.training.run import output_dir_for

        recipe = load_recipe(args.recipe)
        checks = preflight.run_preflight(recipe, config, output_dir_for(recipe, config))
    else:
        checks = [*preflight.check_packages(), *preflight.check_hardware(None, None)]
        checks.append(preflight.check_disk_free(Path(config.home)))
    marks = {True: "ok", False: "FAIL", None: "info"}  # None: nothing to compare it with here
    rows = [(c.name, "slow" if c.slow else marks[c.ok], c.detail, c.fix or "") for c in checks]
    print(format_table(["check", "result", "detail", "fix"], rows))
    for line in memory_lines(config, getattr(args, "model", None), recipe):
        print(fit_line(line))  # a memory estimate names each of its parts: wrapped as the table above is
    failed = [c.name for c in checks if c.ok is False]
    if failed:
        print(f"{len(failed)} check(s) would refuse a training run: {', '.join(failed)}")
        return 1
    return 0


def memory_lines(config: Any, model: str | None = None, recipe: Any = None) -> list[str]:
    """Return doctor's memory lines: estimates (from config files only) for a registry model and/or a recipe."""
    from tunebench.errors import TunebenchError
    from tunebench.memory import estimate_for_entry, estimate_for_recipe
    from tunebench.registry import Registry

    lines = []
    name = model or (None if recipe is not None else config.default_model)
    if name:
        try:
            estimates = estimate_for_entry(Registry(config).get(name), config)
            lines += [f"memory {name}: {e.describe()}" for e in estimates.values()]
        except TunebenchError as exc:
            lines.append(f"memory {name}: not estimated ({exc})")
    if recipe is not None:
        try:
            lines.append(f"memory recipe {recipe.output}: {estimate_for_recipe(recipe, config).describe()}")
        except TunebenchError as exc:
            lines.append(f"memory recipe {recipe.output}: not estimated ({exc})")
    return lines
