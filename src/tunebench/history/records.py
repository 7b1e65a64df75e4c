"""History records: validation against the JSON Schemas shipped in `history/schema/`, ids and timestamps.

A record is a plain JSON object whose `kind` ("eval", "training", ...) picks its schema,
`schema/<kind>_record.schema.json`. Every schema file in that folder is registered under
`https://tunebench.invalid/schema/<file name>`, so a schema can `$ref` the shared parts in
`common.schema.json` (record header, provenance, UTC timestamps) by file name.

Validation of many records runs the schema compiled to Python by fastjsonschema (about 13x faster than
jsonschema on a 100-question eval record; compiling costs about half a second, so a process compiles a
kind's schema only once it has validated a few records of it). jsonschema stays the reference: it decides
every record the compiled check rejects, and its errors are the message. fastjsonschema speaks draft 7,
so the schemas are translated (`prefixItems`, `$ref` with siblings); tests/test_records_compiled.py checks
that both agree.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tunebench.errors import RecordError

__all__ = [
    "SCHEMA_BASE",
    "validate",
    "schema_for",
    "known_kinds",
    "new_run_id",
    "utc_now",
    "parse_utc",
    "utc_stamp",
    "to_json",
]

SCHEMA_BASE = "https://tunebench.invalid/schema/"
_SUFFIX = "_record.schema.json"
# Older versions a kind's records are still read in: the current schema with the parts that version left open
# opened again (`additionalProperties: false` left out at those JSON pointers; None: at every level). Eval
# records: version 1 left every part open; 2 closed question, proportion, percentiles, selection, baseline and
# items; 3 closes model (and its training_data), engine, probe, aggregates, gate (and its checks), load and
# each suite. Training records: version 1 left every part open; 2 closes them all.
OPEN_VERSIONS: dict[str, dict[int, tuple[str, ...] | None]] = {
    "training": {1: None},
    "eval": {
        1: None,
        2: (
            "/properties/model",
            "/properties/model/properties/training_data",
            "/$defs/engine",
            "/$defs/probe",
            "/properties/aggregates",
            "/properties/gate",
            "/properties/gate/properties/checks/items",
            "/$defs/load",
            "/$defs/load_percentiles",
            "/properties/suites/items",
        ),
    },
}


def _schema_files() -> dict[str, dict[str, Any]]:
    folder = resources.files("tunebench.history") / "schema"
    schemas = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".schema.json"):
            try:
                schemas[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise RecordError(f"schema {entry.name}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    return schemas


@functools.cache
def _registry_and_schemas() -> tuple[Registry, dict[str, dict[str, Any]]]:
    schemas = {}
    for name, schema in _schema_files().items():
        # Every schema answers to its file name, whatever its own $id says, so relative $refs always resolve.
        schemas[name] = {**schema, "$id": SCHEMA_BASE + name}
    for kind, versions in OPEN_VERSIONS.items():
        for version, pointers in versions.items():
            name = _schema_name(kind, version)
            current = schemas[f"{kind}{_SUFFIX}"]
            opened = _opened(current) if pointers is None else _opened_at(current, pointers)
            opened["properties"] = {**opened["properties"], "schema_version": {"const": version}}
            schemas[name] = {**opened, "$id": SCHEMA_BASE + name}
    registry = Registry().with_resources(
        (SCHEMA_BASE + name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in schemas.items()
    )
    return registry, schemas


def _schema_name(kind: str, version: Any = None) -> str:
    """Return the file name of the schema a record of `kind` and `version` is validated by."""
    return f"{kind}_record.v{version}.schema.json" if version in OPEN_VERSIONS.get(kind, {}) else f"{kind}{_SUFFIX}"


def _opened(node: Any) -> Any:
    """Return the schema `node` with every `additionalProperties: false` left out (an older, open version)."""
    if isinstance(node, list):
        return [_opened(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {k: _opened(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)}


def _opened_at(schema: dict[str, Any], pointers: tuple[str, ...]) -> dict[str, Any]:
    """Return `schema` with `additionalProperties: false` left out at each JSON pointer (that node only)."""
    opened: dict[str, Any] = json.loads(json.dumps(schema))  # a deep copy: the current schema stays as it is
    for pointer in pointers:
        node = opened
        for key in pointer.strip("/").split("/"):
            node = node[key]
        if node.get("additionalProperties") is False:
            del node["additionalProperties"]
    return opened


def known_kinds() -> list[str]:
    """Return the record kinds that have a schema, sorted."""
    return sorted(name.removesuffix(_SUFFIX) for name in _registry_and_schemas()[1] if name.endswith(_SUFFIX))


def schema_for(kind: str) -> dict[str, Any]:
    """Return the JSON Schema of records of `kind`."""
    schemas = _registry_and_schemas()[1]
    try:
        return schemas[f"{kind}{_SUFFIX}"]
    except KeyError:
        raise RecordError(f"no schema for record kind {kind!r}: expected one of {', '.join(known_kinds())}") from None


@functools.cache
def _validator(kind: str, version: Any = None) -> jsonschema.Draft202012Validator:
    registry, schemas = _registry_and_schemas()
    schema = schemas[_schema_name(kind, version)] if version is not None else schema_for(kind)
    return jsonschema.Draft202012Validator(schema, registry=registry, format_checker=jsonschema.FormatChecker())


# Records of a kind validated by jsonschema before its compiled schema pays for its compile time.
_COMPILE_AFTER = 8
_validated: Counter[str] = Counter()


def _compiled_accepts(kind: str, record: Any, version: Any = None) -> bool:
    check, rejected = _compiled(kind, version)
    try:
        check(record)
    except rejected:
        return False
    return True


@functools.cache
def _compiled(kind: str, version: Any = None) -> tuple[Any, type[Exception]]:
    """Return the compiled check and the exception it raises, from the same import of fastjsonschema (a
    pytester run in this process may drop the module from sys.modules, and a new import has new classes)."""
    import fastjsonschema  # only processes that validate many records pay for its import and the compile

    schemas = _registry_and_schemas()[1]

    def resolve(uri: str) -> dict[str, Any]:  # the only $refs are to the schema files themselves
        translated: dict[str, Any] = _draft7(schemas[uri.removeprefix(SCHEMA_BASE).split("#")[0]])
        return translated

    schema = schemas[_schema_name(kind, version)] if version is not None else schema_for(kind)
    check = fastjsonschema.compile(_draft7(schema), handlers={"https": resolve}, use_formats=False)
    return check, fastjsonschema.JsonSchemaException


_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_REF_SIBLINGS_IGNORED = {"$ref", "description", "title", "$comment", "examples"}


def _draft7(node: Any) -> Any:
    """Return a draft 2020-12 schema in the draft 7 that fastjsonschema compiles, meaning the same."""
    if isinstance(node, list):
        return [_draft7(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: ({name: _draft7(sub) for name, sub in value.items()} if key in _SUBSCHEMA_MAPS else _draft7(value))
        for key, value in node.items()
        if key != "$schema"
    }
    if "prefixItems" in out:  # 2020-12 tuple form -> draft 7's items list + additionalItems
        rest = out.pop("items", None)
        out["items"] = out.pop("prefixItems")
        if rest is not None:
            out["additionalItems"] = rest
    if "$ref" in out and set(out) - _REF_SIBLINGS_IGNORED:  # draft 7 ignores a $ref's siblings; 2020-12 applies them
        out = {"allOf": [{"$ref": out.pop("$ref")}, out]}
    return out


def validate(record: Any, where: str = "record") -> None:
    """Raise RecordError (naming `where`, the JSON path, what was expected and found) unless `record` is valid."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: expected a JSON object, found {type(record).__name__}")
    kind = record.get("kind")
    if not isinstance(kind, str):
        raise RecordError(f"{where}: key kind: expected one of {', '.join(known_kinds())}, found {kind!r}")
    if f"{kind}{_SUFFIX}" not in _registry_and_schemas()[1]:
        raise RecordError(f"{where}: key kind: expected one of {', '.join(known_kinds())}, found {kind!r}")
    version = record.get("schema_version")
    version = version if isinstance(version, int) and version in OPEN_VERSIONS.get(kind, {}) else None
    validator = _validator(kind, version)
    _validated[kind] += 1
    if _validated[kind] > _COMPILE_AFTER and _compiled_accepts(kind, record, version):
        errors = []
    else:  # jsonschema, the reference, decides and says why
        errors = sorted(validator.iter_errors(record), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        shown = [_describe(error) for error in errors[:5]]
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise RecordError(f"{where}: {kind} record violates its schema: " + "; ".join(shown) + more)
    _check_times(record, where)


def _describe(error: jsonschema.ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return f"key {path or '<top level>'}: {error.message}"


def _check_times(record: dict[str, Any], where: str) -> None:
    started, finished = parse_utc(record["started_at"]), parse_utc(record["finished_at"])
    if finished < started:
        raise RecordError(
            f"{where}: key finished_at: expected a time at or after started_at "
            f"({record['started_at']}), found {record['finished_at']}"
        )


def new_run_id() -> str:
    """Return a fresh run id: 12 random hex digits (file names put the UTC stamp in front of it)."""
    return secrets.token_hex(6)


def utc_now() -> str:
    """Return the current UTC time as ISO 8601 with a `Z`, to the millisecond."""
    return format_utc(datetime.now(UTC))


def format_utc(moment: datetime) -> str:
    """Return `moment` (aware) as UTC ISO 8601 with a `Z`, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """Return the aware UTC datetime of an ISO 8601 timestamp written by `utc_now`."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise RecordError(f"expected a UTC ISO 8601 timestamp, found {text!r}") from None
    if moment.tzinfo is None:
        raise RecordError(f"expected a UTC timestamp (ending in Z), found {text!r}")
    return moment.astimezone(UTC)


def utc_stamp(moment: datetime | str | None = None) -> str:
    """Return a compact UTC stamp `YYYYMMDDTHHMMSSZ` for `moment` (default: now)."""
    if isinstance(moment, str):
        moment = parse_utc(moment)
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def to_json(record: dict[str, Any]) -> bytes:
    """Return the bytes a record is stored as: sorted keys, 2-space indent, no NaN, trailing newline."""
    try:
        return (json.dumps(record, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n").encode()
    except (TypeError, ValueError) as exc:
        raise RecordError(f"record {record.get('run_id', '?')}: not JSON-serializable: {exc}") from exc
