"""Gate rules: floors, budgets, regressions that must be both large and significant, baseline choice."""

from datetime import UTC, datetime

import pytest
from plugin_support import eval_record

from tunebench.errors import RecordError
from tunebench.gate import GateRules, evaluate, paired_outcomes, search_baseline
from tunebench.history.store import ReadResult


def _ids(n):
    return [f"q{i:03d}" for i in range(n)]


def _outcomes(n, wrong=()):
    return {qid: qid not in wrong for qid in _ids(n)}


def _check(verdict, prefix):
    return next(c for c in verdict.checks if c.rule.startswith(prefix))


def test_rules_come_from_config_with_per_model_overrides():
    gate = {"min_accuracy": 0.5, "max_drop": 0.02, "models": {"dora-v3": {"min_accuracy": 0.8}}}
    assert GateRules.from_config(gate, "dora-v2").min_accuracy == 0.5
    rules = GateRules.from_config(gate, "dora-v3")
    assert rules.min_accuracy == 0.8 and rules.max_drop == 0.02 and rules.alpha == 0.05


def test_accuracy_floor_fails_below_and_shows_the_interval():
    record = eval_record(_outcomes(10, wrong=_ids(10)[:6]))
    check = _check(evaluate(record, GateRules(min_accuracy=0.5)), "accuracy")
    assert not check.passed and check.value == 0.4 and "4/10, 95% CI [0.168, 0.687]" in check.detail
    assert check.detail.endswith("0.100 below the floor")
    assert evaluate(record, GateRules(min_accuracy=0.4)).passed


def test_per_domain_floors_judge_each_domain_named():
    record = eval_record(_outcomes(10, wrong=("q000", "q005")))  # both in retirement_planning
    verdict = evaluate(record, GateRules(min_domain_accuracy={"retirement_planning": 0.5, "investment": 0.5}))
    assert [c.rule for c in verdict.failed] == ["accuracy[retirement_planning]"]
    everywhere = evaluate(record, GateRules(min_domain_accuracy=0.5))
    assert len([c for c in everywhere.checks if c.rule.startswith("accuracy[")]) == 5


def test_quality_floor_and_latency_budget_per_domain():
    record = eval_record(
        _outcomes(2),
        latencies={"compliance": [1.0, 1.2, 1.1], "investment": [5.0, 6.0, 7.0]},
        grades={"compliance": 4, "investment": 2},
    )
    verdict = evaluate(record, GateRules(min_quality=3, latency_budget_s={"compliance": 2.0, "investment": 5.0}))
    assert sorted(c.rule for c in verdict.failed) == ["latency[investment] median s", "quality[investment]"]
    assert _check(verdict, "latency[investment]").value == 6.0


def test_the_same_outcomes_twice_pass_the_regression_check():
    base = eval_record(_outcomes(30, wrong=("q001", "q002")))
    verdict = evaluate(eval_record(_outcomes(30, wrong=("q001", "q002"))), GateRules(), base)
    check = _check(verdict, "accuracy drop")
    assert verdict.passed and check.value == 0 and "p=1" in check.detail


def test_a_large_significant_drop_fails():
    base = eval_record(_outcomes(30))
    now = eval_record(_outcomes(30, wrong=_ids(30)[:12]))
    check = _check(evaluate(now, GateRules(), base), "accuracy drop")
    assert not check.passed and check.value == 0.4 and "b=12, c=0" in check.detail and "p=0.0004883" in check.detail


def test_a_drop_larger_than_allowed_but_inside_the_noise_passes_with_p_shown():
    base = eval_record(_outcomes(20))
    now = eval_record(_outcomes(20, wrong=("q003", "q007", "q011")))
    check = _check(evaluate(now, GateRules(max_drop=0.05), base), "accuracy drop")
    assert check.passed and check.value == 0.15 and "p=0.25" in check.detail and "within noise" in check.detail


def test_a_significant_drop_within_max_drop_passes():
    base = eval_record(_outcomes(400))
    now = eval_record(_outcomes(400, wrong=_ids(400)[:12]))
    assert _check(evaluate(now, GateRules(max_drop=0.05), base), "accuracy drop").passed
    assert not _check(evaluate(now, GateRules(max_drop=0.02), base), "accuracy drop").passed


def test_crashed_questions_count_as_not_correct_and_fail_the_completeness_check():
    record = eval_record(_outcomes(4), crashed=("q002",))
    assert record["status"] == "incomplete" and record["aggregates"]["accuracy"]["k"] == 3
    assert not _check(evaluate(record, GateRules()), "run complete").passed


def test_paired_outcomes_count_discordant_pairs_by_question():
    base = eval_record({"a1": True, "a2": False, "a3": True})
    now = eval_record({"a1": False, "a2": True, "a3": True, "a4": True})
    assert paired_outcomes(now, base) == (3, 1, 1, 1)


def _history(*records):
    result = ReadResult()
    for record in records:
        result.records.append(record)
        result.locations[record["run_id"]] = f"runs/{record['run_id']}.json"
    return result


NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_auto_baseline_is_the_newest_complete_production_run_on_the_same_suite_files():
    old = eval_record(_outcomes(4), started_at="2026-01-10T00:00:00Z", finished_at="2026-01-10T00:01:00Z")
    new = eval_record(_outcomes(4), started_at="2026-01-12T00:00:00Z", finished_at="2026-01-12T00:01:00Z")
    incomplete = eval_record(
        _outcomes(4), crashed=("q001",), started_at="2026-01-13T00:00:00Z", finished_at="2026-01-13T00:01:00Z"
    )
    future = eval_record(_outcomes(4), started_at="2026-03-01T00:00:00Z", finished_at="2026-03-01T00:01:00Z")
    other_suite = eval_record(
        _outcomes(4), sha="b" * 64, started_at="2026-01-14T00:00:00Z", finished_at="2026-01-14T00:01:00Z"
    )
    experimental = eval_record(
        _outcomes(4), model="candidate", started_at="2026-01-15T00:00:00Z", finished_at="2026-01-15T00:01:00Z"
    )
    current = eval_record(
        _outcomes(4), model="candidate", started_at="2026-01-20T00:00:00Z", finished_at="2026-01-20T00:01:00Z"
    )
    history = _history(old, new, incomplete, future, other_suite, experimental)
    choice = search_baseline("auto", current, history, ["prod"], ["prod", "candidate"], now=NOW)
    assert choice.record is new and "production" in choice.how
    assert (
        search_baseline("candidate", current, history, ["prod"], ["prod", "candidate"], now=NOW).record is experimental
    )
    assert search_baseline("none", current, history, ["prod"], ["prod"], now=NOW).record is None


def test_auto_baseline_without_a_match_says_so():
    current = eval_record(_outcomes(4), model="candidate")
    choice = search_baseline("auto", current, _history(), ["prod"], ["prod", "candidate"], now=NOW)
    assert choice.record is None and choice.how.startswith("none found")


def test_an_incomplete_or_future_run_named_by_id_is_refused_as_baseline():
    incomplete = eval_record(_outcomes(4), crashed=("q001",))
    future = eval_record(_outcomes(4), started_at="2026-03-01T00:00:00Z", finished_at="2026-03-01T00:01:00Z")
    current = eval_record(_outcomes(4))
    with pytest.raises(RecordError, match="is incomplete; an incomplete run is never a baseline"):
        search_baseline(incomplete["run_id"], current, _history(incomplete), [], [], now=NOW)
    with pytest.raises(RecordError, match="stamped in the future"):
        search_baseline(future["run_id"], current, _history(future), [], [], now=NOW)


def test_verdict_renders_as_text_and_markdown_tables():
    verdict = evaluate(eval_record(_outcomes(4, wrong=("q000",))), GateRules(min_accuracy=0.9))
    assert verdict.table().splitlines()[0].split() == ["rule", "value", "limit", "baseline", "result", "detail"]
    # tunebench.escaping escapes what could start a block quote or a list item ("-" alone, ">=") in any cell.
    assert "| accuracy | 0.750 | \\>= 0.9 | \\- | **FAIL** |" in verdict.markdown()
    assert verdict.to_dict()["passed"] is False


def test_records_of_other_kinds_in_the_history_are_never_baselines():
    # Imported sessions and training records share the store; their "model" is not an eval's model object.
    prod = eval_record(_outcomes(4), started_at="2026-01-10T00:00:00Z", finished_at="2026-01-10T00:01:00Z")
    training = {
        "kind": "training",
        "run_id": "train-1",
        "model": "prod",
        "status": "complete",
        "finished_at": "2026-01-11T00:00:00Z",
    }
    imported = {"kind": "imported_session", "run_id": "imp-1", "base_model": "prod"}
    current = eval_record(_outcomes(4), model="candidate")
    history = _history(prod, training, imported)
    assert search_baseline("auto", current, history, ["prod"], ["prod", "candidate"], now=NOW).record is prod
    with pytest.raises(RecordError, match="train-1: that is a training record, not an eval run"):
        search_baseline("train-1", current, history, ["prod"], ["prod"], now=NOW)


def test_no_baseline_and_no_floor_is_nothing_to_judge_not_a_pass():
    verdict = evaluate(eval_record(_outcomes(10, wrong=_ids(10))), GateRules(), None, "none found (auto)")
    # Not a pass (passed is false, as in the record's JSON) and not a failure (exit status 0).
    assert not verdict.passed and not verdict.failing and not verdict.judged and verdict.status == "nothing to judge"
    assert "baseline none found (auto) and no floor" in _check(verdict, "nothing to judge").detail
    assert verdict.to_dict()["status"] == "nothing to judge" and verdict.to_dict()["passed"] is False
    assert "| \\- | nothing to judge | baseline none found (auto) and no floor" in verdict.markdown()
    floored = evaluate(eval_record(_outcomes(10)), GateRules(min_accuracy=0.5))
    assert floored.judged and floored.status == "pass"


def test_require_baseline_fails_a_zero_accuracy_run_without_baseline():
    verdict = evaluate(eval_record(_outcomes(10, wrong=_ids(10))), GateRules(require_baseline=True), None, "none found")
    assert verdict.status == "fail" and [c.rule for c in verdict.failed] == ["baseline"]
    assert "nothing to judge" in verdict.failed[0].detail
    assert GateRules.from_config({"require_baseline": True}).require_baseline


def test_every_comparison_states_its_detectable_drop_and_warns_below_max_drop():
    from tunebench.power import detectable_drop

    base = eval_record(_outcomes(100, wrong=_ids(100)[:20]))
    now = eval_record(_outcomes(100, wrong=_ids(100)[5:25]))  # 5 right->wrong, 5 wrong->right
    verdict = evaluate(now, GateRules(max_drop=0.05), base)
    expected = detectable_drop(100, 0.1)
    assert verdict.detectable_drop == expected
    assert (
        f"detects a drop of {100 * expected:.1f} points at 80% power (discordance 0.1)"
        in _check(verdict, "accuracy drop").detail
    )
    [warning] = verdict.warnings
    assert "cannot detect its own max_drop of 5.0 points" in warning and "tunebench plan --drop 0.05" in warning
    assert "warning: this comparison cannot detect" in verdict.table()
    roomy = evaluate(now, GateRules(max_drop=0.2), base)
    assert roomy.warnings == [] and roomy.passed


def _with_probabilities(record, probabilities):
    """Give each question log-likelihoods whose softmax puts `p` on its answer (A) and the rest evenly."""
    import math

    for q, p in zip(record["questions"], probabilities, strict=True):
        rest = (1 - p) / 3
        q["loglikelihoods"] = [math.log(p), math.log(rest), math.log(rest), math.log(rest)]
    return record


def test_prob_drop_fails_a_significant_drop_in_the_right_answers_probability_with_p_and_interval():
    import random

    rng = random.Random(1)
    before = [rng.uniform(0.4, 0.9) for _ in range(100)]
    after = [p - 0.05 + rng.gauss(0, 0.05) for p in before]
    base = _with_probabilities(eval_record(_outcomes(100)), before)
    now = _with_probabilities(eval_record(_outcomes(100)), after)
    verdict = evaluate(now, GateRules(max_prob_drop=0.01), base)
    check = _check(verdict, "prob_drop")
    assert not check.passed and 0.04 < check.value < 0.06
    assert "90% CI [" in check.detail and "paired t one-sided p=" in check.detail
    assert "larger than allowed and significant" in check.detail
    # The same outcomes right/wrong: McNemar sees nothing, the probabilities do.
    assert _check(verdict, "accuracy drop").passed


def test_prob_drop_passes_identical_probabilities_and_runs_without_log_likelihoods():
    base = _with_probabilities(eval_record(_outcomes(20)), [0.6] * 20)
    same = _with_probabilities(eval_record(_outcomes(20)), [0.6] * 20)
    check = _check(evaluate(same, GateRules(), base), "prob_drop")
    assert check.passed and check.value == 0 and "p=1" in check.detail
    bare = _check(evaluate(eval_record(_outcomes(20)), GateRules(), eval_record(_outcomes(20))), "prob_drop")
    assert bare.passed and "not compared" in bare.detail
    assert not any(c.rule.startswith("prob_drop") for c in evaluate(same, GateRules(prob_drop=False), base).checks)


def test_markdown_escapes_record_text():
    record = eval_record(_outcomes(4))
    verdict = evaluate(record, GateRules(min_domain_accuracy={"<b>x</b>|y": 0.5}))
    markdown = verdict.markdown()
    assert "<b>" not in markdown and "&lt;b&gt;" not in markdown and "&lt;b>x&lt;/b>\\|y" in markdown


def test_the_log_and_history_list_show_nothing_to_judge_and_the_detectable_drop():
    from tunebench.report.views import EvalView

    record = eval_record(_outcomes(4))
    record["gate"] = evaluate(record, GateRules()).to_dict()
    assert EvalView(record).gate_verdict == "nothing to judge"
    base = eval_record(_outcomes(30))
    record["gate"] = evaluate(eval_record(_outcomes(30)), GateRules(), base).to_dict()
    reach = record["gate"]["detectable_drop"]
    assert EvalView(record).gate_verdict == f"pass; detects drops ≥ {100 * reach:.1f} pt"
