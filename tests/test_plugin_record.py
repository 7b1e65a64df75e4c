"""The plugin records every eval run: a valid EvalRecord in the history, CI-readable outputs, clear errors."""

import gc
import json
import sys
import xml.etree.ElementTree as ET

import pytest
from plugin_support import TINY_SUITE, assert_answered, records, write_answers, write_project

from tunebench.history.records import validate

pytest_plugins = ["pytester"]


def test_run_on_tiny_writes_one_valid_record_with_every_question(pytester):
    questions = write_project(pytester, n=8, suite=TINY_SUITE)
    result = pytester.runpytest("--model", "tiny")
    assert_answered(result, 8)
    [record] = records(pytester)
    validate(record)
    assert record["status"] == "complete" and record["kind"] == "eval" and record["source"] == "measured"
    assert [q["id"] for q in record["questions"]] == [q["id"] for q in questions]
    assert all(len(q["loglikelihoods"]) == 4 for q in record["questions"])
    correct = sum(q["correct"] for q in record["questions"])
    assert record["aggregates"]["accuracy"]["k"] == correct and record["aggregates"]["accuracy"]["n"] == 8
    assert record["model"]["name"] == "tiny" and record["model"]["hashes"]["base"].startswith("sha256:")
    # The decode floor: tiny's fp32 weights over a copy bandwidth measured in the run (no GPU table on a CPU).
    floor = record["model"]["decode_floor"]
    assert floor["peak"]["source"] == "measured" and floor["weight_bytes"] > 0
    assert floor["floor_ms"] == pytest.approx(floor["weight_bytes"] / floor["peak"]["bandwidth_bytes_s"] * 1e3)
    assert record["suites"][0]["file"] == "questions.jsonl" and len(record["suites"][0]["sha256"]) == 64
    assert record["provenance"]["command"].startswith("pytest --model tiny")
    result.stdout.fnmatch_lines(
        [f"tunebench: model tiny, accuracy {correct / 8:.1%} [[]*]*({correct}/8)*gate: nothing to judge*"]
    )


def test_record_holds_the_eval_runs_peak_memory_including_what_session_fixtures_held(pytester):
    from tunebench.errors import TunebenchError
    from tunebench.memory import MiB, current_rss_bytes

    write_project(pytester, n=4, suite=TINY_SUITE)
    # A session fixture that holds 256 MiB (written, so resident) until the session ends, like a model would.
    pytester.makeconftest("""
import pytest

@pytest.fixture(scope="session", autouse=True)
def ballast():
    block = b"x" * (256 << 20)
    yield
    del block
""")
    gc.collect()  # earlier tests' garbage, collected inside the run, would come off its peak (see test_memory)
    before = current_rss_bytes()  # in-process run: the run's process already holds about this much
    result = pytester.runpytest("--model", "tiny")
    assert_answered(result, 4)
    [record] = records(pytester)
    validate(record)
    resources = record["resources"]
    assert resources["memory_measure"] in ("rss_peak", "rss_sampled") and "memory_kind" not in resources
    assert resources["device"] == "cpu" and resources["processes"] == 1
    assert resources["start_rss_bytes"] > 0.9 * before  # measured at the session's start, not later
    assert resources["peak_memory_bytes"] >= resources["start_rss_bytes"] + 256 * MiB
    result.stdout.fnmatch_lines(["tunebench: model tiny, accuracy*, peak memory * (RSS), run *"])
    with pytest.raises(TunebenchError, match="memory_measure"):
        validate({**record, "resources": {**resources, "memory_measure": "vram"}})
    old = {k: v for k, v in resources.items() if k != "memory_measure"}
    validate({**record, "resources": {**old, "memory_kind": "rss"}})  # older records' name stays readable
    with pytest.raises(TunebenchError, match="memory_kind"):
        validate({**record, "resources": {**old, "memory_kind": "vram"}})
    with pytest.raises(TunebenchError, match="resources"):
        validate({**record, "resources": old})  # one of the two names is required


def test_every_option_can_come_from_the_config(pytester):
    write_project(pytester, n=4, extra='default_model = "prod"\nrecord = false\n[tool.tunebench.gate]\nenabled = false')
    write_answers(pytester, {"prod": {f"q{i:03d}": "A" for i in range(4)}})
    result = pytester.runpytest()
    assert_answered(result, 4)
    assert not (pytester.path / "hist").exists()
    result.stdout.fnmatch_lines(
        [
            "tunebench: model prod, history */hist, baseline auto, record off, gate off, concurrency 1 (load*off)",
            "tunebench: model prod, accuracy 25.0%*not recorded; gate off",
        ]
    )


def test_no_record_gates_but_writes_nothing(pytester):
    write_project(pytester, n=4, extra="[tool.tunebench.gate]\nmin_accuracy = 0.9")
    write_answers(pytester, {"tiny": {f"q{i:03d}": "A" for i in range(4)}})
    result = pytester.runpytest("--no-record")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not (pytester.path / "hist").exists()
    result.stdout.fnmatch_lines(["accuracy*0.250*>= 0.9*FAIL*1/4*0.650 below the floor", "*gate FAIL (accuracy)"])


def test_history_option_chooses_the_store(pytester, tmp_path):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    elsewhere = tmp_path / "elsewhere"
    result = pytester.runpytest("--history", str(elsewhere))
    assert_answered(result, 2)
    assert len(list(elsewhere.glob("runs/*/*.json"))) == 1
    assert not (pytester.path / "hist").exists()
    # The project's log shows the configured history only: a run recorded elsewhere leaves it alone.
    assert not (pytester.path / "LOG.md").exists()
    result.stdout.fnmatch_lines(["*benchmark log *LOG.md was not rendered: --history * is not the configured history*"])
    assert_answered(pytester.runpytest("--history", "hist"), 2)  # the configured one, given relative
    assert (pytester.path / "LOG.md").is_file()


def test_unserializable_outcome_fails_only_that_test(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    pytester.makepyfile(test_bad="def test_bad(record):\n    record(kind='note', when=object())\n")
    result = pytester.runpytest()
    assert_answered(result, 2, failed=1, gate=1)  # the incomplete run fails "run complete"
    result.stdout.fnmatch_lines(["*record(): outcome of test_bad.py::test_bad is not valid:*not JSON serializable*"])
    [record] = records(pytester)
    assert record["status"] == "incomplete" and record["items"]["failed"] == ["test_bad.py::test_bad"]


def test_question_without_its_contract_fields_fails_that_test_with_the_missing_keys(pytester):
    pytester.makepyfile(test_q="def test_q(record):\n    record(kind='question', id='x', domain='tax')\n")
    result = pytester.runpytest("--no-record")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*question outcome: missing key(s) difficulty, correct*"])


def test_suites_without_question_or_probe_outcomes_write_no_record(pytester):
    pytester.makepyfile(test_plain="def test_plain(record):\n    record(note='free-form')\n")
    assert_answered(pytester.runpytest(), 1)
    assert not (pytester.path / ".tunebench").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "nosuch"], "*--baseline: 'nosuch' is not auto, none, a model name (*tiny*) or a record id*"),
        (
            ["--history", "ftp://host/x"],
            "*--history: 'ftp://host/x': *unknown scheme ftp://; expected a local folder or gs://*",
        ),
        (["--model", "nope"], "*--model: unknown model 'nope'*Known models:*tiny*"),
    ],
)
def test_bad_option_values_are_usage_errors_naming_option_value_and_allowed(pytester, args, message):
    write_project(pytester, n=1)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_history_that_is_a_file_is_a_usage_error(pytester):
    write_project(pytester, n=1)
    (pytester.path / "afile").write_text("x")
    result = pytester.runpytest("--history", "afile")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--history: '*/afile' is a file; expected a folder*"])


def test_results_appear_as_junit_properties_and_in_the_github_step_summary(pytester, monkeypatch):
    write_project(pytester, n=3)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B", "q002": "A"}})
    summary = pytester.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert_answered(pytester.runpytest("--junitxml=out.xml"), 3)
    tree = ET.parse(pytester.path / "out.xml")
    suite_props = {
        p.get("name"): p.get("value") for p in tree.getroot().iter("testsuite").__next__().find("properties")
    }
    assert suite_props["tunebench.accuracy.k"] == "2" and suite_props["tunebench.gate"] == "nothing to judge"
    case = next(c for c in tree.iter("testcase") if c.get("name") == "test_question[q002]")
    [prop] = [p for p in case.iter("property") if p.get("name") == "tunebench"]
    assert json.loads(prop.get("value"))["chosen"] == "A"
    text = summary.read_text()
    assert "| rule | value | limit | baseline | result | detail |" in text and "gate: nothing to judge" in text


CAPPED_PYTEST = """
import resource, signal, sys
import pytest

# A size-capped run: every write past 8 KiB fails with EFBIG, as on a full disk.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_full_disk_when_writing_the_record_exits_nonzero_and_leaves_history_unchanged(pytester):
    write_project(pytester, n=40)
    write_answers(pytester, {"tiny": {f"q{i:03d}": "B" for i in range(40)}})
    assert_answered(pytester.runpytest(), 40)
    history = pytester.path / "hist"
    before = {p: p.read_bytes() for p in history.rglob("*") if p.is_file()}
    pytester.makepyfile(capped=CAPPED_PYTEST)
    result = pytester.run(sys.executable, "capped.py", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(
        [
            "tunebench: error: the record was NOT written: *File too large*nothing was published*",
            "tunebench: *accuracy 25.0%*not recorded; gate: nothing to judge*",
        ]
    )
    assert {p: p.read_bytes() for p in history.rglob("*") if p.is_file()} == before


def test_a_bad_value_from_the_config_names_the_file_and_key(pytester):
    write_project(pytester, n=1, extra='baseline = "nosuch"')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml key tool.tunebench.baseline: 'nosuch' is not auto, none, a model*"])


def test_an_unwritable_history_fails_before_the_first_item_runs(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    (pytester.path / "hist").mkdir()
    (pytester.path / "hist" / "runs").write_text("a file where the history's runs/ folder goes")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*history*: *the history cannot be written*hist/runs*"])
    assert "passed" not in result.stdout.str() and "Traceback" not in result.stderr.str()


def test_a_record_the_history_refuses_at_the_end_is_kept_in_a_fallback_file_whose_path_is_printed(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    # The history breaks while the evaluation runs (a disk unmounted, a folder replaced): the last test does it.
    pytester.makepyfile(
        test_zz_break="import pathlib\n\ndef test_break():\n"
        "    (pathlib.Path('hist')).mkdir(exist_ok=True)\n"
        "    (pathlib.Path('hist') / 'runs').write_text('not a folder')\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    [kept] = (pytester.path / ".tunebench" / "unwritten").glob("*.json")
    result.stdout.fnmatch_lines([f"*the record is kept in {kept}; copy it into *hist/runs/{kept.name[:4]}/*"])
    (pytester.path / "hist" / "runs").unlink()
    (pytester.path / "hist" / "runs" / kept.name[:4]).mkdir(parents=True)
    (pytester.path / "hist" / "runs" / kept.name[:4] / kept.name).write_bytes(kept.read_bytes())
    [record] = records(pytester)
    assert record["aggregates"]["accuracy"]["n"] == 2 and record["status"] == "complete"
