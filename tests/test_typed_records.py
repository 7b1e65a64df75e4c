"""tunebench.history.typed: one dataclass per record kind, its fields in step with the kind's JSON Schema."""

from __future__ import annotations

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
    assert set(cls.keys()) == properties, f"{cls.__name__} vs {kind}_record.schema.json properties"
    assert set(cls.required_keys()) == required, f"{cls.__name__} vs {kind}_record.schema.json required"
    assert cls.KIND == kind and cls.SCHEMA_VERSION == typed.SCHEMA_VERSION


def test_every_record_kind_is_typed():
    assert sorted(typed.RECORD_TYPES) == sorted(known_kinds())


def test_the_schema_version_is_the_writers():
    from tunebench.history import eval_record
    from tunebench.training import record

    assert typed.SCHEMA_VERSION == eval_record.SCHEMA_VERSION == record.SCHEMA_VERSION


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
    record["load"] = {"streams": 2}  # a key the schema does not name
    run = typed.EvalRecordData.from_dict(record)
    assert run.resources is typed.ABSENT and not run.resources and run.memory_measure is None
    assert run.extra == {"load": {"streams": 2}} and "resources" not in run.to_dict()
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
