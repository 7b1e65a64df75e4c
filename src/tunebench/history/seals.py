"""Seals: a record without a checksum is trusted only once a person seals it on purpose.

Every record the store writes carries its content checksum (`history.integrity`). A record without one
was written before checksums existed, by hand, or edited with its checksum line deleted (a forgery that
keeps its numbers consistent passes every other check). Such a record is *unsealed*: `history list`
shows it with that word; it is never a baseline, a row of the log or a result, until
`tunebench history seal FILE|RUN_ID` seals it.

How a seal is written: as its own small record (kind `seal`), published create-only like every record,
never by rewriting the sealed file. It names the record's run id and the sha256 of the record's bytes as
they are when sealed, who sealed it (git's `user.name <user.email>` where set, else login@host) and when
(its `started_at`), with the reason given. Why not add the checksum to the record in place: the history
is append-only (written whole, never rewritten), so a seal works on every backend with `create` alone
(gs:// included), a git-kept history shows a new file rather than an edited record, and the record keeps
its original bytes. A seal pins those bytes: if they change afterwards, the digest no longer matches and
the record is unsealed again. A seal is itself a sealed record; a hand-written seal without its checksum
is unsealed and seals nothing.

Records imported from a hand-written log (`history import-log`) are written, and so sealed, by the store
like any other. An import from before checksums existed is sealed by running the same import again: the
importer seals (with a seal record, reason "import-log") each unsealed imported record whose run id,
a digest of the log's lines, and content are what the import gives now (`importer.import_log`).
"""

from __future__ import annotations

import getpass
import socket
import subprocess
from collections.abc import Iterable
from typing import Any

from tunebench.history.records import new_run_id, utc_now

__all__ = ["KIND", "seal_record", "seals_by_target", "sealed_on_purpose", "unsealed_reason", "who"]

KIND = "seal"
SCHEMA_VERSION = 1


def unsealed_reason(run_id: str) -> str:
    """Return the problem text of an unsealed record (what `history list`, the gate and the log say)."""
    return (
        "unsealed: no checksum (written before checksums, by hand, or edited with its checksum removed); "
        f"never a baseline or a log row; if you trust it, seal it: tunebench history seal {run_id}"
    )


def seals_by_target(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Return the seal records among `records` (trusted ones only: the caller passes sealed records), by target."""
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.get("kind") == KIND:
            found.setdefault(record["target_run_id"], []).append(record)
    return found


def sealed_on_purpose(seals: dict[str, list[dict[str, Any]]], run_id: str, sha256: str) -> dict[str, Any] | None:
    """Return the seal of `run_id` whose pinned digest is `sha256` (the record's bytes now), or None."""
    return next((s for s in seals.get(run_id, []) if s.get("target_sha256") == sha256), None)


def who() -> str:
    """Return who is sealing: git's `user.name <user.email>` when configured, else `login@host`."""
    name, email = _git_config("user.name"), _git_config("user.email")
    if name or email:
        return f"{name or ''} <{email or ''}>".strip()
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = "unknown"
    return f"{login}@{socket.gethostname()}"


def _git_config(key: str) -> str | None:
    try:
        done = subprocess.run(["git", "config", key], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def seal_record(
    target: dict[str, Any], sha256: str, name: str, reason: str, provenance: dict[str, Any], by: str | None = None
) -> dict[str, Any]:
    """Return the seal record of `target`, whose stored bytes (at `name`) hash to `sha256`."""
    now = utc_now()
    return {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "run_id": new_run_id(),
        "started_at": now,
        "finished_at": now,
        "source": "measured",
        "provenance": provenance,
        "notes": [],
        "target_run_id": target["run_id"],
        "target_kind": target["kind"],
        "target_name": name,
        "target_sha256": sha256,
        "sealed_by": by or who(),
        "reason": reason,
    }
