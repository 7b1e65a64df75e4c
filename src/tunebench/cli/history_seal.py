"""`tunebench history seal FILE|RUN_ID`: trust a record that has no checksum, on purpose (`history.seals`)."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tunebench.errors import RecordError

if TYPE_CHECKING:
    from tunebench.history.store import HistoryStore, ReadResult, Unsealed

__all__ = ["add_seal_command", "seal"]


def add_seal_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `seal` to `history`'s subcommands through its `command(name, func, help)` helper."""
    sealing = command(
        "seal",
        seal,
        "trust records that have no checksum (written before checksums, or by hand): writes a seal record "
        "naming who sealed which bytes, when; the sealed files are not changed",
    )
    sealing.add_argument(
        "targets", nargs="+", metavar="FILE|RUN_ID", help="a record file in the history, or its run id"
    )
    sealing.add_argument(
        "--reason", default="sealed by hand (tunebench history seal)", help="why it is trusted (kept in the seal)"
    )


def seal(args: argparse.Namespace) -> int:
    """Write a seal record for each unsealed target; RecordError naming any target that cannot be sealed."""
    from tunebench.cli.history_common import _store
    from tunebench.history.seals import seal_record
    from tunebench.provenance import collect

    store = _store(args)
    result = store.read_all()  # every file read now: the digest a seal pins is of the bytes as they are
    chosen = [_find(target, result, store) for target in args.targets]
    sealed = []
    for unsealed in chosen:
        name = _name_in(store, unsealed.location)
        record = seal_record(
            unsealed.record, unsealed.sha256, name, args.reason, collect(command=["tunebench", "history", "seal"])
        )
        location = store.write(record)
        sealed.append({"run_id": unsealed.record["run_id"], "file": unsealed.location, "seal": location})
    if args.json:
        print(json.dumps(sealed, indent=2, ensure_ascii=False))
    else:
        for item in sealed:
            print(f"sealed {item['run_id']} ({item['file']}): {item['seal']}")
    return 0


def _find(target: str, result: ReadResult, store: HistoryStore) -> Unsealed:
    """Return the ReadResult's Unsealed entry that `target` (a file path or a run id / unique prefix) names."""
    path = Path(target)
    if os.sep in target or target.endswith(".json"):
        wanted = os.path.realpath(path) if path.exists() else None
        matches = [u for u in result.unsealed if wanted is not None and os.path.realpath(u.location) == wanted]
    else:
        matches = [u for u in result.unsealed if u.record["run_id"] == target]
        matches = matches or [u for u in result.unsealed if u.record["run_id"].startswith(target)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RecordError(f"seal {target}: ambiguous: " + ", ".join(u.record["run_id"] for u in matches[:5]))
    problem = next((p for p in result.problems if _same(p.location, target)), None)
    if problem is None and not (os.sep in target or target.endswith(".json")):
        problem = result.problem_for(target)
    if target in result.locations or any(_same(loc, target) for loc in result.locations.values()):
        raise RecordError(f"seal {target}: already trusted (it carries its checksum or was sealed); nothing to seal")
    if problem is not None:
        raise RecordError(f"seal {target}: {problem}; only a valid record without a checksum can be sealed")
    raise RecordError(
        f"seal {target}: no unsealed record with that run id or file in the history {store.uri} "
        f"({len(result.unsealed)} unsealed)"
    )


def _same(location: str, target: str) -> bool:
    return location == target or (os.path.exists(target) and os.path.realpath(location) == os.path.realpath(target))


def _name_in(store: HistoryStore, location: str) -> str:
    """Return the record name (runs/...) of `location` in `store`."""
    for name in store.backend.list():
        if store.backend.location(name) == location:
            return name
    raise RecordError(f"{location}: no longer in the history {store.uri}")
