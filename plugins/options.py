"""Command-line options and their `[tool.tunebench]` defaults, resolved into one validated `Settings`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tunebench.config import Config, load_config
from tunebench.engines.registry import engine_names
from tunebench.errors import RegistryError, TunebenchError
from tunebench.history.store import HistoryStore, open_store
from tunebench.registry import ModelEntry, Registry, check_model_reference

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
    engine: str = "hf"  # a registered engine's name (tunebench.engines.registry)
    entry: ModelEntry | None = None  # what --model names: a registry entry, a folder, a hub id or a served name
    concurrency: int = 1  # > 1: the probes' load phase runs that many concurrent streams
    generation_mode: str = "auto"  # engine hf: auto, eager or compiled (--generation-mode)


def add_options(parser: pytest.Parser) -> None:
    """Register tunebench's options (each also settable in `[tool.tunebench]`)."""
    group = parser.getgroup("tunebench", "tunebench evaluation")
    group.addoption(
        "--model",
        dest="tunebench_model",
        metavar="NAME",
        default=None,
        help="model to evaluate: a registry name, a local model folder, a hub id, or (with --engine openai) "
        "the served model id (default: [tool.tunebench] default_model, else tiny)",
    )
    group.addoption(
        "--engine",
        dest="tunebench_engine",
        choices=engine_names(),
        default=None,
        help="where the model runs: hf (in-process transformers), openai (an OpenAI-compatible server at "
        "--endpoint), vllm (in-process vLLM) (default: [tool.tunebench.eval] engine, else openai for a "
        "registry entry with an endpoint, else hf)",
    )
    group.addoption(
        "--endpoint",
        dest="tunebench_endpoint",
        metavar="URL",
        default=None,
        help="engine openai: the server's base URL, e.g. http://127.0.0.1:8000/v1 "
        "(default: the registry entry's endpoint, else [tool.tunebench.eval] endpoint)",
    )
    group.addoption(
        "--concurrency",
        dest="tunebench_concurrency",
        metavar="N",
        type=int,
        default=None,
        help="run the probes' load phase with N concurrent streams and record TTFT, TPOT/ITL, end-to-end "
        "p50/p90/p99 and output tokens/s at that load (default: [tool.tunebench.eval] concurrency, else 1: none)",
    )
    group.addoption(
        "--generation-mode",
        dest="tunebench_generation_mode",
        choices=("auto", "eager", "compiled"),
        default=None,
        help="engine hf: how generation decodes: eager, or compiled (static KV cache, torch.compile'd decoding "
        "step, warmed before timing); auto is compiled on CUDA, eager elsewhere (default: [tool.tunebench.eval] "
        "generation_mode, else auto)",
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
    entry, engine, concurrency = _engine_settings(config, tb_config, registry, model, where)
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
        engine,
        entry,
        concurrency,
        config.getoption("tunebench_generation_mode") or tb_config.eval.generation_mode,
    )
    if not is_worker(config):
        _check_model_storage(model, registry, where("model", "default_model"))
        store = _check_history(history, settings, where("history", "history"))
        _check_baseline(baseline, settings, store, where("baseline", "baseline"))
    return settings


def _engine_settings(config: pytest.Config, tb_config: Config, registry: Registry, model: str, where):
    """Return (entry, engine, concurrency) for --model/--engine/--endpoint/--concurrency and their config keys."""
    from tunebench.engines.registry import engine_class
    from tunebench.engines.select import pick_engine, resolve_model

    asked = config.getoption("tunebench_engine")
    endpoint = config.getoption("tunebench_endpoint")
    known = registry.get(model) if model in registry else None
    try:
        engine = pick_engine(asked, known, tb_config.eval.engine)
    except TunebenchError as exc:
        raise pytest.UsageError(f"{where('engine', 'eval.engine')}: {exc}") from None
    served = engine_class(engine).served
    try:
        endpoint = endpoint or (known.endpoint if known else None) or tb_config.eval.endpoint
        entry = resolve_model(model, registry, engine, endpoint if served else None)
    except TunebenchError as exc:
        raise pytest.UsageError(f"{where('model', 'default_model')}: {exc}") from None
    if served and not entry.endpoint:
        raise pytest.UsageError(
            f"--engine {engine}: model {model!r} has no endpoint; pass --endpoint URL (e.g. "
            "http://127.0.0.1:8000/v1), or set [tool.tunebench.eval] endpoint or the registry entry's endpoint"
        )
    if engine_class(engine).needs_weights and not entry.base:
        raise pytest.UsageError(f"--engine {engine}: model {model!r} has no weights here (only an endpoint)")
    concurrency = _concurrency(config, tb_config)
    return entry, engine, concurrency


def _concurrency(config: pytest.Config, tb_config: Config) -> int:
    """--concurrency within 1..MAX_CONCURRENCY (0 is refused, not read as "unset"), else the config's."""
    from tunebench.config import MAX_CONCURRENCY

    given = config.getoption("tunebench_concurrency")
    if given is None:
        return tb_config.eval.concurrency
    if not 1 <= given <= MAX_CONCURRENCY:
        raise pytest.UsageError(f"--concurrency: expected 1 to {MAX_CONCURRENCY}, found {given}")
    return given


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


def _check_model_storage(model: str, registry: Registry, name: str) -> None:
    """One cause, one message: a model that cannot be reached fails here, once, not again in every test."""
    if model not in registry or getattr(registry.get(model), "endpoint", None):
        return  # a folder or hub id given as --model is checked where it loads; a served model has no weights here
    entry = registry.get(model)
    try:
        check_model_reference(entry.base, registry, f"model {model!r}: key base")
        adapter = Path(registry.resolve_local(entry.adapter)).expanduser() if entry.adapter else None
        if adapter is not None and (adapter.is_absolute() or entry.adapter.startswith(".")) and not adapter.is_dir():
            raise RegistryError(f"model {model!r}: key adapter: no folder {adapter}")
        remote = [u for u in (entry.base, entry.adapter) if u and u.startswith("gs://")]
        if remote:
            from tunebench.storage.gcs import make_client

            try:
                make_client()  # credentials are looked up once, here: without them every test would fail alike
            except TunebenchError as exc:
                raise RegistryError(f"model {model!r} is stored at {remote[0]}: {exc}") from None
    except TunebenchError as exc:
        raise pytest.UsageError(f"{name}: {exc}") from None


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
        history = store.read_all()
    except TunebenchError as exc:
        raise pytest.UsageError(f"{name}: {value!r}: cannot read the history {settings.history}: {exc}") from None
    known, rejected = history.locations, history.problem_for(value)
    if value not in known and rejected is not None:
        raise pytest.UsageError(
            f"{name}: {value!r}: the record at {rejected.location} cannot be trusted: {rejected.reason}"
        )
    if value not in known:
        raise pytest.UsageError(f"{name}: {value!r} is not {allowed} {settings.history}")
