"""The `tunebench` command: one subcommand module per noun, each with a `register(subparsers)`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tunebench import __version__
from tunebench.cli import doctor, gate, grade, history, log, models, plan, report, train
from tunebench.errors import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, TunebenchError

__all__ = ["main", "build_parser"]

# Each module adds its subcommand(s) to the parser; order here is the order `--help` lists them.
COMMAND_MODULES = [models, history, log, report, grade, train, gate, plan, doctor]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="tunebench",
        description="Train LoRA/DoRA adapters, evaluate them with pytest suites, gate CI on the history.",
    )
    parser.add_argument("--version", action="version", version=f"tunebench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the table in `tunebench.errors`: 2 bad input, as argparse)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try, so a closed pipe is caught here and not at exit
        return status
    except TunebenchError as exc:
        print(f"tunebench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # The reader left (`tunebench history list | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
