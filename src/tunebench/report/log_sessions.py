"""The benchmark log's Training Sessions section: one section per session, imported or measured, newest first."""

from __future__ import annotations

from typing import Any

from tunebench.efficiency import decode_line, format_mfu
from tunebench.history.typed import Probe
from tunebench.report.formatting import (
    DASH,
    dollars,
    escape_cell,
    format_duration,
    format_grade,
    format_loss,
    format_ms,
    format_number,
    format_percent,
    format_seconds,
    format_tokens_per_s,
    markdown_bold,
    markdown_code,
    markdown_imported,
    markdown_table,
    markdown_text,
    note_text,
)
from tunebench.report.history_view import History
from tunebench.report.views import NOTE_TITLES, EvalView, TrainingView, declared_order
from tunebench.units import format_bytes
from tunebench.vocabulary import order_difficulties, order_domains

_PHASE_KINDS = {
    "domain_blocks": "Domain Blocks",
    "mixed": "Mixed Curriculum",
    "mixed_curriculum": "Mixed Curriculum",
    "stress": "Stress Epoch",
    "stress_epoch": "Stress Epoch",
}


def training_sessions(history: History, numbers: dict[str, int]) -> str:
    """Return the Training Sessions section: imported and measured sessions, newest first."""
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
    status = f" {markdown_imported(session['status'])}" if session.get("status") else ""
    title, date = markdown_imported(session["title"]), markdown_imported(session["date"])
    lines = [
        f"### Session {markdown_imported(session['session'])}: {title} ({date}){status}",
        "",
        f"*Run {markdown_code(session['run_id'])} · imported from {markdown_text(session['imported_from']['file'])} "
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
            lines.append(f"**{markdown_imported(block['title'])}:**")
        if block["type"] == "table":
            lines += markdown_table(
                block["columns"], [[markdown_imported(c["text"]) for c in row] for row in block["rows"]]
            )
        elif block["type"] == "list":
            extra = pending.get(titles.get(block["title"], ""), [])
            lines += [f"- {markdown_imported(item)}" for item in block["items"]]
            lines += [f"- {note_text(item, session['run_id'])}" for item in extra]  # notes added with `history note`
        else:
            lines.append(f"**{markdown_imported(block['title'])}:** {markdown_imported(block['value']['text'])}")
        lines.append("")
    return "\n".join(lines)


def _training_session(run: TrainingView, number: int, history: History) -> str:
    status = " ✅ COMPLETE" if run.status == "completed" else f" ⚠️ {markdown_text(run.status.upper())}"
    lines = [
        f"### Session {number}: {markdown_text(run.output_name)} ({run.date}){status}",
        "",
        f"*Run {markdown_code(run.run_id)} · measured · recipe {markdown_code(run.recipe_name or DASH)}*",
        "",
    ]
    attributes = [
        ("Date", run.date),
        ("Model", run.base_model or DASH),
        ("Method", method_label(run)),
        ("GPU", run.hardware),
        ("VM", _vm(run)),
    ]
    # Recorded since the session record grew (older records render as before).
    if run.adapter_bytes:
        attributes.append(("Adapter Size", format_bytes(run.adapter_bytes)))
    if run.contamination and run.contamination.get("status"):
        attributes.append(("Contamination Check", _contamination(run)))
    lines += markdown_table(
        ["Attribute", "Value"], [(f"**{k}**", escape_cell(markdown_text(v))) for k, v in attributes]
    )
    lines += [""]
    lines += ["**Training Data:**"] + markdown_table(["Phase", "Examples", "Difficulty Mix"], _data_rows(run)) + [""]
    if any(count is not None for _, count, _ in run.data_files):
        lines += markdown_table(["Data File", "Examples", "SHA-256"], _file_rows(run)) + [""]
    lines += ["**Hyperparameters:**"] + markdown_table(["Parameter", "Value"], _hyper_rows(run)) + [""]
    lines += ["**Training Results:**"]
    columns = ["Phase", "Final Loss", "Mean Loss", "Steps", "Time", "Tokens/s", "MFU"]
    rows = _result_rows(run)
    if run.record.get("base_validation_loss") is not None:  # recorded since issue 26; older records as before
        columns, rows = _with_validation_loss(run, columns, rows)
    lines += markdown_table(columns, rows) + [""]
    if run.validation_loss is not None:
        lines += [f"**Validation Loss:** {format_loss(run.validation_loss)}", ""]
    evaluation = history.latest_eval_of(run.output_name)
    if evaluation is not None:
        lines += [f"**Inference Test Results** (eval run {markdown_code(evaluation.run_id)}, {evaluation.date}):"]
        headers = ["Domain", "Latency", "TTFT", "Time/Token", "Quality (1-5)", "Accuracy"]
        lines += markdown_table(headers, _inference_rows(evaluation)) + [""]
        decode = decode_line(evaluation.run)
        lines += [markdown_text(decode), ""] if decode else []
    for section, title in NOTE_TITLES.items():
        notes = history.notes_for(run.run_id, section)
        if section == "difficulties":  # what the run recorded itself, then what people noted
            notes = [*run.difficulties, *notes]
        if notes:
            lines += [f"**{title}:**"] + [f"- {note_text(n, run.run_id)}" for n in notes] + [""]
    lines += [
        f"**Output Model:** {markdown_code(run.output_name)} ({markdown_code(run.output_location or DASH)})",
        "",
        f"**Commit Hash:** {markdown_code((run.commit or DASH)[:7])}",
    ]
    if run.cost_usd is not None:
        hardware = f" ({markdown_text(run.cost_hardware)})" if run.cost_hardware else ""
        lines += ["", f"**Cost:** {dollars(run.cost_usd)}" + hardware]
    return "\n".join(lines) + "\n"


def _vm(run: TrainingView) -> str:
    """The VM row: the machine's name, "(hostname)" after it when no VM name was given (a bare "vm" read as a
    placeholder under the VM label); older records, which do not say where the name came from, as written."""
    hardware = run.record.get("hardware") or {}
    if not run.host:
        return DASH
    return f"{run.host} (hostname)" if hardware.get("vm_source") == "hostname" else run.host


def method_label(run: TrainingView) -> str:
    """Return the run's method as the log writes it, e.g. "DoRA (3-Phase Curriculum)"."""
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
    return ", ".join(f"{100 * counts[d] / total:.0f}% {d}" for d in order_difficulties(counts) if counts[d])


def _data_rows(run: TrainingView) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        (markdown_text(_phase_label(p)), format_number(p.get("examples")), markdown_text(_mix(p))) for p in run.phases
    ]
    rows.append(
        (
            "**Total**",
            markdown_bold(format_number(run.examples)),
            "Curriculum progression" if len(run.phases) > 1 else "",
        )
    )
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
    return [(name, DASH if value is None else escape_cell(markdown_text(value))) for name, value in rows]


def _with_validation_loss(
    run: TrainingView, columns: list[str], rows: list[tuple[str, ...]]
) -> tuple[list[str], list[tuple[str, ...]]]:
    """Add a Val Loss column to the results, and a first row for the untrained base's loss before the first phase."""
    losses = [format_loss(p.get("validation_loss")) for p in run.phases] + [format_loss(run.validation_loss)]
    rows = [(*row[:2], loss, *row[2:]) for row, loss in zip(rows, losses, strict=True)]
    first = markdown_text(run.phases[0].name) if run.phases else DASH
    base = (f"Base (before {first})", DASH, format_loss(run.record["base_validation_loss"]), *[DASH] * 5)
    return [*columns[:2], "Val Loss", *columns[2:]], [base, *rows]


def _result_rows(run: TrainingView) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for phase in run.phases:
        tps = phase.get("tokens_per_s")
        rows.append(
            (
                markdown_text(_phase_label(phase)),
                format_loss(phase.get("final_loss")),
                format_loss(phase.get("mean_loss")),
                format_number(phase.get("steps")),
                format_duration(phase.get("wall_s")),
                format_tokens_per_s(tps),
                format_mfu(phase.get("efficiency")),
            )
        )
    rows.append(
        (
            "**Total**",
            markdown_bold(format_loss(run.final_loss)),
            DASH,
            markdown_bold(format_number(run.total_steps)),
            markdown_bold(format_duration(run.total_seconds)),
            DASH,
            DASH,
        )
    )
    return rows


def _inference_rows(evaluation: EvalView) -> list[tuple[str, ...]]:
    latency, quality, accuracy = evaluation.latency_by_domain_s, evaluation.quality_by_domain, evaluation.by_domain
    rows: list[tuple[str, ...]] = []
    speed, probes = _speed_by_domain(evaluation), _group_probes(evaluation)
    for domain in order_domains([*latency, *quality, *accuracy], declared_order([evaluation])):
        share = accuracy.get(domain)
        ttft, per_token, tokens = speed.get(domain, (None, None, None))
        rows.append(
            (
                markdown_text(domain),
                format_seconds(latency.get(domain)) + ("" if tokens is None else f" ({tokens:.0f} tok)"),
                format_seconds(ttft),
                format_ms(per_token),
                _quality_cell(quality.get(domain), probes.get(domain, [])),
                DASH if share is None else f"{format_percent(share.value)} ({share.k}/{share.n})",
            )
        )
    return rows


def _group_probes(evaluation: EvalView) -> dict[str, list[Probe]]:
    groups: dict[str, list[Probe]] = {}
    for probe in evaluation.probes:
        if probe.get("status", "answered") == "answered":
            groups.setdefault(str(probe.get("domain", "unknown")), []).append(probe)
    return groups


def _speed_by_domain(evaluation: EvalView) -> dict[str, tuple[float | None, float | None, float | None]]:
    """Per domain: median TTFT, median time per output token, mean output tokens (speed apart from length)."""
    from tunebench.stats import mean, median

    out = {}
    for domain, probes in _group_probes(evaluation).items():
        ttft = [p["ttft_s"] for p in probes if p.get("ttft_s") is not None]
        per_token = [
            p.get("time_per_output_token_s") or 1 / p["decode_tokens_per_s"]
            for p in probes
            if p.get("time_per_output_token_s") or p.get("decode_tokens_per_s")
        ]
        tokens = [p["new_tokens"] for p in probes if p.get("new_tokens") is not None]
        out[domain] = (median(ttft), median(per_token), mean(tokens))
    return out


def _quality_cell(grade: float | None, probes: list[Probe]) -> str:
    """The domain's mean grade, then each probe's grade and reason ("3/4 key points; no forbidden claim")."""
    reasons = [r for p in probes if (r := _probe_reason(p))]
    shown = format_grade(grade)
    # The grade is a number this module wrote; only the reasons (judge text among them) are escaped.
    return shown if not reasons else f"{shown} — " + escape_cell(markdown_text(" · ".join(reasons)))


def _probe_reason(probe: Probe) -> str:
    from tunebench.scoring.quality import reason

    evidence = probe.get("evidence") or {}
    if not evidence:
        return ""
    rubric: dict[str, Any] = evidence["rubric"] if isinstance(evidence.get("rubric"), dict) else evidence
    parts = [rubric.get("reason") or (reason(rubric) if "hit" in rubric else "")]
    if evidence.get("judge_error"):
        parts.append("judge error")
    elif str(evidence.get("grader", "")).startswith("judge:") and evidence.get("reason"):
        parts.append(str(evidence["reason"]))
    grade = probe.get("grade")
    text = "; ".join(p for p in parts if p)
    return f"{DASH if grade is None else format_number(grade, 0)}: {text}" if text else ""


def _file_rows(run: TrainingView) -> list[tuple[str, str, str]]:
    """One row per data file: its name, examples and the start of its sha256 (the record holds all of it)."""
    return [
        (
            markdown_code(path.rsplit("/", 1)[-1]),
            format_number(count),
            markdown_code(digest.removeprefix("sha256:")[:12]),
        )
        for path, count, digest in run.data_files
    ]


def _contamination(run: TrainingView) -> str:
    """The training data's check against the eval suites: clean, overlapping (allowed on purpose) or unchecked."""
    from tunebench.contamination import describe

    return describe(run.contamination)
