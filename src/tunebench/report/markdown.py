"""Render the benchmark log (Markdown) from history records, in the seed log's sections and columns.

Imported values render exactly as written ("~80%" stays "~80%"); a value nobody measured renders as "—"
(or the "TBD" it was written as). The output depends on the records alone, so the same history renders to
the same bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunebench.memory import format_bytes
from tunebench.report.views import NOTE_TITLES, EvalView, History, TrainingView

__all__ = [
    "render_log",
    "render_log_file",
    "publish_remote_log",
    "format_percent",
    "format_interval",
    "dollars",
    "write_replacing",
    "DASH",
    "RENDER_COMMAND",
]

DASH = "—"
RENDER_COMMAND = "tunebench log render"
_DOMAINS = ("retirement_planning", "federal_income_tax", "estate_planning", "investment", "compliance")
_PHASE_KINDS = {
    "domain_blocks": "Domain Blocks",
    "mixed": "Mixed Curriculum",
    "mixed_curriculum": "Mixed Curriculum",
    "stress": "Stress Epoch",
    "stress_epoch": "Stress Epoch",
}
_DIFFICULTIES = ("easy", "medium", "hard", "extreme")


def render_log(
    records: Iterable[dict[str, Any]],
    *,
    command: str = RENDER_COMMAND,
    history_location: str | None = None,
    plots: Mapping[str, str] | None = None,
    registry_status: Mapping[str, str] | None = None,
) -> str:
    """Return the benchmark log for `records`: sessions newest first, then the summary sections.

    `plots` maps a plot's title to its path relative to the log; `registry_status` maps model names to
    their registry status (the history does not hold it).
    """
    history = History.of(records)
    numbers = history.session_numbers()
    parts = [_header(command, history_location)]
    parts.append(_sessions(history, numbers))
    parts.append(_model_comparison(history))
    parts.append(_benchmark(history))
    parts.append(_registry(history, registry_status or {}))
    parts.append(_cost(history, numbers))
    run_notes = _run_notes(history)
    if run_notes:
        parts.append(run_notes)
    if plots:
        parts.append(_plots(plots))
    parts.append(_footer(history))
    return "\n---\n\n".join(part.rstrip("\n") + "\n" for part in parts)


def render_log_file(
    config: Any, out: Path | str | None = None, *, command: str = RENDER_COMMAND, with_plots: bool = True
) -> Path:
    """Render the history of `config` to `out` (default: the configured log) with its plots; return the path.

    With a `gs://` history the log is also published beside it (`<history>/<log name>`), see
    `publish_remote_log`, so CI jobs on several machines share one log that lists every run.
    """
    target = Path(out) if out is not None else Path(config.log)
    if config.history_uri.startswith("gs://"):
        # The shared log's last render read the history after the object it replaced: reuse those records.
        records = publish_remote_log(config, command=command, log_name=target.name)[1]
    else:
        records = _read_history(config)
    plots = {}
    if with_plots:
        from tunebench.report.plots import render_plots

        plots = render_plots(records, target.parent / f"{target.stem}_plots", relative_to=target.parent)
    text = _render_config_history(config, records, command, plots)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_replacing(target, text.encode("utf-8"))
    return target


def publish_remote_log(
    config: Any, *, command: str = RENDER_COMMAND, log_name: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Replace the log object beside a `gs://` history with a fresh render; return its URI and the records.

    The write is conditional on the generation read (`publish_text_replacing`) and the history is read
    again on every attempt, after the object was read, so concurrent CI jobs never drop a run. The
    remote log has no plots: its PNGs stay with the local copy.
    """
    from tunebench.storage import publish_text_replacing

    uri = f"{config.history_uri.rstrip('/')}/{log_name or Path(config.log).name}"
    read: list[list[dict[str, Any]]] = []

    def render(_current: str | None) -> str:
        read.append(_read_history(config))
        return _render_config_history(config, read[-1], command, {})

    publish_text_replacing(uri, render)
    return uri, read[-1]


def _read_history(config: Any) -> list[dict[str, Any]]:
    from tunebench.history.store import open_store

    result = open_store(config.history_uri).read_all()
    for problem in result.problems:
        print(f"tunebench: warning: history record skipped: {problem}", file=sys.stderr)
    return result.records


def _render_config_history(config: Any, records: list[dict[str, Any]], command: str, plots: dict) -> str:
    from tunebench.registry import Registry

    status = {entry.name: entry.status for entry in Registry(config).entries()}
    return render_log(records, command=command, history_location=config.history, plots=plots, registry_status=status)


def write_replacing(target: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `target` and rename it over `target`: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- formatting ---------------------------------------------------------------------------------------------
def format_percent(value: float | None, digits: int = 1) -> str:
    """Return a proportion 0..1 as "62.0%", or "—"."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def format_interval(low: float | None, high: float | None) -> str:
    """Return a 95% interval as "[52.2%, 71.0%]", or "—"."""
    return DASH if low is None or high is None else f"[{format_percent(low)}, {format_percent(high)}]"


def _number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return DASH
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}s"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def dollars(value: float | None, approximate: bool = False) -> str:
    """Return USD as "$1.75" (or "$0.0012" below a cent, "~$1.75" when approximate), or "—"."""
    if value is None:
        return DASH
    text = f"${value:.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
    return ("~" if approximate else "") + text


def _escape(text: Any) -> str:
    """Return a measured value as a table cell: pipes escaped, newlines folded."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("-" * max(3, len(c) + 2) for c in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _cell_text(cell: dict[str, Any] | None) -> str:
    return DASH if cell is None else cell["text"]


def _bold(text: str) -> str:
    return f"**{text}**" if text and text != DASH else text


# -- sections -----------------------------------------------------------------------------------------------
def _header(command: str, history_location: str | None) -> str:
    where = f" (`{history_location}`)" if history_location else ""
    return "\n".join(
        [
            "# Training Benchmark Log",
            "",
            f"<!-- Generated by `{command}` from the benchmark history{where}. Do not edit: changes are lost on the "
            "next render. -->",
            "",
            f"> **Generated file.** Rendered from the benchmark history{where} by `{command}` (also run after every "
            "recorded `pytest eval_suites` run); do not edit it by hand. Add difficulties, improvements and notes "
            'with `tunebench history note RUN_ID "..."`.',
            "",
            "**Purpose:** Track all model training sessions, results, and comparisons",
        ]
    )


def _footer(history: History) -> str:
    stamps = [r["started_at"] for r in (*history.sessions, *history.rows)]
    stamps += [v.started_at for v in (*history.trainings, *history.evals)]
    return f"*Last Updated: {max(stamps)[:10]}*" if stamps else "*Last Updated: never (the history is empty)*"


def _sessions(history: History, numbers: dict[str, int]) -> str:
    entries: list[tuple[str, int, str]] = []
    for session in history.sessions:
        entries.append((session["started_at"], numbers[session["run_id"]], _imported_session(session, history)))
    for training in history.trainings:
        number = numbers[training.run_id]
        entries.append((training.started_at, number, _training_session(training, number, history)))
    entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
    body = "\n---\n\n".join(text for _, _, text in entries) if entries else "_No training sessions recorded._\n"
    return "## Training Sessions\n\n" + body


def _imported_session(session: dict[str, Any], history: History) -> str:
    status = f" {session['status']}" if session.get("status") else ""
    lines = [
        f"### Session {session['session']}: {session['title']} ({session['date']}){status}",
        "",
        f"*Run `{session['run_id']}` · imported from {session['imported_from']['file']} "
        f"line {session['imported_from']['line']}*",
        "",
    ]
    pending = {section: history.notes_for(session["run_id"], section) for section in NOTE_TITLES}
    blocks = list(session["blocks"])
    for section, title in NOTE_TITLES.items():
        if pending[section] and not any(b["type"] == "list" and b["title"] == title for b in blocks):
            position = next((i for i, b in enumerate(blocks) if b["type"] == "field"), len(blocks))
            blocks.insert(position, {"type": "list", "title": title, "items": []})
    titles = {title: section for section, title in NOTE_TITLES.items()}
    for block in blocks:
        if block["title"] and block["type"] != "field":
            lines.append(f"**{block['title']}:**")
        if block["type"] == "table":
            lines += _table(block["columns"], [[c["text"] for c in row] for row in block["rows"]])
        elif block["type"] == "list":
            extra = pending.get(titles.get(block["title"], ""), [])
            lines += [f"- {item}" for item in [*block["items"], *extra]]
        else:
            lines.append(f"**{block['title']}:** {block['value']['text']}")
        lines.append("")
    return "\n".join(lines)


def _training_session(run: TrainingView, number: int, history: History) -> str:
    status = " ✅ COMPLETE" if run.status == "completed" else f" ⚠️ {run.status.upper()}"
    lines = [
        f"### Session {number}: {run.output_name} ({run.date}){status}",
        "",
        f"*Run `{run.run_id}` · measured · recipe `{run.recipe_name or DASH}`*",
        "",
    ]
    attributes = [
        ("Date", run.date),
        ("Model", run.base_model or DASH),
        ("Method", _method(run)),
        ("GPU", run.hardware),
        ("VM", run.host or DASH),
    ]
    lines += _table(["Attribute", "Value"], [(f"**{k}**", _escape(v)) for k, v in attributes]) + [""]
    lines += ["**Training Data:**"] + _table(["Phase", "Examples", "Difficulty Mix"], _data_rows(run)) + [""]
    lines += ["**Hyperparameters:**"] + _table(["Parameter", "Value"], _hyper_rows(run)) + [""]
    lines += ["**Training Results:**"]
    lines += _table(["Phase", "Final Loss", "Mean Loss", "Steps", "Time", "Tokens/s"], _result_rows(run)) + [""]
    if run.validation_loss is not None:
        lines += [f"**Validation Loss:** {_number(run.validation_loss)}", ""]
    evaluation = history.latest_eval_of(run.output_name)
    if evaluation is not None:
        lines += [f"**Inference Test Results** (eval run `{evaluation.run_id}`, {evaluation.date}):"]
        lines += _table(["Domain", "Latency", "Quality (1-5)", "Accuracy"], _inference_rows(evaluation)) + [""]
    for section, title in NOTE_TITLES.items():
        notes = history.notes_for(run.run_id, section)
        if notes:
            lines += [f"**{title}:**"] + [f"- {_escape(n)}" for n in notes] + [""]
    lines += [
        f"**Output Model:** `{run.output_name}` (`{run.output_location or DASH}`)",
        "",
        f"**Commit Hash:** `{(run.commit or DASH)[:7]}`",
    ]
    if run.cost_usd is not None:
        lines += ["", f"**Cost:** {dollars(run.cost_usd)}" + (f" ({run.cost_hardware})" if run.cost_hardware else "")]
    return "\n".join(lines) + "\n"


def _method(run: TrainingView) -> str:
    method = {"lora": "LoRA", "dora": "DoRA", "qlora": "4-bit LoRA", "qdora": "4-bit DoRA"}.get(
        (run.method or "").lower(), run.method or DASH
    )
    phases = len(run.phases)
    return f"{method} ({phases}-Phase Curriculum)" if phases > 1 else f"{method} (Flat Training)"


def _phase_label(phase: Any) -> str:
    kind = phase.get("kind")
    kind = _PHASE_KINDS.get(kind, kind)
    return f"{phase.name} ({kind})" if kind else phase.name


def _mix(phase: Any) -> str:
    """The difficulty mix the phase drew, from its counts (what it got), e.g. "35% easy, 35% medium"."""
    counts = phase.get("difficulty_counts") or {}
    total = sum(counts.values())
    if not total:
        return DASH
    ordered = [d for d in _DIFFICULTIES if d in counts] + sorted(set(counts) - set(_DIFFICULTIES))
    return ", ".join(f"{100 * counts[d] / total:.0f}% {d}" for d in ordered if counts[d])


def _data_rows(run: TrainingView) -> list[tuple[str, ...]]:
    rows = [(_phase_label(p), _number(p.get("examples")), _mix(p)) for p in run.phases]
    rows.append(("**Total**", _bold(_number(run.examples)), "Curriculum progression" if len(run.phases) > 1 else ""))
    return rows


def _hyper_rows(run: TrainingView) -> list[tuple[str, str]]:
    hp = run.hyperparameters
    modules = hp.get("target_modules")
    rows = [
        ("Rank (r)", hp.get("rank")),
        ("Alpha", hp.get("alpha")),
        ("Dropout", hp.get("dropout")),
        ("Target Modules", ", ".join(modules) if modules else None),
        ("Batch Size", hp.get("batch_size")),
        ("Grad Accum", hp.get("grad_accum")),
        ("Effective Batch", hp.get("effective_batch")),
        ("Epochs/Phase", hp.get("epochs")),
        ("Learning Rate", hp.get("learning_rate")),
        ("LR Schedule", hp.get("lr_scheduler")),
        ("Max Length", hp.get("max_length")),
        ("Seed", hp.get("seed")),
    ]
    return [(name, DASH if value is None else _escape(value)) for name, value in rows]


def _result_rows(run: TrainingView) -> list[tuple[str, ...]]:
    rows = []
    for phase in run.phases:
        tps = phase.get("tokens_per_s")
        rows.append(
            (
                _phase_label(phase),
                _number(phase.get("final_loss")),
                _number(phase.get("mean_loss")),
                _number(phase.get("steps")),
                _minutes(phase.get("wall_s")),
                DASH if tps is None else f"{tps:,.0f}",
            )
        )
    rows.append(
        (
            "**Total**",
            _bold(_number(run.final_loss)),
            DASH,
            _bold(_number(run.total_steps)),
            _bold(_minutes(run.total_seconds)),
            DASH,
        )
    )
    return rows


def _inference_rows(evaluation: EvalView) -> list[tuple[str, ...]]:
    latency, quality, accuracy = evaluation.latency_by_domain_s, evaluation.quality_by_domain, evaluation.by_domain
    domains = [d for d in _DOMAINS if d in latency or d in quality or d in accuracy]
    domains += sorted((set(latency) | set(quality) | set(accuracy)) - set(domains))
    rows = []
    for domain in domains:
        share = accuracy.get(domain)
        rows.append(
            (
                domain,
                _seconds(latency.get(domain)),
                _number(quality.get(domain), 1),
                DASH if share is None else f"{format_percent(share.value)} ({share.k}/{share.n})",
            )
        )
    return rows


def _imported_table(rows: list[dict[str, Any]], columns: list[str]) -> list[list[str]]:
    """Return imported rows' cells under `columns`: as written where the row has the column, else "—"."""
    out = []
    for row in rows:
        written = dict(zip(row["columns"], row["cells"], strict=False))
        out.append([_cell_text(written.get(column)) for column in columns])
    return out


def _merged_columns(base: list[str], rows: list[dict[str, Any]]) -> list[str]:
    extra = [c for row in rows for c in row["columns"] if c not in base]
    return base + list(dict.fromkeys(extra))


def _model_comparison(history: History) -> str:
    imported = history.rows_of("model_comparison")
    columns = _merged_columns(["Model", "Method", "Data", "Loss", "Val Loss", "Time", "GPU"], imported)
    measured = []
    for run in reversed(history.trainings):
        values = {
            "Model": run.output_name,
            "Method": _method(run),
            "Data": _number(run.examples),
            "Loss": _number(run.final_loss),
            "Val Loss": _number(run.validation_loss),
            "Time": _minutes(run.total_seconds),
            "GPU": run.hardware,
        }
        measured.append([_escape(values.get(c, DASH)) for c in columns])
    rows = measured + _imported_table(imported, columns)
    body = _table(columns, rows) if rows else ["_No training runs recorded._"]
    return "\n".join(["## Model Comparison", "", *body])


def _benchmark(history: History) -> str:
    imported = history.rows_of("benchmark")
    columns = _merged_columns(
        [
            "Model",
            "Accuracy",
            "95% Interval",
            "Questions",
            "Avg Latency",
            "Quality (1-5)",
            "Gate",
            "Peak Memory",
            "Run",
            "Date",
            "Notes",
        ],
        imported,
    )
    measured = []
    for run in reversed(history.evals):
        accuracy = run.accuracy
        values = {
            "Model": run.model,
            "Accuracy": format_percent(accuracy and accuracy.value),
            "95% Interval": format_interval(accuracy and accuracy.low, accuracy and accuracy.high),
            "Questions": DASH if accuracy is None else f"{accuracy.k}/{accuracy.n}",
            "Avg Latency": _seconds(run.mean_latency_s),
            "Quality (1-5)": _number(run.quality, 2),
            "Gate": run.gate_verdict,
            "Peak Memory": _peak_memory(run.record.get("resources")),
            "Run": f"`{run.run_id}`",
            "Date": run.date,
            "Notes": _eval_notes(run, history),
        }
        measured.append([_escape(values.get(c, DASH)) for c in columns])
    subtitle = next((r["subtitle"] for r in imported if r.get("subtitle")), None) or "Evaluation Benchmark"
    rows = measured + _imported_table(imported, columns)
    lines = ["## Benchmark Evaluation Results", "", f"### {subtitle}", ""]
    lines += _table(columns, rows) if rows else ["_No evaluation runs recorded._"]
    lines += _domain_accuracy(history) + _gate_details(history)
    return "\n".join(lines)


def _peak_memory(resources: dict[str, Any] | None) -> str:
    """Return an eval run's peak as "812 MB RSS" or "29.8 GB GPU", or "—" (older records did not measure it)."""
    if not resources or resources.get("peak_memory_bytes") is None:
        return DASH
    kind = "GPU" if resources.get("memory_kind") == "cuda_allocated" else "RSS"
    return f"{format_bytes(resources['peak_memory_bytes'])} {kind}"


def _eval_notes(run: EvalView, history: History) -> str:
    parts = [] if run.status == "complete" else [run.status]
    count = len(history.notes.get(run.run_id, []))
    if count:
        parts.append(f"{count} note{'s' if count > 1 else ''} (see Run Notes)")
    return "; ".join(parts)


def _run_notes(history: History) -> str:
    """Notes on runs that have no session of their own (eval runs, imported rows, unknown ids), by run."""
    sessions = {s["run_id"] for s in history.sessions} | {t.run_id for t in history.trainings}
    described = {e.run_id: f"eval run of {e.model} ({e.date})" for e in history.evals}
    described.update({r["run_id"]: f"imported {r['section']} row {r['label']!r}" for r in history.rows})
    lines = []
    for target in sorted(t for t in history.notes if t not in sessions):
        what = described.get(target, "a run that is not in the history")
        lines.append(f"**`{target}`** ({_escape(what)}):")
        lines += [f"- {NOTE_TITLES[n['section']]}: {_escape(n['text'])}" for n in history.notes[target]]
        lines.append("")
    return "\n".join(["## Run Notes", "", *lines]) if lines else ""


def _domain_accuracy(history: History) -> list[str]:
    runs = [r for r in reversed(history.evals) if r.by_domain]
    if not runs:
        return []
    present = {d for r in runs for d in r.by_domain}
    domains = [d for d in _DOMAINS if d in present] + sorted(present - set(_DOMAINS))
    rows = []
    for run in runs:
        cells = [
            f"{format_percent(p.value, 0)} {format_interval(p.low, p.high)}" if (p := run.by_domain.get(d)) else DASH
            for d in domains
        ]
        rows.append([run.model, f"`{run.run_id}`", *cells])
    return ["", "### Per-Domain Accuracy (95% interval)", "", *_table(["Model", "Run", *domains], rows)]


def _gate_details(history: History) -> list[str]:
    failing = [r for r in reversed(history.evals) if r.gate and not r.gate.get("passed")]
    if not failing:
        return []
    lines = ["", "### Failed Gates", ""]
    rows = []
    for run in failing:
        for check in run.gate.get("checks", []):
            if not check.get("passed"):
                rows.append(
                    [
                        f"`{run.run_id}`",
                        run.model,
                        _escape(check.get("rule", "?")),
                        _gate_value(check.get("value")),
                        _gate_value(check.get("limit")),
                        _gate_value(check.get("baseline")),
                        _escape(check.get("detail", "")),
                    ]
                )
    return lines + _table(["Run", "Model", "Rule", "Value", "Limit", "Baseline", "Detail"], rows)


def _gate_value(value: Any) -> str:
    if value is None:
        return DASH
    return f"{value:.4g}" if isinstance(value, float) else _escape(value)


def _registry(history: History, status: Mapping[str, str]) -> str:
    imported = history.rows_of("model_registry")
    columns = _merged_columns(["Model", "Path", "Size", "Status"], imported)
    measured = []
    for run in reversed(history.trainings):
        values = {
            "Model": run.output_name,
            "Path": f"`{run.output_location}`" if run.output_location else DASH,
            "Status": status.get(run.output_name, DASH).capitalize() if run.output_name in status else DASH,
        }
        measured.append([_escape(values.get(c, DASH)) for c in columns])
    rows = measured + _imported_table(imported, columns)
    title = next((r["section"] for r in imported), "Model Registry")
    body = _table(columns, rows) if rows else ["_No models recorded._"]
    return "\n".join([f"## {title}", "", *body])


def _cost(history: History, numbers: dict[str, int]) -> str:
    from tunebench.history.importer import cell_sum

    imported = history.rows_of("cost")
    columns = _merged_columns(["Session", "GPU", "Duration", "Cost"], imported)
    rows, cells = [], []
    for run in reversed(history.trainings):
        values = {
            "Session": f"Session {numbers[run.run_id]} ({run.output_name})",
            "GPU": run.cost_hardware or run.hardware,
            "Duration": _minutes(run.total_seconds),
            "Cost": dollars(run.cost_usd),
        }
        rows.append([_escape(values.get(c, DASH)) for c in columns])
        cells.append({"text": values["Cost"], "value": run.cost_usd})
    rows += _imported_table(imported, columns)
    cells += [dict(zip(r["columns"], r["cells"], strict=False)).get("Cost") or {"value": None} for r in imported]
    total = cell_sum(cells)
    if rows:
        label = [""] * len(columns)
        label[0] = "**Total**"
        label[columns.index("Cost")] = dollars(total["value"], total.get("approximate", False)) if total else DASH
        rows.append(label)
    body = _table(columns, rows) if rows else ["_No training costs recorded._"]
    return "\n".join(["## Training Cost Tracking", "", *body])


def _plots(plots: Mapping[str, str]) -> str:
    lines = ["## Plots", ""]
    for title, path in plots.items():
        lines += [f"### {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)
