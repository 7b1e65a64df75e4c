"""`-n N` where it cannot be faster (issue 26): the run says so at start and suggests serial."""

from __future__ import annotations

import pytest

from tunebench_pytest.parallel import cannot_be_faster

pytest_plugins = ["pytester"]


@pytest.fixture
def project(pytester):
    pytester.makefile(".toml", pyproject='[tool.tunebench]\nhistory = "hist"\n')
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    return pytester


@pytest.mark.skipif(not cannot_be_faster("hf", 2), reason="this machine has a GPU per worker: -n 2 can be faster")
def test_two_workers_with_an_in_process_engine_on_the_cpu_are_told_serial_is_faster(project):
    result = project.runpytest("-n", "2", "-p", "no:cacheprovider", "--no-record")
    hint = [line for line in result.outlines if "slower than a serial run here" in line]
    assert hint and hint[0].startswith("tunebench: -n 2 is slower") and hint[0].endswith("run without -n"), hint
    result.assert_outcomes(passed=1)


def test_a_serial_run_or_a_served_engine_gets_no_hint(project):
    serial = project.runpytest("-p", "no:cacheprovider", "--no-record")
    assert not [line for line in serial.outlines if "slower than a serial run" in line]
    assert not cannot_be_faster("openai", 2)  # the server does the work: workers only send requests


def test_tests_that_evaluate_nothing_get_no_tunebench_header(project):
    # Issue 26: the repository's own `pytest` said "record on, gate on" although its tests record nothing.
    # A test's own argument or fixture called `record` (tests/test_history_index.py has one) is not tunebench's.
    project.makepyfile(
        test_mine=(
            "import pytest\n\n"
            "@pytest.mark.parametrize('record', [{'a': 1}])\ndef test_param(record):\n    assert record\n\n"
            "@pytest.fixture\ndef tb_model():\n    return 'mine'\n\ndef test_fixture(tb_model):\n    assert tb_model\n"
        )
    )
    result = project.runpytest("-p", "no:cacheprovider", "--no-record")
    assert not [line for line in result.outlines if line.startswith("tunebench: model")], result.outlines
    result.assert_outcomes(passed=3)
