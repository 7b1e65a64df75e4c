"""Suite files: the shipped benchmark and probes are well formed; a broken file names file, line and field."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from plugin_support import assert_answered, records

from tunebench.errors import SuiteError
from tunebench.suites import (
    LETTERS,
    load_files,
    load_probes,
    load_questions,
    resolve_files,
    schema,
)
from tunebench.vocabulary import DIFFICULTIES, SEED_DOMAINS

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"


def _rows(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(tmp_path: Path, rows: list[dict], name: str = "questions.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _problem(tmp_path: Path, rows: list[dict], **kwargs) -> str:
    path = _write(tmp_path, rows)
    with pytest.raises(SuiteError) as caught:
        load_questions(path, **kwargs)
    return str(caught.value)


def test_shipped_benchmark_has_20_questions_per_domain_5_per_difficulty_and_25_per_answer_letter():
    questions = load_questions(QUESTIONS, per_domain=20)
    assert len(questions) == 100
    assert Counter(q.domain for q in questions) == {d: 20 for d in SEED_DOMAINS}
    assert Counter((q.domain, q.difficulty) for q in questions) == {
        (d, k): 5 for d in SEED_DOMAINS for k in DIFFICULTIES
    }
    assert Counter(q.answer for q in questions) == {letter: 25 for letter in LETTERS}
    assert all(Counter(q.answer for q in questions if q.domain == d) == {x: 5 for x in LETTERS} for d in SEED_DOMAINS)


def test_shipped_questions_have_distinct_choices_explanations_and_ids_in_file_order():
    questions = load_questions(QUESTIONS)
    assert all(len(set(q.choices)) == 4 and len(q.explanation) > 40 for q in questions)
    prefixes = {
        "retirement_planning": "ret",
        "federal_income_tax": "tax",
        "estate_planning": "est",
        "investment": "inv",
        "compliance": "cmp",
    }
    assert all(q.id.startswith(prefixes[q.domain] + "-") for q in questions)
    assert [q.line for q in questions] == list(range(1, 101))


def test_every_shipped_income_tax_figure_names_its_year():
    # Tax figures change every year: a question quoting one must say which year it belongs to.
    for q in load_questions(QUESTIONS):
        if q.domain == "federal_income_tax" and "$" in q.question + "".join(q.choices):
            assert re.search(r"\b(tax year )?20\d\d\b", q.question), q.id


def test_shipped_probes_cover_every_domain_twice_with_rubrics():
    probes = load_probes(PROBES, min_per_domain=2)
    assert Counter(p.domain for p in probes) == {d: 2 for d in SEED_DOMAINS}
    assert all(p.key_points and p.forbidden and p.reference for p in probes)


def test_duplicate_id_names_file_line_and_field(tmp_path):
    rows = _rows()
    rows[5]["id"] = rows[0]["id"]
    message = _problem(tmp_path, rows)
    where = tmp_path / "questions.jsonl"
    assert f"{where}:6: field id: expected a unique id, found 'ret-001' again (first on line 1)" in message


def test_an_id_in_two_files_of_one_run_names_the_second_file_line_and_the_first_file(tmp_path):
    first = _write(tmp_path, _rows()[:3], name="a.jsonl")
    second = _write(tmp_path, _rows()[2:5], name="b.jsonl")
    assert [q.id for q in load_files([first], load_questions)] == [r["id"] for r in _rows()[:3]]
    with pytest.raises(SuiteError) as caught:
        load_files([first, second], load_questions)
    assert (
        f"{second}:1: field id: expected ids unique across the run's files, found {_rows()[2]['id']!r} also in {first}"
    ) in str(caught.value)


def test_answer_outside_the_choices_names_file_line_and_field(tmp_path):
    rows = _rows()
    rows[41]["answer"] = "E"
    message = _problem(tmp_path, rows)
    assert f"{tmp_path / 'questions.jsonl'}:42: field answer: expected one of A, B, C, D" in message
    assert 'found "E"' in message


def test_unknown_domain_names_file_line_field_and_the_known_domains(tmp_path):
    shutil.copy(QUESTIONS.parent / "suite.toml", tmp_path)  # declares the seed's five, as the shipped suite does
    rows = _rows()
    rows[9]["domain"] = "crypto"
    message = _problem(tmp_path, rows)
    assert f"{tmp_path / 'questions.jsonl'}:10: field domain: expected one of retirement_planning" in message
    assert 'found "crypto"' in message


def test_wrong_per_domain_count_names_the_domain_and_counts(tmp_path):
    rows = [r for r in _rows() if r["id"] != "est-007"]
    message = _problem(tmp_path, rows, per_domain=20)
    assert "field domain: expected exactly 20 questions in domain estate_planning, found 19" in message
    assert str(tmp_path / "questions.jsonl") in message
    assert len(load_questions(tmp_path / "questions.jsonl")) == 99  # user suites: any count unless configured


def test_every_problem_in_a_file_is_reported_at_once_in_line_order(tmp_path):
    rows = _rows()[:3]
    rows[2]["choices"] = ["one", "two", "three"]
    rows[0]["extra"] = 1
    del rows[1]["explanation"]
    path = _write(tmp_path, rows)
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(SuiteError) as caught:
        load_questions(path)
    lines = str(caught.value).splitlines()
    assert [re.match(r".*:(\d+): ", line).group(1) for line in lines] == ["1", "2", "3", "4"]
    assert "field extra: unknown field" in lines[0]
    assert "field explanation: expected it to be present" in lines[1]
    assert "field choices: expected at least 4 items" in lines[2]
    assert "expected one JSON object per line, found invalid JSON" in lines[3]
    assert [p.line for p in caught.value.problems] == [1, 2, 3, 4]


def test_probe_schema_errors_name_file_line_and_field(tmp_path):
    shutil.copy(PROBES.parent / "suite.toml", tmp_path)
    rows = _rows(PROBES)
    rows[3]["key_points"] = []
    rows[4]["domain"] = "astrology"
    path = _write(tmp_path, rows, "probes.jsonl")
    with pytest.raises(SuiteError) as caught:
        load_probes(path, min_per_domain=2)
    message = str(caught.value)
    assert f"{path}:4: field key_points: expected at least 1 items" in message
    assert f"{path}:5: field domain: expected one of" in message
    assert "expected at least 2 probes in domain estate_planning, found 1" in message


def test_a_missing_suite_file_is_a_suite_error_naming_it(tmp_path):
    with pytest.raises(SuiteError, match=r"nothing\.jsonl: cannot read the question file"):
        load_questions(tmp_path / "nothing.jsonl")


def test_suite_files_come_from_the_command_line_then_the_config_then_the_shipped_file(tmp_path):
    shipped, configured = tmp_path / "shipped.jsonl", tmp_path / "conf.jsonl"
    assert resolve_files(["mine.jsonl"], tmp_path, [configured], shipped) == [tmp_path / "mine.jsonl"]
    assert resolve_files(None, tmp_path, [configured], shipped) == [configured]
    assert resolve_files(None, tmp_path, [], shipped) == [shipped]


def test_schemas_ship_inside_the_package():
    assert "enum" not in schema("question")["properties"]["domain"]  # each suite declares its domains
    assert set(schema("probe")["required"]) == {"id", "domain", "prompt", "key_points", "forbidden", "reference"}


# --- The suites as pytest runs them (pytester, the real plugin, the real tiny model) -------------------------

# pytester forgets the modules imported while a test runs, and C extensions (numpy's, torch's) cannot be
# imported twice in one process: import what the suites, the model and the log renderer use once, out here.
import torch  # noqa: E402
import transformers  # noqa: E402, F401

import tunebench.engines.hf_choice  # noqa: E402, F401
import tunebench.engines.hf_generation  # noqa: E402, F401
import tunebench.loading  # noqa: E402, F401
import tunebench.scoring.quality  # noqa: E402, F401

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.pyplot  # noqa: F401
    import PIL.Image  # noqa: F401

    import tunebench.report.plots  # noqa: F401
except ImportError:
    pass

PYPROJECT = """
[tool.tunebench]
history = "hist"
log = "LOG.md"

[tool.tunebench.eval]
max_new_tokens = 5
repeats = 2
warmup = 1
{extra}
"""


@pytest.fixture(scope="module")
def _imported(tiny_dir):
    """Score and generate once outside pytester, so the lazy imports (torch.distributed...) happen only once."""
    from tunebench.config import Config
    from tunebench.loading import load_model

    loaded = load_model("tiny", Config(root=ROOT))
    tunebench.engines.hf_choice.score_questions(loaded.model, loaded.tokenizer, load_questions(QUESTIONS)[:1])
    tunebench.engines.hf_generation.timed_generate(
        loaded.model, loaded.tokenizer, [{"role": "user", "content": "Hi"}], max_new_tokens=2, warmup=0
    )


def _configure(pytester, extra: str = "") -> None:
    from tunebench.config import _load_cached

    pytester.makefile(".toml", pyproject=PYPROJECT.format(extra=extra))
    _load_cached.cache_clear()  # the in-process runs share load_config's cache


@pytest.fixture
def suites(pytester, _imported):
    """A project with a copy of eval_suites and a small config; returns the pytester."""
    import shutil

    shutil.copytree(ROOT / "eval_suites", pytester.path / "eval_suites", ignore=shutil.ignore_patterns("__pycache__"))
    _configure(pytester)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny's matrices are too small for intra-op threads to pay off
    yield pytester
    torch.set_num_threads(threads)


def _mini(pytester, rows: list[dict], name: str = "mini.jsonl") -> Path:
    return _write(pytester.path, rows, name)


def _collected_ids(result) -> list[str]:
    return [line.split("[")[1].rstrip("]") for line in result.outlines if "::test_question[" in line]


def _outcomes(reprec) -> dict[str, dict]:
    found = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        for key, text in report.user_properties:
            if key == "tunebench" and report.when == "call":
                outcome = json.loads(text)
                found[outcome["id"]] = outcome
    return found


def test_one_item_per_question_named_by_id_in_file_order_with_domain_difficulty_and_suite_marks(suites):
    result = suites.runpytest("eval_suites/benchmark_100", "--collect-only", "-q")
    assert _collected_ids(result) == [q.id for q in load_questions(QUESTIONS)]
    items, _ = suites.inline_genitems("eval_suites/benchmark_100")
    marks = {m.name: m.args[0] for m in items[57].iter_markers()}
    q = load_questions(QUESTIONS)[57]
    assert marks == {
        "domain": q.domain,
        "difficulty": q.difficulty,
        "tunebench_suite": "benchmark_100",
        "xdist_group": "tunebench_questions",
    }


def test_k_selects_a_domain_or_a_difficulty(suites):
    result = suites.runpytest("eval_suites/benchmark_100", "--collect-only", "-q", "-k", "estate_planning and extreme")
    assert _collected_ids(result) == [f"est-{n:03d}" for n in range(16, 21)]


def test_a_broken_suite_stops_the_run_at_collection_naming_file_line_and_field(suites):
    rows = _rows()[:6]
    rows[4]["answer"] = "F"
    bad = _mini(suites, rows)
    result = suites.runpytest("eval_suites/benchmark_100", "--suite", str(bad))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*{bad}:5: field answer: expected one of A, B, C, D*"])
    assert "passed" not in result.stdout.str()


def test_a_latin1_suite_stops_at_collection_with_one_message_naming_file_and_byte_offset(suites):
    bad = suites.path / "latin1.jsonl"
    bad.write_bytes('{"id": "q1", "question": "caf\u00e9"}\n'.encode("latin-1"))
    result = suites.runpytest("eval_suites/benchmark_100", "--suite", str(bad))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"{bad}: line 1: byte offset 29: expected UTF-8 text, found byte 0xe9*"])
    assert "During handling of the above exception" not in result.stdout.str()  # one message, no chain


def test_the_shipped_benchmark_needs_20_questions_per_domain_but_a_user_suite_does_not(suites):
    rows = _rows()[:7]
    assert (
        suites.runpytest("eval_suites/benchmark_100", "--suite", str(_mini(suites, rows)), "--collect-only", "-q").ret
        == pytest.ExitCode.OK
    )
    _configure(suites, "per_domain = 20")
    result = suites.runpytest("eval_suites/benchmark_100", "--suite", "mini.jsonl", "--collect-only")
    result.stdout.fnmatch_lines(["*field domain: expected exactly 20 questions in domain retirement_planning, found 7"])


def test_a_permuted_answer_key_flips_exactly_the_affected_recorded_outcomes(suites):
    rows = _rows()[::10]
    original = _mini(suites, rows, "original.jsonl")
    rotate = dict(zip("ABCD", "CDAB", strict=True))
    flipped_ids = {r["id"] for r in rows[::2]}
    permuted = _mini(
        suites, [{**r, "answer": rotate[r["answer"]]} if r["id"] in flipped_ids else r for r in rows], "permuted.jsonl"
    )
    before, after = (
        _outcomes(suites.inline_run("eval_suites/benchmark_100", "--suite", str(path))) for path in (original, permuted)
    )
    assert sorted(before) == sorted(after) == sorted(r["id"] for r in rows)
    for qid, outcome in before.items():
        assert after[qid]["chosen"] == outcome["chosen"]
        assert after[qid]["loglikelihoods"] == pytest.approx(outcome["loglikelihoods"], abs=1e-5)
        if qid in flipped_ids:
            assert after[qid]["correct"] == (outcome["chosen"] == after[qid]["answer"])
            assert not (outcome["correct"] and after[qid]["correct"])
        else:
            assert after[qid]["correct"] == outcome["correct"]
    assert {o["suite"] for o in after.values()} == {"permuted"}


def test_the_selected_questions_are_scored_in_one_batched_pass(suites, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line: at 80 the counts go on a continuation line
    rows = _rows()[:12]
    result = suites.runpytest(
        "eval_suites/benchmark_100", "--suite", str(_mini(suites, rows)), "-k", "not ret-012", "-p", "no:cacheprovider"
    )
    assert_answered(result, 11, deselected=1, gate=1)  # a subset fails the gate's "run complete"
    progress = [line for line in result.outlines if "tunebench: questions scored" in line]
    assert len(progress) == 1 and progress[0].startswith(
        "eval_suites/benchmark_100/test_benchmark.py [tunebench: questions scored 11/11] "
    )


def test_progress_and_model_loading_keep_pytests_progress_line_intact(suites, monkeypatch):
    # Issue 26: the "Loading weights" bar and the scoring lines ended pytest's line early: the file name was
    # printed twice and the items' letters went on a line of their own. (Wide enough that pytest wraps nothing.)
    monkeypatch.setenv("COLUMNS", "200")
    result = suites.runpytest("eval_suites/benchmark_100", "--suite", str(_mini(suites, _rows()[:12])))
    lines = result.outlines
    assert sum(line.startswith("eval_suites/benchmark_100/test_benchmark.py") for line in lines) == 1, lines
    assert not [line for line in lines if re.fullmatch(r"[.FEsxXw]+( +\[ *\d+%\])?", line.strip())], lines
    assert "Loading weights" not in result.stdout.str() + result.stderr.str()


def test_the_config_names_the_suite_a_run_uses(suites):
    _mini(suites, _rows()[20:23], "private.jsonl")
    _configure(suites, 'suites = ["private.jsonl"]')
    result = suites.runpytest("eval_suites/benchmark_100", "--collect-only", "-q")
    assert _collected_ids(result) == ["private/tax-001", "private/tax-002", "private/tax-003"]


def test_a_custom_suites_node_ids_name_it_and_only_its_domains_probes_run(suites):
    # Issue 26: `--suite my.jsonl` items were `test_question[tax-001]`, indistinguishable from the shipped
    # benchmark's, and the probes of all five seed domains ran beside a suite of one domain.
    path = _mini(suites, _rows()[20:23], "my_tax.jsonl")  # three federal_income_tax questions
    collected = suites.runpytest("eval_suites", "--suite", str(path), "--collect-only", "-q")
    ids = [line for line in collected.outlines if "::test_" in line]
    assert ids == [
        "eval_suites/benchmark_100/test_benchmark.py::test_question[my_tax/tax-001]",
        "eval_suites/benchmark_100/test_benchmark.py::test_question[my_tax/tax-002]",
        "eval_suites/benchmark_100/test_benchmark.py::test_question[my_tax/tax-003]",
        "eval_suites/domain_probes/test_probes.py::test_probe[probe-tax-1]",
        "eval_suites/domain_probes/test_probes.py::test_probe[probe-tax-2]",
    ], collected.outlines
    picked = suites.runpytest("eval_suites", "--suite", str(path), "--collect-only", "-q", "-k", "my_tax/tax-002")
    assert _collected_ids(picked) == ["my_tax/tax-002"]
    result = suites.runpytest("eval_suites", "--suite", str(path), "--junitxml=out.xml", "-p", "no:cacheprovider")
    assert_answered(result, 5, deselected=1)  # the load phase (--concurrency 1)
    names = re.findall(r'<testcase classname="([^"]+)" name="([^"]+)"', (suites.path / "out.xml").read_text())
    assert ("eval_suites.benchmark_100.test_benchmark", "test_question[my_tax/tax-001]") in names
    (run,) = records(suites)
    assert run["status"] == "complete" and run["selection"] == {"selected": 5, "total": 5}
    assert {p["id"] for p in run["probes"]} == {"probe-tax-1", "probe-tax-2"}
    assert {q["id"] for q in run["questions"]} == {"tax-001", "tax-002", "tax-003"}
    assert "domain_probes: only its items of federal_income_tax ran (the questions' domains)" in run["notes"]


def test_a_custom_suite_whose_domains_no_shipped_probe_covers_skips_the_probes_saying_why(suites):
    rows = [{**row, "id": f"c-{n}", "domain": "crypto"} for n, row in enumerate(_rows()[:2])]
    result = suites.runpytest("eval_suites", "--suite", str(_mini(suites, rows, "crypto.jsonl")), "-rs")
    assert_answered(result, 2, skipped=1, deselected=1)
    result.stdout.fnmatch_lines(["*no shipped probe covers the domains of this run's questions (crypto)*--probes*"])


def test_a_probe_file_named_on_the_command_line_runs_whole_beside_a_custom_suite(suites):
    path = _mini(suites, _rows()[20:23], "my_tax.jsonl")
    probes = suites.path / "mine.jsonl"
    shutil.copy(PROBES, probes)
    result = suites.runpytest("eval_suites", "--suite", str(path), "--probes", str(probes), "--collect-only", "-q")
    assert sum("::test_probe[mine/probe-" in line for line in result.outlines) == 10


def test_each_probe_records_timings_stop_reason_and_grade(suites):
    reprec = suites.inline_run("eval_suites/domain_probes", "-p", "no:cacheprovider")
    outcomes = _outcomes(reprec)
    assert sorted(outcomes) == sorted(p.id for p in load_probes(PROBES))
    for outcome in outcomes.values():
        assert outcome["kind"] == "probe" and outcome["suite"] == "domain_probes"
        assert (outcome["new_tokens"], outcome["stop_reason"]) == (5, "length")  # tiny never stops by itself
        assert len(outcome["latency_s"]) == 2 and 0 < outcome["ttft_s"] <= outcome["latency_median_s"]
        assert outcome["decode_tokens_per_s"] == pytest.approx(4 / (outcome["latency_median_s"] - outcome["ttft_s"]))
        assert 1 <= outcome["grade"] <= 5 and outcome["evidence"]["grader"] == "rubric-v2"
        assert outcome["load_s"] > 0 and outcome["prompt_tokens"] > 0


def test_a_configured_judge_grades_the_probes_and_a_reply_without_a_grade_fails_the_item(suites):
    _write(suites.path, _rows(PROBES)[:1], "one_probe.jsonl")
    _configure(suites, '[tool.tunebench.eval.judge]\nmodel = "tiny"\nmax_new_tokens = 4')
    result = suites.runpytest("eval_suites/domain_probes", "--probes", "one_probe.jsonl", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*JudgeError: judge 'tiny' (judge-v2) on probe probe-ret-1: expected *"])


def test_a_judge_error_is_recorded_with_no_grade_and_the_calibration_counts_the_judge_errors(suites):
    _write(suites.path, _rows(PROBES)[:1], "one_probe.jsonl")
    _configure(suites, '[tool.tunebench.eval.judge]\nmodel = "tiny"\nmax_new_tokens = 4')
    reprec = suites.inline_run("eval_suites/domain_probes", "--probes", "one_probe.jsonl", "-p", "no:cacheprovider")
    (outcome,) = _outcomes(reprec).values()
    assert outcome["grade"] is None and "judge-v2" in outcome["evidence"]["judge_error"]
    assert outcome["evidence"]["judge_engine"] == "hf" and outcome["evidence"]["rubric"]["grader"] == "rubric-v2"
    graders = outcome["grader_calibration"]["graders"]
    assert graders["judge:tiny"]["errors"] == graders["judge:tiny"]["n"] >= 40  # tiny never writes "Grade: N"
    assert graders["judge:tiny"]["exact"] is None and graders["rubric-v2"]["by_split"]["tuning"]["exact"] == 1.0


def test_the_summary_fits_120_columns_and_states_the_quality_scale(suites, monkeypatch):
    # Issue 26: the gate table was 333 characters wide, and "quality 1.00" beside "accuracy 0.250" read as 100%.
    monkeypatch.setenv("COLUMNS", "120")
    # three production models: the gate's baseline line names them all (it was one line of 150+ characters)
    production = '[tool.tunebench.models.{}]\nbase = "builtin:tiny"\nstatus = "production"\n'
    _configure(suites, "".join(production.format(f"a-production-model-{i}-with-a-long-name") for i in range(3)))
    result = suites.runpytest(
        "eval_suites/benchmark_100",
        "eval_suites/domain_probes/test_probes.py",
        "--suite",
        str(_mini(suites, _rows()[:4])),
        "-k",
        "retirement_planning",
        "-p",
        "no:cacheprovider",
        "--history",  # not the configured one: a warning that names both paths, wrapped as the tables fit
        str(suites.path / "another-history"),
    )
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if line.strip(" =") == "tunebench")
    end = next(i for i, line in enumerate(lines) if line.startswith("tunebench: record written"))
    tables = lines[start + 1 : end]
    assert any(line.startswith("rule ") for line in tables) and any("run complete" in line for line in tables)
    assert max(len(line) for line in tables) <= 120, [line for line in tables if len(line) > 120]
    assert "quality (1-5)" in tables[0]
    summary = next(line for line in lines if line.startswith("tunebench: model tiny, accuracy"))
    assert re.search(r"quality \d\.\d\d on a 1-5 scale", summary), summary
    assert re.search(r"gate on, concurrency 1 \(load\s+phase\s+off\)", result.stdout.str())  # "1 deselected"
    # each figure as the log and tunebench gate write it (was "0.250  [0.112, 0.469]  0.301" beside "25.0%" there)
    assert re.search(r"accuracy \d+\.\d% \[\d+\.\d%, \d+\.\d%\] \(\d+/4\).* latency p50 \d\.\d+s", summary), summary
    assert re.search(
        r"^domain +retirement_planning +\d/4 +\d+\.\d% +\[\d+\.\d%, \d+\.\d%\] +\d\.\d+s +\d\.\d\d$", tables[2], re.M
    )


def test_a_custom_suites_item_that_failed_before_recording_is_attributed_by_its_own_id(tmp_path):
    # Its node id is `test_question[my_tax/tax-002]`: the record's entry is question tax-002 of suite my_tax,
    # with its domain from the file (not an unknown "my_tax/tax-002").
    from record_factory import PROVENANCE

    from tunebench.history.eval_record import ItemResult, build_eval_record

    path = _write(tmp_path, _rows()[20:22], "my_tax.jsonl")
    first = {
        "kind": "question",
        "suite": "my_tax",
        "suite_file": str(path),
        "id": "tax-001",
        "domain": "federal_income_tax",
        "difficulty": "easy",
        "answer": "A",
        "chosen": "A",
        "correct": True,
    }
    node = "eval_suites/benchmark_100/test_benchmark.py::test_question[my_tax/{}]"
    items = [ItemResult(node.format("tax-001"), "passed", [first]), ItemResult(node.format("tax-002"), "failed")]
    record = build_eval_record(
        model={"name": "m", "base": "b", "adapter": None},
        items=items,
        started_at="2026-12-04T00:00:00Z",
        finished_at="2026-12-04T00:00:00Z",
        provenance=PROVENANCE,
    )
    failed = next(q for q in record["questions"] if q["status"] == "failed")
    assert (failed["id"], failed["suite"], failed["domain"]) == ("tax-002", "my_tax", "federal_income_tax")
