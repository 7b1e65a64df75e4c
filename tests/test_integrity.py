"""Record integrity: a changed byte or numbers that disagree make a record a reported problem, never a result."""

import json
from pathlib import Path

import pytest
from record_factory import random_eval

from tunebench.errors import RecordError
from tunebench.gate import search_baseline
from tunebench.history.integrity import CHECKSUM_KEY, check_consistency, checksum, seal, unseal
from tunebench.history.records import to_json
from tunebench.history.store import open_store


def _stored(tmp_path: Path, record: dict) -> Path:
    return Path(open_store(tmp_path).write(record))


def _rewrite(path: Path, change) -> None:
    data = json.loads(path.read_bytes())
    change(data)
    path.write_bytes(to_json(data))


def test_a_written_record_carries_its_checksum_and_reads_back_without_it(tmp_path):
    record = random_eval("run-good-0001", "dora-v3", seed=1)
    path = _stored(tmp_path, record)
    stored = json.loads(path.read_bytes())
    assert stored[CHECKSUM_KEY] == checksum(record) and stored[CHECKSUM_KEY].startswith("sha256:")
    assert open_store(tmp_path).read_all(strict=True).records == [record]


def test_a_flipped_accuracy_digit_is_reported_by_path_and_not_read(tmp_path):
    record = random_eval("run-flip-0001", "dora-v3", seed=1)
    path = _stored(tmp_path, record)
    k, n = record["aggregates"]["accuracy"]["k"], record["aggregates"]["accuracy"]["n"]
    old = f'"value": {record["aggregates"]["accuracy"]["value"]}'
    text = path.read_text()
    assert text.count(old) >= 1
    path.write_text(text.replace(old, f'"value": {round(k / n + 0.1, 6)}', 1))
    result = open_store(tmp_path).read_all()
    assert result.records == []
    assert [p.location for p in result.problems] == [str(path)]
    assert "content checksum mismatch" in result.problems[0].reason
    with pytest.raises(RecordError, match="content checksum mismatch"):
        open_store(tmp_path).get("run-flip-0001")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["aggregates"]["accuracy"].update(value=r["aggregates"]["accuracy"]["value"] + 0.1), "k / n"),
        (lambda r: r["aggregates"]["accuracy"].update(high=0.99), "Wilson interval"),
        (lambda r: r["aggregates"]["accuracy"].update(k=r["aggregates"]["accuracy"]["n"] + 1), "0 <= k <= n"),
        (lambda r: r["questions"][0].update(correct=not r["questions"][0]["correct"]), "its questions give"),
        (lambda r: r["aggregates"]["by_domain"]["investment"].update(value=0.99), "by_domain.investment.value"),
        (lambda r: r["aggregates"]["by_domain"].pop("investment"), "aggregates.by_domain: lists"),
    ],
    ids=["value", "interval", "k-over-n", "questions-vs-counts", "domain-value", "domain-missing"],
)
def test_numbers_that_disagree_are_refused_even_without_a_checksum(tmp_path, change, message):
    record = random_eval("run-bad-00001", "dora-v3", seed=2)
    path = _stored(tmp_path, record)
    _rewrite(path, lambda data: (change(data), data.pop(CHECKSUM_KEY)))
    result = open_store(tmp_path).read_all()
    assert result.records == [] and result.problems[0].location == str(path)
    assert message in result.problems[0].reason
    with pytest.raises(RecordError, match="unreadable record"):
        open_store(tmp_path).read_all(strict=True)


def test_the_store_refuses_to_write_a_record_whose_numbers_disagree(tmp_path):
    record = random_eval("run-bad-00002", "dora-v3", seed=2)
    record["aggregates"]["accuracy"]["value"] = 0.0
    with pytest.raises(RecordError, match=r"aggregates.accuracy.value: expected"):
        open_store(tmp_path).write(record)
    assert not (tmp_path / "runs").exists()


def test_a_tampered_record_is_never_the_auto_baseline_and_refused_by_id(tmp_path):
    store = open_store(tmp_path)
    older = random_eval("run-older-001", "dora-v3", seed=3, started_at="2026-02-01T10:00:00Z")
    newer = random_eval("run-newer-001", "dora-v3", seed=4, started_at="2026-02-02T10:00:00Z")
    current = random_eval("run-current-1", "dora-v4", seed=5, started_at="2026-02-03T10:00:00Z")
    for record in (older, newer, current):
        record["suites"] = [{"name": "benchmark_100", "file": "eval_suites/questions.jsonl", "sha256": "a" * 64}]
    store.write(older)
    path = Path(store.write(newer))
    _rewrite(path, lambda data: data["aggregates"]["accuracy"].update(value=0.99))
    history = store.read_all()
    assert search_baseline("auto", current, history, ["dora-v3"], ["dora-v3", "dora-v4"]).record == older
    with pytest.raises(RecordError, match=rf"baseline run-newer-001: the record at {path} cannot be trusted"):
        search_baseline("run-newer-001", current, history, ["dora-v3"], ["dora-v3", "dora-v4"])


def test_seal_and_unseal_round_trip_and_records_without_a_checksum_still_read():
    record = random_eval("run-seal-0001", "tiny", seed=6)
    assert unseal(seal(record)) == record
    assert unseal(record) is record
    check_consistency(record)
