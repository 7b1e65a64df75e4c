"""The gate reads eval records typed (issue 25): a stored record or a history summary is parsed once where it is
read, and the rules, the baseline search and the serving conditions read attributes. These check what the
typed reading must keep: schema-valid records that leave optional keys out, summaries without provenance, and
a record passed already typed judged exactly as the stored one."""

from __future__ import annotations

import json

from record_factory import PROVENANCE, graded_run

from tunebench.engines.base import EngineInfo
from tunebench.gate import GateRules, evaluate, search_baseline, serving_of
from tunebench.gate.comparability import differences
from tunebench.gate.evaluate import eval_run
from tunebench.history.store import open_store


def _served(record: dict, engine: str, concurrency: int) -> dict:
    # The least the schema requires of `model.engine`: its name and model id (no engine_version).
    record["model"]["engine"] = {"engine": engine, "model_id": "tiny", "concurrency": concurrency}
    return record


def test_an_engine_with_only_the_keys_the_schema_requires_is_read_with_defaults():
    info = EngineInfo.from_dict({"engine": "openai", "model_id": "tiny"})
    assert (info.engine, info.engine_version, info.concurrency) == ("openai", None, 1)


def test_serving_conditions_of_a_minimal_engine_and_of_an_older_record_without_one():
    served = _served(graded_run("prod", 5, 10, 10), "openai", 4)
    served["workers"] = 2
    older = graded_run("prod", 5, 11, 10)
    older["model"].pop("engine", None)
    assert serving_of(served).describe() == "engine openai, concurrency 4, 2 workers, hardware unknown"
    assert serving_of(older).describe() == "engine hf, concurrency 1, 1 worker, hardware unknown"
    assert differences(served, older) == [
        "engine openai here, hf in the baseline",
        "concurrency 4 here, 1 in the baseline",
        "workers 2 here, 1 in the baseline",
    ]


def test_hardware_is_read_from_the_provenance_and_the_model_device():
    record = graded_run("prod", 5, 10, 10)
    record["provenance"] = {**PROVENANCE, "hardware": {"machine": "x86_64", "cpu_count": 2, "gpus": ["H200"]}}
    record["model"]["device"] = "cuda"
    assert serving_of(record).hardware == "x86_64, 2 CPUs, H200, device cuda"
    assert serving_of(eval_run(record)).hardware == "x86_64, 2 CPUs, H200, device cuda"


def test_a_typed_record_is_judged_as_the_stored_one():
    rules = GateRules(min_accuracy=0.5, min_domain_accuracy=0.4)
    run, base = graded_run("candidate", 12, 12, 30), graded_run("prod", 20, 10, 30)
    stored = evaluate(run, rules, base, "given")
    typed = evaluate(eval_run(run), rules, eval_run(base), "given")
    assert json.dumps(typed.to_dict(), sort_keys=True) == json.dumps(stored.to_dict(), sort_keys=True)
    assert stored.status == "fail"  # 12/30 is below the 0.5 floor: the comparison had something to judge


def test_the_baseline_search_on_summaries_without_provenance_finds_what_it_finds_on_whole_records(tmp_path):
    store = open_store(tmp_path / "hist")
    runs = [_served(graded_run("prod", 20, day, 30), "hf", 1) for day in (10, 11)]
    runs.append(_served(graded_run("prod", 20, 12, 30), "openai", 4))  # newest, but served otherwise
    for record in runs:
        record["provenance"] = {**PROVENANCE, "hardware": {"machine": "x86_64", "cpu_count": 2}}
        store.write(record)
    current = _served(graded_run("candidate", 15, 13, 30), "hf", 1)
    whole = store.read_all()
    summaries = store.read_summaries()
    assert all("provenance" not in r for r in summaries.records)  # the index's summaries, not whole records
    found = [search_baseline("auto", current, h, ["prod"], ["prod", "candidate"]) for h in (whole, summaries)]
    assert [[c["run_id"] for c in f.candidates] for f in found] == [[runs[1]["run_id"], runs[0]["run_id"]]] * 2
    assert found[0].how == found[1].how
