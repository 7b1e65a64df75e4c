"""Load and validate tunebench's configuration: `[tool.tunebench]` in pyproject.toml, or tunebench.toml.

The file is found by walking up from the working directory. A `tunebench.toml` (top-level keys, no
`[tool.tunebench]` prefix) beside a pyproject.toml wins over it. Relative paths in the file are relative
to the file's folder. Every key is checked against `CONFIG_SCHEMA`; an unknown key or a wrong type is a
`ConfigError` that names the file, the key and what was expected.
"""

from __future__ import annotations

import functools
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from tunebench.errors import ConfigError
from tunebench.textfile import read_utf8

__all__ = ["Config", "EvalSettings", "CONFIG_SCHEMA", "MAX_CONCURRENCY", "load_config", "find_config_file"]

# The most concurrent streams the load phase opens (one thread each); README "Evaluate a served model".
MAX_CONCURRENCY = 1024
# Every integer in the file is at most this (a count, a size, a token limit); every float is finite.
_INT_LIMIT = 2**31 - 1

_NUMBER = {"type": "number"}
_DOMAIN_NUMBERS = {"type": "object", "additionalProperties": _NUMBER}

_GATE_RULES = {
    "enabled": {"type": "boolean"},
    "min_accuracy": {"type": "number", "minimum": 0, "maximum": 1},
    "min_domain_accuracy": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1}, _DOMAIN_NUMBERS]},
    "min_quality": {"oneOf": [{"type": "number", "minimum": 1, "maximum": 5}, _DOMAIN_NUMBERS]},
    # lm-eval tasks: one floor for every task, or a {task: floor} table (tunebench/gate/tasks.py).
    "min_task_accuracy": {"oneOf": [{"type": "number", "minimum": 0, "maximum": 1}, _DOMAIN_NUMBERS]},
    "latency_budget_s": {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, _DOMAIN_NUMBERS]},
    "ttft_budget_s": {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, _DOMAIN_NUMBERS]},
    "time_per_token_budget_s": {"oneOf": [{"type": "number", "exclusiveMinimum": 0}, _DOMAIN_NUMBERS]},
    "latency_metrics": {"type": "array", "items": {"enum": ["ttft", "time_per_token", "total"]}, "uniqueItems": True},
    "max_drop": {"type": "number", "minimum": 0, "maximum": 1},
    "alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "max_latency_increase": {"type": "number", "minimum": 0},
    # Fail when there is no baseline to compare with (nothing to judge is otherwise reported, not failed).
    "require_baseline": {"type": "boolean"},
    # The paired t test on each question's probability of the right answer (gate.py's prob_drop rule).
    "prob_drop": {"type": "boolean"},
    "max_prob_drop": {"type": "number", "minimum": 0, "maximum": 1},
    "prob_alpha": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "default_model": {"type": "string", "minLength": 1},
        "history": {"type": "string", "minLength": 1},
        "log": {"type": "string", "minLength": 1},
        "home": {"type": "string", "minLength": 1},
        "baseline": {"type": "string", "minLength": 1},
        "record": {"type": "boolean"},
        "models": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                # A served model (engine openai) may be an endpoint with no weights here.
                "if": {"not": {"required": ["endpoint"]}},
                "then": {"required": ["base"]},
                "properties": {
                    "base": {"type": "string", "minLength": 1},
                    "adapter": {"type": "string", "minLength": 1},
                    "status": {"enum": ["production", "archive", "experimental"]},
                    "notes": {"type": "string"},
                    "endpoint": {"type": "string", "pattern": "^https?://"},
                    "served_name": {"type": "string", "minLength": 1},
                    "api_key_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                },
            },
        },
        "prices": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "gate": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **_GATE_RULES,
                "models": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": _GATE_RULES,
                    },
                },
            },
        },
        "eval": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "suites": {"type": "array", "items": {"type": "string"}},
                "probes": {"type": "array", "items": {"type": "string"}},
                "max_new_tokens": {"type": "integer", "minimum": 1},
                "repeats": {"type": "integer", "minimum": 1},
                "warmup": {"type": "integer", "minimum": 0},
                "batch_size": {"type": "integer", "minimum": 1},
                # `judge = "NAME"`, or a `[tool.tunebench.eval.judge]` table (scoring/judge.py).
                "judge": {
                    "oneOf": [
                        {"type": "string", "minLength": 1},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["model"],
                            "properties": {
                                "model": {"type": "string", "minLength": 1},
                                "n": {"type": "integer", "minimum": 1},
                                "max_new_tokens": {"type": "integer", "minimum": 1},
                                "calibrate": {"type": "boolean"},
                            },
                        },
                    ]
                },
                "per_domain": {"type": "integer", "minimum": 1},
                # lm-eval tasks run as items (eval_suites/general): names, extra task YAML folders, docs per task.
                "lm_eval_tasks": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "lm_eval_include": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "lm_eval_limit": {"type": "integer", "minimum": 1},
                # A registered engine's name; checked against tunebench.engines.registry where it is used.
                "engine": {"type": "string", "minLength": 1},
                "endpoint": {"type": "string", "pattern": "^https?://"},
                "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
                "request_timeout_s": {"type": "number", "exclusiveMinimum": 0},
                # engine hf: how generate decodes (engines.hf_generation); auto is compiled on CUDA only.
                "generation_mode": {"enum": ["auto", "eager", "compiled"]},
            },
        },
    },
}

# The shipped prices; a project's [tool.tunebench.prices] adds to and overrides them (training/cost.py uses them).
# USD per GPU-hour of a one-GPU cloud machine (GPU with its share of CPU and memory), on demand and spot, the
# providers' public list prices for us-central1 / us-east-1 as last read by the authors (2025-06; this table was
# written in a session without web access, so the figures were not re-read: check your provider's page and set
# your own under [tool.tunebench.prices]). Sources: Google Cloud "GPU pricing" (A3 H100, A3 Ultra H200,
# A2 A100 40GB, G2 L4: VM list prices per GPU), AWS EC2 on-demand and spot pages (g6e.xlarge, one L40S;
# Google Cloud sells no L40S). h100 and h100-spot are the seed's own figures (its H100 sessions' cost).
DEFAULT_PRICES: dict[str, float] = {
    "h100": 9.80,
    "h100-spot": 2.50,
    "h200": 10.60,
    "h200-spot": 3.70,
    "a100": 3.67,
    "a100-spot": 1.15,
    "l40s": 1.86,
    "l40s-spot": 0.75,
    "l4": 0.71,
    "l4-spot": 0.28,
    "cpu": 0.0,
}


@dataclass(frozen=True)
class EvalSettings:
    """How the eval suites run: which suite files, generation length, repeats, batching."""

    suites: tuple[Path, ...] = ()
    probes: tuple[Path, ...] = ()
    max_new_tokens: int = 64
    repeats: int = 3
    warmup: int = 1
    batch_size: int = 16
    judge: str | None = None  # the judge's registry model
    judge_n: int = 1  # judgments per answer (their agreement is recorded)
    judge_max_new_tokens: int = 96
    judge_calibrate: bool = True  # grade the shipped calibration replies once per run and record the figures
    per_domain: int | None = None  # exact questions per domain required of user suites (None: any)
    lm_eval_tasks: tuple[str, ...] = ()  # lm-eval task names run as items (eval_suites/general)
    lm_eval_include: tuple[Path, ...] = ()  # folders of extra lm-eval task YAMLs
    lm_eval_limit: int | None = None  # the first N documents of each lm-eval task (lm-eval's --limit)
    engine: str = "hf"  # a registered engine's name (tunebench.engines.registry)
    endpoint: str | None = None  # engine openai: the server's base URL (.../v1)
    concurrency: int = 1  # > 1: the probes' load phase runs that many concurrent streams
    request_timeout_s: float = 120.0  # engine openai: per request
    generation_mode: str = "auto"  # engine hf: auto (compiled on CUDA), eager, or compiled (static cache)


@dataclass(frozen=True)
class Config:
    """The validated configuration; `source` is the file it came from (None: built-in defaults)."""

    root: Path
    source: Path | None = None
    default_model: str = "tiny"
    history: str = ".tunebench/history"
    log: Path = Path("BENCHMARK_LOG.md")
    home: Path = Path(".tunebench")
    baseline: str = "auto"
    record: bool = True
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    gate: dict[str, Any] = field(default_factory=dict)
    eval: EvalSettings = field(default_factory=EvalSettings)

    @property
    def history_uri(self) -> str:
        """The history location: a URI as written (history.store says which schemes it has: `gs://`; an unknown
        one is refused there, never taken for a local folder named `s3:`), or an absolute local folder."""
        if "://" in self.history:
            return self.history
        return str(_resolve(self.root, self.history))

    def history_at(self, given: str | None) -> str:
        """The history a command's `--history` names, else `history_uri`. A local folder given on the command
        line is relative to where the command runs, not to the config (`~` is the home folder, as the pytest
        plugin's --history reads it); a URI is taken as written."""
        if not given:
            return self.history_uri
        return given if "://" in given else str(Path(given).expanduser().resolve())


def find_config_file(start: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """Return the nearest config file at or above `start` and its tunebench table, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        dedicated = folder / "tunebench.toml"
        if dedicated.is_file():
            return dedicated, _read_toml(dedicated)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _tunebench_table(pyproject, _read_toml(pyproject))
            if table is not None:
                return pyproject, table
    return None


def load_config(start: Path | str | None = None) -> Config:
    """Return the configuration for `start` (default: the working directory), validated."""
    return _load_cached(Path(start or Path.cwd()).resolve(), os.environ.get("TUNEBENCH_CONFIG"))


@functools.lru_cache(maxsize=16)
def _load_cached(start: Path, override: str | None) -> Config:
    if override:
        path = Path(override).resolve()
        if not path.is_file():
            raise ConfigError(f"TUNEBENCH_CONFIG={override}: no such file")
        table = _read_toml(path)
        if path.name == "pyproject.toml":
            table = _tunebench_table(path, table) or {}
        found: tuple[Path, dict[str, Any]] | None = (path, table)
    else:
        found = find_config_file(start)
    if found is None:
        return Config(root=start)
    path, table = found
    _validate(path, table)
    return _build(path, table)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_utf8(path, ConfigError, "config file"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _tunebench_table(path: Path, document: dict[str, Any]) -> Any:
    """Return pyproject's `[tool.tunebench]` value (None: absent); `tool` must be a table (`tool = 5` is an error)."""
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: key tool: expected a table, found {tool!r}")
    return tool.get("tunebench")


def _check_numbers(path: Path, value: Any, key: str) -> None:
    """Raise ConfigError for a non-finite float or an integer beyond _INT_LIMIT anywhere under `value`."""
    if isinstance(value, dict):
        for name, item in value.items():
            _check_numbers(path, item, f"{key}.{name}".strip("."))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_numbers(path, item, f"{key}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: key {key}: expected a finite number, found {value!r}")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _INT_LIMIT:
        raise ConfigError(f"{path}: key {key}: expected an integer of at most {_INT_LIMIT}, found {value}")


def _key_prefix(path: Path) -> str:
    return "tool.tunebench" if path.name == "pyproject.toml" else ""


def _validate(path: Path, table: dict[str, Any]) -> None:
    if isinstance(table, dict):
        _check_numbers(path, table, _key_prefix(path))
    errors = sorted(jsonschema.Draft202012Validator(CONFIG_SCHEMA).iter_errors(table), key=lambda e: list(e.path))
    if not errors:
        return
    lines = [_describe(path, error) for error in errors]
    raise ConfigError("\n".join(lines))


def _describe(path: Path, error: jsonschema.ValidationError) -> str:
    key = ".".join([_key_prefix(path), *map(str, error.absolute_path)]).strip(".") or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where = f"{key}." if key != "<top level>" else ""
        expected = f"one of {', '.join(allowed)}" if allowed else "no other keys"
        return f"{path}: unknown key {where}{unknown[0]!s}: expected {expected}"
    expected = _expected(error)
    return f"{path}: key {key}: expected {expected}, found {error.instance!r}"


def _expected(error: jsonschema.ValidationError) -> str:
    schema = error.schema
    if error.validator == "required":
        return f"the key {error.message.split(chr(39))[1]!r} to be present"
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "oneOf" in schema:
        return " or ".join(_type_words(s) for s in schema["oneOf"])
    return _type_words(schema)


def _type_words(schema: dict[str, Any]) -> str:
    words = {
        "string": "a string",
        "number": "a number",
        "integer": "an integer",
        "boolean": "true or false",
        "object": "a table",
        "array": "a list",
    }
    text = words.get(schema.get("type", ""), "a value")
    bounds = []
    if "minimum" in schema:
        bounds.append(f">= {schema['minimum']}")
    if "exclusiveMinimum" in schema:
        bounds.append(f"> {schema['exclusiveMinimum']}")
    if "maximum" in schema:
        bounds.append(f"<= {schema['maximum']}")
    if schema.get("minLength"):
        bounds.append("non-empty")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _resolve(root: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else root / path


def _judge_settings(judge: str | dict[str, Any] | None) -> dict[str, Any]:
    if judge is None or isinstance(judge, str):
        return {"judge": judge}
    return {
        "judge": judge["model"],
        "judge_n": judge.get("n", 1),
        "judge_max_new_tokens": judge.get("max_new_tokens", 96),
        "judge_calibrate": judge.get("calibrate", True),
    }


def _build(path: Path, table: dict[str, Any]) -> Config:
    root = path.parent
    eval_table = table.get("eval", {})
    settings = EvalSettings(
        suites=tuple(_resolve(root, p) for p in eval_table.get("suites", ())),
        probes=tuple(_resolve(root, p) for p in eval_table.get("probes", ())),
        lm_eval_tasks=tuple(eval_table.get("lm_eval_tasks", ())),
        lm_eval_include=tuple(_resolve(root, p) for p in eval_table.get("lm_eval_include", ())),
        **{
            k: v
            for k, v in eval_table.items()
            if k not in ("suites", "probes", "judge", "lm_eval_tasks", "lm_eval_include")
        },
        **_judge_settings(eval_table.get("judge")),
    )
    return Config(
        root=root,
        source=path,
        default_model=table.get("default_model", "tiny"),
        history=table.get("history", ".tunebench/history"),
        log=_resolve(root, table.get("log", "BENCHMARK_LOG.md")),
        home=_resolve(root, table.get("home", ".tunebench")),
        baseline=table.get("baseline", "auto"),
        record=table.get("record", True),
        models=dict(table.get("models", {})),
        prices={**DEFAULT_PRICES, **table.get("prices", {})},
        gate=dict(table.get("gate", {})),
        eval=settings,
    )
