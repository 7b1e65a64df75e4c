"""Careless or hostile numbers, files and names: one clear error before any work, the history unchanged."""

from __future__ import annotations

import pytest
from hostile_support import snapshot
from plugin_support import write_project
from record_factory import random_eval

from tunebench.cli import main
from tunebench.config import MAX_CONCURRENCY, load_config
from tunebench.errors import ConfigError, RegistryError, SuiteFileError
from tunebench.history.aliases import parse_aliases
from tunebench.history.store import open_store
from tunebench.registry import Registry
from tunebench.suites import read_manifest

pytest_plugins = ["pytester"]


def test_a_pyproject_whose_tool_is_not_a_table_is_one_config_error(project, capsys):
    project.write('tool = 5\n[project]\nname = "x"\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: key tool: expected a table, found 5"):
        load_config()
    assert main(["models", "list"]) == 2
    err = capsys.readouterr().err
    assert "key tool: expected a table" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("request_timeout_s = inf", r"key tool.tunebench.eval.request_timeout_s: expected a finite number, found inf"),
        ("request_timeout_s = nan", r"key tool.tunebench.eval.request_timeout_s: expected a finite number, found nan"),
        (
            "concurrency = 100000",
            rf"key tool.tunebench.eval.concurrency: expected an integer \(>= 1, <= {MAX_CONCURRENCY}\)",
        ),
        (
            "max_new_tokens = 99999999999999999999",
            r"key tool.tunebench.eval.max_new_tokens: expected an integer of at most",
        ),
    ],
)
def test_config_numbers_are_finite_and_bounded(project, setting, expected):
    project.write(f"[tool.tunebench.eval]\n{setting}\n")
    with pytest.raises(ConfigError, match=expected):
        load_config()


@pytest.mark.parametrize("value", ["0", "100000", "1000000000", "-3"])
def test_concurrency_outside_its_range_refuses_the_session_with_exit_4(pytester, value):
    write_project(pytester, n=3)
    result = pytester.runpytest("--concurrency", value)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # errors.EXIT_CANNOT_START
    assert f"--concurrency: expected 1 to {MAX_CONCURRENCY}, found {value}" in output and "Traceback" not in output
    assert not (pytester.path / "hist").exists()


def test_plan_questions_beyond_what_the_exact_test_holds_is_one_error(capsys):
    assert main(["plan", "--drop", "0.05", "--questions", "1000000000000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--questions: expected 1 to 10000000, found 1000000000000" in err


def test_grade_calibrate_with_a_non_utf8_calibration_file_is_one_error(project, capsys, tmp_path):
    bad = tmp_path / "calibration.jsonl"
    bad.write_bytes(b'{"probe": "caf\xe9"}\n')
    assert main(["grade", "--calibrate", "--calibration", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "expected UTF-8 text, found byte 0xe9" in err and str(bad) in err and "Traceback" not in err


def test_a_suite_toml_that_is_a_folder_is_an_error_not_an_absent_manifest(tmp_path):
    (tmp_path / "suite.toml").mkdir()
    with pytest.raises(SuiteFileError, match=r"suite.toml: expected a TOML file, found a folder"):
        read_manifest(tmp_path / "questions.jsonl")


def test_two_conflicting_aliases_for_one_name_are_an_error():
    with pytest.raises(ConfigError, match=r"'DoRA v2' is already linked to 'dora-v2'"):
        parse_aliases(["DoRA v2=dora-v2", "DoRA v2=dora-v3"], ["dora-v2", "dora-v3"])
    assert parse_aliases(["DoRA v2=dora-v2", "DoRA v2=dora-v2"], ["dora-v2"]) == {"DoRA v2": "dora-v2"}


def test_a_registry_file_whose_name_is_no_model_name_is_refused(project, capsys):
    project.write('[tool.tunebench]\nhome = ".tb"\nhistory = "hist"\n')
    history = project.root / "hist"
    open_store(history).write(random_eval("run-reg-0001", "tiny", 1))
    before = snapshot(history)
    folder = project.root / ".tb" / "registry"
    folder.mkdir(parents=True)
    (folder / "ev il<script>.json").write_text('{"base": "builtin:tiny"}', encoding="utf-8")
    with pytest.raises(RegistryError, match=r"ev il<script>.json: registry entry file: 'ev il<script>' is not a valid"):
        Registry(load_config())
    assert main(["models", "list"]) == 2
    assert "is not a valid model name" in capsys.readouterr().err
    assert snapshot(history) == before


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--workers", "0"], "--workers: expected 1 to 256, found 0"),
        (["--workers", "1000000000"], "--workers: expected 1 to 256, found 1000000000"),
        (["--chunk-mib", "100000000"], "--chunk-mib: expected 1 to 1024, found 100000000"),
    ],
)
def test_transfer_options_are_bounded_before_any_work(project, capsys, option, expected):
    project.write('[tool.tunebench]\nhome = ".tb"\n')
    assert main(["models", "pull", "tiny", *option]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
