"""One judge for a run (`tunebench.gate.judge_run`): the plugin, `tunebench gate` and `tunebench report` agree,
on the verdict's words, on who may be a baseline, and on what is comparable. Local histories, the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plugin_support import records, write_answers, write_project
from record_factory import graded_run

from tunebench.cli import main
from tunebench.gate import GateRules, evaluate, judge_run
from tunebench.history.store import open_store
from tunebench.report.html import render_report

pytest_plugins = ["pytester"]

PYPROJECT = """
[tool.tunebench]
history = "hist"
log = "LOG.md"

[tool.tunebench.models.prod]
base = "builtin:tiny"
status = "production"

[tool.tunebench.models.candidate]
base = "builtin:tiny"
status = "experimental"
{extra}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project with a local history; returns the store."""
    from tunebench.config import _load_cached

    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(extra=""))
    _load_cached.cache_clear()  # a process reads its configuration once; each test writes its own
    monkeypatch.chdir(tmp_path)
    yield open_store(tmp_path / "hist")
    _load_cached.cache_clear()


def _cli(capsys, *args):
    capsys.readouterr()  # only this command's output (an in-process pytester run writes to the same stream)
    status = main(list(args))
    out = capsys.readouterr()
    return status, out.out, out.err


def _with_probes(record: dict, ttft: float, engine: str = "hf", concurrency: int = 1) -> dict:
    """The record with two timed probes per domain and the engine it was served by."""
    record["probes"] = [
        {
            "suite": "probes",
            "id": f"p{i}",
            "domain": "investment",
            "status": "answered",
            "ttft_s": ttft * (1 + i / 10),
            "time_per_output_token_s": ttft / 10,
            "latency_s": [ttft * 3],
            "latency_median_s": ttft * 3,
            "new_tokens": 20,
        }
        for i in range(3)
    ]
    record["model"]["engine"] = {"engine": engine, "model_id": "tiny", "concurrency": concurrency}
    return record


def test_json_says_passed_false_and_the_status_when_there_is_nothing_to_judge(project, capsys):
    project.write(graded_run("candidate", 20, 10, 30))
    status, out, _ = _cli(capsys, "gate", "latest", "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["status"] == "nothing to judge"
    assert data["passed"] is False and data["verdict"]["passed"] is False


def test_the_nothing_to_judge_row_does_not_repeat_the_baseline_line_above_it(project, capsys, monkeypatch):
    # issue 26: under "baseline: none found (newest complete run of production model(s) prod on the same suite
    # files)" the row said "baseline none found (newest complete run ...) and no floor or budget ...", wrapped
    # down the table's detail column. The text says it once; the JSON and Markdown keep the whole detail.
    monkeypatch.setenv("COLUMNS", "100")
    run = graded_run("candidate", 20, 10, 30)
    project.write(run)
    how = "none found (newest complete run of production model(s) prod on the same suite files)"
    for args in ((), ("--require-baseline",)):
        status, out, _ = _cli(capsys, "gate", run["run_id"], *args)
        words = " ".join(out.split())  # the table wraps its detail column
        assert f"baseline: {how}" in out and words.count("none found") == 1, out
        assert max(len(line) for line in out.splitlines()) <= 100, out
    assert "nothing to judge - a baseline or a floor - nothing to judge no baseline and no floor or budget" in " ".join(
        _cli(capsys, "gate", run["run_id"])[1].split()
    )
    assert "FAIL no baseline; nothing to judge: no floor or budget is set either (require_baseline)" in words
    whole = f"baseline {how} and no floor or budget (min_accuracy, ...): the run was not judged"
    status, out, _ = _cli(capsys, "gate", run["run_id"], "--format", "json")
    [check] = [c for c in json.loads(out)["verdict"]["checks"] if c["rule"] == "nothing to judge"]
    assert check["detail"].startswith(whole) and "terse" not in check
    status, out, _ = _cli(capsys, "gate", run["run_id"], "--format", "markdown")
    assert f"| nothing to judge | {whole}" in out, out


def test_a_run_given_as_its_own_baseline_is_refused_with_exit_2(project, capsys):
    project.write(graded_run("prod", 20, 10, 30))
    run = graded_run("candidate", 20, 11, 30)
    project.write(run)
    status, _, err = _cli(capsys, "gate", run["run_id"], "--baseline", run["run_id"])
    assert status == 2 and "a run is never its own baseline" in err
    status, _, err = _cli(capsys, "report", run["run_id"], "--baseline", run["run_id"])
    assert status == 2 and "a run is never its own baseline" in err
    status, _, err = _cli(capsys, "report", run["run_id"], "--compare", run["run_id"])
    assert status == 2 and "itself" in err


def test_a_run_compared_with_itself_is_refused_with_exit_2_and_one_message(project, capsys):
    project.write(graded_run("prod", 20, 10, 30))
    run = graded_run("candidate", 20, 11, 30)
    project.write(run)
    # Was: `history compare R R` printed a comparison of nothing (0 flips, p = 1) and exit 0.
    status, out, err = _cli(capsys, "history", "compare", run["run_id"], run["run_id"])
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "that is one run twice; a run is never compared with itself" in err
    status, _, err = _cli(capsys, "history", "compare", "candidate", run["run_id"][:8])  # a model and a prefix
    assert status == 2 and f"(both name run {run['run_id']})" in err
    status, _, err = _cli(capsys, "plan", "--drop", "0.05", "--from", run["run_id"], "candidate")
    assert status == 2 and "a run is never compared with itself" in err


def test_an_explicit_baseline_served_otherwise_is_compared_on_accuracy_and_not_on_latency(project, capsys):
    served = _with_probes(graded_run("prod", 20, 10, 30), ttft=0.1, engine="openai", concurrency=4)
    project.write(served)
    slower = _with_probes(graded_run("candidate", 20, 11, 30), ttft=1.0)  # 10x the TTFT, alone in-process
    project.write(slower)
    status, out, _ = _cli(capsys, "gate", slower["run_id"], "--baseline", served["run_id"], "--format", "json")
    data = json.loads(out)
    assert status == 0 and data["status"] == "pass"
    latency = [c for c in data["verdict"]["checks"] if "increase vs baseline" in c["rule"]]
    assert latency and all(c["passed"] and c["comparable"] is False for c in latency)
    assert "engine hf here, openai in the baseline" in latency[0]["detail"]
    assert "concurrency 1 here, 4 in the baseline" in latency[0]["detail"]
    assert any("accuracy is compared, latency is not comparable" in w for w in data["verdict"]["warnings"])
    # Accuracy is still judged across the serving conditions: a real drop fails.
    worse = _with_probes(graded_run("candidate", 2, 12, 30), ttft=0.1)
    project.write(worse)
    status, out, _ = _cli(capsys, "gate", worse["run_id"], "--baseline", served["run_id"])
    assert status == 1 and "accuracy drop vs baseline" in out.splitlines()[-1]
    assert "not comparable" in out


def test_only_latency_against_an_unlike_baseline_is_not_comparable_not_pass():
    """A baseline with no question in common and another engine: nothing comparable was judged."""
    base = _with_probes(graded_run("prod", 20, 10, 30), ttft=0.1, engine="openai")
    base["questions"] = []
    run = _with_probes(graded_run("candidate", 20, 11, 30), ttft=1.0)
    verdict = evaluate(run, GateRules(prob_drop=False), base, "record")
    assert {c.result for c in verdict.checks if "increase" in c.rule} == {"not comparable"}
    assert _rule(verdict, "accuracy drop vs baseline").result == "not comparable"  # no question to pair
    assert verdict.status == "not comparable" and not verdict.passed and not verdict.failing
    assert verdict.to_dict()["status"] == "not comparable" and verdict.to_dict()["passed"] is False


def _rule(verdict, name):
    return next(c for c in verdict.checks if c.rule == name)


def test_the_html_badge_is_grey_for_nothing_to_judge(tmp_path):
    record = graded_run("candidate", 20, 11, 30)
    record["gate"] = {"passed": True, "status": "nothing to judge", "checks": []}  # as records before this issue
    page = render_report(record)
    assert '<span class="verdict none" id="verdict">nothing to judge</span>' in page
    assert "verdict pass" not in page and ">PASS<" not in page
    record["gate"] = evaluate(record, GateRules()).to_dict()  # as written now: passed false
    page = render_report(record)
    assert '<span class="verdict none" id="verdict">nothing to judge</span>' in page and ">FAIL<" not in page


def test_report_compare_says_the_comparison_is_not_gated_and_names_both_serving_conditions(project, capsys):
    base = _with_probes(graded_run("prod", 20, 10, 30), ttft=0.1, engine="openai", concurrency=4)
    project.write(base)
    run = graded_run("candidate", 20, 11, 30)
    run["gate"] = evaluate(run, GateRules()).to_dict()  # recorded without a baseline: nothing to judge
    project.write(run)
    out = Path("page.html")
    status, _, _ = _cli(capsys, "report", run["run_id"], "--compare", base["run_id"], "--out", str(out))
    page = out.read_text()
    assert status == 0 and 'id="not-gated"' in page
    assert "recorded when the run finished (no baseline)" in page
    assert "engine openai, concurrency 4" in page and "engine hf, concurrency 1" in page
    assert 'id="serving-differs"' in page
    # Against the gate's own baseline the verdict is the comparison's: judged now, no "not gated" notice.
    status, _, _ = _cli(capsys, "report", run["run_id"], "--baseline", base["run_id"], "--out", str(out))
    page = out.read_text()
    assert status == 0 and 'id="not-gated"' not in page and f"judged now against {base['run_id']}" in page


def _damage_keeping_size_and_mtime(path: Path) -> None:
    """Bit rot: one byte changes; size, modification time and inode stay as they were."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b'"command"') + 1
    data[at] = ord("C")
    with open(path, "r+b") as handle:  # in place: the same inode
        handle.write(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_plugin_gate_and_report_fall_back_past_a_damaged_newest_baseline_to_the_same_older_one(pytester, capsys):
    questions = write_project(pytester, n=12)
    key = {q["id"]: q["answer"] for q in questions}
    write_answers(pytester, {"prod": key, "candidate": key})
    assert pytester.runpytest("--model", "prod").ret == 0
    assert pytester.runpytest("--model", "prod").ret == 0
    good, newest = records(pytester)
    store = open_store(pytester.path / "hist")
    store.read_summaries()  # the summary index has seen the newest one whole
    _damage_keeping_size_and_mtime(Path(store.read_all().locations[newest["run_id"]]))

    result = pytester.runpytest("--model", "candidate", "--baseline", "auto")
    assert result.ret == 0
    readable = open_store(pytester.path / "hist").read_all().records  # the damaged one is skipped, named
    [judged] = [r for r in readable if r["model"]["name"] == "candidate"]
    assert judged["baseline"]["run_id"] == good["run_id"]  # the plugin

    from tunebench.config import _load_cached

    _load_cached.cache_clear()
    os.chdir(pytester.path)
    status, out, _ = _cli(capsys, "gate", judged["run_id"], "--format", "json")
    assert status == 0 and json.loads(out)["baseline"]["run_id"] == good["run_id"]  # tunebench gate
    status, out, _ = _cli(capsys, "report", judged["run_id"], "--baseline", "auto", "--out", "page.html")
    assert status == 0 and f"compared with {good['run_id']}" in out  # tunebench report
    # The library: one judge, the same answer, naming the candidate it passed over (when the index offered it).
    rules = GateRules()
    judgement = judge_run(judged, store, spec="auto", rules=rules, production=["prod"], models=["prod", "candidate"])
    assert judgement.baseline["run_id"] == good["run_id"]
    assert judgement.verdict.to_dict() == judged["gate"] or judgement.verdict.status == judged["gate"]["status"]


def test_history_compare_names_both_sides_serving_conditions(project, capsys):
    served = _with_probes(graded_run("prod", 20, 10, 30), ttft=0.1, engine="openai", concurrency=4)
    alone = _with_probes(graded_run("candidate", 20, 11, 30), ttft=0.2)
    project.write(served)
    project.write(alone)
    status, out, _ = _cli(capsys, "history", "compare", served["run_id"], alone["run_id"])
    assert status == 0
    assert "served: A engine openai, concurrency 4, 1 worker" in out
    assert "B engine hf, concurrency 1, 1 worker" in out
    assert "latency not comparable (engine hf in B, openai in A; concurrency 1 in B, 4 in A)" in out
    assert "log-odds of the right answer (the gate's prob_drop test): drop +0.000" in out


def test_prob_drop_is_judged_on_the_log_odds_and_a_common_move_of_all_choices_is_no_drop():
    from tunebench.gate import paired_log_odds

    base = graded_run("prod", 20, 10, 30)
    moved = graded_run("candidate", 20, 11, 30)
    for q in moved["questions"]:  # every choice 3 nats less likely: the same preferences, the same probabilities
        q["loglikelihoods"] = [value - 3 for value in q["loglikelihoods"]]
    check = next(c for c in evaluate(moved, GateRules(), base).checks if c.rule == "prob_drop vs baseline")
    assert check.passed and "log-odds of the right answer: drop +0.000" in check.detail
    worse = graded_run("candidate", 20, 12, 30)
    for q in worse["questions"]:  # the right answer (A) 0.3 nats less likely on every question
        q["loglikelihoods"] = [q["loglikelihoods"][0] - 0.3, *q["loglikelihoods"][1:]]
    before, after = paired_log_odds(worse, base)
    assert all(abs((b - a) - 0.3) < 1e-9 for b, a in zip(before, after, strict=True))
    check = next(c for c in evaluate(worse, GateRules(), base).checks if c.rule == "prob_drop vs baseline")
    assert not check.passed and "log-odds of the right answer: drop +0.300" in check.detail
    # The mean probability as every proportion is written (units), its drop in points as history compare says it.
    from tunebench.stats import softmax_probability
    from tunebench.units import format_percent, format_points

    means = [
        sum(softmax_probability(q["loglikelihoods"], 0) for q in r["questions"]) / 30  # the right answer is A
        for r in (base, worse)
    ]
    assert (
        f"mean p(right answer) {format_percent(means[0])} -> {format_percent(means[1])}: "
        f"drop {format_points(means[0] - means[1])};" in check.detail
    )
