"""Training recipes: a TOML file loaded into a typed, validated `Recipe` whose fields are the file's keys.

A recipe names the model, the adapter method and its hyperparameters, and the phases. Every key is
checked before any work starts: an unknown key, a wrong type, a difficulty mix that does not sum to 1 or
a missing data file is a `RecipeError` naming the recipe file, the line and the key. Paths in a recipe are
relative to the recipe's folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.errors import RecipeError
from tunebench.textfile import decode_utf8
from tunebench.training.recipe_keys import AUTO, INT_LIMIT, PHASE_KEYS, PHASE_REQUIRED, REQUIRED, TOP_KEYS
from tunebench.vocabulary import DIFFICULTIES

__all__ = ["Recipe", "Phase", "load_recipe", "QWEN2_PROJECTIONS"]

# All seven Qwen2 projections: PEFT's own default for Qwen2 targets only q_proj and v_proj.
QWEN2_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Phase:
    """One training phase: its data files, how many examples, their difficulty mix and its ordering."""

    name: str
    kind: str
    data: tuple[Path, ...]
    size: int
    mix: dict[str, float]
    epochs: int | None = None  # None: the recipe's `epochs`


@dataclass(frozen=True)
class Recipe:
    """A validated training recipe; `path` is the file and `sha256` the hash of its bytes."""

    path: Path
    sha256: str
    model: str
    method: str
    output: str
    phases: tuple[Phase, ...]
    validation: tuple[Path, ...]
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = QWEN2_PROJECTIONS
    batch_size: int = 4
    grad_accum: int = 1
    epochs: int = 1
    learning_rate: float = 2e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_length: int = 2048
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int = 2
    validation_size: int | None = None  # None: every example of the validation files
    output_dir: Path | None = None  # None: <config home>/models/<output>
    device: str = "auto"
    hardware: str | None = None  # older name of `price`
    price: str | None = None  # a key of [tool.tunebench.prices]; None: detected (its -spot price when listed)
    bf16: bool = True  # on a GPU that supports it; the CPU always trains in fp32
    gradient_checkpointing: bool = False
    cpu_threads: int | None = None  # torch threads when training on the CPU; None: torch's default
    # How steps run fast (tunebench.training.throughput resolves "auto" from what is installed).
    attn_implementation: str = "auto"
    padding_free: bool | str = "auto"
    liger_kernel: bool | str = "auto"
    merge: bool = False
    description: str = ""
    contamination_suites: tuple[Path, ...] = field(default_factory=tuple)
    report_to: tuple[str, ...] = ()  # experiment trackers; () logs to none
    run_name: str | None = None  # the trackers' run name; None: the output name
    tracking_dir: Path | None = None  # TensorBoard event files and a local MLflow store; None: <output dir>/tracking
    tracking_uri: str | None = None  # an MLflow tracking server (or sqlite:/file: URI) instead of the local store
    overrides: tuple[str, ...] = ()  # the `--set key=value` overrides applied over the file, in order
    effective: dict[str, Any] = field(default_factory=dict, compare=False)  # the file's table after the overrides

    @property
    def quantized(self) -> bool:
        return self.method in ("qlora", "qdora")

    @property
    def use_dora(self) -> bool:
        return self.method in ("dora", "qdora")

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Return the validated recipe in the TOML file at `path`, with `overrides` (`key=value`) applied over it.

    An override is validated exactly like the file's own key; its errors name the `--set` it came from.
    `key` is a top-level key or `phases.NAME.key` (NAME a phase name or index); `value` is a TOML value,
    or a plain string when it does not parse as one (`--set model=tiny`).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    raw = path.read_bytes()
    text = decode_utf8(raw, path, RecipeError, "recipe")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: not valid TOML: {exc}") from exc
    where = _Where(path, text)
    for override in overrides:
        _apply_override(table, override, where)
    _check_table(table, TOP_KEYS, REQUIRED, where, prefix="")
    phases = tuple(_phase(i, p, where) for i, p in enumerate(table["phases"]))
    names = [p.name for p in phases]
    for name in names:
        if names.count(name) > 1:
            raise RecipeError(
                f"{where.at('name')}: key phases.name: expected distinct phase names, found {name!r} twice"
            )
    values = {k: v for k, v in table.items() if k != "phases"}
    values["validation"] = tuple(where.data_path(p, "validation") for p in table["validation"])
    values["contamination_suites"] = tuple(where.path_value(p) for p in table.get("contamination_suites", ()))
    for key in ("target_modules", "report_to"):
        if key in values:
            values[key] = tuple(dict.fromkeys(values[key]))
    for key in ("output_dir", "tracking_dir"):
        if key in values:
            values[key] = where.path_value(values[key])
    for key in ("dropout", "learning_rate", "warmup_ratio", "weight_decay"):
        if key in values:
            values[key] = float(values[key])
    digest = hashlib.sha256(raw)
    if overrides:  # the same file with other overrides is another recipe (resume compares this hash)
        digest.update(json.dumps(list(overrides)).encode("utf-8"))
    return Recipe(
        path=path,
        sha256="sha256:" + digest.hexdigest(),
        phases=phases,
        overrides=tuple(overrides),
        effective=table,
        **values,
    )


def _apply_override(table: dict[str, Any], override: str, where: _Where) -> None:
    """Set `key=value` in the recipe's table; the key's later errors name this override."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise RecipeError(f"{_path_and(where.path, override)}: expected key=value, found {override!r}")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = _bare_value(text.strip())
    parts = key.split(".")
    if parts[0] != "phases":
        if len(parts) > 1:
            raise RecipeError(f"{_path_and(where.path, override)}: key {key}: only phases.NAME.KEY has dots")
        table[key] = value
        where.set_by[(0, key)] = override
        return
    found = table.get("phases")
    phases: list[Any] = found if isinstance(found, list) else []
    if len(parts) != 3:
        raise RecipeError(f"{_path_and(where.path, override)}: key {key}: expected phases.NAME.KEY")
    names = [p.get("name") if isinstance(p, dict) else None for p in phases]
    index = names.index(parts[1]) if parts[1] in names else int(parts[1]) if parts[1].isdigit() else None
    if index is None or index >= len(phases):
        raise RecipeError(
            f"{_path_and(where.path, override)}: key {key}: expected a phase name or index, found {parts[1]!r} "
            f"(phases: {', '.join(str(n) for n in names)})"
        )
    phases[index][parts[2]] = value
    where.set_by[(_phase_line(where, index), parts[2])] = override


def _bare_value(text: str) -> Any:
    """A value the shell stripped of its quotes: a bare word is a string (`--set model=tiny`), and `[a,b]` a
    list of strings (`--set report_to=["tensorboard","mlflow"]` typed without single quotes around it)."""
    if text.startswith("[") and text.endswith("]"):
        return [word.strip() for word in text[1:-1].split(",") if word.strip()]
    return text


def _path_and(path: Path, override: str) -> str:
    return f"{path} (--set {override})"


class _Where:
    """Names places in one recipe file: `file:line` for a key, and resolves the file's relative paths."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()
        self.set_by: dict[tuple[int, str], str] = {}  # (phase start line or 0, key) -> the --set override

    def at(self, key: str, after: int = 0) -> str:
        if (after, key) in self.set_by:
            return _path_and(self.path, self.set_by[(after, key)])
        pattern = re.compile(rf"^\s*(\"?{re.escape(key)}\"?\s*=|\[\[?{re.escape(key)}\]\]?)")
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if pattern.match(line):
                return f"{self.path}:{number}"
        return str(self.path)

    def path_value(self, value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else (self.path.parent / candidate).resolve()

    def data_path(self, value: str, key: str) -> Path:
        resolved = self.path_value(value)
        if not resolved.is_file():
            raise RecipeError(
                f"{self.at(key)}: key {key}: expected an existing data file, found {value!r} (no file {resolved})"
            )
        return resolved


def _check_table(
    table: dict[str, Any],
    spec: dict[str, tuple[Any, Any]],
    required: tuple[str, ...],
    where: _Where,
    prefix: str,
    line_after: int = 0,
) -> None:
    for key, value in table.items():
        if key not in spec:
            raise RecipeError(
                f"{where.at(key, line_after)}: unknown key {prefix}{key}: expected one of {', '.join(sorted(spec))}"
            )
        kinds, check = spec[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and kinds in (int, (int, float))):
            raise RecipeError(
                f"{where.at(key, line_after)}: key {prefix}{key}: expected {_type_name(kinds)}, "
                f"found {value!r} ({type(value).__name__})"
            )
        _check_number(value, f"{where.at(key, line_after)}: key {prefix}{key}", key == "seed")
        if check and not check[0](value):
            raise RecipeError(f"{where.at(key, line_after)}: key {prefix}{key}: expected {check[1]}, found {value!r}")
    for key in required:
        if key not in table:
            raise RecipeError(f"{where.path}: key {prefix}{key}: expected it to be present, found nothing")


def _check_number(value: Any, where: str, own_range: bool) -> None:
    """Raise RecipeError for a non-finite float or an integer beyond INT_LIMIT (unless the key has its own range)."""
    if isinstance(value, bool):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{where}: expected a finite number, found {value!r}")
    if isinstance(value, int) and not own_range and abs(value) > INT_LIMIT:
        raise RecipeError(f"{where}: expected an integer of at most {INT_LIMIT}, found {value}")


def _phase(index: int, table: Any, where: _Where) -> Phase:
    prefix = f"phases[{index}]."
    if not isinstance(table, dict):
        raise RecipeError(f"{where.at('phases')}: key phases[{index}]: expected a table, found {table!r}")
    start = _phase_line(where, index)
    _check_table(table, PHASE_KEYS, PHASE_REQUIRED, where, prefix, line_after=start)
    mix = _mix(table["mix"], where, prefix, start)
    data = tuple(_phase_data(where, p, prefix, start) for p in table["data"])
    return Phase(
        name=table["name"], kind=table["kind"], data=data, size=table["size"], mix=mix, epochs=table.get("epochs")
    )


def _phase_line(where: _Where, index: int) -> int:
    seen = -1
    for number, line in enumerate(where.lines):
        if line.strip() == "[[phases]]":
            seen += 1
            if seen == index:
                return number
    return 0


def _phase_data(where: _Where, value: str, prefix: str, start: int) -> Path:
    resolved = where.path_value(value)
    if not resolved.is_file():
        raise RecipeError(
            f"{where.at('data', start)}: key {prefix}data: expected an existing data file, "
            f"found {value!r} (no file {resolved})"
        )
    return resolved


def _mix(mix: dict[str, Any], where: _Where, prefix: str, start: int) -> dict[str, float]:
    here = where.at("mix", start)
    for key, value in mix.items():
        if key not in DIFFICULTIES:
            raise RecipeError(
                f"{here}: key {prefix}mix.{key}: expected a difficulty ({', '.join(DIFFICULTIES)}), found {key!r}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise RecipeError(f"{here}: key {prefix}mix.{key}: expected a fraction from 0 to 1, found {value!r}")
    total = sum(mix.values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise RecipeError(
            f"{here}: key {prefix}mix: expected fractions summing to 1, found {total:g} "
            f"({', '.join(f'{k}={v:g}' for k, v in mix.items())})"
        )
    return {d: float(mix.get(d, 0.0)) for d in DIFFICULTIES}


def _type_name(kinds: Any) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }
    if kinds == (bool, str):
        return AUTO
    if isinstance(kinds, tuple):
        return "a number"
    return names.get(kinds, str(kinds.__name__))
