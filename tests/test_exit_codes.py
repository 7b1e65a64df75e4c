"""Exit statuses: one table (errors.py), repeated in the README, kept by the CLI and the pytest plugin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunebench import errors
from tunebench.cli import main
from tunebench.training.resilience import PREEMPTED_EXIT

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_statuses() -> list[int]:
    section = README.read_text(encoding="utf-8").split("## Exit statuses", 1)[1].split("\n## ", 1)[0]
    return [int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)]


def test_the_readme_table_and_the_docstring_list_exactly_the_statuses_in_errors():
    assert _readme_statuses() == sorted(errors.EXIT_STATUSES)
    documented = [int(m) for m in re.findall(r"^    (\d+) ", errors.__doc__, flags=re.MULTILINE)]
    assert documented == sorted(errors.EXIT_STATUSES)


def test_the_plugin_statuses_are_pytests_own_exit_codes_with_the_documented_meanings():
    assert pytest.ExitCode.OK == errors.EXIT_OK
    assert pytest.ExitCode.TESTS_FAILED == errors.EXIT_FAILED  # a failing gate
    assert pytest.ExitCode.INTERNAL_ERROR == errors.EXIT_NOT_RECORDED  # plugin.py sets it when the record is lost
    assert pytest.ExitCode.USAGE_ERROR == errors.EXIT_CANNOT_START  # options.py raises pytest.UsageError
    assert pytest.ExitCode.NO_TESTS_COLLECTED == errors.EXIT_NO_TESTS


def test_the_cli_exits_with_the_documented_statuses(tmp_path, capsys):
    assert PREEMPTED_EXIT == errors.EXIT_PREEMPTED
    not_a_recipe = tmp_path / "nothing.toml"
    assert main(["train", str(not_a_recipe)]) == errors.EXIT_BAD_INPUT
    assert "tunebench: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["history", "no-such-subcommand"])
    assert usage.value.code == errors.EXIT_BAD_INPUT
