"""Session start: a run that cannot succeed (model unreachable, history unwritable) fails once, before any item."""

import json
from pathlib import Path

import pytest
from plugin_support import TINY_SUITE, write_answers, write_project
from record_factory import random_eval

from tunebench.history.records import to_json
from tunebench.history.store import open_store

pytest_plugins = ["pytester", "gcs_server"]


def test_a_gs_model_without_credentials_fails_once_at_session_start_with_one_message(pytester, monkeypatch, tmp_path):
    write_project(pytester, n=30, extra='[tool.tunebench.models.remote]\nbase = "gs://some-bucket/models/v3/"')
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    result = pytester.runpytest("--model", "remote")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # 4: could not start; a failing gate is 1
    assert output.count("no usable Google Cloud credentials") == 1 and "Traceback" not in output
    result.stderr.fnmatch_lines(
        ["*--model: model 'remote' is stored at gs://some-bucket/models/v3/: no usable Google Cloud credentials*"]
    )
    assert "passed" not in output and "failed" not in output


def test_a_registry_model_whose_adapter_folder_is_missing_fails_at_session_start(pytester):
    write_project(pytester, n=3, extra='[tool.tunebench.models.gone]\nbase = "builtin:tiny"\nadapter = "./no-such"')
    result = pytester.runpytest("--model", "gone")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model: model 'gone': key adapter: no folder *no-such"])


def test_a_baseline_whose_record_fails_its_checksum_is_refused_naming_its_file(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    path = Path(open_store(pytester.path / "hist").write(random_eval("run-base-0001", "prod", 1)))
    data = json.loads(path.read_bytes())
    data["notes"] = ["edited by hand"]  # any changed byte: the checksum no longer matches
    path.write_bytes(to_json(data))
    result = pytester.runpytest("--baseline", "run-base-0001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--baseline: 'run-base-0001': the record at {path} cannot be trusted: record: content checksum mismatch*"]
    )


def test_a_model_that_fails_to_load_stops_the_session_once_instead_of_failing_every_test(pytester, tmp_path):
    empty = tmp_path / "empty-model"
    empty.mkdir()  # a config.json, so the start-up check passes; no weights beside it, so loading fails
    (empty / "config.json").write_text('{"model_type": "qwen2"}', encoding="utf-8")
    write_project(pytester, n=12, suite=TINY_SUITE, extra=f'[tool.tunebench.models.hollow]\nbase = "{empty}"')
    result = pytester.runpytest("--model", "hollow")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # errors.EXIT_CANNOT_START
    assert output.count(str(empty)) == 1 and "Traceback" not in output


def test_a_gs_history_whose_bucket_does_not_exist_fails_before_the_first_item(pytester, gcs):
    write_project(pytester, n=3)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B", "q002": "C"}})
    missing = f"gs://{gcs.bucket_name}-missing/history"
    result = pytester.runpytest("--history", missing)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*--history: '{missing}': gs://{gcs.bucket_name}-missing/history/runs/*"])
    assert "passed" not in result.stdout.str()
    recorded = pytester.runpytest("--history", gcs.uri("history"))  # the bucket that exists: evaluated, recorded
    assert recorded.ret == pytest.ExitCode.OK and list(gcs.bucket.list_blobs(prefix="history/runs/"))
