"""Is a run slower than its baseline? The latency regression rule's noise model and its paired rank test.

Noise model. A probe's timed repeat takes `t = model speed x machine speed x noise`. The machine's speed
is measured beside every repeat (`tunebench.machine_speed`: a fixed reference workload timed before,
between and after the repeats), so each repeat is normalised by the geometric mean of the two reference
timings around it; what remains is the model's speed times the jitter of one timing. Per probe, the
log-ratio of the two runs' median normalised repeats, `d = log(now / before)`, is then a paired sample:
the probes differ in length and prompt, so each is compared only with itself.

The test. A regression FAILs only when all three hold:

1. larger than allowed: the estimated slowdown (exp of the Hodges-Lehmann estimate of the median of `d`,
   the estimator that goes with the signed-rank test) is above `1 + max_latency_increase`;
2. significant: the one-sided exact Wilcoxon signed-rank test of `d - log(1 + max_latency_increase)`
   (scipy) gives p < `alpha`, i.e. the run is significantly slower than the allowed ratio, not merely
   slower than the baseline;
3. larger than the run's own jitter: the slowdown is above the ratio within which nine in ten of the two
   runs' repeated timings lie around their probe's median.

The comparison states the smallest slowdown it detects at 80% power: `(1 + max_latency_increase) x
exp((z(1-alpha) + z(0.8)) x sigma / sqrt(n) x sqrt(pi/3))` (the normal approximation of the signed-rank
test, whose efficiency against the t test is 3/pi), sigma the robust spread (1.4826 MAD) of `d` over the
`n` probes, and at least the jitter ratio of rule 3.

Not comparable, never FAIL: fewer than `MIN_PROBES` probes with `MIN_REPEATS` timings on both sides
(the exact test could not reach `alpha`), a side without the reference workload or with another one, or a
machine whose speed moved by more than `MAX_MACHINE_CHANGE` times between the runs (the normalisation was
checked up to there: benchmarks/test_bench_gate_latency.py).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tunebench.history.typed import Probe, SpeedReference, given

__all__ = [
    "MIN_PROBES",
    "MIN_REPEATS",
    "MAX_MACHINE_CHANGE",
    "METRICS",
    "ProbeTimings",
    "Slowdown",
    "probe_timings",
    "compare_runs",
]

MIN_PROBES = 6  # the exact one-sided signed-rank test's smallest p on n probes is 2**-n: 1/64 here
MIN_REPEATS = 2
MAX_MACHINE_CHANGE = 3.0
POWER = 0.8
JITTER_QUANTILE = 0.9
_Z_POWER = 0.8416212335729143  # the standard normal's 80% quantile


@dataclass(frozen=True)
class ProbeTimings:
    """One probe's per-repeat timings of one metric, and the reference timings around them (see machine_speed)."""

    timings_s: tuple[float, ...]
    reference_s: tuple[float, ...]
    workload: str | None

    def normalised(self) -> list[float]:
        """Return log(timing / machine speed) per repeat: the reference's geometric mean around each repeat."""
        refs = [math.log(r) for r in self.reference_s]
        if len(refs) == len(self.timings_s) + 1:
            around = [(refs[i] + refs[i + 1]) / 2 for i in range(len(self.timings_s))]
        else:  # the reference was not interleaved repeat by repeat: its median stands for the whole probe
            around = [statistics.median(refs)] * len(self.timings_s)
        return [math.log(t) - a for t, a in zip(self.timings_s, around, strict=True) if t > 0]


def _per_repeat_ttft(probe: Probe) -> list[float]:
    return list(probe.ttft_runs_s or [])


def _per_repeat_total(probe: Probe) -> list[float]:
    return list(probe.latency_s or [])


def _per_repeat_tpot(probe: Probe) -> list[float]:
    """Time per output token of each repeat: (latency - TTFT) / (new tokens - 1); none for one-token answers."""
    ttft, total, tokens = _per_repeat_ttft(probe), _per_repeat_total(probe), probe.new_tokens or 0
    if tokens < 2 or len(ttft) != len(total):
        return []
    return [(t - f) / (tokens - 1) for t, f in zip(total, ttft, strict=True) if t > f]


# metric -> (rule name, a probe's per-repeat timings)
METRICS: dict[str, tuple[str, Callable[[Probe], list[float]]]] = {
    "total": ("latency", _per_repeat_total),
    "ttft": ("ttft", _per_repeat_ttft),
    "time_per_token": ("time per token", _per_repeat_tpot),
}


def probe_timings(probes: Sequence[Probe | Mapping[str, object]], metric: str) -> dict[tuple[str, str], ProbeTimings]:
    """Return {(suite, probe id): its timings of `metric`} for the answered probes that have any (each probe
    typed, or as a record stores it)."""
    found = {}
    for stored in probes:
        probe = stored if isinstance(stored, Probe) else Probe.from_dict(stored)
        timings = [t for t in METRICS[metric][1](probe) if t > 0] if probe.status == "answered" else []
        if not timings:
            continue
        reference = SpeedReference.from_dict(given(probe.speed_reference))
        found[(given(probe.suite, ""), probe.id)] = ProbeTimings(
            tuple(timings),
            tuple(t for t in reference.timings_s if t > 0) if reference else (),
            reference.workload if reference else None,
        )
    return found


@dataclass(frozen=True)
class Slowdown:
    """The comparison of one metric: the normalised slowdown, its test, the noise, and what it can detect."""

    probes: int
    comparable: bool
    why: str = ""  # not comparable: the reason
    ratio: float | None = None  # estimated slowdown, machine speed taken out (1.0: as fast)
    raw_ratio: float | None = None  # the same without the machine's speed taken out
    machine_ratio: float | None = None  # how much slower the machine ran (the reference workload)
    p_value: float | None = None  # one-sided: slower than the allowed ratio
    jitter_ratio: float | None = None
    detectable_ratio: float | None = None  # smallest slowdown detected at POWER
    allowed_ratio: float = 1.25
    alpha: float = 0.05

    @property
    def failed(self) -> bool:
        """True when the slowdown is larger than allowed, significant, and larger than the jitter."""
        if not self.comparable or self.ratio is None or self.p_value is None:
            return False
        return self.ratio > self.allowed_ratio and self.p_value < self.alpha and self.ratio > (self.jitter_ratio or 1)

    def detail(self) -> str:
        """Return the verdict's text: the figures, and the smallest slowdown this comparison detects."""
        if not self.comparable:
            return f"not comparable: {self.why}"
        detects = (
            f"detects a slowdown of {self.detectable_ratio:.2f}x or more at {POWER:.0%} power"
            if self.detectable_ratio is not None and math.isfinite(self.detectable_ratio)
            else "too noisy to state a detectable slowdown"
        )
        return (
            f"{self.ratio:.2f}x the baseline's time with the machine's speed taken out "
            f"({self.raw_ratio:.2f}x as measured; the reference workload took {self.machine_ratio:.2f}x its time) "
            f"over {self.probes} "
            f"paired probes; signed-rank p={self.p_value:.3g} for slower than {self.allowed_ratio:.2f}x; "
            f"jitter {self.jitter_ratio:.2f}x; {detects}"
        )


def compare_runs(
    before: dict[tuple[str, str], ProbeTimings],
    now: dict[tuple[str, str], ProbeTimings],
    max_increase: float,
    alpha: float,
) -> Slowdown:
    """Return the slowdown of `now` against `before`, probe by probe (see the module docstring for the rule)."""
    allowed = 1 + max_increase
    keys = sorted(k for k in before.keys() & now.keys() if _enough(before[k]) and _enough(now[k]))
    if len(keys) < MIN_PROBES:
        sides = f"this run {_count(now)}, the baseline {_count(before)}"
        why = (
            f"{len(keys)} probe(s) with {MIN_REPEATS}+ timings on both sides ({sides}), {MIN_PROBES} needed "
            "(fewer cannot show a significant slowdown)"
        )
        return Slowdown(len(keys), False, why, allowed_ratio=allowed, alpha=alpha)
    workloads = {t.workload if t.reference_s else None for run in (before, now) for t in (run[k] for k in keys)}
    if None in workloads or len(workloads) > 1:
        why = (
            "a run has no machine-speed reference (recorded before it existed)"
            if None in workloads
            else f"the runs timed different reference workloads ({', '.join(sorted(w for w in workloads if w))})"
        )
        return Slowdown(len(keys), False, why, allowed_ratio=allowed, alpha=alpha)
    moved = [_log_median(now[k].reference_s) - _log_median(before[k].reference_s) for k in keys]
    machine = math.exp(statistics.median(moved))
    if not 1 / MAX_MACHINE_CHANGE <= machine <= MAX_MACHINE_CHANGE:
        why = (
            f"the machine ran {machine:.2f}x the baseline's time on the reference workload, more than the "
            f"{MAX_MACHINE_CHANGE:g}x within which its speed can be taken out"
        )
        return Slowdown(len(keys), False, why, machine_ratio=machine, allowed_ratio=allowed, alpha=alpha)
    return _test(before, now, keys, allowed, alpha, machine)


def _test(
    before: dict[tuple[str, str], ProbeTimings],
    now: dict[tuple[str, str], ProbeTimings],
    keys: list[tuple[str, str]],
    allowed: float,
    alpha: float,
    machine: float,
) -> Slowdown:
    from scipy.stats import wilcoxon

    old = {k: before[k].normalised() for k in keys}
    new = {k: now[k].normalised() for k in keys}
    diffs = [statistics.median(new[k]) - statistics.median(old[k]) for k in keys]
    raw = [_log_median(now[k].timings_s) - _log_median(before[k].timings_s) for k in keys]
    shifted = [d - math.log(allowed) for d in diffs]
    if all(d == 0 for d in shifted):
        p_value = 1.0
    else:
        p_value = float(wilcoxon(shifted, alternative="greater", zero_method="zsplit").pvalue)
    jitter = math.exp(_quantile([abs(x - statistics.median(v)) for v in [*old.values(), *new.values()] for x in v]))
    spread = 1.4826 * statistics.median(abs(d - statistics.median(diffs)) for d in diffs)
    z = statistics.NormalDist().inv_cdf(1 - alpha) + _Z_POWER
    detectable = max(allowed * math.exp(z * spread / math.sqrt(len(keys)) * math.sqrt(math.pi / 3)), jitter)
    return Slowdown(
        probes=len(keys),
        comparable=True,
        ratio=math.exp(_hodges_lehmann(diffs)),
        raw_ratio=math.exp(statistics.median(raw)),
        machine_ratio=machine,
        p_value=p_value,
        jitter_ratio=jitter,
        detectable_ratio=detectable,
        allowed_ratio=allowed,
        alpha=alpha,
    )


def _enough(timings: ProbeTimings) -> bool:
    return len(timings.timings_s) >= MIN_REPEATS


def _count(run: dict[tuple[str, str], ProbeTimings]) -> int:
    return sum(_enough(t) for t in run.values())


def _log_median(values: Sequence[float]) -> float:
    return math.log(statistics.median(values))


def _hodges_lehmann(values: Sequence[float]) -> float:
    """The median of all pairwise means (Walsh averages): the signed-rank test's estimate of the centre."""
    return statistics.median((a + b) / 2 for i, a in enumerate(values) for b in values[i:])


def _quantile(values: Sequence[float], q: float = JITTER_QUANTILE) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
