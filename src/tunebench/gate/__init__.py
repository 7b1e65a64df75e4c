"""The gate: judge an eval record against floors, budgets and a baseline run; the verdict sets the exit status.

Rules come from `[tool.tunebench.gate]`, with `[tool.tunebench.gate.models.NAME]` overriding them for one
model. The package, along its seams:

    rules          GateRules: the configuration
    verdict        Check, Verdict, the status vocabulary (pass, fail, nothing to judge, not comparable)
    paired         the accuracy rules on paired questions (exact McNemar; the probability test)
    latency        latency budgets and regressions against a baseline
    comparability  whether two runs were served alike (engine, concurrency, workers, hardware)
    baseline       the baseline search (auto, a model, a record id), every candidate newest first
    evaluate       apply the rules to one record and its baseline
    judge          judge_run: search, read with fallback, evaluate: the one function the plugin and CLI use
"""

from __future__ import annotations

from tunebench.gate.baseline import BaselineSearch, search_baseline
from tunebench.gate.comparability import Serving, differences, serving_of
from tunebench.gate.evaluate import evaluate
from tunebench.gate.judge import Judgement, judge_recorded, judge_run, rules_for
from tunebench.gate.paired import paired_log_odds, paired_outcomes, paired_probabilities
from tunebench.gate.rules import GateRules
from tunebench.gate.verdict import (
    FAIL,
    NOT_COMPARABLE,
    NOTHING_TO_JUDGE,
    PASS,
    POWER,
    STATUSES,
    Check,
    Verdict,
    markdown_text,
    recorded_status,
    status_word,
)

__all__ = [
    "GateRules",
    "Check",
    "Verdict",
    "evaluate",
    "search_baseline",
    "paired_outcomes",
    "paired_probabilities",
    "paired_log_odds",
    "BaselineSearch",
    "Judgement",
    "judge_run",
    "judge_recorded",
    "rules_for",
    "Serving",
    "serving_of",
    "differences",
    "markdown_text",
    "status_word",
    "recorded_status",
    "NOTHING_TO_JUDGE",
    "NOT_COMPARABLE",
    "PASS",
    "FAIL",
    "STATUSES",
    "POWER",
]
