"""Which model and which engine: `--model` as a registry name, a local folder, a hub id or a served name.

`--model` is recorded as given. A registry entry with an `endpoint` (and maybe no weights) is served: its
engine is `openai` unless another is asked for. A local folder is loaded in-process. A hub id needs the
network unless it is in the local hub cache; offline, it is a clear error rather than a stack trace.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from tunebench.engines.base import ENGINES, EngineError
from tunebench.errors import RegistryError
from tunebench.registry import HUB_ID, ModelEntry, Registry, hub_offline_variables, in_hub_cache

__all__ = ["resolve_model", "pick_engine", "make_engine", "HUB_ID"]


def pick_engine(asked: str | None, entry: ModelEntry | None, configured: str = "hf") -> str:
    """--engine, else `openai` for an entry with an endpoint, else the configured engine."""
    engine = asked or ("openai" if entry is not None and entry.endpoint else configured)
    if engine not in ENGINES:
        raise EngineError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    return engine


def resolve_model(spec: str, registry: Registry, engine: str | None = None, endpoint: str | None = None) -> ModelEntry:
    """Return the ModelEntry `--model spec` names (its name is `spec`, as given); raise a clear error if none."""
    if spec in registry:
        entry = registry.get(spec)
        return replace(entry, endpoint=endpoint or entry.endpoint)
    if engine == "openai" and endpoint:
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


def make_engine(
    engine: str,
    entry: ModelEntry,
    *,
    loaded: Any = None,
    batch_size: int = 16,
    timeout_s: float = 120.0,
    location: str | None = None,
) -> Any:
    """Build the engine for `entry`: hf wraps `loaded`; openai connects to the entry's endpoint; vllm loads."""
    if engine == "hf":
        from tunebench.engines.hf import HFEngine

        return HFEngine(loaded, batch_size=batch_size)
    if engine == "openai":
        from tunebench.engines.openai_api import OpenAIEngine

        if not entry.endpoint:
            raise EngineError(
                f"model {entry.name!r}: engine openai needs an endpoint (--endpoint URL, [tool.tunebench.eval] "
                "endpoint, or the registry entry's endpoint)"
            )
        api_key = None
        if entry.api_key_env:
            api_key = os.environ.get(entry.api_key_env)
            if not api_key:
                raise EngineError(f"model {entry.name!r}: api_key_env {entry.api_key_env!r} is not set")
        served = entry.served_name or entry.name
        return OpenAIEngine(entry.endpoint, served, api_key=api_key, timeout_s=timeout_s, batch_size=batch_size)
    if engine == "vllm":
        from tunebench.engines.vllm_inprocess import VLLMEngine

        return VLLMEngine(location or entry.base, batch_size=batch_size)
    raise EngineError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
