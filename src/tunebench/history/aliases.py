"""Link the names a hand-written log uses ("DoRA v2", "wealth-dora-v2", a gs:// path) to registry names.

The seed log names one model several ways: a label in its tables, a folder name as the session's output
model, a `gs://` path in its own registry table. `ModelLinker` maps each to the registry entry that holds
that path, in this order: an explicit `--alias OLD=NEW`; a registry name; a path (an entry's adapter, or
the base of an entry without one); a label of the log's registry table (by its path); the folder name of
an entry's adapter or base; a name whose words all appear in exactly one entry's folder name
("wealth-dora-v2" in "wealth-dora-elson14b-h100-v2"). A name that matches nothing, or more than one
entry, stays unlinked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tunebench.errors import ConfigError

if TYPE_CHECKING:
    from tunebench.registry import ModelEntry

__all__ = ["ModelLinker", "parse_aliases", "link_records"]

_WORDS = re.compile(r"[a-z0-9]+")
_PATH = re.compile(r"(gs://[^\s`|]+)")


def parse_aliases(pairs: Sequence[str], names: Iterable[str]) -> dict[str, str]:
    """Return {old: new} from `OLD=NEW` texts; NEW must be a registry name (the error lists them)."""
    known = sorted(set(names))
    aliases: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ConfigError(f"--alias: expected OLD=NEW (a name in the log = a registry name), found {pair!r}")
        if new.strip() not in known:
            raise ConfigError(
                f"--alias {pair}: {new.strip()!r} is not a registry model; expected one of {', '.join(known)}"
            )
        earlier = aliases.get(old.strip())
        if earlier is not None and earlier != new.strip():  # the last one silently winning hid a typo
            raise ConfigError(
                f"--alias {pair}: {old.strip()!r} is already linked to {earlier!r} by an earlier --alias; "
                "expected one registry name per log name"
            )
        aliases[old.strip()] = new.strip()
    return aliases


def _folder(path: str | None) -> str | None:
    if not path:
        return None
    return path.rstrip("/").rsplit("/", 1)[-1] or None


def _norm(path: str) -> str:
    return path.strip().strip("`").rstrip("/")


@dataclass
class ModelLinker:
    """Maps a log's model names to registry names (see the module docstring for the order of the rules)."""

    entries: Sequence[ModelEntry]
    aliases: Mapping[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # log registry-table label -> path

    def learn(self, records: Iterable[dict[str, Any]]) -> None:
        """Read the log's own registry table (label -> gs:// path) from imported rows."""
        for record in records:
            if record.get("kind") == "imported_row" and record.get("table") == "model_registry":
                for cell in record.get("cells", [])[1:]:
                    found = _PATH.search(cell.get("text", ""))
                    if found:
                        self.labels[record["label"]] = found.group(1)
                        break

    def link(self, name: str | None) -> str | None:
        """Return the registry name `name` stands for, or None."""
        if not name:
            return None
        name = name.strip().strip("`")
        candidates = [name]
        inner = re.search(r"\(([^()]+)\)", name)  # "Session 4 (DoRA v2)"
        if inner:
            candidates.append(inner.group(1).strip())
        for candidate in candidates:
            found = self._link_one(candidate)
            if found:
                return found
        return None

    def _link_one(self, name: str) -> str | None:
        if name in self.aliases:
            return self.aliases[name]
        names = {e.name for e in self.entries}
        if name in names:
            return name
        path = name if "://" in name else self.labels.get(name)
        if path:
            return self._by_path(path)
        by_folder = [
            e.name for e in self.entries if name in (_folder(e.adapter), _folder(e.base) if not e.adapter else None)
        ]
        if len(by_folder) == 1:
            return by_folder[0]
        words = set(_WORDS.findall(name.lower()))
        if len(words) < 2:
            return None
        matches = [
            e.name for e in self.entries if words <= set(_WORDS.findall((_folder(e.adapter or e.base) or "").lower()))
        ]
        return matches[0] if len(matches) == 1 else None

    def _by_path(self, path: str) -> str | None:
        target = _norm(path)
        adapters = [e.name for e in self.entries if e.adapter and _norm(e.adapter) == target]
        if len(adapters) == 1:
            return adapters[0]
        bases = [e.name for e in self.entries if not e.adapter and _norm(e.base) == target]
        return bases[0] if len(bases) == 1 else None


def link_records(records: Sequence[dict[str, Any]], linker: ModelLinker) -> int:
    """Set `registry_model` on imported sessions (by output model) and rows (by label); return how many linked."""
    linker.learn(records)
    linked = 0
    for record in records:
        kind = record.get("kind")
        name = (
            record.get("output_model")
            if kind == "imported_session"
            else record.get("label")
            if kind == "imported_row"
            else None
        )
        found = linker.link(name)
        if found:
            record["registry_model"] = found
            linked += 1
    return linked
