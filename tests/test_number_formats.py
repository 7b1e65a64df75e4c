"""One way to write each quantity (tunebench.units), in the log, its plots, the HTML report, `train`, `history`
show and compare, the gate and the decode line."""

from __future__ import annotations

import json
import re

from training_support import phase, write_recipe

from tunebench.history.store import open_store
from tunebench.report import formatting
from tunebench.report.markdown import render_log


def test_each_quantity_has_one_formatter_and_none_rounds_a_value_away():
    assert formatting.format_percent(0.25) == "25.0%"
    assert formatting.format_loss(0.0577) == "0.0577"
    assert formatting.format_grade(1.0) == "1.00"
    assert formatting.format_seconds(0.0026) == "0.0026s"
    assert formatting.format_ms(0.0224) == "22.4 ms"
    assert formatting.format_tokens_per_s(1612.2) == "1,612"
    assert formatting.dollars(0.000083) == "$0.0001" and formatting.dollars(1.75) == "$1.75"
    for write in (formatting.format_loss, formatting.format_grade, formatting.format_ms):
        assert write(None) == formatting.DASH == formatting.format_tokens_per_s(None)


def test_the_log_writes_every_accuracy_and_grade_the_same_way(real_tiny_history):
    text = render_log(open_store(real_tiny_history).read_all().records)
    domain_table = text[text.index("### Per-Domain Accuracy") :].split("\n\n")[1]
    # was "25% [11.2%, 46.9%]" here beside "25.0%" in the benchmark table and the inference results
    assert "| 25.0% [11.2%, 46.9%] |" in domain_table
    accuracies = re.findall(r"(?<![\d.])\d+(?:\.\d+)?%", text.split("**Training Data:**")[0] + domain_table)
    assert accuracies and all(re.fullmatch(r"\d+\.\d%", a) for a in accuracies), accuracies
    inference = text[text.index("**Inference Test Results**") :].split("\n\n")[0]
    # the domain's mean grade as in the benchmark table's Quality (1-5) column ("1.00"), was "1.0"
    assert "| 1.00 — 1: 0/4 key points" in inference and "| 1.0 —" not in inference
    assert "| 1.00 | pass |" in text


def test_train_prints_the_cost_history_prints_not_a_rounded_zero(project, capsys):
    from tunebench.cli import main

    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = ".tb/history"\n\n[tool.tunebench.prices]\ncpu = 0.10\n')
    recipe = write_recipe(project.root / "r.toml", [phase("A", "mixed", 2)], price="cpu", merge=False)
    assert main(["train", str(recipe)]) == 0
    out = capsys.readouterr().out
    record = next(r for r in open_store(project.root / ".tb" / "history").read_all().records if r["kind"] == "training")
    usd = record["cost"]["usd"]
    assert 0 < usd < 0.005  # a few seconds of CPU at $0.10/h
    assert f"cost {formatting.dollars(usd)};" in out and "cost $0.00;" not in out
    assert main(["history", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert f"cost {formatting.dollars(usd)}" in next(r["summary"] for r in listed if r["kind"] == "training")


def test_history_show_prints_losses_grades_and_speeds_as_the_log_does(real_tiny_history, capsys):
    from tunebench.cli import main

    log = render_log(open_store(real_tiny_history).read_all().records)
    assert main(["history", "show", "c9e3397022b0", "--history", str(real_tiny_history)]) == 0
    training = capsys.readouterr().out
    # phase A: final loss 6.2169 and 285 tokens/s in the log's results table (history show wrote 6.217 and 284.6)
    assert "| A (Domain Blocks) | 6.2169 | 6.2350 | 6 | 22.0 s | 285 |" in log
    phase_a = next(line for line in training.splitlines() if line.startswith("A "))
    assert "6.2169" in phase_a and " 285 " in f"{phase_a} " and "6.217 " not in f"{phase_a} "
    assert main(["history", "show", "70b00f51b066", "--history", str(real_tiny_history)]) == 0
    domains = [line for line in capsys.readouterr().out.splitlines() if line.startswith("compliance")]
    assert domains and domains[0].rstrip().endswith("1.00")  # the grade as the log's Quality (1-5) writes it


def _served_elsewhere(history, run_id: str, floor: dict) -> None:
    """Write into `history` real_tiny_history's eval run as a run `run_id` with this decode floor and 23 ms/token."""
    store = open_store(history)
    record = next(r for r in store.read_all().records if r["run_id"] == "70b00f51b066")
    record = {k: v for k, v in record.items() if not k.startswith("_")}
    record["run_id"] = run_id
    record["model"]["decode_floor"] = floor
    record["aggregates"]["time_per_output_token_s"] = {"n": 3, "p50": 0.0234}
    store.write(record)


def test_an_unknown_decode_floor_is_said_with_its_reason_in_history_show_and_the_html_report(
    real_tiny_history, capsys, tmp_path
):
    from tunebench.cli import main
    from tunebench.engines.served_floor import served_decode_floor

    # what a served run whose server is not ours records (was a dash in the report, nothing in history show)
    floor = served_decode_floor("http://10.1.2.3:8000/v1", "/weights/Qwen2.5-14B", "bfloat16")
    _served_elsewhere(real_tiny_history, "0123456789ab", floor)
    reason = "served at http://10.1.2.3:8000/v1, not on this machine"
    assert main(["history", "show", "0123456789ab", "--history", str(real_tiny_history)]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # the line wraps to the terminal
    assert f"decode 23.4 ms/token (median); memory-bandwidth floor unknown: {reason}" in shown
    page = tmp_path / "run.html"
    assert main(["report", "0123456789ab", "--history", str(real_tiny_history), "--out", str(page)]) == 0
    html = " ".join(page.read_text(encoding="utf-8").split())
    assert "<th>decode vs floor</th><td>decode 23.4 ms/token (median); memory-bandwidth floor unknown: " in html
    assert reason in html


def test_the_decode_line_writes_times_per_token_as_every_ms_figure(real_tiny_history, capsys):
    from tunebench.cli import main

    # was "decode 23.40 ms/token (median), 457.0x the memory-bandwidth floor 0.0512 ms": two ms formats, 23.40
    # beside the log's "23.4 ms" Time/Token; a floor under 0.1 ms keeps two significant digits, never "0.1 ms"
    peak = {"device": "cpu", "flops": 1e10, "bandwidth_bytes_s": 2e10, "source": "measured"}
    _served_elsewhere(real_tiny_history, "0123456789ac", {"weight_bytes": 1_024_000, "floor_ms": 0.0512, "peak": peak})
    assert main(["history", "show", "0123456789ac", "--history", str(real_tiny_history)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    line = "decode 23.4 ms/token (median), 457.0x the memory-bandwidth floor 0.051 ms (weights / measured bandwidth)"
    assert line in shown
    assert formatting.format_ms(0.0000512) == "0.051 ms" and formatting.format_ms(0.0234) == "23.4 ms"


def test_history_compare_writes_seconds_ms_and_grades_as_history_show_and_the_log(real_tiny_history, capsys):
    from tunebench.cli import main
    from tunebench.report.views import EvalView

    # was "0.382" under "median latency per domain (s)" beside history show's "0.38s", TTFT "0.140" and
    # "57.5" under "time per output token (ms)", the split's "-2.720 s"
    records = {r["run_id"]: r for r in open_store(real_tiny_history).read_all().records}
    a, b = (EvalView(records[run]) for run in ("3932f8e6adca", "70b00f51b066"))
    history = ["--history", str(real_tiny_history)]
    assert main(["history", "compare", "3932f8e6adca", "70b00f51b066", *history]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index("median latency per domain") :]
    seconds = [formatting.format_seconds(v.latency_by_domain_s["compliance"]) for v in (a, b)]
    assert re.match(rf"compliance +{re.escape(seconds[0])} +{re.escape(seconds[1])} +-\d\.\d\ds$", table[3]), table
    assert main(["history", "show", "70b00f51b066", *history]) == 0
    assert f" {seconds[1]} " in next(line for line in capsys.readouterr().out.splitlines() if line.startswith("compl"))
    split = next(line for line in lines if line.startswith("time per output token"))
    assert re.fullmatch(r"time per output token +\d+\.\d ms +\d+\.\d ms +-\d+\.\d ms", split), split
    assert any(re.fullmatch(r"TTFT +0\.\d+s +0\.\d+s +-0\.\d+s", line) for line in lines), lines
    assert any(line.startswith("total latency B - A: -2.72s = answer length +0.00s") for line in lines), lines


def test_the_html_report_writes_seconds_speeds_and_grades_as_history_show(real_tiny_history, capsys, tmp_path):
    from tunebench.cli import main
    from tunebench.report.views import EvalView

    # was "0.382" under "median latency s (then)", the probes' TTFT "0.011", "147.8" tokens/s (history show: "148")
    # and latency "0.287" under "latency s", grades under a bare "grade"
    records = {r["run_id"]: r for r in open_store(real_tiny_history).read_all().records}
    page = tmp_path / "compare.html"
    history = ["--history", str(real_tiny_history)]
    assert main(["report", "70b00f51b066", "--compare", "3932f8e6adca", "--out", str(page), *history]) == 0
    html = page.read_text(encoding="utf-8")
    now, then = (EvalView(records[run]).latency_by_domain_s["compliance"] for run in ("70b00f51b066", "3932f8e6adca"))
    row = re.search(r"<tr><td>compliance</td>(<td class=\"num\">[^<]*</td>){3}</tr>", html)
    assert row and f">{formatting.format_seconds(then)}<" in row[0] and f">{formatting.format_seconds(now)}<" in row[0]
    assert '<th class="sortable num">grade (1-5)</th>' in html
    [first] = [p for p in records["70b00f51b066"]["probes"] if p["id"] == "probe-cmp-1"]
    cells = f'<td class="num">{formatting.format_seconds(first["ttft_s"])}</td><td class="num">148</td>'
    assert cells in html, html[html.index('id="probes"') :][:3000]
    capsys.readouterr()


def test_the_gate_says_how_far_over_its_latency_budget_in_the_logs_seconds(real_tiny_history):
    from tunebench.gate import GateRules, evaluate
    from tunebench.report.views import EvalView

    # was "; 0.0763s over budget" (.3g) where the log and history show write "0.076s"
    record = next(r for r in open_store(real_tiny_history).read_all().records if r["run_id"] == "70b00f51b066")
    median = EvalView(record).latency_by_domain_s["compliance"]
    verdict = evaluate(record, GateRules(latency_budget_s={"compliance": round(median - 0.0763, 4)}))
    [check] = [c for c in verdict.checks if c.rule == "latency[compliance] median s"]
    over = formatting.format_seconds(median - round(median - 0.0763, 4))
    assert check.detail.endswith(f"; {over} over budget") and over == "0.076s", check.detail


def test_log_render_says_how_long_it_took_as_every_duration(project, real_tiny_history, capsys):
    from tunebench.cli import main

    # was "wrote BENCHMARK_LOG.md in 1.8s" beside train's and history show's "1.8 s" (format_duration)
    project.write(f'[tool.tunebench]\nhistory = "{real_tiny_history.as_posix()}"\nlog = "LOG.md"\n')
    assert main(["log", "render", "--no-plots"]) == 0
    out = capsys.readouterr().out.strip()
    assert re.fullmatch(r"wrote .*LOG\.md in \d+\.\d s", out), out


def test_an_hourly_price_below_a_cent_is_written_as_every_cost_not_rounded_to_zero(real_tiny_history):
    from tunebench.report.views import TrainingView

    # the log's "cpu @ $0.00/h" for a CPU priced at $0.004 an hour (was ":.2f"); the cost itself read "$0.0001"
    record = next(r for r in open_store(real_tiny_history).read_all().records if r["kind"] == "training")
    record["cost"].update(hardware="cpu", usd_per_hour=0.004)
    text = render_log([record])
    assert "cpu @ $0.0040/h" in text and "$0.00/h" not in text
    record["cost"]["usd_per_hour"] = 2.5
    assert TrainingView(record).cost_hardware == "cpu @ $2.50/h"
