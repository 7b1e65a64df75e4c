"""The benchmark history on gs:// (fake-gcs-server, real client): create-only records, a shared log."""

from __future__ import annotations

import threading

import pytest
from record_factory import note

from tunebench.errors import StorageError
from tunebench.history.records import new_run_id
from tunebench.history.store import open_store
from tunebench.storage import TransferSettings, publish_text_replacing
from tunebench.storage.gcs_history import GCSHistoryBackend

pytest_plugins = ["gcs_server"]

FAST = TransferSettings(retry_initial_s=0.01, retry_maximum_s=0.05, retry_timeout_s=20, progress=False)


def _record(text: str = "hello") -> dict:
    run_id = new_run_id()
    return note(run_id, run_id, text)


def test_gs_history_round_trips_records_through_open_store(gcs):
    store = open_store(gcs.uri("history"))
    assert isinstance(store.backend, GCSHistoryBackend)
    records = [_record(f"run {i}") for i in range(3)]
    locations = [store.write(r) for r in records]
    assert all(loc.startswith(gcs.uri("history/runs/")) for loc in locations)
    result = store.read_all(strict=True)
    assert sorted(r["run_id"] for r in result.records) == sorted(r["run_id"] for r in records)


def test_gs_history_record_is_never_overwritten(gcs):
    store = open_store(gcs.uri("history"))
    record = _record("first")
    location = store.write(record)
    with pytest.raises(StorageError, match="already exists"):
        store.write({**record, "text": "second"})
    name = location.removeprefix(gcs.uri())
    assert b'"first"' in gcs.bucket.blob(name).download_as_bytes()


def test_gs_history_record_whose_create_response_was_lost_is_written_once(gcs, fault_proxy):
    store = open_store(gcs.uri("lossy"))
    lost = fault_proxy.add(lambda r: r.is_upload and r.names("lossy/runs/"), "lose_response")
    record = _record()
    store.write(record)
    assert lost.hits == 1
    assert [r["run_id"] for r in store.read_all(strict=True).records] == [record["run_id"]]
    assert len(gcs.names("lossy/runs/")) == 1


def test_gs_history_reports_a_corrupt_object_by_its_uri(gcs):
    store = open_store(gcs.uri("h"))
    store.write(_record())
    gcs.bucket.blob("h/runs/2026/20260101T000000Z_broken-run.json").upload_from_string(b'{"kind": "note", ')
    result = store.read_all()
    assert len(result.records) == 1
    assert [p.location for p in result.problems] == [gcs.uri("h/runs/2026/20260101T000000Z_broken-run.json")]


def test_reading_many_records_fetches_them_in_parallel_and_reports_failures_by_name(gcs, fault_proxy):
    store = open_store(gcs.uri("many"))
    records = [_record(f"run {i}") for i in range(20)]
    for record in records:
        store.write(record)
    bad = store.backend.location(store.backend.list()[5]).removeprefix(gcs.uri())
    fault_proxy.add(lambda r: r.is_media_download and r.names(bad), "status", times=1000, status=403)
    result = open_store(gcs.uri("many")).read_all()
    assert len(result.records) == 19
    assert [p.location for p in result.problems] == [gcs.uri(bad)]
    assert "permission denied" in result.problems[0].reason


def test_eight_concurrent_history_writers_lose_nothing_and_the_log_lists_every_run(gcs):
    uri, log_uri = gcs.uri("shared"), gcs.uri("shared/BENCHMARK_LOG.md")
    written, errors, renders = [], [], []
    start, publish = threading.Barrier(8), threading.Barrier(8)

    def render(job: str) -> str:
        # Read the history when called, after the log's generation was read (see publish_text_replacing).
        renders.append(job)
        runs = sorted(r["run_id"] for r in open_store(uri).read_all().records)
        # The footer makes each job's text differ, as a rendering timestamp would.
        return "# Benchmark log\n" + "".join(f"- {run}\n" for run in runs) + f"rendered by {job}\n"

    def ci_job() -> None:
        try:
            start.wait()
            record = _record("ci job")
            open_store(uri).write(record)
            written.append(record["run_id"])
            publish.wait()  # all eight render and replace the log at once: most must render again
            publish_text_replacing(log_uri, lambda _old: render(record["run_id"]), settings=FAST)
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=ci_job) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(written) == 8
    assert sorted(r["run_id"] for r in open_store(uri).read_all(strict=True).records) == sorted(written)
    log = gcs.bucket.blob("shared/BENCHMARK_LOG.md").download_as_text()
    assert sorted(line[2:] for line in log.splitlines()[1:-1]) == sorted(written)
    assert len(renders) > 8  # conflicts happened and were resolved by rendering again


def test_replacing_the_log_after_a_lost_response_keeps_our_text(gcs, fault_proxy):
    log_uri = gcs.uri("logs/BENCHMARK_LOG.md")
    publish_text_replacing(log_uri, lambda old: "v1\n", settings=FAST)
    lost = fault_proxy.add(lambda r: r.is_upload and r.names("logs/BENCHMARK_LOG.md"), "lose_response")
    calls = []

    def render(old: str | None) -> str:
        calls.append(old)
        return (old or "") + "v2\n"

    generation = publish_text_replacing(log_uri, render, settings=FAST)
    assert lost.hits == 1 and calls == ["v1\n"]  # the 412 on retry was our own write: no second render
    blob = gcs.bucket.get_blob("logs/BENCHMARK_LOG.md")
    assert blob.download_as_text() == "v1\nv2\n" and blob.generation == generation


def test_replacing_the_log_renders_again_when_someone_else_replaced_it_first(gcs):
    log_uri = gcs.uri("logs2/LOG.md")
    publish_text_replacing(log_uri, lambda old: "base\n", settings=FAST)
    seen = []

    def render(old: str | None) -> str:
        seen.append(old)
        if len(seen) == 1:  # another job publishes between our read and our write
            gcs.bucket.blob("logs2/LOG.md").upload_from_string("base\nother\n")
        return old + "ours\n"

    publish_text_replacing(log_uri, render, settings=FAST)
    assert seen == ["base\n", "base\nother\n"]
    assert gcs.bucket.blob("logs2/LOG.md").download_as_text() == "base\nother\nours\n"


def test_a_gs_history_log_render_publishes_the_log_beside_the_history_listing_every_run(gcs, project):
    from record_factory import random_eval

    from tunebench.config import load_config
    from tunebench.report.publishing import render_log_file

    history = gcs.uri("ci/history")
    project.write(f'[tool.tunebench]\nhistory = "{history}"\nlog = "BENCHMARK_LOG.md"\n')
    store = open_store(history)
    for i in range(2):
        store.write(random_eval(f"run-{i}", "tiny", seed=i, questions=10))
    local = render_log_file(load_config(), with_plots=False)
    remote = gcs.bucket.blob("ci/history/BENCHMARK_LOG.md").download_as_text()
    assert remote == local.read_text(encoding="utf-8")
    assert "run-0" in remote and "run-1" in remote
    store.write(random_eval("run-2", "tiny", seed=2, questions=10))
    render_log_file(load_config(), with_plots=False)  # replaces the object it read, by generation
    assert "run-2" in gcs.bucket.blob("ci/history/BENCHMARK_LOG.md").download_as_text()
