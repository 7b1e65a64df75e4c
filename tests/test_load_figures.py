"""The load figures of `--concurrency N` wherever latency is shown: the pytest summary, `history show`,
`history compare` and the HTML report (issue 26).

One real run: the tiny model's eval suites (5 questions, 2 probes) at concurrency 2 through the plugin, the
load phase on the in-process hf engine. Its concurrency-1 twin, for the comparisons, is the same record
without its load phase, built through the typed dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tunebench.cli import main
from tunebench.history import typed
from tunebench.history.records import new_run_id, validate
from tunebench.history.store import open_store
from tunebench.report.compare import compare_runs, format_comparison
from tunebench.report.html import render_report
from tunebench.report.load_figures import figure_rows, headline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"


@pytest.fixture(scope="module")
def loaded_run(tmp_path_factory):
    """(the record of a real tiny run at --concurrency 2, its history folder, the run's terminal output).

    A subprocess: the run is module-scoped, which pytester's fixture is not."""
    folder = tmp_path_factory.mktemp("load")
    suite, probes = folder / "five.jsonl", folder / "two.jsonl"
    suite.write_text("\n".join(QUESTIONS.read_text().splitlines()[:5]) + "\n")
    probes.write_text("\n".join(PROBES.read_text().splitlines()[:2]) + "\n")
    config = folder / "tunebench.toml"
    config.write_text(
        f'home = "{folder / "home"}"\nlog = "{folder / "LOG.md"}"\n[eval]\nrepeats = 1\nmax_new_tokens = 8\n'
    )
    history = folder / "history"
    args = [str(ROOT / "eval_suites"), f"--rootdir={ROOT}", "-p", "no:cacheprovider", "--history", str(history)]
    args += ["--model", "tiny", "--concurrency", "2", "--suite", str(suite), "--probes", str(probes)]
    args += ["--junitxml", str(folder / "junit.xml")]
    env = {**os.environ, "TUNEBENCH_CONFIG": str(config), "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=folder, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = list(history.rglob("*.json"))
    return json.loads(path.read_text(encoding="utf-8")), history, done.stdout + (folder / "junit.xml").read_text()


def _without_load(record: dict) -> dict:
    """The same run at concurrency 1: the record without its load phase, through the typed record."""
    run = typed.EvalRecordData.from_dict(record)
    twin = dataclasses.replace(run, load=typed.ABSENT, run_id=new_run_id())
    data = twin.to_dict()
    data.pop("checksum", None)
    data["model"]["engine"]["concurrency"] = 1
    return data


def test_the_record_holds_typed_load_figures_valid_by_its_closed_schema(loaded_run):
    record, _, _ = loaded_run
    validate(record)
    load = typed.EvalRecordData.from_dict(record).load
    assert isinstance(load, typed.LoadFigures) and isinstance(load.ttft_s, typed.LoadPercentiles)
    assert load.concurrency == 2 and load.requests >= 8 and load.output_tokens_per_s > 0
    assert 0 < load.ttft_s.p50 <= load.ttft_s.p90 <= load.ttft_s.p99 and load.engine == "hf"
    assert load.itl_s.p50 is None  # in-process hf measures no inter-token gaps
    with pytest.raises(Exception, match="streams"):
        validate({**record, "load": {**record["load"], "streams": 2}})


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f} ms"  # report.formatting.format_ms, the project's one way to write a short time


def test_the_pytest_summary_shows_the_load_table_and_the_one_line(loaded_run):
    record, _, output = loaded_run
    load = record["load"]
    assert headline(typed.EvalRecordData.from_dict(record).load) in output
    ttft = load["ttft_s"]
    row = rf"TTFT \(time to first token\)\s+{_ms(ttft['mean'])}\s+{_ms(ttft['p50'])}\s+{_ms(ttft['p90'])}"
    assert re.search(row + rf"\s+{_ms(ttft['p99'])}", output), output[-3000:]
    assert re.search(r"E2EL \(end-to-end latency\)\s+[\d.]+ ms\s+[\d.]+ ms", output)
    assert re.search(r"ITL \(inter-token latency\)\s+—\s+—\s+—\s+—", output)
    one_line = next(line for line in output.splitlines() if line.startswith("tunebench: model tiny, accuracy"))
    assert f"load at concurrency 2: TTFT p50 {_ms(ttft['p50'])}" in one_line
    assert f"output token throughput {load['output_tokens_per_s']:,.0f} tok/s" in one_line


def test_the_junit_xml_carries_the_load_phases_concurrency_and_throughput(loaded_run):
    record, _, output = loaded_run
    assert '<property name="tunebench.load.concurrency" value="2"' in output
    rate = record["load"]["output_tokens_per_s"]
    assert f'<property name="tunebench.load.output_tokens_per_s" value="{rate}"' in output


def test_history_show_prints_the_load_figures(loaded_run, capsys):
    record, history, _ = loaded_run
    assert main(["history", "show", record["run_id"], "--history", str(history)]) == 0
    out = capsys.readouterr().out
    assert headline(typed.EvalRecordData.from_dict(record).load) in out
    tpot = record["load"]["tpot_s"]
    assert re.search(rf"TPOT \(time per output token, excl. 1st\)\s+{_ms(tpot['mean'])}\s+{_ms(tpot['p50'])}", out)


def test_history_compare_puts_both_runs_load_figures_side_by_side(loaded_run, capsys, tmp_path):
    record, history, _ = loaded_run
    store = open_store(tmp_path / "history")
    for stored in (record, _without_load(record)):
        store.write({k: v for k, v in stored.items() if k != "checksum"})
    twin = next(r for r in store.read_all().records if r["run_id"] != record["run_id"])
    assert main(["history", "compare", twin["run_id"], record["run_id"], "--history", str(tmp_path / "history")]) == 0
    out = capsys.readouterr().out
    p50 = record["load"]["ttft_s"]["p50"]
    assert "load figures: A none (concurrency 1); B concurrency 2" in out
    assert re.search(rf"TTFT p50\s+—\s+{_ms(p50)}\s+—", out), out[-2000:]
    rate = record["load"]["output_tokens_per_s"]
    assert re.search(rf"output token throughput\s+—\s+{rate:,.0f} tok/s", out)
    # The same run against itself: B - A is zero everywhere it was measured.
    text = format_comparison(compare_runs(record, record))
    assert re.search(rf"TTFT p50\s+{_ms(p50)}\s+{_ms(p50)}\s+\+0\.0 ms", text)
    assert compare_runs(twin, record).to_dict()["load_b"] == record["load"]


def test_the_html_report_shows_the_load_table_and_compares_it(loaded_run):
    from html.parser import HTMLParser

    record, _, _ = loaded_run
    page = render_report(record)
    load = typed.EvalRecordData.from_dict(record).load
    assert f'<p id="load-headline">{headline(load)}</p>' in page

    class Rows(HTMLParser):
        def __init__(self, table_id: str):
            super().__init__()
            self.table_id, self.inside, self.rows = table_id, False, []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.inside = dict(attrs).get("id") == self.table_id
            elif tag == "tr" and self.inside:
                self.rows.append([])

        def handle_endtag(self, tag):
            if tag == "table":
                self.inside = False

        def handle_data(self, data):
            if self.inside and self.rows and data.strip():
                self.rows[-1].append(data)

    rows = Rows("load")
    rows.feed(page)
    assert [tuple(r) for r in rows.rows[1:]] == figure_rows(load)
    compared = Rows("load-compare")
    compared.feed(render_report(record, baseline=_without_load(record)))
    assert compared.rows[1][:3] == ["TTFT p50", "—", _ms(record["load"]["ttft_s"]["p50"])]
    assert 'id="load"' not in render_report(_without_load(record))  # a concurrency-1 run has no load section
