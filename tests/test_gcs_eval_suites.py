"""`pytest eval_suites --model <gs:// entry> --history gs://...` runs end to end against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from plugin_support import assert_answered

from tunebench.storage import TransferSettings, push_folder

pytest_plugins = ["gcs_server"]

ROOT = Path(__file__).resolve().parents[1]


def test_eval_suites_run_on_a_gs_model_and_record_to_gs_history(gcs, tiny_dir, tmp_path, pytester, monkeypatch):
    push_folder(tiny_dir, gcs.uri("models/tiny"), name="tiny", settings=TransferSettings(progress=False))
    questions = (ROOT / "eval_suites/benchmark_100/questions.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    suite = tmp_path / "three.jsonl"
    suite.write_text("\n".join(questions) + "\n", encoding="utf-8")
    config = tmp_path / "tunebench.toml"
    config.write_text(
        f'home = "{tmp_path / "home"}"\nlog = "{tmp_path / "LOG.md"}"\n'
        f'[models.gs-tiny]\nbase = "{gcs.uri("models/tiny/")}"\n',
        encoding="utf-8",
    )
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
    monkeypatch.setenv("TUNEBENCH_CACHE", str(cache))
    # In process: the suites' imports (torch, transformers, lm-eval) are already loaded, which saves the
    # ten seconds a subprocess spends importing them; the run is otherwise the command a user types.
    result = pytester.runpytest_inprocess(
        str(ROOT / "eval_suites/benchmark_100"),
        f"--rootdir={ROOT}",
        "--model",
        "gs-tiny",
        "--suite",
        str(suite),
        "--history",
        gcs.uri("history"),
        "-p",
        "no:cacheprovider",
    )
    assert_answered(result, 3)
    records = gcs.names("history/runs/")
    assert len(records) == 1
    record = json.loads(gcs.bucket.blob(records[0]).download_as_bytes())
    assert record["model"]["name"] == "gs-tiny" and record["model"]["base"] == gcs.uri("models/tiny/")
    # The model came from the verified cache, not from the local tiny build.
    assert list((cache / "gcs" / gcs.bucket_name).glob("tiny-*/v1-*/model.safetensors"))
    # --history gs://... publishes the shared log beside that history and leaves the configured local log alone.
    shared_log = gcs.bucket.blob("history/LOG.md").download_as_text()
    assert record["run_id"] in shared_log
    assert not (tmp_path / "LOG.md").exists()
