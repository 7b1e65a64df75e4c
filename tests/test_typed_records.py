"""tunebench.history.typed: one dataclass per record kind, its fields in step with the kind's JSON Schema."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from record_factory import note, random_eval, training_record

from tunebench.errors import RecordError
from tunebench.history import typed
from tunebench.history.records import known_kinds, schema_for, validate

ROOT = Path(__file__).resolve().parent.parent


def _header() -> dict:
    return json.loads((ROOT / "src/tunebench/history/schema/common.schema.json").read_text(encoding="utf-8"))["$defs"][
        "record_header"
    ]


@pytest.mark.parametrize("kind", known_kinds())
def test_each_kind_has_a_dataclass_whose_fields_are_its_schemas_top_level_keys(kind):
    cls = typed.RECORD_TYPES[kind]
    schema, header = schema_for(kind), _header()
    # The kind's own schema and the record header it includes (allOf $ref) name the keys together.
    assert [part["$ref"] for part in schema.get("allOf", [])] == ["common.schema.json#/$defs/record_header"]
    properties = set(schema.get("properties", {})) | set(header["properties"])
    required = set(schema.get("required", [])) | set(header["required"])
    assert set(cls.names()) == properties, f"{cls.__name__} vs {kind}_record.schema.json properties"
    assert set(cls.required_names()) == required, f"{cls.__name__} vs {kind}_record.schema.json required"
    assert cls.KIND == kind and cls.SCHEMA_VERSION in schema["properties"]["schema_version"].get(
        "enum", [schema["properties"]["schema_version"].get("const", cls.SCHEMA_VERSION)]
    )


def test_every_record_kind_is_typed():
    assert sorted(typed.RECORD_TYPES) == sorted(known_kinds())


def test_the_schema_version_is_the_writers():
    from tunebench.history import eval_record
    from tunebench.training import record

    assert typed.EvalRecordData.SCHEMA_VERSION == eval_record.SCHEMA_VERSION == 3
    assert typed.TrainingRecordData.SCHEMA_VERSION == record.SCHEMA_VERSION == 2


def test_version_2_closes_the_eval_records_own_parts_and_version_1_is_read_open():
    stored = {**random_eval("run-eval-1", "tiny", 1), "schema_version": 2}
    extra = {**stored, "questions": [{**stored["questions"][0], "note": "typo'd key"}, *stored["questions"][1:]]}
    extra["aggregates"] = {**stored["aggregates"], "accuracy": {**stored["aggregates"]["accuracy"], "ratio": 0.5}}
    with pytest.raises(RecordError, match=r"questions\[0\].*'note' was unexpected"):
        validate(extra)
    with pytest.raises(RecordError, match="ratio"):
        validate({**extra, "questions": stored["questions"]})
    validate({**extra, "schema_version": 1})  # a version 1 record (parts open then) is still read
    validate(stored)
    with pytest.raises(RecordError, match="schema_version"):
        validate({**stored, "schema_version": 4})


# Where version 3 closes the eval record: a key no schema names, at each part it closed.
CLOSED_IN_3 = {
    "model": lambda r: r["model"],
    "model.training_data": lambda r: r["model"].setdefault("training_data", {"status": "clean"}),
    "model.engine": lambda r: r["model"].setdefault("engine", {"engine": "hf", "model_id": "tiny"}),
    "probes[0]": lambda r: r["probes"][0],
    "aggregates": lambda r: r["aggregates"],
    "suites[-1]": lambda r: r["suites"].append({"name": "s", "file": "s.jsonl", "sha256": None}) or r["suites"][-1],
    "gate": lambda r: r.__setitem__("gate", {"passed": True, "checks": []}) or r["gate"],
    "gate.checks[0]": lambda r: (
        r.__setitem__("gate", {"passed": True, "checks": [{"rule": "x", "passed": True}]}) or r["gate"]["checks"][0]
    ),
}


@pytest.mark.parametrize("where", CLOSED_IN_3)
def test_version_3_closes_model_engine_probe_aggregates_and_gate_and_version_2_reads_them_open(where):
    import copy

    from tunebench.history.eval_record import SCHEMA_VERSION

    record = copy.deepcopy(random_eval("run-eval-1", "tiny", 1))
    assert record["schema_version"] == SCHEMA_VERSION == 3
    validate(record)
    CLOSED_IN_3[where](record)["typo_d_key"] = 1
    with pytest.raises(RecordError, match=r"'typo_d_key' was unexpected"):
        validate(record)
    validate({**record, "schema_version": 2})  # written before version 3: read as it was then
    assert typed.from_dict({**record, "schema_version": 2}).to_dict() == {**record, "schema_version": 2}


def test_old_records_still_read_the_shipped_real_history_and_an_imported_seed_log():
    records = _stored_records() + _imported_records()
    versions = {r.get("schema_version") for r in records if r["kind"] == "eval"}
    assert versions and 3 not in versions  # the shipped runs were written before version 3
    for record in records:
        validate(record)
        assert typed.from_dict(record).to_dict() == record


def _stored_records() -> list[dict]:
    files = sorted((ROOT / "tests/data/real_tiny_history/runs").rglob("*.json"))
    files += sorted((ROOT / "benchmarks/data").glob("*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def _imported_records() -> list[dict]:
    from tunebench.history.importer import parse_log

    return parse_log((ROOT / "tests/data/seed_log.md").read_text(encoding="utf-8")).records


def test_from_dict_and_to_dict_give_back_every_record_equal():
    records = _stored_records() + _imported_records()
    records += [
        random_eval("run-eval-1", "tiny", 1),
        note("run-note-1", "run-eval-1", "text"),
        training_record("run-train-1", "tiny-lora"),
    ]
    assert {r["kind"] for r in records} == set(known_kinds())
    for record in records:
        validate(record)
        run = typed.from_dict(record)
        assert type(run) is typed.RECORD_TYPES[record["kind"]]
        assert run.to_dict() == record
        assert run.run_id == record["run_id"] and run.kind == record["kind"]


def test_absent_optional_keys_are_absent_not_none_and_extras_travel():
    record = random_eval("run-eval-1", "tiny", 1)
    record.pop("resources", None)
    record["future"] = {"streams": 2}  # a key the schema does not name (a newer writer's)
    run = typed.EvalRecordData.from_dict(record)
    assert run.resources is typed.ABSENT and not run.resources and run.memory_measure is None
    assert run.extra == {"future": {"streams": 2}} and "resources" not in run.to_dict()
    with pytest.raises(FrozenInstanceError):
        run.status = "partial"


def test_the_eval_record_names_its_memory_measure_for_old_and_new_records():
    record = random_eval("run-eval-1", "tiny", 1)
    old = {**record, "resources": {"peak_memory_bytes": 1, "memory_kind": "cuda_allocated"}}
    new = {**record, "resources": {"peak_memory_bytes": 1, "memory_measure": "cuda_max_allocated"}}
    assert typed.from_dict(old).memory_measure == typed.from_dict(new).memory_measure == "cuda_max_allocated"


def test_a_record_of_another_kind_or_lacking_a_key_is_refused():
    record = random_eval("run-eval-1", "tiny", 1)
    with pytest.raises(RecordError, match="expected kind 'training'"):
        typed.TrainingRecordData.from_dict(record)
    with pytest.raises(RecordError, match="missing gate"):
        typed.from_dict({k: v for k, v in record.items() if k != "gate"})
    with pytest.raises(RecordError, match="unknown kind"):
        typed.from_dict({**record, "kind": "mystery"})


def test_an_index_summary_reads_partially_and_get_is_dict_get():
    from tunebench.history.index import summary_of

    record = note("run-note-1", "run-eval-1", "text")
    summary = summary_of(record)
    assert "provenance" not in summary
    with pytest.raises(RecordError, match="missing provenance"):
        typed.from_dict(summary)
    run = typed.from_dict(summary, partial=True)
    assert run.provenance is typed.ABSENT and run.to_dict() == summary and run.text == "text"
    assert run.get("provenance", "none") == "none" and run.get("section") == "notes" and run.get("nope", 1) == 1


PARTS = [
    typed.Proportion,
    typed.Percentiles,
    typed.ModelInfo,
    typed.Question,
    typed.Probe,
    typed.Aggregates,
    typed.GateCheck,
    typed.GateResult,
    typed.LoadPercentiles,
    typed.LoadFigures,
    typed.TrainingDataMark,
    typed.Suite,
    typed.Selection,
    typed.Items,
    typed.Baseline,
    typed.LmEvalSection,
    typed.LmEvalTask,
    typed.LmEvalDocument,
]


def _at(schema: dict, pointer: str) -> dict:
    """The schema node at a JSON pointer, following a `$ref` into the same file's $defs."""
    node = schema
    for part in pointer.strip("/").split("/"):
        node = node[part]
    return _at(schema, node["$ref"].removeprefix("#")) if "$ref" in node else node


@pytest.mark.parametrize("cls", PARTS, ids=lambda c: c.__name__)
def test_each_typed_part_has_its_schemas_properties_and_required_keys(cls):
    node = _at(schema_for("eval"), cls.SCHEMA)
    assert set(cls.names()) == set(node["properties"]), f"{cls.__name__} vs eval_record.schema.json#{cls.SCHEMA}"
    assert set(cls.required_names()) == set(node.get("required", [])), f"{cls.__name__} required"


@pytest.mark.parametrize("cls", [typed.EvalRecordData, *PARTS], ids=lambda c: c.__name__)
def test_each_nested_part_is_the_one_its_schema_refers_to(cls):
    schema = schema_for("eval")
    base = "" if cls is typed.EvalRecordData else cls.SCHEMA
    for name, (how, part) in cls.NESTED.items():
        if cls is typed.EvalRecordData and name in typed.Record.NESTED:
            continue  # the record header's parts (common.schema.json): test_the_header_parts_are_the_headers
        node = _at(schema, f"{base}/properties/{name}")
        target = {"one": node, "list": node.get("items"), "map": node.get("additionalProperties")}[how]
        ref = target.get("$ref", "").removeprefix("#") if isinstance(target, dict) else ""
        assert ref == part.SCHEMA or _at(schema, part.SCHEMA) is target, f"{cls.__name__}.{name} is not {part}"


def test_the_eval_records_parts_read_as_attributes_and_give_back_the_json():
    record = random_eval("run-eval-1", "tiny", 1)
    run = typed.EvalRecordData.from_dict(record)
    accuracy = record["aggregates"]["accuracy"]
    assert isinstance(run.aggregates.accuracy, typed.Proportion)
    assert (run.aggregates.accuracy.k, run.aggregates.accuracy.low) == (accuracy["k"], accuracy["low"])
    domain, stored = next(iter(record["aggregates"]["by_domain"].items()))
    assert run.aggregates.by_domain[domain].value == stored["value"]
    question = run.questions[0]
    assert isinstance(question, typed.Question) and question.correct == record["questions"][0]["correct"]
    assert isinstance(run.model, typed.ModelInfo) and run.model.name == "tiny"
    # A part is still a read-only mapping of its JSON (readers not yet on attributes keep working).
    assert run.model["name"] == run.model.get("name") == "tiny" and dict(accuracy) == dict(run.aggregates.accuracy)
    assert (
        "suite" not in typed.Question.from_dict({"id": "q1"})
        and typed.Question.from_dict({"id": "q1"}).suite is typed.ABSENT
    )
    assert run.to_dict() == record and json.loads(json.dumps(run.to_dict())) == record


def test_the_eval_records_model_is_assembled_in_one_place_and_names_only_typed_fields():
    from tunebench.history.eval_record import model_record
    from tunebench.registry import TINY

    loaded = model_record(TINY, hashes={}, device="cpu", dtype="float32", merged=False, load_s=0.5)
    served = model_record(TINY, base="Qwen/Qwen2.5-0.5B", registry_status=None, dtype="unknown", load_s=None)
    for model in (loaded, served):
        assert list(model)[:4] == ["name", "base", "adapter", "registry_status"]
        assert set(model) <= set(typed.ModelInfo.names()) and model["name"] == "tiny"
    assert served["base"] == "Qwen/Qwen2.5-0.5B" and served["registry_status"] is None
    # The plugin assembles no `model` object of its own (fixtures x2 and finish did).
    for path in (ROOT / "plugins").glob("*.py"):
        assert '"registry_status":' not in path.read_text(encoding="utf-8"), path.name


def test_the_engine_record_and_its_schema_agree_field_by_field():
    """`model.engine` is typed by tunebench.engines.base.EngineInfo (not a Part: it fills older records' gaps)."""
    from dataclasses import fields

    from tunebench.engines.base import EngineInfo

    node = _at(schema_for("eval"), "/$defs/engine")
    assert {f.name for f in fields(EngineInfo)} == set(node["properties"])
    required = {f.name for f in fields(EngineInfo) if f.default is dataclasses.MISSING}
    # Every engine says its version (None where it has none); the schema lets records from before it lack it.
    assert required - set(node["required"]) == {"engine_version"} and node["additionalProperties"] is False


def test_every_part_the_eval_record_nests_is_typed_where_it_is_read():
    record = random_eval("run-eval-1", "tiny", 1)
    record["model"]["training_data"] = {"status": "overlapping", "overlapping_suites": ["benchmark_100"]}
    record["baseline"] = {"run_id": "run-eval-0", "model": "tiny", "how": "auto"}
    record["suites"].append({"name": "benchmark_100", "file": "questions.jsonl", "sha256": None, "domains": ["tax"]})
    run = typed.EvalRecordData.from_dict(record)
    assert isinstance(run.suites[-1], typed.Suite) and run.suites[-1].domains == ["tax"]
    assert isinstance(run.items, typed.Items) and run.items.expected == record["items"]["expected"]
    assert isinstance(run.selection, typed.Selection) and run.selection.total == record["selection"]["total"]
    assert isinstance(run.baseline, typed.Baseline) and run.baseline.how == "auto"
    mark = run.model.training_data
    assert isinstance(mark, typed.TrainingDataMark) and mark.overlapping_suites == ["benchmark_100"]
    assert mark.run_id is typed.ABSENT and typed.given(mark.run_id) is None
    assert run.to_dict() == record


def _common() -> dict:
    return json.loads((ROOT / "src/tunebench/history/schema/common.schema.json").read_text(encoding="utf-8"))


def test_every_records_provenance_is_typed_and_agrees_with_the_header_schema_field_by_field():
    """`provenance` (common.schema.json, open) and its `hardware` (an open object the schema names no key of:
    typed by the keys tunebench.provenance.hardware() writes) are parts of every record kind."""
    from tunebench.provenance import collect, hardware

    common = _common()
    assert typed.Record.NESTED == {"provenance": ("one", typed.Provenance)}
    assert _header()["properties"]["provenance"]["$ref"] == "#" + typed.Provenance.SCHEMA
    for cls in typed.RECORD_TYPES.values():
        assert cls.NESTED["provenance"] == ("one", typed.Provenance), cls.__name__
    node = _at(common, typed.Provenance.SCHEMA)
    assert set(typed.Provenance.names()) == set(node["properties"]) == set(collect(command="x"))
    assert set(typed.Provenance.required_names()) == set(node["required"])
    assert "additionalProperties" not in node  # open since version 1: a key another writer added is in extra
    assert typed.Provenance.NESTED == {"hardware": ("one", typed.MachineInfo)}
    assert _at(common, typed.MachineInfo.SCHEMA) == {"type": ["object", "null"]}  # open: no keys named
    assert set(typed.MachineInfo.names()) == set(hardware()) and not typed.MachineInfo.required_names()
    # The training record is written through Provenance (training/record.py): its keys in the order they were.
    written = collect(command="x")
    assert json.dumps(typed.Provenance.from_dict(written).to_dict()) == json.dumps(written)


def test_provenance_and_its_hardware_read_as_attributes_and_give_back_the_json():
    from tunebench.provenance import collect

    record = {**random_eval("run-eval-1", "tiny", 1), "provenance": collect(command="pytest eval_suites")}
    record["provenance"]["hardware"]["hostname"] = "runner-7"  # a key no writer of ours names: kept in extra
    validate(record)
    run = typed.EvalRecordData.from_dict(record)
    machine = record["provenance"]["hardware"]
    assert isinstance(run.provenance, typed.Provenance) and isinstance(run.provenance.hardware, typed.MachineInfo)
    assert run.provenance.hardware.cpu_count == machine["cpu_count"] and run.provenance.hardware.gpus == []
    assert run.provenance.hardware.extra == {"hostname": "runner-7"}
    assert run.provenance.command == "pytest eval_suites" and run.to_dict() == record
    imported = _imported_records()[0]  # an imported record's provenance has no machine (hardware null)
    assert typed.from_dict(imported).provenance.hardware is None
    older = {**record, "provenance": {k: v for k, v in record["provenance"].items() if k != "git_dirty"}}
    assert typed.from_dict(older).provenance.git_dirty is typed.ABSENT and typed.from_dict(older).to_dict() == older


def _lm_eval_section() -> dict:
    accuracy = {"k": 1, "n": 2, "value": 0.5, "low": 0.0945, "high": 0.9055}
    return {
        "tasks": [
            {"name": "arc_easy", "status": "scored", "output_type": "multiple_choice", "metric": "acc",
             "filter": "none", "version": "1.0", "config_sha256": "c" * 64, "limit": 2, "documents": 2,
             "accuracy": accuracy, "mean": 0.5},
            {"name": "gsm8k", "status": "unavailable", "reason": "no network here"},
        ],
        "documents": [
            {"task": "arc_easy", "doc_id": 0, "status": "answered", "score": 1.0, "correct": True,
             "metrics": {"acc": 1.0}, "target": "0", "loglikelihoods": [-0.5, -2.0], "gold": 0},
            {"task": "arc_easy", "doc_id": 1, "status": "answered", "score": 0.0, "correct": False,
             "metrics": {"acc": 0.0}, "target": "1", "loglikelihoods": [-0.5, -2.0], "gold": 1},
        ],
    }  # fmt: skip


def test_the_lm_eval_section_reads_as_attributes_and_gives_back_the_json():
    record = {**random_eval("run-eval-1", "tiny", 1), "lm_eval": _lm_eval_section()}
    validate(record)
    run = typed.EvalRecordData.from_dict(record)
    assert isinstance(run.lm_eval, typed.LmEvalSection)
    scored, unavailable = run.lm_eval.tasks
    assert isinstance(scored, typed.LmEvalTask) and scored.scored and not unavailable.scored
    assert isinstance(scored.accuracy, typed.Proportion) and (scored.accuracy.k, scored.accuracy.n) == (1, 2)
    assert unavailable.reason == "no network here" and unavailable.accuracy is typed.ABSENT
    document = run.lm_eval.documents[1]
    assert isinstance(document, typed.LmEvalDocument) and document.correct is False and document.gold == 1
    assert document.response is typed.ABSENT and typed.given(document.filtered_response) is None
    assert run.to_dict() == record
    assert typed.EvalRecordData.from_dict(random_eval("run-eval-2", "tiny", 1)).lm_eval is typed.ABSENT
    with pytest.raises(RecordError, match="'note' was unexpected"):  # closed: a typo'd key is refused
        validate({**record, "lm_eval": {**record["lm_eval"], "tasks": [{**record["lm_eval"]["tasks"][1], "note": 1}]}})
