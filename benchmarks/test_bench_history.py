"""A history of 10,000 real-sized eval records: validated reads, `history list`, the baseline search, `log render`.

Every record is the shape of a real tiny-model run (100 questions with log-likelihoods, 10 probes with
answers and grading evidence; 58 KB, `tests/data/real_tiny_history`), with its own run id, times and one
of 20 model names, sealed with its content checksum as the store writes it. The history is generated
once per session (a few seconds: the template's bytes are filled in, not serialized 10,000 times) and
read once cold to build the summary index beside it (`history.index`); the rows then measure warm reads.

Baseline for the reads: parsing the same files with `json.loads` and nothing else. Goals (issue 12): a
full validated read <= 2x that; `history list` and the auto-baseline search <= 1 s (written as a ratio
to the plain parse, ~10 s on a 2-core CPU: <= 0.1). `log render` (log + plots) <= 2x the validated read,
in its own group whose baseline is that read. The cold read (no index: every record checked against the
compiled schema, its checksum and its numbers) runs on 1,000 of the records, for information.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tunebench.config import Config
from tunebench.gate import search_baseline
from tunebench.history.index import INDEX_NAME
from tunebench.history.integrity import unseal
from tunebench.history.records import format_utc, to_json
from tunebench.history.store import open_store, record_name

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "tests" / "data" / "real_tiny_history" / "runs" / "2026" / "20261125T031744Z_3932f8e6adca.json"
# TUNEBENCH_BENCH_HISTORY_RECORDS: a smaller history to try the benchmark out (the goals are for 10,000).
RECORDS = int(os.environ.get("TUNEBENCH_BENCH_HISTORY_RECORDS", "10000"))
COLD = min(1_000, RECORDS)
MODELS = [f"model-{i:02d}" for i in range(20)]
PRODUCTION = ["model-03"]


def _write_history(root: Path, count: int) -> None:
    """Write `count` sealed eval records made from the template, as `HistoryStore.write` would store them."""
    record = unseal(json.loads(TEMPLATE.read_bytes()))
    marks = {"run_id": "@RUN@", "started_at": "@START@", "finished_at": "@END@"}
    template = {**record, **marks, "model": {**record["model"], "name": "@MODEL@"}}
    content, sealed = to_json(template), to_json({**template, "checksum": "@SUM@"})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        began = start + timedelta(minutes=7 * i)
        values = {
            b"@RUN@": f"{i:012x}".encode(),
            b"@START@": format_utc(began).encode(),
            b"@END@": format_utc(began + timedelta(seconds=40)).encode(),
            b"@MODEL@": MODELS[i % len(MODELS)].encode(),
        }
        body, data = content, sealed
        for mark, value in values.items():
            body, data = body.replace(mark, value), data.replace(mark, value)
        data = data.replace(b"@SUM@", b"sha256:" + hashlib.sha256(body).hexdigest().encode())
        path = root / record_name({"run_id": f"{i:012x}", "started_at": format_utc(began)})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture(scope="session")
def history_10k(tmp_path_factory):
    """A local history of 10,000 eval records, with its summary index built by one cold read."""
    root = tmp_path_factory.mktemp("history-evals-10k")
    _write_history(root, RECORDS)
    store = open_store(root)
    result = store.read_all()  # cold: checks every record and writes the index
    assert len(result.records) == RECORDS and not result.problems, result.problems[:3]
    assert (root / INDEX_NAME).is_file()
    return store


@pytest.fixture(scope="session")
def history_cold(tmp_path_factory):
    root = tmp_path_factory.mktemp("history-evals-1k")
    _write_history(root, COLD)
    return open_store(root)


def _plain_parse(store) -> int:
    return len([json.loads(p.read_bytes()) for p in sorted((Path(store.uri) / "runs").glob("*/*.json"))])


def _validated_read(store) -> int:
    return len(store.read_all().records)


def _history_list(store) -> str:
    from tunebench.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["history", "list", "--history", store.uri]) == 0
    return out.getvalue()


def _baseline_search(store, current) -> dict:
    choice = search_baseline("auto", current, store.read_summaries(), PRODUCTION, MODELS)
    return store.get(choice.record["run_id"])  # the chosen record itself, read and checked in full


def test_plain_parse_10k(history_10k, paired_benchmark):
    count = paired_benchmark(_plain_parse, history_10k, side="baseline", group="history-10k", rounds=3, warmup_rounds=0)
    assert count == RECORDS


def test_validated_read_10k(history_10k, paired_benchmark):
    count = paired_benchmark(
        _validated_read,
        history_10k,
        side="tunebench",
        group="history-10k",
        rounds=3,
        warmup_rounds=0,
        goal="<= 2.0",
        goal_note="full validated read (summary index warm)",
        interleave=_plain_parse,
        interleave_setup=lambda: ((history_10k,), {}),
    )
    assert count == RECORDS


def test_history_list_10k(history_10k, paired_benchmark):
    text = paired_benchmark(
        _history_list,
        history_10k,
        side="tunebench",
        group="history-10k",
        rounds=3,
        goal="<= 0.1",
        goal_note="history list <= 1 s warm",
    )
    assert text.count("\n") == RECORDS + 2  # header, rule, one row per record


def test_auto_baseline_search_10k(history_10k, paired_benchmark):
    current = {**unseal(json.loads(TEMPLATE.read_bytes())), "run_id": "ffffffffffff"}
    chosen = paired_benchmark(
        _baseline_search,
        history_10k,
        current,
        side="tunebench",
        group="history-10k",
        rounds=3,
        goal="<= 0.1",
        goal_note="--baseline auto <= 1 s warm",
    )
    newest = max(i for i in range(RECORDS) if MODELS[i % len(MODELS)] in PRODUCTION)
    assert chosen["run_id"] == f"{newest:012x}" and len(chosen["questions"]) == 100


def test_validated_read_for_render_10k(history_10k, paired_benchmark):
    count = paired_benchmark(
        _validated_read, history_10k, side="baseline", group="history-render-10k", rounds=2, warmup_rounds=0
    )
    assert count == RECORDS


def test_log_render_10k(history_10k, paired_benchmark, tmp_path):
    from tunebench.report.publishing import render_log_file

    config = replace(Config(root=tmp_path), history=history_10k.uri)
    path = paired_benchmark(
        render_log_file,
        config,
        tmp_path / "BENCHMARK_LOG.md",
        side="tunebench",
        group="history-render-10k",
        rounds=2,
        warmup_rounds=0,
        goal="<= 2.0",
        goal_note="log render (log + plots) vs the validated read",
    )
    assert path.read_text(encoding="utf-8").count("model-03") > 0


def _drop_index(store):
    shutil.rmtree(Path(store.uri) / "index", ignore_errors=True)
    return (store,), {}


def test_plain_parse_1k(history_cold, paired_benchmark):
    count = paired_benchmark(_plain_parse, history_cold, side="baseline", group="history-cold-1k", rounds=2)
    assert count == COLD


def test_cold_validated_read_1k(history_cold, paired_benchmark):
    count = paired_benchmark(
        _validated_read,
        side="tunebench",
        group="history-cold-1k",
        rounds=2,
        warmup_rounds=0,
        setup=lambda: _drop_index(history_cold),
        goal_note="no index: compiled schema + checksum + consistency per record (information)",
    )
    assert count == COLD
