"""Which model and which engine: `--model` as a registry name, a local folder, a hub id or a served name.

`--model` is recorded as given. A registry entry with an `endpoint` (and maybe no weights) is served: its
engine is `openai` unless another is asked for. A local folder is loaded in-process. A hub id needs the
network unless it is in the local hub cache; offline, it is a clear error rather than a stack trace.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tunebench.engines.base import Engine, EngineOptions
from tunebench.engines.registry import DEFAULT_ENGINE, engine_class, make_engine, served_engine
from tunebench.errors import RegistryError
from tunebench.registry import HUB_ID, ModelEntry, Registry, hub_offline_variables, in_hub_cache

if TYPE_CHECKING:
    from tunebench.config import Config
    from tunebench.scoring.judge import Judge

__all__ = ["resolve_model", "pick_engine", "make_engine", "open_engine", "load_judge", "HUB_ID"]


def pick_engine(asked: str | None, entry: ModelEntry | None, configured: str = DEFAULT_ENGINE) -> str:
    """--engine, else the served engine (openai) for an entry with an endpoint, else the configured engine."""
    engine = asked or (served_engine() if entry is not None and entry.endpoint else configured)
    engine_class(engine)  # an EngineError naming the known engines when there is no such engine
    return engine


def resolve_model(spec: str, registry: Registry, engine: str | None = None, endpoint: str | None = None) -> ModelEntry:
    """Return the ModelEntry `--model spec` names (its name is `spec`, as given); raise a clear error if none."""
    if spec in registry:
        entry = registry.get(spec)
        return replace(entry, endpoint=endpoint or entry.endpoint)
    if endpoint and engine is not None and engine_class(engine).served:
        # A served model need not be registered: `spec` is the server's model id.
        return ModelEntry(name=spec, base="", endpoint=endpoint, served_name=spec, origin="--model")
    folder = Path(spec).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise RegistryError(f"model folder {spec!r} has no config.json (expected a transformers model folder)")
        return ModelEntry(name=spec, base=str(folder.resolve()), origin="--model")
    if HUB_ID.fullmatch(spec) and not spec.startswith(("./", "../")):
        offline = hub_offline_variables()
        if offline and not in_hub_cache(spec):
            raise RegistryError(
                f"hub id {spec!r}: cannot download it while offline ({'=1, '.join(offline)}=1) and it is not "
                "in the local hub cache; download it first, or pass a local folder or a registry name"
            )
        return ModelEntry(name=spec, base=spec, origin="--model")
    registry.get(spec)  # raises the registry's "unknown model" error, with the known names
    raise AssertionError("unreachable")


def open_engine(name: str, config: Config) -> Engine:
    """Open registry model `name` on its engine: served when its entry has an endpoint, else in-process.

    The weights, when the engine needs them here, are loaded (or located) on demand.
    """
    from tunebench.loading import load_model, resolve_location

    registry = Registry(config)
    entry = resolve_model(name, registry)
    options = EngineOptions(
        timeout_s=config.eval.request_timeout_s,
        loaded=lambda: load_model(entry, config),
        location=lambda: resolve_location(entry.base, registry),
    )
    return make_engine(pick_engine(None, entry, DEFAULT_ENGINE), entry, options)


def load_judge(name: str, config: Config, n: int = 1, max_new_tokens: int = 96) -> Judge:
    """Open the registry model `name` as a judge (`scoring.judge`), on its engine as `open_engine` picks."""
    from tunebench.scoring.judge import engine_judge

    return engine_judge(name, open_engine(name, config), n=n, max_new_tokens=max_new_tokens)
