"""The plugin keeps every run's record whatever the history holds: a file it cannot parse, a linked folder."""

import time

import pytest
from plugin_support import records, write_answers, write_project

pytest_plugins = ["pytester"]

YEAR = time.strftime("%Y", time.gmtime())


def test_a_file_nested_past_the_parser_in_the_history_does_not_lose_the_runs_record(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"prod": {"q000": "A", "q001": "B"}})
    folder = pytester.path / "hist" / "runs" / YEAR
    folder.mkdir(parents=True)
    nested = folder / f"{YEAR}0101T000000Z_deadbeef0001.json"
    nested.write_text("[" * 3000)  # a RecursionError in json.loads, 3 kB
    result = pytester.runpytest("--model", "prod")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines([f"*history record skipped: {nested}: JSON nested deeper than any record*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    [record] = records_lenient(pytester)
    assert record["aggregates"]["accuracy"]["n"] == 2 and record["model"]["name"] == "prod"


def records_lenient(pytester) -> list[dict]:
    """The trusted records of the pytester history, its problems (the planted file) aside."""
    from tunebench.history.store import open_store

    return open_store(pytester.path / "hist").read_all().records


def test_a_year_folder_linked_elsewhere_during_the_run_keeps_the_record_in_the_fallback_naming_the_link(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    # The history's year folder becomes a link while the evaluation runs: the last test does it.
    pytester.makepyfile(
        test_zz_link="import pathlib\n\ndef test_link():\n"
        "    pathlib.Path('elsewhere').mkdir()\n"
        "    pathlib.Path('hist/runs').mkdir(parents=True, exist_ok=True)\n"
        f"    pathlib.Path('hist/runs/{YEAR}').symlink_to(pathlib.Path('elsewhere').resolve())\n"
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    link = pytester.path / "hist" / "runs" / YEAR
    result.stdout.fnmatch_lines([f"*the record was NOT written: {link}: a symbolic link (to *elsewhere)*"])
    [kept] = (pytester.path / ".tunebench" / "unwritten").glob("*.json")
    result.stdout.fnmatch_lines([f"*the record is kept in {kept}*"])
    assert list((pytester.path / "elsewhere").iterdir()) == []  # nothing written where no reader looks
    link.unlink()
    link.mkdir()
    (link / kept.name).write_bytes(kept.read_bytes())
    [record] = records(pytester)
    assert record["aggregates"]["accuracy"]["n"] == 2


def test_a_year_folder_that_is_a_link_refuses_the_run_before_the_first_item(pytester):
    write_project(pytester, n=2)
    write_answers(pytester, {"tiny": {"q000": "A", "q001": "B"}})
    (pytester.path / "elsewhere").mkdir()
    (pytester.path / "hist" / "runs").mkdir(parents=True)
    (pytester.path / "hist" / "runs" / YEAR).symlink_to(pytester.path / "elsewhere")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{pytester.path / 'hist' / 'runs' / YEAR}: a symbolic link*"])
    assert "passed" not in result.stdout.str() and "Traceback" not in result.stderr.str()
