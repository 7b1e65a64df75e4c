"""Typed JSON objects: `ABSENT`, and `JsonObject`, the base of every typed record and part.

A typed object names its schema's keys as dataclass fields (ABSENT where the object lacks one, the keys its
schema does not name in `extra`), reads them from JSON (`_arguments`, nested parts typed by `NESTED`) and
gives the same JSON back (`to_dict`). A `Part` is also a read-only Mapping of that JSON. The records are in
`history.typed`, the eval record's parts in `history.record_parts`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Self, TypeVar

__all__ = ["ABSENT", "given", "plain_json", "typed_json", "JsonObject", "Part"]


class _Absent:
    """The value of an optional key the record does not have (falsy, so `run.resources or {}` reads well)."""

    _instance: ClassVar[_Absent | None] = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


T = TypeVar("T")
D = TypeVar("D")


def given(value: T, default: D = None) -> T | D:  # type: ignore[assignment]  # None is the default default
    """Return a field's value, or `default` where the object lacks the key (ABSENT): `given(probe.ttft_s)`."""
    return default if value is ABSENT else value


def plain_json(value: Any) -> Any:
    """Return `value` with every typed part in it turned back into the JSON it was read from."""
    if isinstance(value, Part):
        return value.to_dict()
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    return value


def typed_json(value: Any, how: str, cls: type[Part]) -> Any:
    """Return the JSON `value` with its parts typed as `cls`: `how` is one, list (of them) or map (name -> one)."""
    if how == "one":
        return cls.from_dict(value) if isinstance(value, Mapping) else value
    if how == "list" and isinstance(value, list):
        return [cls.from_dict(v) if isinstance(v, Mapping) else v for v in value]
    if how == "map" and isinstance(value, Mapping):
        return {k: cls.from_dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    return value


# A record reads ~70 parts: dataclasses.fields() on each was a third of reading it, so each class's are kept.
_NAMES: dict[type, tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]] = {}


def _names(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """Return (its keys, its required keys, its keys as a set) of a record or part class."""
    if cls not in _NAMES:
        named = [f for f in fields(cls) if f.name != "extra"]
        required = tuple(f.name for f in named if f.default is MISSING and f.default_factory is MISSING)
        _NAMES[cls] = (tuple(f.name for f in named), required, frozenset(f.name for f in named))
    return _NAMES[cls]


@dataclass(frozen=True, kw_only=True)
class JsonObject:
    """What a record and a part share: its schema's keys as fields, ABSENT where the object lacks one, and the
    keys its schema does not name (older or newer writers' extras) in `extra`. `NESTED` names the fields that
    are parts themselves, as (how, class) with how one, list or map."""

    NESTED: ClassVar[dict[str, tuple[str, type[Part]]]] = {}

    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the JSON keys this class names: every field but `extra`."""
        return _names(cls)[0]

    @classmethod
    def required_names(cls) -> tuple[str, ...]:
        """Return the keys its schema requires: the fields without a default (`extra` aside)."""
        return _names(cls)[1]

    @classmethod
    def _arguments(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return the constructor's arguments for the JSON object `data`: a required key it lacks is ABSENT."""
        names = _names(cls)[2]
        return {
            **dict.fromkeys((k for k in cls.required_names() if k not in data), ABSENT),
            **{k: typed_json(v, *cls.NESTED[k]) if k in cls.NESTED else v for k, v in data.items() if k in names},
            "extra": {k: v for k, v in data.items() if k not in names},
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the plain JSON object this was read from (equal to it)."""
        out = {name: plain_json(getattr(self, name)) for name in self.names() if getattr(self, name) is not ABSENT}
        out.update(self.extra)
        return out


@dataclass(frozen=True, kw_only=True)
class Part(JsonObject, Mapping[str, Any]):
    """A nested object of a record: its schema's properties as fields, and a read-only Mapping of its JSON.

    Lenient where a record is strict: a part lacking a required key reads it as ABSENT (partial and minimal
    records are read too). `SCHEMA` is the JSON pointer of its schema in the eval record's schema (the
    agreement test reads it).
    """

    SCHEMA: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Return the typed part of the JSON object `data` (its nested parts typed too)."""
        return cls(**cls._arguments(data))

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key) if key in self.names() else self.extra.get(key, ABSENT)
        if value is ABSENT:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self.names() if getattr(self, k) is not ABSENT)
        yield from self.extra

    def __len__(self) -> int:
        return sum(1 for _ in self)
