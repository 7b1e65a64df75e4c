"""report.views.TrainingView reads the training record through its typed form (issue 25): parts by attribute,
what the log shows of records that lack a part, hold null there, or are index summaries (no provenance)."""

from __future__ import annotations

from record_factory import training_record

from tunebench.history.index import summary_of
from tunebench.history.training_parts import Contamination, Hyperparameters
from tunebench.history.typed import TrainingRecordData
from tunebench.report.views import TrainingView


def test_the_view_types_its_record_once_and_reads_its_parts():
    record = training_record("run-t", "tiny-dora", gpu="NVIDIA H100 80GB HBM3", usd=0.5)
    record["hardware"]["gpu_count"] = 2
    record["data"]["files"] = {"data/a.jsonl": "sha256:aa"}
    record["data"]["validation"]["files"] = {"data/v.jsonl": "sha256:bb"}
    record["data"]["file_examples"] = {"data/a.jsonl": 50}
    view = TrainingView(record)
    assert isinstance(view.run, TrainingRecordData) and view.run is view.run
    assert isinstance(view.hyperparameters, Hyperparameters) and view.hyperparameters.get("rank") == 8
    assert isinstance(view.contamination, Contamination) and view.contamination.items_checked == 0
    assert view.hardware == "NVIDIA H100 80GB HBM3 x2"
    assert view.cost_hardware == "h100-spot @ $2.50/h" and view.cost_usd == 0.5
    assert view.commit == "0123456789abcdef0123456789abcdef01234567"
    assert view.data_files == [("data/a.jsonl", 50, "sha256:aa"), ("data/v.jsonl", None, "sha256:bb")]
    assert [p.name for p in view.phases] == ["A", "B", "C"] and view.phases[0].get("kind") == "domain_blocks"
    assert view.final_loss == record["phases"][-1]["final_loss"]
    assert view.losses()[0] == ("A", record["phases"][0]["losses"])
    assert (view.total_steps, view.examples, view.total_seconds) == (18, 60, 37.5)
    assert (view.recipe_name, view.output_name, view.base_model, view.method) == (
        "tiny-dora-curriculum",
        "tiny-dora",
        "tiny",
        "dora",
    )


def test_missing_and_null_parts_read_as_nothing_recorded():
    record = training_record("run-t", "tiny-dora", usd=None)
    record.update(cost=None, output={"name": None}, hyperparameters=None)
    record["phases"][-1]["losses"][1] = None
    record["hardware"].pop("vm", None)
    record["provenance"] = {**record["provenance"], "hardware": {"platform": "linux", "hostname": "old-host"}}
    del record["totals"], record["data"]
    view = TrainingView(record)
    assert view.cost_usd is None and view.cost_hardware is None
    assert view.output_name == "tiny-dora-curriculum" and view.output_location is None  # the recipe's name
    assert len(view.hyperparameters) == 0 and view.hyperparameters.get("rank") is None
    assert view.host == "old-host"  # older records kept only the hostname, under provenance.hardware
    assert view.data_files == [] and view.contamination is None
    assert (view.total_steps, view.examples, view.total_seconds) == (None, None, None)
    assert len(view.losses()[-1][1]) == len(record["phases"][-1]["losses"]) - 1  # the step without a loss left out
    assert view.hardware == "CPU" and view.difficulties == []


def test_an_index_summary_reads_without_its_provenance():
    record = training_record("run-t", "tiny-dora")
    record["difficulties"] = [{"kind": "oom", "detail": "OOM: batch halved"}]
    view = TrainingView(summary_of(record))
    assert "provenance" not in view.record
    assert view.commit is None and view.host is None
    assert view.difficulties == ["OOM: batch halved"] and view.status == "completed"
    assert len(view.phases) == 3 and view.cost_usd == 0.0012
