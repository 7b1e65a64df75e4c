"""Command-line options and their `[tool.tunebench]` defaults, resolved into one validated `Settings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tunebench.config import Config, load_config
from tunebench.errors import TunebenchError
from tunebench.history.store import HistoryStore, open_store
from tunebench.registry import Registry

__all__ = ["Settings", "add_options", "resolve_settings", "is_worker"]

BASELINE_WORDS = ("auto", "none")


@dataclass(frozen=True)
class Settings:
    """What this run does: which model, which baseline, where the history is, whether to record and gate."""

    config: Config
    model: str
    baseline: str
    history: str
    record: bool
    gate: bool
    production: tuple[str, ...]
    models: tuple[str, ...]


def add_options(parser: pytest.Parser) -> None:
    """Register tunebench's options (each also settable in `[tool.tunebench]`)."""
    group = parser.getgroup("tunebench", "tunebench evaluation")
    group.addoption(
        "--model",
        dest="tunebench_model",
        metavar="NAME",
        default=None,
        help="registry model to evaluate (default: [tool.tunebench] default_model, else tiny)",
    )
    group.addoption(
        "--baseline",
        dest="tunebench_baseline",
        metavar="WHICH",
        default=None,
        help="run to compare with: auto (newest complete run of the production model on the same "
        "suite files), none, a model name, or a record id (default: [tool.tunebench] baseline)",
    )
    group.addoption(
        "--history",
        dest="tunebench_history",
        metavar="URI",
        default=None,
        help="history store: a local folder or gs://bucket/prefix (default: [tool.tunebench] history)",
    )
    group.addoption(
        "--no-record",
        dest="tunebench_record",
        action="store_false",
        default=None,
        help="run and gate, but write nothing to the history",
    )
    group.addoption(
        "--no-gate",
        dest="tunebench_gate",
        action="store_false",
        default=None,
        help="record, but do not judge the run (exit status from the tests alone)",
    )
    group.addoption(
        "--require-baseline",
        dest="tunebench_require_baseline",
        action="store_true",
        default=None,
        help="fail the gate when no baseline is found (default: [tool.tunebench.gate] require_baseline, "
        "else a run without baseline or floors is reported as nothing to judge)",
    )


def is_worker(config: pytest.Config) -> bool:
    """Return True inside a pytest-xdist worker (which only attaches outcomes; the controller records)."""
    return hasattr(config, "workerinput")


def resolve_settings(config: pytest.Config) -> Settings:
    """Return the run's settings; a bad value is a pytest.UsageError naming option, value and what is allowed."""
    if config.getoption("dist", None) == "each":
        raise pytest.UsageError(
            "--dist each: tunebench refuses it (every worker would run every question, and "
            "the record would count each several times); use -n N with --dist load"
        )
    try:
        tb_config = load_config(config.rootpath)
    except TunebenchError as exc:
        raise pytest.UsageError(f"tunebench configuration: {exc}") from None
    registry = Registry(tb_config)
    model = config.getoption("tunebench_model") or tb_config.default_model
    where = _namer(config, tb_config)
    try:
        registry.get(model)
    except TunebenchError as exc:
        raise pytest.UsageError(f"{where('model', 'default_model')}: {exc}") from None
    history = config.getoption("tunebench_history") or tb_config.history_uri
    if "://" not in history:
        history = str(Path(history).expanduser().resolve())  # relative to where pytest runs
    record = _flag(config.getoption("tunebench_record"), tb_config.record)
    gate = _flag(config.getoption("tunebench_gate"), tb_config.gate.get("enabled", True))
    baseline = config.getoption("tunebench_baseline") or tb_config.baseline
    settings = Settings(
        tb_config,
        model,
        baseline,
        history,
        record,
        gate,
        tuple(e.name for e in registry.entries() if e.status == "production"),
        tuple(registry.names()),
    )
    if not is_worker(config):
        store = _check_history(history, settings, where("history", "history"))
        _check_baseline(baseline, settings, store, where("baseline", "baseline"))
    return settings


def _flag(option: bool | None, configured: bool) -> bool:
    return configured if option is None else option


def _namer(config: pytest.Config, tb_config: Config):
    """Return where(option, key): "--option" when given on the command line, else the config key."""

    def where(option: str, key: str) -> str:
        if config.getoption(f"tunebench_{option}") is not None or tb_config.source is None:
            return f"--{option}"
        prefix = "tool.tunebench." if tb_config.source.name == "pyproject.toml" else ""
        return f"{tb_config.source} key {prefix}{key}"

    return where


def _check_history(uri: str, settings: Settings, name: str) -> HistoryStore | None:
    if not (settings.record or settings.gate):
        return None
    if "://" not in uri and Path(uri).exists() and not Path(uri).is_dir():
        raise pytest.UsageError(
            f"{name}: {uri!r} is a file; expected a folder (created if missing) or gs://bucket/prefix"
        )
    try:
        store = open_store(uri)
        if settings.record:
            store.check_writable()  # fail before the first item runs, not after the whole evaluation
    except TunebenchError as exc:
        raise pytest.UsageError(f"{name}: {uri!r}: {exc}") from None
    return store


def _check_baseline(value: str, settings: Settings, store: HistoryStore | None, name: str) -> None:
    if value in BASELINE_WORDS or value in settings.models:
        return
    allowed = f"auto, none, a model name ({', '.join(settings.models)}) or a record id in the history"
    if store is None:
        raise pytest.UsageError(f"{name}: {value!r}: expected {allowed}")
    try:
        known = store.read_all().locations
    except TunebenchError as exc:
        raise pytest.UsageError(f"{name}: {value!r}: cannot read the history {settings.history}: {exc}") from None
    if value not in known:
        raise pytest.UsageError(f"{name}: {value!r} is not {allowed} {settings.history}")
