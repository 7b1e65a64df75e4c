"""A `-k` run's selection total counts every item of every suite file the session collected (issue 26).

`pytest eval_suites -k estate_planning` said "22 of 110 selected" and `-k "hard or extreme"` "50 of 100": the
total summed only the suite files that had an item run, so the probe file, all of whose items `-k "hard or
extreme"` deselects, dropped out of it. Run through the real plugin over a copy of the shipped eval_suites; the
expected figures are counted from the shipped files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from plugin_support import records

from tunebench.suites import load_probes, load_questions

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = load_questions(ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl")
PROBES = load_probes(ROOT / "eval_suites" / "domain_probes" / "probes.jsonl")

PYPROJECT = """
[tool.tunebench]
history = "hist"
log = "LOG.md"

[tool.tunebench.eval]
max_new_tokens = 5
repeats = 2
warmup = 1
"""


@pytest.fixture
def suites(pytester, tiny_dir):
    """A project with a copy of the shipped eval_suites and a small config (tiny, two timed repeats)."""
    import torch

    from tunebench.config import _load_cached

    shutil.copytree(ROOT / "eval_suites", pytester.path / "eval_suites", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makefile(".toml", pyproject=PYPROJECT)
    _load_cached.cache_clear()  # the in-process runs share load_config's cache
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny's matrices are too small for intra-op threads to pay off
    yield pytester
    torch.set_num_threads(threads)


def _run(pytester, *args: str) -> dict:
    before = len(records(pytester))
    pytester.runpytest("eval_suites", *args, "-p", "no:cacheprovider")
    runs = records(pytester)
    assert len(runs) == before + 1
    return runs[-1]


def test_every_k_over_the_same_suites_reports_the_same_total(suites):
    total = len(QUESTIONS) + len(PROBES)  # the shipped questions' domains are all the probes' domains: none narrowed
    by_domain = _run(suites, "-k", "estate_planning")
    selected = sum(item.domain == "estate_planning" for item in [*QUESTIONS, *PROBES])
    assert by_domain["status"] == "subset"
    assert by_domain["selection"] == {"selected": selected, "total": total}

    # Probes have no difficulty: every probe is deselected, and their file still counts in the total.
    by_difficulty = _run(suites, "-k", "hard or extreme")
    hard = sum(q.difficulty in ("hard", "extreme") for q in QUESTIONS)
    assert by_difficulty["selection"] == {"selected": hard, "total": total}
    [complete] = [check for check in by_difficulty["gate"]["checks"] if check["rule"] == "run complete"]
    assert complete["detail"].startswith(f"{hard} of {total} selected (-k or node ids)")
    # The record's suites are still the files it scored; a note names the file none of whose items ran.
    assert [s["name"] for s in by_difficulty["suites"]] == ["benchmark_100"]
    note = f"domain_probes: its {len(PROBES)} deselected items (-k or node ids) count in the selection's total;"
    assert any(n.startswith(note) for n in by_difficulty["notes"]), by_difficulty["notes"]

    # Deselecting a whole file is a subset too (it was "100 of 100 selected", complete).
    questions_only = _run(suites, "-k", "test_question")
    assert questions_only["status"] == "subset"
    assert questions_only["selection"] == {"selected": len(QUESTIONS), "total": total}


def test_a_narrowed_probe_file_counts_its_collected_items_not_its_lines(suites):
    # --suite of one domain: the shipped probes narrow to that domain's, and only those are counted.
    rows = [json.loads(line) for line in (suites.path / "eval_suites/benchmark_100/questions.jsonl").open()]
    tax = [row for row in rows if row["domain"] == "federal_income_tax"][:3]
    (suites.path / "my_tax.jsonl").write_text("".join(json.dumps(row) + "\n" for row in tax), encoding="utf-8")
    tax_probes = sum(p.domain == "federal_income_tax" for p in PROBES)
    run = _run(suites, "--suite", "my_tax.jsonl", "-k", "my_tax")
    assert run["selection"] == {"selected": len(tax), "total": len(tax) + tax_probes}
    full = _run(suites, "--suite", "my_tax.jsonl")
    assert full["status"] == "complete"
    assert full["selection"] == {"selected": len(tax) + tax_probes, "total": len(tax) + tax_probes}
    assert not any("deselected items" in note for note in full["notes"])


@pytest.mark.slow  # two pytest-xdist workers each load the model (~20 s on 2 cores)
def test_under_xdist_the_workers_deselected_files_count_too(suites):
    pytest.importorskip("xdist")
    result = suites.runpytest_subprocess("eval_suites", "-n", "2", "-k", "hard or extreme", "-p", "no:cacheprovider")
    [run] = records(suites)
    hard = sum(q.difficulty in ("hard", "extreme") for q in QUESTIONS)
    assert run["selection"] == {"selected": hard, "total": len(QUESTIONS) + len(PROBES)}, result.stdout.str()[-2000:]
    assert run["workers"] == 2
