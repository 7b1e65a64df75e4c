"""One way to write each quantity (report/formatting.py), in the log, its plots, `train` and `history`."""

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
