"""The engines by name: the one list of engines, and the one place an engine's name is looked up.

Each engine module registers its class with `@register_engine("name")` (`engines.base`); the import below
is the list of built-in engine modules. Adding an engine is a new module plus its line here. Callers ask
for a class and its traits (`needs_weights`, `served`, `uses_loaded_model`), never compare names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tunebench.engines import hf, openai_api, vllm_inprocess  # noqa: F401  (each registers its engine)
from tunebench.engines.base import Engine, EngineError, EngineOptions, registered_engines

if TYPE_CHECKING:
    from tunebench.registry import ModelEntry

__all__ = ["DEFAULT_ENGINE", "engine_names", "engine_class", "served_engine", "make_engine"]

DEFAULT_ENGINE = hf.HFEngine.name  # where a model with weights runs unless asked otherwise


def engine_names() -> tuple[str, ...]:
    """Return the registered engines' names, in registration order (the built-in ones first)."""
    return tuple(registered_engines())


def engine_class(name: str) -> type[Engine]:
    """Return the engine class registered as `name`; an EngineError naming the known engines if none is."""
    engines = registered_engines()
    if name not in engines:
        raise EngineError(f"engine {name!r}: expected one of {', '.join(engines)}")
    return engines[name]


def served_engine() -> str:
    """Return the engine a served registry entry (one with an endpoint) runs on: the first served one."""
    return next(name for name, cls in registered_engines().items() if cls.served)


def make_engine(name: str, entry: ModelEntry, options: EngineOptions) -> Engine:
    """Build engine `name` for registry entry `entry` (the class's one constructor, `open`)."""
    return engine_class(name).open(entry, options)
