"""Calibration of a grader: how well its grades agree with replies whose grades are known.

The shipped set (`eval_suites/domain_probes/calibration.jsonl`, schema `calibration.schema.json`) has,
for each shipped probe, replies written for it with a known grade: a model-quality answer (5), a partly
right one (3), a fluent one that asserts a forbidden claim (2 with one claim, 1 with more) and an
off-topic one (1). A grader (`(reply, probe) -> Grade`) grades every reply; the figures are exact
agreement, agreement within one grade, and Spearman's rank correlation, per probe and overall. A grader
error (a judge reply without a grade) is counted and listed, never turned into a grade; agreement is over
the replies graded.

Each reply says whether the rubric was tuned on it (`split`): the rubric's thresholds and the probes'
alternatives were set on the 40 `tuning` replies, so its agreement there is in-sample (it shows the rubric
keeps the known order); the `held_out` replies were written after that and never used to set anything, so
their agreement is the honest figure, and it is printed first. A user's own file defaults to `held_out`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunebench.errors import SuiteError, SuiteFileError, TunebenchError
from tunebench.scoring.quality import Grade
from tunebench.suites import Probe, SuiteProblem, json_lines, schema
from tunebench.textfile import decode_utf8

__all__ = [
    "CalibrationReply",
    "Calibration",
    "load_calibration",
    "calibrate",
    "format_calibration",
    "SHIPPED_NAME",
    "SPLITS",
]

SHIPPED_NAME = "calibration.jsonl"  # beside the shipped probes.jsonl
# The honest split first: what `figures_by_split` and `format_calibration` show, in this order, with its label.
SPLITS = {
    "held_out": "held-out replies (never used to tune the rubric)",
    "tuning": "tuning replies (the rubric was tuned on them: in-sample)",
}


@dataclass(frozen=True)
class CalibrationReply:
    """A reply written for a probe, with the grade it deserves."""

    probe: str
    kind: str  # model, partial, forbidden, off_topic
    grade: int
    reply: str
    line: int = 0
    split: str = "held_out"  # or "tuning": the rubric was tuned on this reply


@dataclass
class Calibration:
    """A grader's grades of the calibration replies and its agreement with the known grades."""

    grader: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # probe, kind, split, known, given (None: error), error

    def figures(self, probe: str | None = None, split: str | None = None) -> dict[str, Any]:
        """Return n, graded, errors, exact, within_one and spearman (of one probe's or one split's replies, or all)."""
        rows = [
            r for r in self.rows if (probe is None or r["probe"] == probe) and (split is None or r["split"] == split)
        ]
        graded = [r for r in rows if r["given"] is not None]
        known, given = [r["known"] for r in graded], [r["given"] for r in graded]
        return {
            "n": len(rows),
            "graded": len(graded),
            "errors": len(rows) - len(graded),
            "exact": _share(sum(k == g for k, g in zip(known, given, strict=True)), len(graded)),
            "within_one": _share(sum(abs(k - g) <= 1 for k, g in zip(known, given, strict=True)), len(graded)),
            "spearman": _spearman(known, given),
        }

    def figures_by_split(self) -> dict[str, dict[str, Any]]:
        """Return the figures of each split the replies have, held-out first (`SPLITS`' order)."""
        present = {r["split"] for r in self.rows}
        return {split: self.figures(split=split) for split in SPLITS if split in present}

    def to_dict(self) -> dict[str, Any]:
        """The figures overall, per split and per probe, without the replies."""
        probes = sorted({r["probe"] for r in self.rows})
        return {
            "grader": self.grader,
            **self.figures(),
            "by_split": self.figures_by_split(),
            "by_probe": {p: self.figures(p) for p in probes},
        }


def load_calibration(path: Path | str, probes: Sequence[Probe]) -> list[CalibrationReply]:
    """Return the replies of a calibration JSONL file, validated; each must name one of `probes`."""
    path = Path(path)
    rows, problems = _read_rows(path)
    known = {p.id for p in probes}
    problems += [
        SuiteProblem(
            path, line, "probe", f"expected one of the probes' ids ({len(known)} probes), found {r['probe']!r}"
        )
        for line, r in rows
        if r["probe"] not in known
    ]
    if problems:
        raise SuiteFileError(problems)
    return [
        CalibrationReply(r["probe"], r["kind"], r["grade"], r["reply"], line, r.get("split", "held_out"))
        for line, r in rows
    ]


def _read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[SuiteProblem]]:
    import jsonschema

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SuiteFileError(
            [SuiteProblem(path, None, None, f"cannot read the calibration file: {exc.strerror}")]
        ) from None
    try:
        text = decode_utf8(data, path, SuiteError, "calibration file")
    except SuiteError as exc:
        raise SuiteFileError([SuiteProblem(path, None, None, str(exc).removeprefix(f"{path}: "))]) from None
    validator = jsonschema.Draft202012Validator(schema("calibration"))
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[SuiteProblem] = []
    for number, data in json_lines(path, text):
        if isinstance(data, SuiteProblem):
            problems.append(data)
            continue
        errors = list(validator.iter_errors(data))
        for error in errors:
            field_name = ".".join(str(p) for p in error.absolute_path) or None
            problems.append(
                SuiteProblem(
                    path, number, field_name, f"expected {_expected(error)}, found {json.dumps(error.instance)}"
                )
            )
        if not errors:
            rows.append((number, data))
    if not rows and not problems:
        problems.append(SuiteProblem(path, None, None, "expected at least one calibration reply, found none"))
    return rows, problems


def _expected(error: Any) -> str:
    spec = error.schema
    if error.validator == "required":
        return "the fields " + ", ".join(spec["required"])
    if "enum" in spec:
        return "one of " + ", ".join(map(str, spec["enum"]))
    if error.validator in ("minimum", "maximum"):
        return f"an integer from {spec.get('minimum')} to <= {spec.get('maximum')}"
    return str(error.message)


def calibrate(
    replies: Sequence[CalibrationReply],
    probes: Sequence[Probe],
    grader: Callable[[str, Probe], Grade],
    name: str,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Grade every calibration reply with `grader`; a grader error is kept as an error, not a grade."""
    by_id = {p.id: p for p in probes}
    result = Calibration(name)
    for index, reply in enumerate(replies, start=1):
        row: dict[str, Any] = {
            "probe": reply.probe,
            "kind": reply.kind,
            "split": reply.split,
            "known": reply.grade,
            "given": None,
        }
        try:
            graded = grader(reply.reply, by_id[reply.probe])
            row["given"] = graded.score
            row["reason"] = graded.evidence.get("reason", "")
        except TunebenchError as exc:
            if isinstance(exc, SuiteError):
                raise
            row["error"] = str(exc)
        result.rows.append(row)
        if progress is not None:
            progress(index, len(replies))
    return result


def format_calibration(calibration: Calibration, show_rows: bool = False) -> str:
    """Return the agreement table (per probe and overall) and, with `show_rows`, every reply's grades."""
    from tunebench.table import format_table

    data = calibration.to_dict()
    columns = ["replies", "errors", "exact", "within one", "Spearman"]
    splits = [(SPLITS[s], *_cells(f)) for s, f in data["by_split"].items()]
    rows = [(p, *_cells(f)) for p, f in data["by_probe"].items()] + [("(all)", *_cells(data))]
    lines = [
        f"grader {calibration.grader}: {data['graded']}/{data['n']} calibration replies graded, "
        f"{data['errors']} grader error(s)",
        format_table(["agreement on", *columns], splits),
        "",
        "per probe, held-out and tuning replies together:",
        format_table(["probe", *columns], rows),
    ]
    errors = [r for r in calibration.rows if r["given"] is None]
    if errors:
        lines += ["", "grader errors:"] + [f"  {r['probe']} ({r['kind']}): {r['error']}" for r in errors]
    if show_rows:
        lines += [
            "",
            format_table(
                ["probe", "reply", "split", "known", "given", "reason"],
                [
                    (
                        r["probe"],
                        r["kind"],
                        r["split"],
                        r["known"],
                        "error" if r["given"] is None else r["given"],
                        r.get("reason"),
                    )
                    for r in calibration.rows
                ],
            ),
        ]
    return "\n".join(lines)


def _cells(figures: dict[str, Any]) -> tuple[str, ...]:
    from tunebench.units import format_percent as share  # "90.9%", as every proportion is written

    rho = "—" if figures["spearman"] is None else f"{figures['spearman']:+.2f}"
    return str(figures["n"]), str(figures["errors"]), share(figures["exact"]), share(figures["within_one"]), rho


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _spearman(known: Sequence[int], given: Sequence[int]) -> float | None:
    """Spearman's rho (scipy); None with fewer than two replies or when either side is constant."""
    if len(known) < 2 or len(set(known)) < 2 or len(set(given)) < 2:
        return None
    from scipy.stats import spearmanr

    rho = float(spearmanr(known, given).statistic)
    return None if math.isnan(rho) else round(rho, 4)
