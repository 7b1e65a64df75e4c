"""A suite declares its own domains in `suite.toml`: what is declared is checked, counted and accepted."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tunebench.errors import SuiteError
from tunebench.suites import load_probes, load_questions, read_manifest
from tunebench.vocabulary import SEED_DOMAINS, order_domains

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"


def _rows(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(folder: Path, rows: list[dict], name: str = "questions.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _declare(folder: Path, *domains: str) -> Path:
    path = folder / "suite.toml"
    path.write_text(f"domains = {json.dumps(list(domains))}\n", encoding="utf-8")
    return path


def _error(load, path: Path, **kwargs) -> str:
    with pytest.raises(SuiteError) as caught:
        load(path, **kwargs)
    return str(caught.value)


def test_the_shipped_suites_declare_the_seeds_five_domains():
    assert read_manifest(QUESTIONS).domains == SEED_DOMAINS
    assert read_manifest(PROBES).domains == SEED_DOMAINS


def test_a_suite_that_declares_crypto_loads_it_and_its_rules_count_the_declared_domains(tmp_path):
    _declare(tmp_path, "crypto", "defi")
    rows = [dict(r, domain="crypto", id=f"c-{i}") for i, r in enumerate(_rows()[:3])]
    rows += [dict(r, domain="defi", id=f"d-{i}") for i, r in enumerate(_rows()[3:6])]
    path = _write(tmp_path, rows)
    assert Counter(q.domain for q in load_questions(path, per_domain=3)) == {"crypto": 3, "defi": 3}
    _declare(tmp_path, "crypto", "defi", "nft")  # a declared domain without questions breaks a per-domain rule
    assert "field domain: expected exactly 3 questions in domain nft, found 0" in _error(
        load_questions, path, per_domain=3
    )


def test_a_domain_the_suite_does_not_declare_names_file_line_the_declared_ones_and_the_manifest(tmp_path):
    manifest = _declare(tmp_path, "crypto", "defi")
    rows = [dict(r, domain="crypto") for r in _rows(PROBES)[:3]]
    rows[1]["domain"] = "estate_planning"
    path = _write(tmp_path, rows, "probes.jsonl")
    assert (
        f'{path}:2: field domain: expected one of crypto, defi (declared in {manifest}), found "estate_planning"'
        in (_error(load_probes, path))
    )


def test_a_suite_without_a_manifest_accepts_any_domain_and_counts_the_ones_it_uses(tmp_path):
    rows = [dict(r, domain="crypto") for r in _rows()[:4]] + [dict(r, domain="defi") for r in _rows()[4:7]]
    path = _write(tmp_path, rows)
    assert read_manifest(path).domains is None
    assert "expected exactly 4 questions in domain defi, found 3" in _error(load_questions, path, per_domain=4)
    assert {q.domain for q in load_questions(path)} == {"crypto", "defi"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('domains = ["a"]\nextra = 1\n', ":2: field extra: unknown key; expected only domains"),
        ('\ndomains = ["a", "a"]\n', ':2: field domains: expected a list of distinct names, found ["a", "a"]'),
        ("domains = []\n", ":1: field domains: expected a list of distinct names, found []"),
        ('domains = "crypto"\n', ':1: field domains: expected a list of distinct names, found "crypto"'),
        ("domains = [\n", ": expected TOML, found invalid TOML"),
    ],
)
def test_a_bad_manifest_names_its_file_line_and_key(tmp_path, text, expected):
    (tmp_path / "suite.toml").write_text(text, encoding="utf-8")
    assert f"{tmp_path / 'suite.toml'}{expected}" in _error(load_questions, _write(tmp_path, _rows()[:2]))


def test_reports_list_declared_domains_in_their_order_then_the_others_sorted():
    assert order_domains({"zeta", "crypto", "defi"}, declared=("defi", "crypto")) == ["defi", "crypto", "zeta"]
    assert order_domains({"compliance", "crypto", "investment"}) == ["investment", "compliance", "crypto"]


def test_a_run_records_its_suites_declared_domains_and_the_log_lists_them_in_that_order(tmp_path):
    from record_factory import PROVENANCE, question

    from tunebench.history.eval_record import ItemResult, build_eval_record
    from tunebench.history.records import validate
    from tunebench.report.markdown import render_log

    _declare(tmp_path, "zeta", "alpha")  # not alphabetical: the declared order must win
    path = _write(tmp_path, [dict(r, domain=d, id=f"{d}-1") for r, d in zip(_rows(), ("zeta", "alpha"), strict=False)])
    items = [
        ItemResult(f"t.py::test_question[{d}-1]", "passed", [{**question(f"{d}-1", d, True), "suite_file": str(path)}])
        for d in ("alpha", "zeta")
    ]
    record = build_eval_record(
        model={"name": "tiny", "base": "tiny", "adapter": None, "registry_status": "production"},
        items=items,
        started_at="2026-12-01T10:00:00Z",
        finished_at="2026-12-01T10:01:00Z",
        provenance=PROVENANCE,
        root=tmp_path,
    )
    assert [s["domains"] for s in record["suites"]] == [["zeta", "alpha"]]
    validate(record, where="test record")
    log = render_log([record])
    assert "| Model | Run | zeta | alpha |" in log


@pytest.mark.slow  # two pytest subprocesses (~15 s)
def test_pytest_runs_collect_a_declared_crypto_suite_and_k_selects_by_its_domains(pytester):
    import shutil

    shutil.copytree(ROOT / "eval_suites", pytester.path / "eval_suites", ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makefile(".toml", pyproject='[tool.tunebench]\nhistory = "hist"\nlog = "LOG.md"\n')
    folder = pytester.path / "crypto"
    folder.mkdir()
    _declare(folder, "crypto", "defi")
    rows = [dict(r, domain=d, id=f"{d}-{i}") for i, r in enumerate(_rows()[:4]) for d in ("crypto", "defi")]
    _write(folder, rows)
    result = pytester.runpytest_subprocess(
        "eval_suites/benchmark_100", "--suite", "crypto/questions.jsonl", "--collect-only", "-q", "-k", "defi"
    )
    collected = [line.split("[")[1].rstrip("]") for line in result.outlines if "::test_question[" in line]
    assert collected == [f"crypto/defi-{i}" for i in range(4)]  # a custom suite's ids name it
    rows[2]["domain"] = "nft"
    _write(folder, rows)
    result = pytester.runpytest_subprocess("eval_suites/benchmark_100", "--suite", "crypto/questions.jsonl")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(['*crypto/questions.jsonl:3: field domain: expected one of crypto, defi*found "nft"*'])
