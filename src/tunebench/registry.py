"""The model registry: names mapped to `{base, adapter?, status, notes, endpoint?, served_name?, api_key_env?}`.

Entries come from three places, in this order of precedence: the built-in `tiny`, the config's
`[tool.tunebench.models]`, and models added at run time (a training run's output), kept one JSON file per
model under `<home>/registry/`. Locations are local paths (relative to the config's folder), `gs://` URIs,
hub ids, or `builtin:tiny`. A served model's entry names its OpenAI-compatible `endpoint` (.../v1), the
server's name for it (`served_name`, default the entry's name) and the environment variable holding its API
key (`api_key_env`). `ModelEntry` also carries its `name` and `origin` (builtin, config, or the file that added it).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tunebench.config import CONFIG_SCHEMA, Config, load_config
from tunebench.errors import RegistryError
from tunebench.storage.local import write_atomic
from tunebench.textfile import read_utf8

__all__ = [
    "ModelEntry",
    "Registry",
    "STATUSES",
    "TINY",
    "get_registry",
    "check_model_reference",
    "check_name",
    "NAME_PATTERN",
]

STATUSES = ("production", "archive", "experimental")
TINY_BASE = "builtin:tiny"
# A model name becomes a file name (`<home>/registry/NAME.json`) and a folder name: no separators, no leading dot.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# A hub model id is `org/name`; a bare word that is not a registry name is far more often a typo.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # `org/name`, as a whole string (fullmatch)
_OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_ENTRY_SCHEMA = CONFIG_SCHEMA["properties"]["models"]["additionalProperties"]


@dataclass(frozen=True)
class ModelEntry:
    """One named model: where its base weights and optional adapter live, and its status."""

    name: str
    base: str
    adapter: str | None = None
    status: str = "experimental"
    notes: str = ""
    origin: str = "config"  # builtin, config, or the path of the file that added it
    endpoint: str | None = None  # a served model: the OpenAI-compatible base URL (.../v1)
    served_name: str | None = None  # the server's name for it (default: the entry's name)
    api_key_env: str | None = None  # the environment variable holding the server's API key

    def to_dict(self) -> dict[str, str]:
        """Return the entry as stored (no name, no origin, no empty fields)."""
        data = {k: v for k, v in asdict(self).items() if k not in ("name", "origin") and v}
        return data


TINY = ModelEntry(
    name="tiny",
    base=TINY_BASE,
    status="experimental",
    notes="Built-in ~100k-parameter Qwen2 model, built offline; for tests and CPU runs.",
    origin="builtin",
)


class Registry:
    """The named models of one configuration."""

    def __init__(self, config: Config):
        self.config = config
        self._entries: dict[str, ModelEntry] = {"tiny": TINY}
        for name, data in config.models.items():
            prefix = "tool.tunebench." if config.source is not None and config.source.name == "pyproject.toml" else ""
            check_name(name, f"{config.source}: key {prefix}models.{name}")
            self._entries[name] = _entry(name, data, origin=str(config.source))
        for path in sorted(self._added_dir.glob("*.json")):
            name = path.stem
            check_name(name, f"{path}: registry entry file")  # `ev il<script>.json` is no model name
            if name not in self._entries:
                self._entries[name] = _entry(name, _read_entry_file(path), origin=str(path))

    @property
    def _added_dir(self) -> Path:
        return self.config.home / "registry"

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        """Return every entry, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def get(self, name: str) -> ModelEntry:
        """Return the entry for `name`; an unknown name lists the known ones and the closest match."""
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(_unknown_message(name, self.names())) from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def add(self, entry: ModelEntry, *, replace: bool = False) -> Path:
        """Record `entry` under `<home>/registry/NAME.json` and return that path."""
        target = self.entry_path(entry, replace=replace)
        self._added_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps(entry.to_dict(), indent=2, sort_keys=True) + "\n")
        self._entries[entry.name] = ModelEntry(**{**asdict(entry), "origin": str(target)})
        return target

    def entry_path(self, entry: ModelEntry, *, replace: bool = False) -> Path:
        """Return where `add(entry)` would write, writing nothing; raise RegistryError where `add` would refuse.

        `train` checks with this, writes its record, then adds: a run whose record is refused is never registered.
        """
        check_name(entry.name, "new registry entry")
        if entry.name in self._entries and self._entries[entry.name].origin in ("builtin", str(self.config.source)):
            raise RegistryError(
                f"model {entry.name!r} is defined in {self._entries[entry.name].origin}; choose another output name"
            )
        _validate_entry(entry.name, entry.to_dict(), where="new registry entry")
        target = self._added_dir / f"{entry.name}.json"
        if (target.exists() or target.is_symlink()) and not replace:
            raise RegistryError(
                f"model {entry.name!r} already exists ({target}); pass replace=True or choose another output name"
            )
        return target

    def resolve_local(self, location: str) -> str:
        """Return a local path for a relative location (relative to the config folder), else it unchanged."""
        if location.startswith(("gs://", "builtin:")) or os.path.isabs(location):
            return location
        candidate = self.config.root / location
        return str(candidate) if candidate.exists() or location.startswith(".") else location


def check_name(name: str, where: str) -> None:
    """Raise RegistryError naming `where` unless `name` is a valid registry name (see NAME_PATTERN)."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise RegistryError(
            f"{where}: {name!r} is not a valid model name: expected 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', no '..' path)"
        )


# A local model folder holds one of these (a transformers model, or a PEFT adapter).
MODEL_FOLDER_FILES = ("config.json", "adapter_config.json")


def check_model_reference(model: str, registry: Registry, where: str) -> None:
    """Raise RegistryError unless `model` names something loadable without guessing: a registry name, a
    `gs://`/`builtin:` location, an existing local folder, or a hub id (`org/name`; offline, one in the hub cache).

    Called before any work, so a typo (`tinyy`) is one clear error instead of a hub request and a traceback.
    """
    if model in registry or model.startswith(("gs://", "builtin:")):
        return
    local = Path(registry.resolve_local(model)).expanduser()
    if local.is_dir() and any((local / name).is_file() for name in MODEL_FOLDER_FILES):
        return
    hub_id = HUB_ID.fullmatch(model) is not None and not local.exists()
    if hub_id and (not hub_offline_variables() or in_hub_cache(model)):
        return
    close = difflib.get_close_matches(model, registry.names(), n=3, cutoff=0.5)
    hint = f" Closest registry names: {', '.join(close)}." if close else ""
    if hub_id:
        what = "not in the local hub cache (the hub is offline: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set)"
    elif local.is_dir():
        what = f"{local} is a folder with no {' or '.join(MODEL_FOLDER_FILES)}, not a model folder"
    elif local.exists():
        what = f"{local} is a file, not a model folder"
    else:
        what = f"no folder {local}"
    raise RegistryError(
        f"{where}: {model!r} is neither a registry name nor a local folder ({what}).{hint} "
        f"Registry names: {', '.join(registry.names())}"
    )


def hub_offline_variables() -> list[str]:
    """Return the variables that keep the hub offline and are set (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE)."""
    return [v for v in _OFFLINE_VARIABLES if os.environ.get(v, "").lower() in ("1", "true", "yes", "on")]


def in_hub_cache(model: str) -> bool:
    """Return whether hub id `model`'s config.json is in the local hub cache (nothing is downloaded)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # noqa: BLE001 - no hub library or a malformed id: not cached
        return False


def get_registry(config: Config | None = None) -> Registry:
    """Return the registry of `config` (default: the configuration of the working directory)."""
    return Registry(config or load_config())


def _unknown_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown model {name!r}.{hint} Known models: {', '.join(known)}"


def _validate_entry(name: str, data: dict[str, Any], where: str) -> None:
    for error in jsonschema.Draft202012Validator(_ENTRY_SCHEMA).iter_errors(data):
        key = ".".join(map(str, error.absolute_path)) or "<entry>"
        raise RegistryError(f"{where}: model {name!r}: key {key}: {error.message}")


def _entry(name: str, data: dict[str, Any], origin: str) -> ModelEntry:
    _validate_entry(name, data, where=origin)
    return ModelEntry(name=name, origin=origin, **{"base": "", **data})


def _read_entry_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_utf8(path, RegistryError, "registry entry"))
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data
