"""EvalRecord: build one eval run's record from the outcomes its test items attached.

Test items attach outcomes (`kind="question"` or `kind="probe"`, fields as in the suites' contract).
Items that crashed, failed before recording, or never reported still count: they become entries with
status `crashed`/`failed`/`missing`, are never correct, and make the run `incomplete`. An item is
attributed to questions or probes by its test function (a sibling parameter that did record), and its
domain and difficulty are looked up by id in the suite file its siblings named.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.eval_aggregates import aggregate
from tunebench.history.records import new_run_id
from tunebench.lmeval.record import check_doc_outcome, lm_eval_section, lm_eval_suites
from tunebench.storage.checksums import file_sha256
from tunebench.suites import read_manifest, suite_name

__all__ = [
    "ItemResult",
    "build_eval_record",
    "model_record",
    "check_outcome",
    "QUESTION_FIELDS",
    "PROBE_FIELDS",
    "SCHEMA_VERSION",
    "comparable",
]

SCHEMA_VERSION = 3  # 3 closed model, engine, probe, aggregates, gate and load; 2 the rest (history.records)
QUESTION_FIELDS = ("id", "domain", "difficulty", "correct")
PROBE_FIELDS = ("id", "domain")
_LETTERS = ("A", "B", "C", "D")
# Fields that change between two runs of the same model on the same suites (see `comparable`).
VOLATILE_KEYS = (
    "run_id",
    "started_at",
    "finished_at",
    "provenance",
    "gate",
    "baseline",
    "notes",
    "resources",
    "load",
    "workers",
)
VOLATILE_PROBE_KEYS = (
    "load_s",
    "ttft_s",
    "decode_tokens_per_s",
    "time_per_output_token_s",
    "latency_s",
    "latency_median_s",
    "latency_p90_s",
    "ttft_runs_s",
    "speed_reference",
)


@dataclass
class ItemResult:
    """One test item as the controller saw it: final status and the outcomes it attached."""

    nodeid: str
    status: str = "passed"  # passed, failed, skipped, crashed, missing
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""


def check_outcome(outcome: dict[str, Any]) -> None:
    """Raise RecordError unless a question/probe outcome has its contract fields with the right types."""
    kind = outcome.get("kind")
    if kind == "lm_eval_doc":
        check_doc_outcome(outcome)
        return
    if kind not in ("question", "probe"):
        return  # free-form outcomes are kept out of the aggregates, not refused
    required = QUESTION_FIELDS if kind == "question" else PROBE_FIELDS
    missing = [key for key in required if key not in outcome]
    if missing:
        raise RecordError(
            f"{kind} outcome: missing key(s) {', '.join(missing)} (a {kind} needs "
            f"{', '.join(required)}); found keys {', '.join(sorted(outcome))}"
        )
    if kind == "question":
        if not isinstance(outcome["correct"], bool):
            raise RecordError(
                f"question {outcome['id']}: key correct: expected true or false, found {outcome['correct']!r}"
            )
        for key in ("answer", "chosen", "chosen_norm"):
            if outcome.get(key) is not None and outcome[key] not in _LETTERS:
                raise RecordError(
                    f"question {outcome['id']}: key {key}: expected one of A, B, C, D, found {outcome[key]!r}"
                )
    if kind == "probe" and outcome.get("grade") is not None and not 1 <= outcome["grade"] <= 5:
        raise RecordError(f"probe {outcome['id']}: key grade: expected 1-5, found {outcome['grade']!r}")


def model_record(entry: Any, **measured: Any) -> dict[str, Any]:
    """Return the eval record's `model`: the registry entry (name, base, adapter, status), then what was measured.

    The one place the `model` object is assembled (the plugin's loaded and served models, and the fallback when
    no model loaded); `measured` adds or overrides keys (hashes, device, dtype, merged, load_s, engine).
    """
    return {
        "name": entry.name,
        "base": entry.base,
        "adapter": entry.adapter,
        "registry_status": entry.status,
        **measured,
    }


def build_eval_record(
    *,
    model: dict[str, Any],
    items: Sequence[ItemResult],
    started_at: str,
    finished_at: str,
    provenance: dict[str, Any],
    expected: int | None = None,
    interrupted: bool = False,
    run_id: str | None = None,
    notes: Iterable[str] = (),
    root: Path | None = None,
    workers: int = 1,
    deselected: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Return a schema-valid EvalRecord (without gate and baseline: the gate fills them).

    `workers`: pytest processes that ran items at once (pytest-xdist `-n`); 1 is serial.
    `deselected`: the question and probe items the session collected and deselected (`-k`, node ids), by
    suite file ({file as the outcomes' `suite_file`: [node ids]}): a file none of whose items ran still
    counts in the selection's total, so every `-k` over the same suites has the same total.
    """
    notes = list(notes)
    questions, probes, suites = _collect(items, notes, root)
    _add_unreported(items, questions, probes, suites, notes)
    broken = [i.nodeid for i in items if i.status in ("crashed", "missing")]
    failed = [i.nodeid for i in items if i.status == "failed"]
    unselected = _unselected_files(deselected or {}, suites, notes)
    selection = _selection(questions, probes, suites, unselected)
    lm_eval = lm_eval_section(o for item in items for o in item.outcomes)
    if lm_eval is not None:  # lm-eval tasks: their documents count in the selection like questions
        selection["selected"] += len(lm_eval["documents"])
        selection["total"] += sum(t.get("documents", 0) for t in lm_eval["tasks"])
    status = "crashed" if interrupted else "incomplete" if broken or failed else "complete"
    if status == "complete" and selection["selected"] < selection["total"]:
        status = "subset"  # -k, a node id: part of the suites, never a full benchmark result
    record: dict[str, Any] = {
        "kind": "eval",
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id or new_run_id(),
        "started_at": started_at,
        "finished_at": finished_at,
        "source": "measured",
        "status": status,
        "model": model,
        "suites": [{k: v for k, v in suites[key].items() if not k.startswith("_")} for key in sorted(suites)],
        "questions": sorted(questions, key=lambda q: (q.get("suite", ""), q["id"])),
        "probes": sorted(probes, key=lambda p: (p.get("suite", ""), p["id"])),
        "items": {
            "expected": expected if expected is not None else len(items),
            "reported": sum(1 for i in items if i.status not in ("crashed", "missing")),
            "crashed": sorted(i.nodeid for i in items if i.status == "crashed"),
            "failed": sorted(failed),
            "missing": sorted(i.nodeid for i in items if i.status == "missing"),
        },
        "selection": selection,
        "workers": workers,
        "aggregates": aggregate(questions, probes),
        "baseline": None,
        "gate": None,
        "provenance": provenance,
        "notes": notes,
    }
    if lm_eval is not None:
        record["lm_eval"] = lm_eval
        # A task is a suite for baselines: a run pairs with runs of the same tasks under the same lm-eval config.
        record["suites"] += lm_eval_suites(lm_eval)
    load = [o for item in items for o in item.outcomes if o.get("kind") == "load"]
    if load:  # the load phase (--concurrency N > 1): its serving figures
        record["load"] = {k: v for k, v in load[0].items() if k != "kind"}
    return record


def _selection(
    questions: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    suites: dict[str, dict[str, Any]],
    unselected: Mapping[str, int],
) -> dict[str, int]:
    """Return {selected, total}: the questions and probes the run has entries for, of all its suite files hold.

    A run selected by `-k` or node ids covers fewer than its files hold: a subset. A file that cannot be
    read counts what the run saw of it. `unselected`: files the session collected none of whose items ran,
    with their collected item counts (a narrowed probe file collects only its items of the run's domains).
    """
    lookups: dict[str, dict[str, dict[str, Any]]] = {}
    selected = len(questions) + len(probes)
    total = sum(len(_suite_items(suites, file, lookups)) for file in suites) + sum(unselected.values())
    return {"selected": selected, "total": max(total, selected)}


def _unselected_files(
    deselected: Mapping[str, Sequence[str]], suites: dict[str, dict[str, Any]], notes: list[str]
) -> dict[str, int]:
    """Return {suite file: deselected items} for the files no item of which recorded, noting each.

    A file with an item that recorded is in `suites` already, its deselected items counted from the file.
    """
    unselected = {file: len(set(ids)) for file, ids in sorted(deselected.items()) if ids and file not in suites}
    for file, count in unselected.items():
        notes.append(
            f"{suite_name(file)}: its {count} deselected items (-k or node ids) count in the selection's total; "
            "none of its items recorded an outcome"
        )
    return unselected


def _collect(
    items: Sequence[ItemResult], notes: list[str], root: Path | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, dict[str, Any]]]:
    questions: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    suites: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        for outcome in item.outcomes:
            kind = outcome.get("kind")
            if kind not in ("question", "probe"):
                continue
            entry = {k: v for k, v in outcome.items() if k not in ("kind", "suite_file", "suite_domains")}
            entry["status"] = "answered"
            key = (kind, entry.get("suite", ""), str(entry["id"]))
            if key in seen:
                notes.append(f"{item.nodeid}: {kind} {entry['id']} recorded twice; the first is kept")
                continue
            seen.add(key)
            if "suite_file" in outcome:
                _add_suite(suites, outcome.get("suite", ""), outcome["suite_file"], root, outcome.get("suite_domains"))
            (questions if kind == "question" else probes).append(entry)
    for suite in suites.values():
        if suite["_only"]:
            notes.append(f"{suite['name']}: only its items of {', '.join(suite['_only'])} ran (the questions' domains)")
    return questions, probes, suites


def _add_suite(
    suites: dict[str, dict[str, Any]], name: str, file: str, root: Path | None, only: list[str] | None = None
) -> None:
    """Add a suite file; `only`: the run took the file's items of these domains alone (a full run of them)."""
    if file in suites:
        return
    path = Path(file)
    if not path.is_absolute() and root is not None:
        path = root / path
    shown = file
    if root is not None:
        try:
            shown = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            shown = str(path)
    try:
        digest: str | None = file_sha256(path)
    except OSError:  # recorded as unknown; the suite's items say what was scored
        digest = None
    suites[file] = {"name": name, "file": shown, "sha256": digest, "_path": str(path), "_only": only}
    declared = read_manifest(path).domains if path.is_file() else None
    if declared is not None:
        suites[file]["domains"] = list(declared)  # reports list the domains in this order


def _function_of(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def _param_of(nodeid: str) -> str:
    return nodeid[nodeid.index("[") + 1 : -1] if nodeid.endswith("]") and "[" in nodeid else nodeid


def _add_unreported(
    items: Sequence[ItemResult],
    questions: list[dict[str, Any]],
    probes: list[dict[str, Any]],
    suites: dict[str, dict[str, Any]],
    notes: list[str],
) -> None:
    """Give every crashed/failed/missing item an entry (never correct) where it can be attributed."""
    kinds: dict[str, tuple[str, str | None, str | None]] = {}  # function -> (kind, suite, suite_file)
    for item in items:
        for outcome in item.outcomes:
            if outcome.get("kind") in ("question", "probe"):
                kinds.setdefault(
                    _function_of(item.nodeid), (outcome["kind"], outcome.get("suite"), outcome.get("suite_file"))
                )
    lookups: dict[str, dict[str, dict[str, Any]]] = {}
    for item in items:
        if item.outcomes or item.status not in ("crashed", "failed", "missing"):
            continue
        kind, suite, suite_file = kinds.get(_function_of(item.nodeid), (None, None, None))
        if kind is None:
            notes.append(
                f"{item.nodeid}: {item.status} before recording an outcome; not attributable to a question or probe"
            )
            continue
        item_id = _param_of(item.nodeid).removeprefix(f"{suite}/" if suite else "")  # a custom suite's SUITE/ID
        known = _suite_items(suites, suite_file, lookups).get(item_id, {})
        entry = {"id": item_id, "domain": known.get("domain", "unknown"), "status": item.status}
        if suite:
            entry["suite"] = suite
        if kind == "question":
            entry.update(
                difficulty=known.get("difficulty", "unknown"),
                correct=False,
                chosen=None,
                answer=known.get("answer") if known.get("answer") in _LETTERS else None,
            )
            questions.append(entry)
        else:
            probes.append(entry)


def _suite_items(
    suites: dict[str, dict[str, Any]], suite_file: str | None, lookups: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    if not suite_file or suite_file not in suites:
        return {}
    if suite_file not in lookups:
        lookups[suite_file] = {}
        try:
            lines = Path(suites[suite_file]["_path"]).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            only = suites[suite_file].get("_only")
            if isinstance(data, dict) and "id" in data and (only is None or data.get("domain") in only):
                lookups[suite_file][str(data["id"])] = data
    return lookups[suite_file]


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """Return the record without what legitimately differs between runs (ids, times, provenance, timings, memory)."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a record, found {type(record).__name__}")
    data = {k: v for k, v in record.items() if k not in VOLATILE_KEYS}
    data["model"] = {k: v for k, v in record["model"].items() if k != "load_s"}
    data["probes"] = [{k: v for k, v in p.items() if k not in VOLATILE_PROBE_KEYS} for p in record["probes"]]
    timings = ("latency", "ttft_s", "time_per_output_token_s")
    data["aggregates"] = {k: v for k, v in record["aggregates"].items() if not k.startswith(timings)}
    return data
