"""`MANIFEST.json`: the commit point of a pushed model folder, listing every file and its checksums.

Layout of a published location `gs://bucket/prefix/`:

    prefix/MANIFEST.json                  the current version; created create-only (version 1) or
                                          replaced only if its generation is unchanged (--new-version)
    prefix/objects/<push id>/<file name>  the files of one push, written create-only before the manifest

The manifest names each file's object, size, crc32c, sha256 and generation, so a reader that starts
from the manifest only ever reads objects of a committed push, pinned to the generations that were
verified at push time. Objects of a push that never committed (a crash, a lost race) are never named by
any manifest, so no reader sees them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema

from tunebench.errors import StorageError
from tunebench.storage.gcs import read_object
from tunebench.storage.location import GcsLocation
from tunebench.storage.transfer import TransferSettings

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_FORMAT",
    "OBJECTS_DIR",
    "Manifest",
    "ManifestFile",
    "check_file_name",
    "read_manifest",
]

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = "tunebench-manifest/1"
OBJECTS_DIR = "objects"

_FILE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "object", "size", "crc32c", "sha256", "generation"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "object": {"type": "string", "minLength": 1},
        "size": {"type": "integer", "minimum": 0},
        "crc32c": {"type": "string", "pattern": "^[A-Za-z0-9+/]{6}==$"},
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "generation": {"type": "integer", "minimum": 1},
    },
}
_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "name", "version", "push_id", "created_at", "files"],
    "properties": {
        "format": {"const": MANIFEST_FORMAT},
        "name": {"type": "string", "minLength": 1},
        "version": {"type": "integer", "minimum": 1},
        "push_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,100}$"},
        "created_at": {"type": "string", "minLength": 1},
        "status": {"enum": ["production", "archive", "experimental"]},
        "notes": {"type": "string"},
        "previous_generation": {"type": ["integer", "null"]},
        "total_size": {"type": "integer", "minimum": 0},
        "files": {"type": "array", "minItems": 1, "items": _FILE_SCHEMA},
    },
}


@dataclass(frozen=True)
class ManifestFile:
    """One file of a published folder: its name in the folder, its object and verified checksums."""

    name: str
    object: str  # object name relative to the location's prefix
    size: int
    crc32c: str
    sha256: str | None  # None only for folders published without a manifest (see cache.py)
    generation: int


@dataclass(frozen=True)
class Manifest:
    """The committed description of one version of a published folder."""

    name: str
    version: int
    push_id: str
    created_at: str
    files: tuple[ManifestFile, ...]
    status: str = "experimental"
    notes: str = ""
    previous_generation: int | None = None
    generation: int | None = field(default=None, compare=False)  # of MANIFEST.json itself, when read

    @property
    def total_size(self) -> int:
        """The bytes of every file together."""
        return sum(f.size for f in self.files)

    def to_json(self) -> bytes:
        """Return the manifest as stored: sorted keys, two-space indent, trailing newline."""
        data = asdict(self)
        data.pop("generation")
        data["files"] = [asdict(f) for f in self.files]
        data["format"] = MANIFEST_FORMAT
        data["total_size"] = self.total_size
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes, where: str, generation: int | None = None) -> Manifest:
        """Parse and validate a stored manifest; `where` (its URI) is named in every error."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StorageError(f"{where}: not a valid JSON manifest: {exc}") from exc
        _validate(data, where)
        files = tuple(ManifestFile(**f) for f in data["files"])
        for item in files:
            check_file_name(item.name, where)
        names = [f.name for f in files]
        if len(set(names)) != len(names):
            raise StorageError(f"{where}: key files: a file name appears twice")
        keep = {
            k: data[k]
            for k in ("name", "version", "push_id", "created_at", "status", "notes", "previous_generation")
            if k in data
        }
        return cls(files=files, generation=generation, **keep)


def _validate(data: Any, where: str) -> None:
    for error in jsonschema.Draft202012Validator(_SCHEMA).iter_errors(data):
        key = ".".join(map(str, error.absolute_path)) or "<top level>"
        raise StorageError(f"{where}: key {key}: {error.message}")


def check_file_name(name: str, where: str) -> None:
    """Raise StorageError unless `name` is a relative path that stays inside its folder."""
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"{where}: file name {name!r} is not a plain relative path inside the folder")


def read_manifest(bucket: Any, location: GcsLocation, settings: TransferSettings | None = None) -> Manifest | None:
    """Return the committed manifest at `location` (with its generation), or None if nothing committed."""
    found = read_object(bucket, location.key(MANIFEST_NAME), settings)
    if found is None:
        return None
    data, generation = found
    return Manifest.from_json(data, where=location.uri + MANIFEST_NAME, generation=generation)
