"""The plugin loads once: from the entry point when installed, the root conftest finds it registered."""

import pytest
from plugin_support import assert_answered

pytest_plugins = ["pytester"]

SUITE = """
def test_model_name(tb_model_name, record):
    record(model=tb_model_name)
    assert tb_model_name == "tiny"
"""


def _registrations(result):
    return [
        line for line in result.outlines if line.startswith("PLUGIN registered:") and "tunebench_pytest.plugin" in line
    ]


def test_plugin_is_registered_once_with_the_in_repo_conftest(pytester):
    pytester.makeconftest('pytest_plugins = ["tunebench_pytest.plugin"]')
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("--trace-config")
    assert_answered(result, 1)
    assert len(_registrations(result)) == 1


def test_conftest_registers_the_plugin_when_entry_points_are_off(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeconftest('pytest_plugins = ["tunebench_pytest.plugin"]')
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("--trace-config", "-p", "pytester")
    assert_answered(result, 1)
    assert len(_registrations(result)) == 1


def test_unknown_model_is_a_usage_error(pytester):
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_subprocess("--model", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--model: unknown model 'nope'*Known models:*tiny*"])
