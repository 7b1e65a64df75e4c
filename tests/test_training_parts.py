"""history.training_parts: the training record's parts typed, field by field in step with its JSON Schema (issue 25)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from record_factory import training_record

from tunebench.history import training_parts, typed
from tunebench.history.records import schema_for, validate

ROOT = Path(__file__).resolve().parent.parent
PARTS = [getattr(training_parts, name) for name in training_parts.__all__ if name != "TRAINING_PARTS"]


def _at(schema: dict, pointer: str) -> dict:
    """The schema node at a JSON pointer, following a `$ref` (or a nullable oneOf's $ref) into the same file."""
    node = schema
    for part in pointer.strip("/").split("/"):
        node = node[part]
    refs = [n["$ref"] for n in node.get("oneOf", []) if "$ref" in n] if "oneOf" in node else []
    ref = node.get("$ref") or (refs[0] if refs else None)
    return _at(schema, ref.removeprefix("#")) if ref else node


@pytest.mark.parametrize("cls", PARTS, ids=lambda c: c.__name__)
def test_each_part_names_its_schemas_properties_and_required_keys(cls):
    node = _at(schema_for("training"), cls.SCHEMA)
    where = f"{cls.__name__} vs training_record.schema.json#{cls.SCHEMA}"
    assert set(cls.names()) == set(node["properties"]), where
    assert set(cls.required_names()) == set(node.get("required", [])), where


@pytest.mark.parametrize("cls", [typed.TrainingRecordData, *PARTS], ids=lambda c: c.__name__)
def test_each_nested_part_is_the_one_its_schema_refers_to(cls):
    schema = schema_for("training")
    base = "" if cls is typed.TrainingRecordData else cls.SCHEMA
    for name, (how, part) in cls.NESTED.items():
        if cls is typed.TrainingRecordData and name in typed.Record.NESTED:
            continue  # the record header's provenance (common.schema.json; tests/test_typed_records.py)
        node = _at(schema, f"{base}/properties/{name}")
        target = node if how == "one" else _at(schema, f"{base}/properties/{name}/items")
        assert target is _at(schema, part.SCHEMA), f"{cls.__name__}.{name} is not {part.__name__}"


def test_every_object_of_the_training_schema_is_typed():
    """Every object schema with properties is some part's (or the record's own), so no part is left a dict."""
    schema = schema_for("training")
    typed_nodes = {id(_at(schema, cls.SCHEMA)) for cls in PARTS}

    def objects(node, path):
        if isinstance(node, dict):
            if node.get("properties") and path not in ("", "/$defs/phase/properties/data_files"):
                yield path, node
            for key, value in node.items():
                yield from objects(value, f"{path}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from objects(value, f"{path}/{i}")

    # Left as plain JSON on purpose: the contamination check's per-suite and per-overlap entries.
    untyped = {"/properties/data/properties/contamination/properties/checked/items"}
    untyped.add("/properties/data/properties/contamination/properties/overlaps/items")
    missing = [path for path, node in objects(schema, "") if id(node) not in typed_nodes and path not in untyped]
    assert missing == []


def test_a_training_record_reads_as_attributes_and_gives_back_the_json():
    records = [training_record("run-train-1", "tiny-lora")]
    records += [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "tests/data/real_tiny_history/runs").rglob("*.json"))
        if '"kind": "training"' in p.read_text(encoding="utf-8")
    ]
    assert len(records) >= 2
    for record in records:
        validate(record)
        run = typed.TrainingRecordData.from_dict(record)
        assert run.to_dict() == record
        phase = run.phases[0]
        assert isinstance(phase, training_parts.Phase) and phase.name == record["phases"][0]["name"]
        assert isinstance(run.hyperparameters, training_parts.Hyperparameters)
        assert run.hyperparameters.rank == record["hyperparameters"]["rank"]
        assert isinstance(run.totals, training_parts.Totals) and run.totals.steps == record["totals"]["steps"]
        assert isinstance(run.hardware, training_parts.Hardware) and run.hardware.device == record["hardware"]["device"]
        assert all(isinstance(a, training_parts.Attempt) for a in run.attempts)
        efficiency = record["phases"][0].get("efficiency")
        if efficiency:
            assert isinstance(phase.efficiency, training_parts.Efficiency)
            assert phase.efficiency.peak.flops == efficiency["peak"]["flops"]


def test_version_2_closes_every_part_and_version_1_is_read_open():
    """A typo'd or unknown key in a part of a version 2 record is refused, naming where; version 1 records (every
    part open then) are still read."""
    from tunebench.errors import RecordError
    from tunebench.training.record import SCHEMA_VERSION

    stored = training_record("run-train-1", "tiny-lora")
    assert stored["schema_version"] == 1 and SCHEMA_VERSION == 2
    typo = {**stored, "phases": [{**stored["phases"][0], "validaton_loss": 1.0}, *stored["phases"][1:]]}
    typo["hardware"] = {**stored["hardware"], "gpu": "H100"}
    validate(typo)  # version 1: open
    with pytest.raises(RecordError, match=r"phases\[0\].*'validaton_loss' was unexpected"):
        validate({**typo, "hardware": stored["hardware"], "schema_version": 2})
    with pytest.raises(RecordError, match="'gpu' was unexpected"):
        validate({**typo, "phases": stored["phases"], "schema_version": 2})
    validate({**stored, "schema_version": 2})
    with pytest.raises(RecordError, match="schema_version"):
        validate({**stored, "schema_version": 3})
