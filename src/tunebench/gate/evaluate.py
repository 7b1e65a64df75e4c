"""Apply the rules to one eval record: completeness, floors, budgets, and the comparison with a baseline.

Nothing to judge is not a pass: without a baseline and without any floor or budget the verdict says so
(status "nothing to judge"); with `require_baseline = true` a missing baseline fails. A baseline measured
under other serving conditions (`tunebench.gate.comparability`) is compared on accuracy only: its latency
checks are "not comparable", never FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping

from tunebench.gate.comparability import differences
from tunebench.gate.latency import latency_budgets, latency_regressions, not_comparable_latency, speed_budgets
from tunebench.gate.paired import accuracy_regression, probability_regression
from tunebench.gate.rules import GateRules, per_domain
from tunebench.gate.tasks import task_checks
from tunebench.gate.verdict import NOTHING_TO_JUDGE, Check, Verdict
from tunebench.history.typed import ABSENT, Aggregates, EvalRecordData, Proportion, given

__all__ = ["evaluate", "eval_run"]


def evaluate(
    record: EvalRecordData | Mapping[str, object],
    rules: GateRules,
    baseline: EvalRecordData | Mapping[str, object] | None = None,
    baseline_how: str = "",
) -> Verdict:
    """Return the verdict on `record` under `rules`, comparing with `baseline` when given (`baseline_how`:
    how it was looked for, shown when there is none). Each is an eval record as stored or already typed."""
    run = eval_run(record)  # read once, here: the rules below read the typed record
    base = None if baseline is None else eval_run(baseline)
    verdict = Verdict()
    complete = run.status == "complete"
    verdict.checks.append(Check("run complete", run.status, "complete", complete, detail=_incomplete_detail(run)))
    verdict.checks.extend(_floors(run.aggregates, rules, base))
    verdict.checks.extend(latency_budgets(run.aggregates, rules))
    verdict.checks.extend(speed_budgets(run, rules))
    verdict.checks.extend(task_checks(run, rules, base))  # lm-eval tasks: a floor and a drop rule per task
    if base is not None:
        _compare(verdict, run, base, differences(run, base), rules)
    else:
        _without_baseline(verdict, rules, baseline_how)
    return verdict


def eval_run(record: EvalRecordData | Mapping[str, object]) -> EvalRecordData:
    """Return the eval record as stored (a JSON object) typed; RecordError when it is not a whole eval record.
    A record already typed is returned as it is."""
    return record if isinstance(record, EvalRecordData) else EvalRecordData.from_dict(record)


def _compare(verdict: Verdict, run: EvalRecordData, base: EvalRecordData, unlike: list[str], rules: GateRules) -> None:
    verdict.checks.append(accuracy_regression(run, base, rules, verdict))
    if rules.prob_drop:
        verdict.checks.append(probability_regression(run, base, rules))
    if not unlike:
        verdict.checks.extend(latency_regressions(run, base, rules))
        return
    why = "; ".join(unlike)
    verdict.checks.extend(not_comparable_latency(base, rules, why))
    verdict.warnings.append(
        f"baseline {base.run_id} was measured under other serving conditions ({why}): accuracy is "
        "compared, latency is not comparable and was not judged"
    )


def _floors(aggregates: Aggregates, rules: GateRules, base: EvalRecordData | None) -> list[Check]:
    checks = []
    if rules.min_accuracy is not None and aggregates.accuracy is not ABSENT:
        checks.append(_floor("accuracy", aggregates.accuracy, rules.min_accuracy, base, None))
    by_domain = aggregates.by_domain or {}
    for domain, limit in per_domain(rules.min_domain_accuracy, by_domain):
        checks.append(_floor(f"accuracy[{domain}]", by_domain.get(domain), limit, base, domain))
    quality = aggregates.quality_by_domain or {}
    for domain, limit in per_domain(rules.min_quality, quality):
        value = quality.get(domain)
        detail = "" if value is not None else "no graded probe in this domain"
        passed = value is not None and value >= limit
        checks.append(Check(f"quality[{domain}]", value, f">= {limit}", passed, detail=detail))
    return checks


def _without_baseline(verdict: Verdict, rules: GateRules, how: str) -> None:
    """No baseline: fail when one is required; say "nothing to judge" when no floor or budget judged the run."""
    floors = len(verdict.checks) > 1  # beyond "run complete"
    found = f"baseline {how}" if how else "no baseline"
    # terse: for a table under the line that already says how the baseline was looked for (`how`)
    if rules.require_baseline:
        what = "" if floors else f"; {NOTHING_TO_JUDGE}: no floor or budget is set either"
        detail, terse = f"{found}{what} (require_baseline)", f"no baseline{what} (require_baseline)"
        verdict.checks.append(Check("baseline", None, "required", False, detail=detail, terse=terse))
    elif not floors:
        why = (
            "and no floor or budget (min_accuracy, ...): the run was not judged; require_baseline = true "
            "(or --require-baseline) makes this fail"
        )
        rule, limit = NOTHING_TO_JUDGE, "a baseline or a floor"
        verdict.checks.append(Check(rule, None, limit, True, detail=f"{found} {why}", terse=f"no baseline {why}"))


def _incomplete_detail(run: EvalRecordData) -> str:
    items = run.items
    selection = run.selection
    if run.status == "subset" and selection:
        return (
            f"{selection.selected} of {selection.total} selected (-k or node ids); a subset is never a "
            "full result or a baseline: run every item, or pass --no-gate"
        )
    listed = (("crashed", items.crashed), ("failed", items.failed), ("missing", items.missing))
    parts = [f"{len(node_ids)} {key}" for key, node_ids in listed if node_ids]
    return ", ".join(parts) + " item(s); an incomplete run is never a baseline" if parts else ""


def _floor(
    rule: str, measured: Proportion | None, limit: float, baseline: EvalRecordData | None, domain: str | None
) -> Check:
    base = None
    if baseline is not None:
        aggregates = baseline.aggregates
        part = (aggregates.by_domain or {}).get(domain) if domain else given(aggregates.accuracy)
        base = given(part.value) if part else None
    value = given(measured.value) if measured else None
    if measured is None or value is None:
        return Check(rule, None, f">= {limit}", False, base, "no question answered")
    detail = f"{measured.k}/{measured.n}, 95% CI [{measured.low:.3f}, {measured.high:.3f}]"
    if value < limit:
        detail += f"; {limit - value:.3f} below the floor"
    return Check(rule, value, f">= {limit}", value >= limit, base, detail)
