"""Under pytest-xdist the controller alone records: same record as serial, crashed workers make it incomplete."""

import pytest
from plugin_support import SCRIPTED_SUITE, assert_answered, records, write_answers, write_project

from tunebench.history.eval_record import comparable

pytest_plugins = ["pytester"]


def test_two_workers_give_the_same_record_as_a_serial_run(pytester):
    # Scripted outcomes keep worker start-up cheap (no torch); the record is built the same way either way.
    write_project(pytester, n=20)
    write_answers(pytester, {"tiny": {f"q{i:03d}": "ABCD"[i * 7 % 4] for i in range(20)}})
    assert_answered(pytester.runpytest(), 20)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert_answered(result, 20)
    serial, parallel = records(pytester)
    assert serial["run_id"] != parallel["run_id"]
    assert comparable(parallel) == comparable(serial)
    assert parallel["status"] == "complete" and parallel["items"]["expected"] == 20
    assert 0 < parallel["aggregates"]["accuracy"]["k"] < 20
    # Each worker measured its own peak and sent it to the controller; the record keeps the largest.
    assert parallel["resources"]["processes"] == 2 and parallel["resources"]["memory_measure"].startswith("rss")
    assert parallel["resources"]["peak_memory_bytes"] >= parallel["resources"]["start_rss_bytes"] > 0


def test_killed_worker_gives_an_incomplete_record_and_a_nonzero_exit(pytester):
    write_project(
        pytester,
        n=6,
        suite=SCRIPTED_SUITE.replace(
            "    chosen = ANSWERS", "    if q['id'] == 'q003':\n        os.kill(os.getpid(), 9)\n    chosen = ANSWERS"
        ).replace("import json,", "import os, json,"),
    )
    write_answers(pytester, {"tiny": {f"q{i:03d}": "ABCD"[i % 4] for i in range(6)}})
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    [record] = records(pytester)
    assert record["status"] == "incomplete"
    assert record["items"]["crashed"] == ["test_suite.py::test_question[q003]"]
    crashed = next(q for q in record["questions"] if q["id"] == "q003")
    # Attributed from the suite file: a crashed question, never a wrong answer, in its real domain.
    assert crashed["status"] == "crashed" and crashed["correct"] is False
    assert crashed["domain"] == "investment" and crashed["difficulty"] == "extreme"
    assert record["aggregates"]["accuracy"]["n"] == 6 and record["aggregates"]["accuracy"]["k"] == 5
    assert record["gate"]["passed"] is False
    result.stdout.fnmatch_lines(["run complete*incomplete*complete*FAIL*1 crashed item(s)*"])


def test_dist_each_is_refused(pytester):
    write_project(pytester, n=1)
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "each")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--dist each: tunebench refuses it*use -n N with --dist load*"])


def test_the_plugin_loads_and_records_without_xdist(pytester):
    write_project(pytester, n=3)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B", "q002": "D"}})
    result = pytester.runpytest("-p", "no:xdist")
    assert_answered(result, 3)
    [record] = records(pytester)
    assert record["status"] == "complete" and record["aggregates"]["accuracy"]["k"] == 2


@pytest.mark.slow
def test_latency_under_xdist_is_recorded_with_its_workers_and_never_gated_against_a_serial_run(pytester):
    write_project(pytester, n=6, extra='[tool.tunebench.models.tiny]\nbase = "builtin:tiny"\nstatus = "production"')
    write_answers(pytester, {"tiny": {f"q{i:03d}": "ABCD"[i % 4] for i in range(6)}})
    assert_answered(pytester.runpytest(), 6)
    parallel = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    parallel.stdout.fnmatch_lines(["gate (baseline: none found*"])  # the serial run measured another way
    serial_run, parallel_run = records(pytester)
    assert (serial_run["workers"], parallel_run["workers"]) == (1, 2)
    again = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    assert again.ret == pytest.ExitCode.OK
    assert records(pytester)[-1]["baseline"]["run_id"] == parallel_run["run_id"]  # measured the same way
