"""Small recipes and projects for the training tests: real data from recipes/data, tiny sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRAIN_DATA = REPO / "recipes" / "data" / "finance_train.jsonl"
VALIDATION_DATA = REPO / "recipes" / "data" / "finance_validation.jsonl"
EVEN_MIX = {"easy": 0.25, "medium": 0.25, "hard": 0.25, "extreme": 0.25}

# The smallest honest run: tiny, rank 4, batch 2, one epoch; validation on 4 held-out examples.
BASE_KEYS: dict[str, Any] = {
    "model": "tiny",
    "method": "dora",
    "output": "tiny-test",
    "device": "cpu",
    "seed": 7,
    "rank": 4,
    "alpha": 8,
    "dropout": 0.1,
    "batch_size": 2,
    "grad_accum": 1,
    "epochs": 1,
    "learning_rate": 1e-2,
    "max_length": 256,
    "save_steps": 100,
    "validation": [str(VALIDATION_DATA)],
    "validation_size": 4,
    "cpu_threads": 1,
}


def phase(name: str, kind: str, size: int, mix: dict[str, float] | None = None, data: Path = TRAIN_DATA) -> dict:
    """Return a [[phases]] table."""
    return {"name": name, "kind": kind, "data": [str(data)], "size": size, "mix": mix or EVEN_MIX}


def toml_value(value: Any) -> str:
    """Return `value` as a TOML literal (strings, numbers, booleans, lists, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def write_recipe(path: Path, phases: list[dict], **keys: Any) -> Path:
    """Write a recipe with BASE_KEYS updated by `keys` (None removes a key) and `phases`; return its path."""
    table = {**BASE_KEYS, **keys}
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
    for p in phases:
        lines += ["", "[[phases]]", *(f"{k} = {toml_value(v)}" for k, v in p.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_project(folder: Path) -> Any:
    """Create a project folder with its own home and history; return its Config."""
    from tunebench.config import load_config

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        '[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n\n[tool.tunebench.prices]\ncpu = 0.10\n',
        encoding="utf-8",
    )
    return load_config(folder)
