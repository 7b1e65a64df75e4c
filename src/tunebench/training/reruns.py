"""Training a recipe again: `--new-version` (a new output `NAME-v2`, `-v3`, ...) or `--overwrite` (archive the old).

An overwrite never deletes: the old output folder (adapter, phases, run state) and its registry entry move to
`<home>/archive/<name>-<UTC time>/`, and the history keeps the old run's record as it is.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from tunebench.config import Config
from tunebench.errors import RecipeError
from tunebench.registry import Registry
from tunebench.training.recipe import Recipe

__all__ = ["new_version", "next_name", "renamed", "archive_output", "is_taken", "RERUN_HINT"]

RERUN_HINT = (
    "rerun with --new-version (a new model {next!r}) or --overwrite (the old adapter and registry entry "
    "are archived), or choose another output name"
)


def is_taken(name: str, output_dir: Path, config: Config) -> bool:
    """True when `name` is a registry model or `output_dir` holds a run (any state file)."""
    return name in Registry(config) or (output_dir / "run.json").is_file()


def new_version(recipe: Recipe, config: Config, output_dir_for: Callable[[Recipe, Config], Path]) -> Recipe:
    """Return `recipe` with output `NAME-vN`: the lowest N >= 2 neither registered nor holding a run folder."""
    stem = re.sub(r"-v\d+$", "", recipe.output)
    for number in range(2, 10_000):
        candidate = renamed(recipe, f"{stem}-v{number}")
        if not is_taken(candidate.output, output_dir_for(candidate, config), config):
            return candidate
    raise RecipeError(f"{recipe.path}: key output: no free version of {stem!r} below v10000")


def next_name(recipe: Recipe, config: Config, output_dir_for: Callable[[Recipe, Config], Path]) -> str:
    """The name `--new-version` would train (for messages)."""
    return new_version(recipe, config, output_dir_for).output


def renamed(recipe: Recipe, name: str) -> Recipe:
    """Return `recipe` training output `name` (its output folder renamed alike when the recipe names one)."""
    output_dir = recipe.output_dir.with_name(name) if recipe.output_dir else None
    return dataclasses.replace(recipe, output=name, output_dir=output_dir)


def archive_output(recipe: Recipe, config: Config, output_dir: Path) -> Path | None:
    """Move the old output folder and the registry entry of `recipe.output` aside; return the archive folder.

    Refuses a name defined in the config file or built in: that entry is not the training run's to move.
    """
    registry = Registry(config)
    entry = registry.get(recipe.output) if recipe.output in registry else None
    entry_file = Path(entry.origin) if entry is not None else None
    if entry is not None and (entry_file is None or entry_file.suffix != ".json" or not entry_file.is_file()):
        raise RecipeError(
            f"{recipe.path}: key output: {recipe.output!r} is defined in {entry.origin}, not by a training run; "
            "--overwrite only archives what tunebench train registered: choose another output name"
        )
    if entry_file is None and not output_dir.exists():
        return None
    archive = config.home / "archive" / f"{recipe.output}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    archive.mkdir(parents=True, exist_ok=False)
    if output_dir.exists():
        shutil.move(str(output_dir), str(archive / "output"))
    if entry_file is not None:
        # The archived entry names where the adapter now is (its old path is gone).
        data = json.loads(entry_file.read_text(encoding="utf-8"))
        if data.get("adapter") and Path(data["adapter"]).resolve().is_relative_to(output_dir.resolve()):
            data["adapter"] = str(
                archive / "output" / Path(data["adapter"]).resolve().relative_to(output_dir.resolve())
            )
        (archive / "registry").mkdir()
        (archive / "registry" / entry_file.name).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        entry_file.unlink()
    return archive
