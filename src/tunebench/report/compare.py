"""Compare two eval runs question by question: accuracy with intervals, McNemar p, flips, per-domain deltas.

Latency is compared probe by probe (the probes both runs answered) and split so that a shorter answer is
not read as a faster model. A probe's median total latency is exactly L = TTFT + (N - 1) x TPOT (N output
tokens, TPOT the time per token after the first, as `scoring.generation` defines them), so B - A splits
exactly (midpoint rule, no residual) into

    TTFT:              TTFT_B - TTFT_A
    answer length:     (N_B - N_A) x mean(TPOT_A, TPOT_B)
    per-token speed:   mean(N_A - 1, N_B - 1) x (TPOT_B - TPOT_A)

summed over the paired probes and shown as a mean per probe. Probes with a one-token answer (no TPOT)
are left out of the split and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tunebench.errors import RecordError
from tunebench.gate import POWER, differences, paired_log_odds, paired_probabilities, serving_of
from tunebench.history.reference import resolve_run  # re-exported: the one run resolver
from tunebench.history.typed import LoadFigures, Probe, given
from tunebench.power import detectable_drop
from tunebench.report.formatting import DASH, format_grade, format_interval, format_ms, format_percent, format_seconds
from tunebench.report.load_figures import comparison_lines
from tunebench.report.views import EvalView, Proportion
from tunebench.stats import PairedDrop, mcnemar_exact, paired_t_drop
from tunebench.table import fit_line, format_table
from tunebench.units import format_points

__all__ = [
    "Flip",
    "Delta",
    "LatencySplit",
    "Comparison",
    "compare_runs",
    "latency_split",
    "resolve_run",
    "format_comparison",
]


@dataclass(frozen=True)
class Flip:
    """A question answered right by one run and wrong by the other."""

    id: str
    domain: str
    difficulty: str | None
    answer: str | None
    chosen_a: str | None
    chosen_b: str | None


@dataclass(frozen=True)
class Delta:
    """One figure of both runs (per domain) and B minus A."""

    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class LatencySplit:
    """Mean per paired probe of A's and B's timings, and B - A of total latency split into its three parts."""

    probes: int
    unsplit: int  # paired probes left out (a one-token answer has no time per token)
    ttft_a: float
    ttft_b: float
    tokens_a: float
    tokens_b: float
    tpot_a: float
    tpot_b: float
    total_a: float
    total_b: float
    ttft_effect: float
    length_effect: float
    speed_effect: float

    @property
    def delta(self) -> float:
        """B - A of the mean total latency (equals the three effects' sum)."""
        return self.total_b - self.total_a


@dataclass
class Comparison:
    """Run A against run B: B minus A everywhere, flips counted on the questions both answered."""

    run_a: str
    run_b: str
    model_a: str
    model_b: str
    accuracy_a: Proportion | None
    accuracy_b: Proportion | None
    paired: int
    right_to_wrong: list[Flip] = field(default_factory=list)
    wrong_to_right: list[Flip] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    domains: list[Delta] = field(default_factory=list)
    latency_s: list[Delta] = field(default_factory=list)
    quality: list[Delta] = field(default_factory=list)
    latency: LatencySplit | None = None  # total latency's change split: length, per-token speed, TTFT
    probability: PairedDrop | None = None  # paired t test of A's minus B's probability of the right answer
    log_odds: PairedDrop | None = None  # the same on the right answer's log-odds: the gate's prob_drop test
    serving_a: str = ""  # the serving conditions each run was measured under (engine, concurrency, workers, hardware)
    serving_b: str = ""
    serving_differences: list[str] = field(default_factory=list)  # B's conditions against A's; [] when alike
    load_a: LoadFigures | None = None  # the load phase's figures (--concurrency N > 1); None without one
    load_b: LoadFigures | None = None

    @property
    def detectable_drop(self) -> float | None:
        """The smallest drop the exact McNemar test detects at 80% power on these pairs (None: none)."""
        discordance = self.discordance
        if discordance is None:  # no paired question
            return None
        return detectable_drop(self.paired, discordance, 0.05, POWER)

    @property
    def discordance(self) -> float | None:
        """The fraction of paired questions right in one run and wrong in the other."""
        return (len(self.right_to_wrong) + len(self.wrong_to_right)) / self.paired if self.paired else None

    @property
    def difference(self) -> float | None:
        """Accuracy of B minus accuracy of A (each over its own questions)."""
        a = None if self.accuracy_a is None else self.accuracy_a.value
        b = None if self.accuracy_b is None else self.accuracy_b.value
        return None if a is None or b is None else b - a

    @property
    def p_value(self) -> float | None:
        """Exact McNemar p on the paired outcomes (None when no question was answered by both)."""
        return mcnemar_exact(len(self.right_to_wrong), len(self.wrong_to_right)) if self.paired else None

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as plain JSON-ready data."""
        data = asdict(self)
        for key in ("load_a", "load_b"):  # as stored in the record (asdict would carry the parts' own fields)
            load = getattr(self, key)
            data[key] = None if load is None else load.to_dict()
        data["difference"] = self.difference
        data["p_value"] = self.p_value
        data["discordance"] = self.discordance
        data["detectable_drop"] = self.detectable_drop
        for key in ("domains", "latency_s", "quality"):
            data[key] = [{**asdict(d), "delta": d.delta} for d in getattr(self, key)]
        if self.latency is not None:
            data["latency"] = {**asdict(self.latency), "delta": self.latency.delta}
        return data


def compare_runs(a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Return the comparison of eval record `a` (before) with eval record `b` (after)."""
    view_a, view_b = _eval_view(a), _eval_view(b)
    outcomes_a, outcomes_b = view_a.outcomes(), view_b.outcomes()
    shared = [key for key in outcomes_a if key in outcomes_b]
    comparison = Comparison(
        run_a=view_a.run_id,
        run_b=view_b.run_id,
        model_a=view_a.model,
        model_b=view_b.model,
        accuracy_a=view_a.accuracy,
        accuracy_b=view_b.accuracy,
        paired=len(shared),
        only_a=sorted(set(outcomes_a) - set(outcomes_b)),
        only_b=sorted(set(outcomes_b) - set(outcomes_a)),
    )
    for key in sorted(shared):
        qa, qb = outcomes_a[key], outcomes_b[key]
        if bool(qa.correct) == bool(qb.correct):
            continue
        flip = Flip(
            qa.id, given(qa.domain, "?"), given(qa.difficulty), given(qa.answer), given(qa.chosen), given(qb.chosen)
        )
        (comparison.right_to_wrong if qa.correct else comparison.wrong_to_right).append(flip)
    comparison.domains = _deltas(
        {d: p.value for d, p in view_a.by_domain.items()}, {d: p.value for d, p in view_b.by_domain.items()}
    )
    comparison.latency_s = _deltas(view_a.latency_by_domain_s, view_b.latency_by_domain_s)
    comparison.quality = _deltas(view_a.quality_by_domain, view_b.quality_by_domain)
    if view_a.mean_latency_s is not None or view_b.mean_latency_s is not None:
        comparison.latency_s.append(Delta("(mean)", view_a.mean_latency_s, view_b.mean_latency_s))
    if view_a.quality is not None or view_b.quality is not None:
        comparison.quality.append(Delta("(mean)", view_a.quality, view_b.quality))
    before, after = paired_probabilities(b, a)
    if len(before) >= 2:
        comparison.probability = paired_t_drop(before, after)
        comparison.log_odds = paired_t_drop(*paired_log_odds(b, a))
    comparison.latency = _split(view_a.probes, view_b.probes)
    comparison.serving_a, comparison.serving_b = serving_of(view_a.run).describe(), serving_of(view_b.run).describe()
    comparison.serving_differences = differences(view_b.run, view_a.run, here="in B", there="in A")
    comparison.load_a, comparison.load_b = view_a.run.load or None, view_b.run.load or None
    return comparison


def _timings(probe: Probe) -> tuple[float, float, int] | None:
    """(TTFT, total, output tokens) of an answered probe with more than one token, else None."""
    ttft, total, tokens = given(probe.ttft_s), given(probe.latency_median_s), given(probe.new_tokens)
    if given(probe.status, "answered") != "answered" or ttft is None or total is None or tokens is None or tokens < 2:
        return None
    return float(ttft), float(total), int(tokens)


def latency_split(a: dict[str, Any], b: dict[str, Any]) -> LatencySplit | None:
    """Split B - A of total latency over the probes both runs answered (see the module docstring)."""
    return _split(EvalView(a).probes, EvalView(b).probes)


def _split(a: list[Probe], b: list[Probe]) -> LatencySplit | None:
    probes_a = {(given(p.suite, ""), p.id): p for p in a}
    probes_b = {(given(p.suite, ""), p.id): p for p in b}
    paired = [key for key in sorted(probes_a) if key in probes_b]
    rows, unsplit = [], 0
    for key in paired:
        ta, tb = _timings(probes_a[key]), _timings(probes_b[key])
        if ta is None or tb is None:
            unsplit += 1
            continue
        rows.append((ta, tb))
    if not rows:
        return None
    sums = dict.fromkeys(
        ("ttft_a", "ttft_b", "tok_a", "tok_b", "tpot_a", "tpot_b", "tot_a", "tot_b", "f", "n", "s"), 0.0
    )
    for (ttft_a, total_a, n_a), (ttft_b, total_b, n_b) in rows:
        tpot_a, tpot_b = (total_a - ttft_a) / (n_a - 1), (total_b - ttft_b) / (n_b - 1)
        for name, value in (
            ("ttft_a", ttft_a), ("ttft_b", ttft_b), ("tok_a", n_a), ("tok_b", n_b), ("tpot_a", tpot_a),
            ("tpot_b", tpot_b), ("tot_a", total_a), ("tot_b", total_b), ("f", ttft_b - ttft_a),
            ("n", (n_b - n_a) * (tpot_a + tpot_b) / 2), ("s", (n_a + n_b - 2) / 2 * (tpot_b - tpot_a)),
        ):  # fmt: skip
            sums[name] += value
    m = {k: v / len(rows) for k, v in sums.items()}
    return LatencySplit(
        len(rows), unsplit, m["ttft_a"], m["ttft_b"], m["tok_a"], m["tok_b"], m["tpot_a"], m["tpot_b"],
        m["tot_a"], m["tot_b"], m["f"], m["n"], m["s"],
    )  # fmt: skip


def _eval_view(record: dict[str, Any]) -> EvalView:
    if record.get("kind") != "eval":
        raise RecordError(
            f"record {record.get('run_id', '?')} is a {record.get('kind')!r} record: only eval runs "
            "have per-question outcomes to compare"
        )
    return EvalView(record)


def _deltas(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> list[Delta]:
    return [Delta(name, a.get(name), b.get(name)) for name in sorted(set(a) | set(b))]


def format_comparison(comparison: Comparison) -> str:
    """Return the comparison as aligned text tables for the terminal."""
    c = comparison
    lines = [
        format_table(
            ["", "run", "model", "accuracy", "95% interval", "questions"],
            [
                ("A", c.run_a, c.model_a, *_accuracy_cells(c.accuracy_a)),
                ("B", c.run_b, c.model_b, *_accuracy_cells(c.accuracy_b)),
            ],
        ),
        "",
        f"served: A {c.serving_a}",
        f"        B {c.serving_b}",
    ]
    if c.serving_differences:
        unlike = "; ".join(c.serving_differences)
        lines.append(f"latency not comparable ({unlike}): accuracy compares, the latency figures below do not")
    lines.append("")
    p_value = DASH if c.p_value is None else f"{c.p_value:.4g}"
    lines.append(
        f"difference (B - A): {_points(c.difference)}   exact McNemar p = {p_value} "
        f"({len(c.right_to_wrong)} right->wrong, {len(c.wrong_to_right)} wrong->right, "
        f"{c.paired} questions answered by both)"
    )
    if c.paired:
        reach = c.detectable_drop
        reach_text = "no drop" if reach is None else f"a drop of {100 * reach:.1f} points or more"
        lines.append(
            f"power: {reach_text} is detected {POWER:.0%} of the time by this comparison (exact McNemar, alpha "
            f"0.05, {c.paired} paired questions, discordance {c.discordance:.3g}; see tunebench plan)"
        )
    if c.probability is not None:
        t = c.probability
        # a mean probability is a proportion, its drop a difference of proportions (tunebench.units)
        lines.append(
            f"p(right answer): A {format_percent(t.before)} -> B {format_percent(t.after)}, drop "
            f"{format_points(t.drop)}, {t.confidence:.0%} CI [{format_points(t.low, unit=False)}, "
            f"{format_points(t.high, unit=False)}] points, paired t one-sided p = {t.p_value:.4g} ({t.n} questions)"
        )
    if c.log_odds is not None:
        t = c.log_odds
        lines.append(
            f"log-odds of the right answer (the gate's prob_drop test): drop {t.drop:+.3f}, {t.confidence:.0%} CI "
            f"[{t.low:+.3f}, {t.high:+.3f}], paired t one-sided p = {t.p_value:.4g}"
        )
    if c.only_a or c.only_b:
        lines.append(f"unpaired: {len(c.only_a)} question(s) only in A, {len(c.only_b)} only in B")
    for title, flips in (
        ("right -> wrong (A right, B wrong)", c.right_to_wrong),
        ("wrong -> right (A wrong, B right)", c.wrong_to_right),
    ):
        lines += ["", f"{title}: {len(flips)}"]
        if flips:
            lines.append(
                format_table(
                    ["question", "domain", "difficulty", "answer", "A chose", "B chose"],
                    [(f.id, f.domain, f.difficulty, f.answer, f.chosen_a, f.chosen_b) for f in flips],
                )
            )
    if c.latency is not None:
        lines += ["", *_latency_lines(c.latency)]
    load = comparison_lines(c.load_a, c.load_b)
    if load:
        lines += ["", *load]
    for title, deltas, show, signed in (
        ("per-domain accuracy", c.domains, _percent_or_dash, _points),
        ("median latency per domain", c.latency_s, format_seconds, lambda v: _signed(v, format_seconds)),
        ("quality per domain (1-5)", c.quality, format_grade, lambda v: _signed(v, format_grade)),
    ):
        if deltas:
            lines += ["", title]
            lines.append(
                format_table(
                    ["domain", "A", "B", "B - A"], [(d.name, show(d.a), show(d.b), signed(d.delta)) for d in deltas]
                )
            )
    # the prose lines (power, p(right answer), the latency split) wrap to the terminal as the tables fit it
    return "\n".join(line if "\n" in line else fit_line(line) for line in lines)


def _accuracy_cells(accuracy: Proportion | None) -> tuple[str, str, str]:
    if accuracy is None:
        return DASH, DASH, DASH
    return format_percent(accuracy.value), format_interval(accuracy.low, accuracy.high), f"{accuracy.k}/{accuracy.n}"


def _points(value: float | None) -> str:
    return format_points(value)


def _percent_or_dash(value: float | None) -> str:
    return format_percent(value)


def _signed(value: float | None, show: Callable[[float], str]) -> str:
    if value is None:
        return DASH
    text = show(abs(value))
    return ("+" if value >= 0 else "-") + text


def _latency_lines(split: LatencySplit) -> list[str]:
    """TTFT, time per token, tokens and total side by side, then total's change split into its parts.

    Seconds and times per token as the log and `history show` write them (report/formatting).
    """

    def row(name: str, a: float, b: float, show: Callable[[float], str]) -> tuple[str, str, str, str]:
        return name, show(a), show(b), _signed(b - a, show)

    def seconds(value: float) -> str:
        return _signed(value, format_seconds)

    table = format_table(
        ["per probe (mean)", "A", "B", "B - A"],
        [
            row("TTFT", split.ttft_a, split.ttft_b, format_seconds),
            row("time per output token", split.tpot_a, split.tpot_b, format_ms),
            row("output tokens", split.tokens_a, split.tokens_b, lambda v: f"{v:.1f}"),
            row("total latency", split.total_a, split.total_b, format_seconds),
        ],
    )
    left_out = f"; {split.unsplit} one-token answer(s) left out" if split.unsplit else ""
    return [
        f"latency over the {split.probes} probe(s) both runs answered{left_out}",
        table,
        f"total latency B - A: {seconds(split.delta)} = answer length {seconds(split.length_effect)} "
        f"({split.tokens_a:.1f} -> {split.tokens_b:.1f} tokens) + per-token speed {seconds(split.speed_effect)} "
        f"({format_ms(split.tpot_a)} -> {format_ms(split.tpot_b)} per token) + TTFT {seconds(split.ttft_effect)}",
    ]
