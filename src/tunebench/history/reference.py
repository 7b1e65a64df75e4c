"""Run references: what `RUN` on the command line names (a run id, a unique prefix, a model, or `latest`).

One resolver for every command that takes a run (`tunebench gate`, `report`, `history show|compare|note`,
`plan`), so a reference means the same run everywhere: an exact run id first; then `latest` (the newest eval
run, of `model` when given); then a model name (its newest complete eval run); then a unique run-id prefix.
"Newest" is by finish time, then run id.

The records are the history's summaries as the store read them (`ReadResult.records`: every kind, summarized
by the index) and are read here by key, not typed (tunebench.history.typed), on purpose: resolving a reference
looks at a few header keys (run id, kind, finish time, status, model name; an imported row's label) of every
record, and typing them costs what the lookup does not need. On 10,000 eval summaries, `latest` took 6 ms read
by key; typing each summary as an EvalRecordData took 1.0 s, its header and model alone 140 ms. The record
returned is the summary itself; its caller reads the run in full (`HistoryStore.get`) and types that.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.records import parse_utc

__all__ = ["resolve_run", "resolve_pair", "newest"]


def newest(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the record that finished last (ties: the larger run id)."""
    return max(records, key=lambda r: (parse_utc(r["finished_at"]), r["run_id"]))


def resolve_run(reference: str, records: Sequence[dict[str, Any]], model: str | None = None) -> dict[str, Any]:
    """Return the record `reference` names (see the module); RecordError naming what was expected otherwise."""
    exact = [r for r in records if r.get("run_id") == reference]
    if exact:
        return exact[0]
    evals = [r for r in records if r.get("kind") == "eval"]
    if reference == "latest":
        mine = [r for r in evals if model is None or r["model"]["name"] == model]
        if not mine:
            of = f" of model {model!r}" if model else ""
            known = sorted({r["model"]["name"] for r in evals})
            raise RecordError(f"no eval run{of} in the history (models with runs: {', '.join(known) or 'none'})")
        return newest(mine)
    by_model = [r for r in evals if r["model"].get("name") == reference and r.get("status") == "complete"]
    if by_model:
        return newest(by_model)
    prefixed = [r for r in records if str(r.get("run_id", "")).startswith(reference)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise RecordError(
            f"run {reference!r} is ambiguous: it begins {len(prefixed)} run ids "
            f"({', '.join(r['run_id'] for r in prefixed[:5])})"
        )
    _refuse_imported(reference, records)
    models = sorted({r["model"].get("name", "?") for r in evals})
    close = difflib.get_close_matches(reference, [*models, *(r["run_id"] for r in records)], n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise RecordError(
        f"no record with run id {reference!r} in the history ({len(records)} records), and no model of that name "
        f"with a complete eval run ({', '.join(models) or 'none'}): expected a run id, a unique prefix of one, "
        f"latest, or a model name.{hint}"
    )


def resolve_pair(
    first: str, second: str, records: Sequence[dict[str, Any]], what: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the two runs `first` and `second` name (`what`: the command, for the message); RecordError (bad
    input) when both name the same run: a run is never compared with itself, as it is never its own baseline."""
    a, b = resolve_run(first, records), resolve_run(second, records)
    if a["run_id"] == b["run_id"]:
        both = "" if first == second == a["run_id"] else f" (both name run {a['run_id']})"
        raise RecordError(f"{what} {first} {second}: that is one run twice{both}; a run is never compared with itself")
    return a, b


def _refuse_imported(reference: str, records: Sequence[dict[str, Any]]) -> None:
    imported = [
        r
        for r in records
        if r.get("kind") == "imported_row" and r.get("table") == "benchmark" and r.get("label") == reference
    ]
    if imported:
        written = " | ".join(c["text"] for c in imported[-1]["cells"][1:])
        raise RecordError(
            f"model {reference!r} has only an imported benchmark row ({written}), without "
            "per-question outcomes: evaluate it (pytest eval_suites --model ...) to compare it"
        )
