"""`tunebench models list|show|push|pull`: the model registry and its `gs://` copies."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tunebench.cli.history_common import _clip
from tunebench.errors import StorageError
from tunebench.registry import TINY_BASE, ModelEntry, check_name, get_registry
from tunebench.table import format_table

if TYPE_CHECKING:
    from tunebench.storage import TransferSettings
    from tunebench.storage.remote import RemoteSummary

_MIB = 1 << 20


MAX_WORKERS = 256
MAX_CHUNK_MIB = 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `models` and its subcommands."""
    parser = subparsers.add_parser("models", help="list, show, push and pull registry models")
    commands = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    listing = commands.add_parser("list", help="print the registry as a table")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument(
        "--remote", action="store_true", help="read the manifests of gs:// locations and show their sizes and versions"
    )
    listing.set_defaults(func=list_models)

    show = commands.add_parser("show", help="print one registry entry")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON instead of text")
    show.set_defaults(func=show_model)

    push = commands.add_parser("push", help="publish a model's adapter (or base) folder to gs://bucket/prefix")
    push.add_argument("name", help="registry name of the model to push")
    push.add_argument("destination", help="gs://bucket/prefix to publish at")
    push.add_argument(
        "--part",
        choices=["adapter", "base"],
        help="which folder to push (default: the adapter if the model has one, else the base)",
    )
    push.add_argument(
        "--new-version", action="store_true", help="publish over an existing version (refused without this flag)"
    )
    push.add_argument(
        "--register",
        metavar="NEW_NAME",
        help="add a registry entry NEW_NAME whose pushed part points at the destination",
    )
    _transfer_options(push)
    push.set_defaults(func=push_model)

    pull = commands.add_parser("pull", help="download a model's gs:// folders into the local cache, verified")
    pull.add_argument("name")
    _transfer_options(pull)
    pull.set_defaults(func=pull_model)


def _transfer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=8, help=f"parallel transfers, 1 to {MAX_WORKERS} (default 8)")
    parser.add_argument(
        "--chunk-mib",
        type=int,
        default=32,
        help=f"chunk of a resumable upload, in MiB, 1 to {MAX_CHUNK_MIB} (default 32)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _settings(args: argparse.Namespace) -> TransferSettings:
    from tunebench.storage import TransferSettings

    # Each worker is a thread and a connection, each chunk is held in memory: both bounded before any work.
    if not 1 <= args.workers <= MAX_WORKERS:
        raise StorageError(f"--workers: expected 1 to {MAX_WORKERS}, found {args.workers}")
    if not 1 <= args.chunk_mib <= MAX_CHUNK_MIB:
        raise StorageError(f"--chunk-mib: expected 1 to {MAX_CHUNK_MIB}, found {args.chunk_mib}")
    return TransferSettings(
        workers=args.workers, chunk_size=args.chunk_mib * _MIB, progress=False if args.no_progress else None
    )


def list_models(args: argparse.Namespace) -> int:
    """Print every registry entry; with `--remote`, one row per gs:// location with its manifest's size."""
    entries = get_registry().entries()
    if args.remote:
        return _list_remote(entries, args.json)
    if args.json:
        print(json.dumps([{"name": e.name, **e.to_dict()} for e in entries], indent=2))
        return 0
    # A long note is elided, marked so: the whole of it is in `models show NAME` and --json. A model's name is
    # what a user copies into --model: never wrapped (whole=(0,)); the other columns wrap to fit the terminal.
    rows = [(e.name, e.status, e.base, e.adapter or "-", _clip(e.notes, 60)) for e in entries]
    print(format_table(["model", "status", "base", "adapter", "notes"], rows, whole=(0,)))
    return 0


def _list_remote(entries: list[ModelEntry], as_json: bool) -> int:
    from tunebench.storage import is_gcs_uri, make_client
    from tunebench.storage.remote import describe_remote

    places = [
        (e, part, uri)
        for e in entries
        for part, uri in (("base", e.base), ("adapter", e.adapter))
        if uri and is_gcs_uri(uri)
    ]
    client = make_client() if places else None
    summaries = {}
    for _, _, uri in places:
        if uri not in summaries:  # one base shared by several adapters is read once
            summaries[uri] = describe_remote(uri, client)
    problems = [s for s in summaries.values() if s.problem]
    if as_json:
        print(
            json.dumps(
                [
                    {"name": e.name, "part": part, "status": e.status, **summaries[uri].__dict__}
                    for e, part, uri in places
                ],
                indent=2,
            )
        )
    else:
        rows = [
            (
                e.name,
                part,
                e.status,
                summaries[uri].uri,
                _size_cell(summaries[uri]),
                summaries[uri].files if summaries[uri].files is not None else "-",
                _version_cell(summaries[uri]),
            )
            for e, part, uri in places
        ]
        print(format_table(["model", "part", "status", "location", "size", "files", "version"], rows, whole=(0,)))
    for summary in problems:
        print(f"tunebench: {summary.uri}: {summary.problem}", file=sys.stderr)
    return 1 if problems else 0


def _size_cell(summary: RemoteSummary) -> str:
    from tunebench.storage.transfer import format_size

    return "unreadable" if summary.size is None else format_size(summary.size)


def _version_cell(summary: RemoteSummary) -> str:
    if summary.version is None:
        return "-"
    if summary.version == 0:
        return "no manifest"
    return f"v{summary.version} {summary.created_at}"


def show_model(args: argparse.Namespace) -> int:
    """Print one entry; an unknown name is an error with the closest match."""
    entry = get_registry().get(args.name)
    data = {"name": entry.name, **entry.to_dict(), "defined_in": entry.origin}
    if entry.base == TINY_BASE:  # built on this machine: where, for tools that need a folder (lm-eval pretrained=)
        from tunebench.tiny import tiny_path

        data["local_path"] = str(tiny_path())
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    width = max(map(len, data))
    for key, value in data.items():
        print(f"{key.ljust(width)}  {value}")
    return 0


def push_model(args: argparse.Namespace) -> int:
    """Publish the model's adapter (or base) folder; optionally register a copy pointing at it."""
    from tunebench.loading import resolve_location
    from tunebench.storage import push_folder

    registry = get_registry()
    entry = registry.get(args.name)
    if args.register:
        check_name(args.register, "--register")  # before anything is pushed
    part = args.part or ("adapter" if entry.adapter else "base")
    location = entry.adapter if part == "adapter" else entry.base
    if not location:
        raise StorageError(f"model {entry.name!r} has no {part} to push")
    folder = Path(resolve_location(location, registry))
    report = push_folder(
        folder,
        args.destination,
        name=entry.name,
        new_version=args.new_version,
        status=entry.status,
        notes=entry.notes,
        settings=_settings(args),
    )
    print(report.summary())
    if args.register:
        pushed = replace(
            entry,
            name=args.register,
            origin="",
            **{part: report.uri},
            notes=f"{part} pushed from {entry.name!r} ({report.uri} v{report.manifest.version}). " + entry.notes,
        )
        print(f"registered {args.register!r} in {registry.add(pushed)}")
    return 0


def pull_model(args: argparse.Namespace) -> int:
    """Pull every gs:// location of the model into the cache and print where each landed."""
    from tunebench.storage import is_gcs_uri, pull_folder

    settings = _settings(args)  # the options first: a bad one is an error whatever the model
    entry = get_registry().get(args.name)
    remote = [uri for uri in (entry.base, entry.adapter) if uri and is_gcs_uri(uri)]
    if not remote:
        print(f"{entry.name}: nothing to pull (base {entry.base}, adapter {entry.adapter or '-'} are not gs://)")
        return 0
    for uri in remote:
        print(pull_folder(uri, settings=settings).summary())
    return 0
