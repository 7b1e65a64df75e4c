"""The per-run HTML report: one self-contained static page with every question and probe of an eval run.

The page is rendered by Jinja2 with autoescaping on, so nothing from a record (model names, notes,
replies, prompts) is ever inserted as markup; it needs no network (inline CSS and a little inline
JavaScript for sorting and filtering) and opens from `file://`. In compare mode the flips and deltas
come from `report.compare.compare_runs`, the same computation as `tunebench history compare`.

Question texts, choices and probe prompts are not in the record: they are read from the suite files the
record names, and a file whose sha256 differs from the recorded one is named on the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.gate import differences, recorded_status, serving_of, status_word
from tunebench.history.typed import EvalRecordData, GateCheck, Items, ModelInfo, Probe, Provenance, Question, given
from tunebench.report.compare import Comparison, Flip, compare_runs
from tunebench.report.formatting import (
    format_grade,
    format_ms,
    format_percent,
    format_seconds,
    format_tokens_per_s,
)
from tunebench.report.html_rows import (
    ChoiceCell,
    GateCheckRow,
    ProbeRow,
    QuestionRow,
    Segment,
    choice_probabilities,
    evidence_spans,
    gate_check_row,
    probe_key,
    probe_row,
    question_row,
)
from tunebench.report.lm_eval_tasks import TaskSection, task_sections
from tunebench.report.load_figures import comparison_rows, figure_rows, headline, where
from tunebench.report.views import EvalView, Proportion
from tunebench.storage.checksums import file_sha256
from tunebench.suites import suite_rows

__all__ = [
    "ChoiceCell",
    "QuestionRow",
    "Segment",
    "ProbeRow",
    "ReportPage",
    "build_page",
    "render_report",
    "write_report",
    "choice_probabilities",
    "evidence_spans",
    "report_path",
    "REPORTS_FOLDER",
]

TEMPLATE = "report.html.j2"
REPORTS_FOLDER = "reports"  # beside the benchmark log, which links each run's page


def report_path(log: str | Path, run_id: str) -> Path:
    """Return where a run's report lives by default: `reports/<run id>.html` beside the benchmark log."""
    return Path(log).parent / REPORTS_FOLDER / f"{run_id}.html"


@dataclass(frozen=True)
class GroupRow:
    """Accuracy of one domain or difficulty, with the baseline's figure in compare mode.

    `accuracy` None: the domain or difficulty is only in the compared run (the page says "not in this run");
    `baseline` None: not in the compared run, or none of its questions counted (a dash, never a 0)."""

    name: str
    accuracy: Proportion | None
    baseline: float | None = None
    delta: float | None = None


@dataclass
class ReportPage:
    """Everything the template shows, already computed."""

    run_id: str
    model: str
    status: str
    header: list[tuple[str, str]]
    gate_status: str | None  # pass, fail, nothing to judge, not comparable; None: not gated
    gate_word: str  # how the badge shows it (tunebench.gate.status_word)
    gate_source: str  # which verdict the badge shows: recorded when the run finished, or judged now
    gate_checks: list[GateCheckRow]
    accuracy: Proportion | None
    domains: list[GroupRow]
    difficulties: list[GroupRow]
    questions: list[QuestionRow]
    probes: list[ProbeRow]
    comparison: Comparison | None = None
    comparison_gated: bool = False  # the compared run is the baseline the badge's verdict was judged against
    serving: list[tuple[str, str]] = field(default_factory=list)  # (then, now) serving conditions in compare mode
    serving_differences: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    selection: str = ""
    lm_eval_tasks: list[TaskSection] = field(default_factory=list)  # a section per lm-eval task
    load_headline: str = ""  # the load phase (--concurrency N > 1), as report.load_figures writes it; "" without
    load_rows: list[tuple[str, ...]] = field(default_factory=list)
    load_comparison: list[tuple[str, ...]] = field(default_factory=list)  # compare mode: then, now, now - then
    load_where: tuple[str, str] = ("", "")  # compare mode: each run's concurrency and requests

    @property
    def flipped_ids(self) -> list[str]:
        """Ids of the questions that flipped against the compared run, in table order."""
        return [q.id for q in self.questions if q.flip]

    def options(self, attribute: str) -> list[str]:
        """Return the sorted distinct values of a question attribute (for the filter menus)."""
        return sorted({getattr(q, attribute) for q in self.questions})


def _suite_items(record: dict[str, Any], root: Path | None) -> tuple[dict[str, dict[str, dict[str, Any]]], list[str]]:
    """Return {suite name: {id: item}} from the suite files the record names, and notices about them."""
    items: dict[str, dict[str, dict[str, Any]]] = {}
    notices = []
    for suite in record.get("suites") or []:
        path = Path(suite["file"])
        if not path.is_absolute() and root is not None:
            path = root / path
        try:
            digest = file_sha256(path)
        except OSError:
            notices.append(f"suite file {suite['file']} is not readable here: texts of suite {suite['name']} not shown")
            continue
        if suite.get("sha256") and digest != suite["sha256"]:
            notices.append(
                f"suite file {suite['file']} changed since the run (recorded sha256 {suite['sha256'][:12]}, "
                f"now {digest[:12]}): texts shown are today's"
            )
        table = items.setdefault(suite["name"], {})
        for _, data in suite_rows(path):  # lenient: a line that is not an item is skipped
            if isinstance(data, dict) and "id" in data:
                table.setdefault(str(data["id"]), data)
    return items, notices


def _lookup(items: dict[str, dict[str, dict[str, Any]]], entry: Question | Probe) -> dict[str, Any]:
    suite = items.get(given(entry.suite, ""), {})
    if entry.id in suite:
        return suite[entry.id]
    return next((table[entry.id] for table in items.values() if entry.id in table), {})


def _header(run: EvalRecordData, baseline: EvalRecordData | None) -> list[tuple[str, str]]:
    from tunebench.contamination import label
    from tunebench.efficiency import decode_line

    model = run.model or ModelInfo.from_dict({})
    provenance = run.provenance or Provenance.from_dict({})
    hardware = run.machine
    engine = run.get("engine") or given(model.engine)  # a top-level `engine`: records before model.engine
    if isinstance(engine, dict):
        engine = ", ".join(f"{k} {v}" for k, v in engine.items() if v is not None)
    machine = ", ".join(
        str(part)
        for part in (
            given(model.device),
            given(model.dtype),
            ", ".join(given(hardware.gpus) or []) or None,
            f"{hardware.cpu_count} CPUs" if given(hardware.cpu_count) else None,
            f"{hardware.memory_gb} GB RAM" if given(hardware.memory_gb) else None,
            given(hardware.platform),
        )
        if part
    )
    commit = given(provenance.git_commit) or "—"
    if given(provenance.git_dirty):
        commit += " (uncommitted changes)"
    items = run.items or Items.from_dict({})
    rows = [
        ("model", given(model.name, "?")),
        ("base", given(model.base) or "—"),
        ("adapter", given(model.adapter) or "—"),
        ("engine", str(engine or "hf")),
        ("hardware", machine or "—"),
        ("decode vs floor", decode_line(run) or "—"),
        ("commit", commit),
        ("tunebench", str(given(provenance.tunebench_version) or "—")),
        ("command", str(given(provenance.command) or "—")),
        ("started", given(run.started_at, "—")),
        ("finished", given(run.finished_at, "—")),
        ("status", _status_text(run)),
        ("items", f"{items.get('reported', '?')} reported of {items.get('expected', '?')} expected"),
        ("pytest workers", _workers_text(run.workers or 1)),
    ]
    for suite in run.suites or []:
        rows.append((f"data {suite['name']}", f"{suite['file']} sha256 {suite.get('sha256') or '—'}"))
    for name, digest in sorted((given(model.hashes) or {}).items()):
        rows.append((f"hash {name}", digest))
    if run.baseline:
        rows.append(("gate baseline", f"{run.baseline['run_id']} ({run.baseline['how']})"))
    training_data = given(model.training_data)
    mark = label(training_data)
    if mark and training_data:  # the model saw (or may have seen) these questions in training: not a measurement
        rows.insert(1, ("WARNING", f"{mark} (training run {training_data.get('run_id') or '?'})"))
    if baseline is not None:
        name = given(baseline.model.name, "?") if baseline.model else "?"
        rows.append(("compared with", f"{baseline.run_id} ({name})"))
    return rows


def _workers_text(workers: int) -> str:
    if workers == 1:
        return "1 (serial: latency measured alone)"
    return f"{workers} (pytest-xdist: latency measured with {workers} processes sharing the machine)"


def _status_text(run: EvalRecordData) -> str:
    status = given(run.status, "complete")
    selection = run.selection
    if selection and selection.total:
        return f"{status}: {given(selection.selected)} of {selection.total} items selected"
    return status


def _groups(stored: dict[str, Proportion], other: dict[str, float | None] | None) -> list[GroupRow]:
    """This run's groups, each with the compared run's figure; in compare mode (`other` given) the groups of
    the compared run alone too (accuracy None), every name in sorted order as `history compare` lists them."""
    if other is None:
        return [GroupRow(name, p) for name, p in stored.items()]
    names = sorted(set(stored) | set(other))
    rows = []
    for name in names:
        p, then = stored.get(name), other.get(name)
        rows.append(GroupRow(name, p, then, None if p is None else _minus(p.value, then)))
    return rows


def build_page(
    record: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    root: Path | None = None,
    verdict: dict[str, Any] | None = None,
) -> ReportPage:
    """Return the page of eval `record`, compared with `baseline` (before) when given.

    `verdict`: a verdict judged now against `baseline` (`tunebench report --baseline`); without it the badge
    shows the verdict recorded when the run finished, and a comparison with another run than the recorded
    baseline says it is not gated."""
    view = EvalView(record)
    baseline_view = EvalView(baseline) if baseline is not None else None
    comparison = compare_runs(baseline, record) if baseline is not None else None
    items, notices = _suite_items(record, root)
    flips: dict[str, tuple[str, Any]] = {}
    baseline_latency: dict[tuple[str, str], float] = {}
    domain_base: dict[str, float | None] | None = None  # compare mode: the compared run's figure per group
    difficulty_base: dict[str, float | None] | None = None
    if comparison is not None and baseline_view is not None:
        for direction in ("right_to_wrong", "wrong_to_right"):
            for flip in getattr(comparison, direction):
                flips[_flip_key(flip, view.questions)] = (direction, flip.chosen_a)
        domain_base = {name: p.value for name, p in baseline_view.by_domain.items()}
        difficulty_base = {
            name: given(p.value) for name, p in (baseline_view.aggregates.by_difficulty or {}).items() if p
        }
        baseline_latency = {
            probe_key(p): latency for p in baseline_view.probes if (latency := given(p.latency_median_s)) is not None
        }
    questions = [question_row(q, _lookup(items, q), flips) for q in view.questions]
    if comparison is not None:
        questions.sort(key=lambda q: q.flip is None)  # flipped first; otherwise the record's order
    difficulties = {n: Proportion.of(p) for n, p in (view.aggregates.by_difficulty or {}).items()}
    gate = verdict if verdict is not None else (view.gate or {})
    gate_status = recorded_status(gate)
    base_run = baseline_view.run if baseline_view is not None else None
    gated = baseline is not None and (
        verdict is not None or (view.run.baseline and view.run.baseline.run_id) == baseline["run_id"]
    )
    return ReportPage(
        run_id=view.run_id,
        model=view.model,
        status=view.status,
        header=_header(view.run, base_run),
        gate_status=gate_status,
        gate_word=status_word(gate_status),
        gate_source=_gate_source(view.run, baseline, verdict),
        gate_checks=[gate_check_row(GateCheck.from_dict(check)) for check in gate.get("checks") or []],
        accuracy=view.accuracy,
        domains=_groups(view.by_domain, domain_base),
        difficulties=_groups({n: p for n, p in difficulties.items() if p}, difficulty_base),
        questions=questions,
        probes=[probe_row(p, _lookup(items, p), baseline_latency) for p in view.probes],
        comparison=comparison,
        comparison_gated=gated,
        serving=[(serving_of(base_run).describe(), serving_of(view.run).describe())] if base_run is not None else [],
        serving_differences=differences(view.run, base_run) if base_run is not None else [],
        notices=notices,
        notes=[str(n) for n in view.run.notes or []],
        selection=view.selection,
        lm_eval_tasks=task_sections(view.run),
        **_load_section(view.run, comparison),
    )


def _load_section(run: EvalRecordData, comparison: Comparison | None) -> dict[str, Any]:
    """The page's load figures: this run's, and in compare mode both runs' side by side (when either has them)."""
    load = run.load or None
    section: dict[str, Any] = {}
    if load is not None:
        section.update(load_headline=headline(load), load_rows=figure_rows(load))
    if comparison is not None and (comparison.load_a or comparison.load_b):
        section["load_comparison"] = comparison_rows(comparison.load_a, comparison.load_b)
        section["load_where"] = (where(comparison.load_a), where(comparison.load_b))
    return section


def _gate_source(run: EvalRecordData, baseline: dict[str, Any] | None, verdict: dict[str, Any] | None) -> str:
    """Say which verdict the badge shows, so a comparison with another run never reads as gated."""
    if verdict is not None and baseline is not None:
        return f"judged now against {baseline['run_id']}"
    recorded = run.baseline
    against = f"baseline {recorded.run_id}" if recorded and recorded.run_id else "no baseline"
    return f"recorded when the run finished ({against})"


def _flip_key(flip: Flip, questions: list[Question]) -> str:
    for question in questions:
        if question.id == flip.id:
            return f"{question.suite}/{question.id}" if question.suite else question.id
    return flip.id


def _minus(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else b - a


@functools.cache  # one compiled template per process: compiling it costs more than rendering a run
def _environment() -> Any:  # a jinja2.Environment
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # autoescape=True for every template (select_autoescape would miss the .html.j2 name).
    env = Environment(
        loader=PackageLoader("tunebench.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # each quantity as the log, history show and history compare write it (tunebench.units)
    env.filters["percent"] = format_percent
    env.filters["seconds"] = format_seconds
    env.filters["ms"] = format_ms
    env.filters["grade"] = format_grade
    env.filters["tokens_per_s"] = format_tokens_per_s
    env.filters["signed_seconds"] = lambda v: _signed(v, format_seconds)
    env.filters["signed_grade"] = lambda v: _signed(v, format_grade)
    env.filters["points"] = lambda v: "—" if v is None else f"{100 * v:+.1f}"
    env.filters["num"] = lambda v, fmt=".3g": "—" if v is None else format(v, fmt)
    return env


def _signed(value: float | None, show: Callable[[float], str]) -> str:
    """Return "+0.12s" / "-0.12s" (a change, signed, in its quantity's format), or "—"."""
    return "—" if value is None else ("+" if value >= 0 else "-") + show(abs(value))


def render_report(
    record: dict[str, Any],
    baseline: dict[str, Any] | None = None,
    root: Path | None = None,
    verdict: dict[str, Any] | None = None,
) -> str:
    """Return the HTML page of eval `record` (compared with `baseline` when given; `verdict`: see build_page)."""
    page = build_page(record, baseline, root, verdict)
    return str(_environment().get_template(TEMPLATE).render(page=page))


def write_report(
    record: dict[str, Any],
    path: str | Path,
    baseline: dict[str, Any] | None = None,
    root: Path | None = None,
    verdict: dict[str, Any] | None = None,
) -> Path:
    """Write the page to `path` (whole, by rename) and return the path."""
    from tunebench.storage.local import check_target, write_atomic

    target = Path(path)
    check_target(target)  # before rendering: `--out` naming a folder, device or symlink is refused
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, render_report(record, baseline, root, verdict))
    return target
