"""records.validate's compiled schemas (fastjsonschema) agree with jsonschema, the reference, record by record."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from record_factory import note, random_eval, training_record

from tunebench.errors import RecordError
from tunebench.history import records
from tunebench.history.integrity import unseal

REAL = sorted((Path(__file__).parent / "data" / "real_tiny_history" / "runs").rglob("*.json"))
ODD_VALUES = (None, "x", "", 1.5, -1, 0, True, [], {}, [1, 2, 3], {"unexpected": 1})


def _corpus() -> list[dict]:
    real = [unseal(json.loads(path.read_bytes())) for path in REAL]
    evidence = random_eval("cafe00000001", "m", 1, questions=6)
    evidence["probes"][0]["evidence"] = {"key_points": [{"point": "a", "hit": True, "spans": [[0, 3], [4, 9]]}]}
    return [*real, evidence, training_record("cafe00000002", "out"), note("cafe00000003", "cafe00000001", "t")]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _mutated(record: dict, path: tuple, rng: random.Random) -> dict:
    """Return a copy of `record` with the node at `path` replaced, deleted, or given an unknown key."""
    copied = copy.deepcopy(record)
    parent = copied
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    action = rng.choice(("replace", "replace", "delete", "extra"))
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "extra" and isinstance(parent[last], dict):
        parent[last]["not_in_the_schema"] = 1
    else:
        parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
    return copied


def _reference_accepts(record: dict) -> bool:
    return not list(records._validator(record["kind"]).iter_errors(record))


def _compiled_accepts(record: dict) -> bool:
    return records._compiled_accepts(record["kind"], record)


@pytest.mark.parametrize("record", _corpus(), ids=lambda r: f"{r['kind']}-{r['run_id']}")
def test_every_valid_record_passes_the_compiled_check(record):
    assert _reference_accepts(record) and _compiled_accepts(record)


@pytest.mark.slow
def test_compiled_and_reference_schemas_agree_on_mutated_records():
    rng = random.Random(12)
    disagreements, rejected = [], 0
    for record in _corpus():
        paths = [p for p in _paths(record) if p and p[0] != "kind"]
        # Every node of the small records, a sample of the 100-question ones (jsonschema is slow on them).
        for path in paths if len(paths) < 400 else rng.sample(paths, 20):
            mutated = _mutated(record, path, rng)
            reference = _reference_accepts(mutated)
            rejected += not reference
            if _compiled_accepts(mutated) != reference:
                disagreements.append((record["run_id"], path, reference))
    assert disagreements == []
    assert rejected > 150  # the mutations do reach the schema's rules


def test_a_spans_pair_of_the_wrong_shape_is_refused_by_both():
    # `spans` items use prefixItems (2020-12), which fastjsonschema only knows as draft 7's items list.
    record = _corpus()[-3]
    record["probes"][0]["evidence"]["key_points"][0]["spans"] = [[0, "three"]]
    assert not _reference_accepts(record) and not _compiled_accepts(record)


@pytest.mark.parametrize("compile_after", [0, 1000], ids=["compiled", "not-yet-compiled"])
def test_the_message_for_an_invalid_record_is_jsonschemas(monkeypatch, compile_after):
    monkeypatch.setattr(records, "_COMPILE_AFTER", compile_after)
    record = random_eval("cafe00000004", "m", 4, questions=3)
    record["questions"][1]["correct"] = "yes"
    with pytest.raises(
        RecordError, match=r"eval record violates its schema: key questions\[1\]\.correct: 'yes' is not"
    ):
        records.validate(record, where="run cafe00000004")
