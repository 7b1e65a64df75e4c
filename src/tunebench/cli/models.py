"""`tunebench models list|show`: the model registry."""

from __future__ import annotations

import argparse
import json

from tunebench.registry import get_registry
from tunebench.table import format_table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `models` and its subcommands."""
    parser = subparsers.add_parser("models", help="list, show, push and pull registry models")
    commands = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser("list", help="print the registry as a table")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(func=list_models)

    show = commands.add_parser("show", help="print one registry entry")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=show_model)


def list_models(args: argparse.Namespace) -> int:
    """Print every registry entry."""
    entries = get_registry().entries()
    if args.json:
        print(json.dumps([{"name": e.name, **e.to_dict()} for e in entries], indent=2))
        return 0
    rows = [(e.name, e.status, e.base, e.adapter or "-", e.notes[:60]) for e in entries]
    print(format_table(["model", "status", "base", "adapter", "notes"], rows))
    return 0


def show_model(args: argparse.Namespace) -> int:
    """Print one entry; an unknown name is an error with the closest match."""
    entry = get_registry().get(args.name)
    data = {"name": entry.name, **entry.to_dict(), "defined_in": entry.origin}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    width = max(map(len, data))
    for key, value in data.items():
        print(f"{key.ljust(width)}  {value}")
    return 0
