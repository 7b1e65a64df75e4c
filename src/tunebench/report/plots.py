"""Plots for the benchmark log (matplotlib, Agg backend): PNG files written beside the log and linked from it.

Each plot is drawn only when the history holds data for it. Approximate imported values are drawn hollow
and labelled with "~"; values nobody measured are left out, never drawn as zero.

Text from records (model names, labels) is drawn as it is written: mathtext is off (`text.parse_math`),
so `$...$` in a name is never parsed. An eval record whose numbers disagree is skipped with a warning
naming it, and a plot that still fails is left out with a warning: one bad record never stops a render.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tunebench.report.formatting import dollars as _dollars
from tunebench.report.formatting import format_percent, format_seconds
from tunebench.report.history_view import History
from tunebench.report.plot_kit import (
    MAX_POINTS,
    MAX_SERIES,
    Axes,
    Figure,
    draw_legend,
    new_figure,
    newest_note,
    plain_text,
    save_png,
    series_colours,
    short_label,
    warn,
)
from tunebench.report.views import EvalView, TrainingView, declared_order
from tunebench.vocabulary import order_domains

__all__ = ["render_plots", "PLOTS"]

# File name -> title, in the order the log lists them.
PLOTS = {
    "accuracy.png": "Benchmark accuracy per eval run (95% interval)",
    "domain_accuracy.png": "Accuracy per domain (newest run of each model)",
    "latency.png": "Latency per domain",
    "loss.png": "Training loss per step",
    "cost.png": "Training cost per session",
}


def render_plots(
    records: Iterable[dict[str, Any]] | History,
    folder: Path | str,
    relative_to: Path | str | None = None,
) -> dict[str, str]:
    """Draw every plot the records have data for into `folder`; return {title: path relative to `relative_to`}.

    Records are checked here (`history.integrity`); a `History` is taken as built, from records
    `HistoryStore.read_all` checked as it read them (the log's own, so each record is viewed and checked once).
    """
    history = records if isinstance(records, History) else History.of(_trusted(records))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    drawers = {
        "accuracy.png": _accuracy,
        "domain_accuracy.png": _domain_accuracy,
        "latency.png": _latency,
        "loss.png": _loss,
        "cost.png": _cost,
    }
    written = {}
    for name, draw in drawers.items():
        target = folder / name
        try:
            with plain_text():
                figure = draw(history)
                if figure is not None:
                    save_png(figure, target)
        except Exception as exc:  # noqa: BLE001 - one plot that cannot be drawn must not stop the log
            warn(f"plot {name} not drawn: {type(exc).__name__}: {exc}")
            figure = None
        if figure is None:
            target.unlink(missing_ok=True)  # a plot the history no longer supports must not stay linked
            continue
        base = Path(relative_to) if relative_to is not None else folder
        written[PLOTS[name]] = Path(os.path.relpath(target, base)).as_posix()
    return written


def _trusted(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records whose numbers agree (history.integrity); the others are skipped with a warning naming them."""
    from tunebench.errors import RecordError
    from tunebench.history.integrity import check_consistency

    kept = []
    for record in records:
        try:
            check_consistency(record, where=f"record {record.get('run_id', '?')}")
        except RecordError as exc:
            warn(f"skipped in the plots: {exc}")
            continue
        kept.append(record)
    return kept


# -- accuracy per run ---------------------------------------------------------------------------------------
def _accuracy(history: History) -> Figure | None:
    # Complete runs only (History.evals already leaves subsets out): a crashed run's accuracy is no result.
    runs = [
        r for r in history.evals if r.status == "complete" and r.accuracy is not None and r.accuracy.value is not None
    ]
    imported = [
        (row, cell)
        for row in history.rows_of("benchmark")
        if (cell := _column(row, "Accuracy")) is not None and cell.get("value") is not None
    ]
    if not runs and not imported:
        return None
    # One axis in date order: measured runs by start, imported rows by their model's session date.
    points: list[tuple[str, int, EvalView | tuple[dict[str, Any], dict[str, Any]]]]
    points = [(run.started_at, 0, run) for run in runs]
    points += [(_imported_date(row, history), -row["position"], (row, cell)) for row, cell in imported]
    points.sort(key=lambda point: (point[0][:10], point[1], point[0]))
    total = len(points)
    points = points[-MAX_POINTS:]
    figure, axes = new_figure(max(6.0, 1.1 * len(points) + 2), 5.0)
    models = sorted({r.model for _, _, r in points if isinstance(r, EvalView)})
    colours = series_colours(len(models))
    labels = []
    for x, (date, _, point) in enumerate(points):
        if isinstance(point, EvalView):
            _draw_run(axes, x, point, colours[models.index(point.model)])
            labels.append(f"{point.model}\n{point.date} {point.run_id[:8]}")  # unique: the run id
            continue
        row, cell = point
        axes.plot(
            [x],
            [cell["value"]],
            "o",
            markerfacecolor="none",
            markeredgecolor="grey",
            markersize=8,
            label="imported (no interval)",
        )
        axes.annotate(
            cell["text"],
            (x, cell["value"]),
            xytext=(8, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="grey",
        )
        shown = "date unknown" if "date" in row and row["date"] is None else date[:10]
        labels.append(f"{row['label']}\n{shown} (imported)")
    axes.set_xticks(range(len(labels)), labels, fontsize=8, rotation=20, ha="right")
    axes.set_xlim(-0.6, len(labels) - 0.4)
    axes.set_ylim(0, 100)
    axes.set_ylabel("accuracy (%)")
    axes.set_title(PLOTS["accuracy.png"] + newest_note(len(labels), total))
    draw_legend(axes)
    return figure


def _draw_run(axes: Axes, x: int, run: EvalView, colour: Any) -> None:
    a = run.accuracy
    assert a is not None and a.value is not None  # _accuracy draws only runs with an accuracy
    axes.errorbar(
        [x],
        [100 * a.value],
        yerr=[[max(0.0, 100 * (a.value - a.low))], [max(0.0, 100 * (a.high - a.value))]],
        fmt="o",
        color=colour,
        capsize=5,
        markersize=7,
        label=run.model,
    )
    axes.annotate(
        format_percent(a.value), (x, 100 * a.value), xytext=(8, 0), textcoords="offset points", va="center", fontsize=8
    )


def _imported_date(row: dict[str, Any], history: History) -> str:
    """The date of the session the row is about (linked at import), else the row's ordering stamp."""
    if row.get("date"):
        return str(row["date"])
    model = row.get("registry_model")
    dates = [s["date"] for s in history.sessions if model and s.get("registry_model") == model and s.get("date")]
    return max(dates) if dates else str(row["started_at"])


def _column(row: dict[str, Any], column: str) -> dict[str, Any] | None:
    return dict(zip(row["columns"], row["cells"], strict=False)).get(column)


# -- per-domain accuracy ------------------------------------------------------------------------------------
def _latest_per_model(history: History) -> list[EvalView]:
    latest: dict[str, EvalView] = {}
    for run in history.evals:
        if run.status == "complete":
            latest[run.model] = run
    return sorted(latest.values(), key=lambda r: r.started_at)[-MAX_SERIES:]


def _domain_accuracy(history: History) -> Figure | None:
    runs = [r for r in _latest_per_model(history) if r.by_domain]
    if not runs:
        return None
    domains = order_domains((d for r in runs for d in r.by_domain), declared_order(runs))
    figure, axes = new_figure(max(7.0, 1.6 * len(domains) + 2), 5.0)
    width = 0.8 / len(runs)
    for i, (run, colour) in enumerate(zip(runs, series_colours(len(runs)), strict=True)):
        xs, values, below, above = [], [], [], []
        for x, domain in enumerate(domains):
            share = run.by_domain.get(domain)
            if share is None or share.value is None:
                continue
            xs.append(x - 0.4 + width * (i + 0.5))
            values.append(100 * share.value)
            below.append(max(0.0, 100 * (share.value - share.low)))
            above.append(max(0.0, 100 * (share.high - share.value)))
        axes.bar(
            xs,
            values,
            width * 0.9,
            yerr=[below, above],
            capsize=3,
            color=colour,
            alpha=0.85,
            label=f"{run.model} ({run.date})",
            error_kw={"elinewidth": 1, "ecolor": "#333333"},
        )
    axes.set_xticks(range(len(domains)), [short_label(d) for d in domains], fontsize=9)
    axes.set_ylim(0, 100)
    axes.set_ylabel("accuracy (%), bars show the 95% interval")
    axes.set_title(PLOTS["domain_accuracy.png"])
    draw_legend(axes)
    return figure


# -- latency per domain -------------------------------------------------------------------------------------
def _latency(history: History) -> Figure | None:
    # (legend label, {domain: seconds}, {domain: bar label}); imported values are labelled as written.
    series: list[tuple[str, dict[str, float], dict[str, str]]] = []
    for session in history.sessions:
        written = _imported_latency(session)
        if written:
            series.append(
                (
                    f"Session {session['session']} (imported, {session.get('gpu') or 'hardware not written'})",
                    {d: c["value"] for d, c in written.items()},
                    {d: c["text"] for d, c in written.items()},
                )
            )
    for run in _latest_per_model(history):
        if run.latency_by_domain_s:
            values = run.latency_by_domain_s
            label = f"{run.model} ({run.date}, {run.hardware})"
            series.append((label, values, {d: format_seconds(v) for d, v in values.items()}))
    series = series[-MAX_SERIES:]
    if not series:
        return None
    domains = order_domains((d for _, values, _ in series for d in values), declared_order(_latest_per_model(history)))
    figure, axes = new_figure(max(7.0, 1.6 * len(domains) + 2), 5.0)
    width = 0.8 / len(series)
    for i, ((label, values, texts), colour) in enumerate(zip(series, series_colours(len(series)), strict=True)):
        shown = [d for d in domains if d in values]
        xs = [domains.index(d) - 0.4 + width * (i + 0.5) for d in shown]
        bars = axes.bar(xs, [values[d] for d in shown], width * 0.9, color=colour, alpha=0.85, label=label)
        axes.bar_label(bars, [texts[d] for d in shown], fontsize=7, padding=2)
    axes.set_xticks(range(len(domains)), [short_label(d) for d in domains], fontsize=9)
    heights = [v for _, values, _ in series for v in values.values() if v > 0]
    # Imported 14B latencies (~90 s) next to CPU runs (~1 s): a linear axis would hide the small bars.
    wide = bool(heights) and max(heights) / min(heights) > 30
    if wide:
        from matplotlib.ticker import FuncFormatter

        axes.set_yscale("log")
        # Log ticks are mathtext ("$10^{2}$"), which parse_math=False would print raw: plain numbers instead.
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.set_ylabel("median latency per answer (s" + (", log scale)" if wide else ")"))
    axes.set_title(PLOTS["latency.png"])
    axes.margins(y=0.12)
    draw_legend(axes)
    return figure


def _imported_latency(session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return {domain: latency cell} from an imported session's inference table (seconds only)."""
    for block in session["blocks"]:
        if block["type"] == "table" and "Latency" in block["columns"] and block["columns"][0] == "Domain":
            column = block["columns"].index("Latency")
            return {
                row[0]["text"]: row[column]
                for row in block["rows"]
                if row[column].get("value") is not None and row[column].get("unit") == "s"
            }
    return {}


# -- loss per step ------------------------------------------------------------------------------------------
def _loss(history: History) -> Figure | None:
    drawn = [r for r in history.trainings if any(values for _, values in r.losses())]
    runs = drawn[-4:]
    if not runs:
        return None
    figure, axes = new_figure(9.0, 5.0)
    for run, colour in zip(runs, series_colours(len(runs)), strict=True):
        _draw_loss(axes, run, colour, mark_phases=run is runs[-1])
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("optimizer step (all phases in order)")
    axes.set_ylabel("training loss")
    axes.set_title(PLOTS["loss.png"] + newest_note(len(runs), len(drawn)))
    axes.grid(axis="x", alpha=0.2)
    draw_legend(axes)
    return figure


def _draw_loss(axes: Axes, run: TrainingView, colour: Any, mark_phases: bool) -> None:
    step = 0
    for index, (phase, values) in enumerate(run.losses()):
        xs = list(range(step + 1, step + len(values) + 1))
        axes.plot(
            xs,
            values,
            color=colour,
            linewidth=1.6,
            marker="." if len(values) < 40 else None,
            label=f"{run.output_name} ({run.date})" if index == 0 else None,
        )
        if mark_phases and values:
            if step:
                axes.axvline(step + 0.5, color="grey", linestyle="--", linewidth=0.8)
            axes.text(
                step + 1,
                1.0,
                f" phase {phase}",
                transform=axes.get_xaxis_transform(),
                va="top",
                fontsize=8,
                color="grey",
            )
        step += len(values)


# -- cost per session ---------------------------------------------------------------------------------------
def _cost(history: History) -> Figure | None:
    bars: list[tuple[str, float, bool]] = []
    for row in reversed(history.rows_of("cost")):
        cell = _column(row, "Cost")
        if cell and cell.get("value") is not None:
            bars.append((row["label"], cell["value"], bool(cell.get("approximate"))))
    numbers = history.session_numbers()
    for run in history.trainings:
        if run.cost_usd is not None:
            bars.append((f"Session {numbers[run.run_id]}\n({run.output_name})", run.cost_usd, False))
    if not bars:
        return None
    total_usd, approximate, count = sum(b[1] for b in bars), any(b[2] for b in bars), len(bars)
    bars = bars[-MAX_POINTS:]
    figure, axes = new_figure(max(6.0, 1.2 * len(bars) + 2), 4.8)
    xs = range(len(bars))
    drawn = axes.bar(
        xs,
        [b[1] for b in bars],
        0.6,
        color=["#bbbbbb" if b[2] else "#4c72b0" for b in bars],
        hatch=None,
        edgecolor="#555555",
    )
    for bar, (_, _, written_approximately) in zip(drawn, bars, strict=True):
        if written_approximately:
            bar.set_hatch("//")
    axes.bar_label(drawn, [_dollars(b[1], b[2]) for b in bars], fontsize=8, padding=2)
    axes.set_xticks(list(xs), [b[0] for b in bars], fontsize=8, rotation=20, ha="right")
    axes.set_ylabel("cost (USD)")
    axes.set_title(
        f"{PLOTS['cost.png']} (total {_dollars(total_usd, approximate)}; hatched = approximate)"
        + newest_note(len(bars), count)
    )
    axes.margins(y=0.15)
    return figure
