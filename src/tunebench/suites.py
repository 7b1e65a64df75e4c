"""Evaluation suite files: load and validate multiple-choice questions and open-ended probes (JSONL).

Each line is one JSON object checked against a JSON Schema shipped in the package
(`schema/question.schema.json`, `schema/probe.schema.json`), then across lines: ids are unique, each
domain is one the suite declares, and, when asked, each domain has an exact number of questions
(`per_domain`) or a minimum number of probes (`min_per_domain`).

A suite declares its domains in a `suite.toml` in its folder, in the order reports list them:

    domains = ["retirement_planning", "federal_income_tax", "estate_planning", "investment", "compliance"]

Without one, any domain is accepted and the per-domain rules apply to the domains the file uses.

Every problem in a file is reported at once, each naming the file, the line and the field, what was
expected and what was found, so a broken suite fails before any model loads.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import jsonschema

from tunebench.errors import SuiteError, SuiteFileError  # SuiteFileError: importable from here too
from tunebench.textfile import read_utf8

__all__ = [
    "LETTERS",
    "MANIFEST_NAME",
    "Question",
    "Probe",
    "SuiteManifest",
    "SuiteProblem",
    "read_manifest",
    "SuiteFileError",
    "load_questions",
    "load_probes",
    "load_files",
    "suite_name",
    "node_param",
    "schema",
    "resolve_files",
    "json_lines",
    "suite_rows",
]

LETTERS = ("A", "B", "C", "D")
MANIFEST_NAME = "suite.toml"


@dataclass(frozen=True)
class Question:
    """One multiple-choice question; `source` and `line` say where it was read."""

    id: str
    domain: str
    difficulty: str
    question: str
    choices: tuple[str, ...]
    answer: str
    explanation: str
    source: Path | None = None
    line: int = 0

    @property
    def answer_index(self) -> int:
        """The index of the correct choice (0 for A)."""
        return LETTERS.index(self.answer)


@dataclass(frozen=True)
class Probe:
    """One open-ended probe with its rubric: key points, forbidden claims, reference answer."""

    id: str
    domain: str
    prompt: str
    key_points: tuple[str, ...]
    forbidden: tuple[str, ...]
    reference: str
    source: Path | None = None
    line: int = 0


@dataclass(frozen=True)
class SuiteProblem:
    """One thing wrong with a suite file: where (file, line, field), and what."""

    path: Path
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: field {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass(frozen=True)
class SuiteManifest:
    """What a suite declares in the `suite.toml` beside its file; `path` is None when it has none."""

    path: Path | None = None
    domains: tuple[str, ...] | None = None  # None: not declared, any domain is accepted

    def refuses(self, domain: str) -> str | None:
        """Return why `domain` is refused (the manifest declares others), or None when it is accepted."""
        if self.domains is None or domain in self.domains:
            return None
        found = json.dumps(domain, ensure_ascii=False)
        return f"expected one of {', '.join(self.domains)} (declared in {self.path}), found {found}"


def read_manifest(suite_file: Path | str) -> SuiteManifest:
    """Return the manifest in `suite_file`'s folder (an empty one if none); a bad one is a SuiteFileError."""
    path = Path(suite_file).parent / MANIFEST_NAME
    if not path.exists() and not path.is_symlink():
        return SuiteManifest()
    if not path.is_file():  # a folder (or a dangling link) named suite.toml must not silently mean "no manifest"
        raise SuiteFileError([SuiteProblem(path, None, None, "expected a TOML file, found a folder or other non-file")])
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteFileError([SuiteProblem(path, None, None, f"cannot read the suite manifest: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SuiteFileError([SuiteProblem(path, None, None, f"expected TOML, found invalid TOML ({exc})")]) from None
    problems = [
        SuiteProblem(path, _key_line(text, key), key, "unknown key; expected only domains")
        for key in data
        if key != "domains"
    ]
    domains = data.get("domains")
    if domains is not None and not (
        isinstance(domains, list)
        and domains
        and all(isinstance(d, str) and d.strip() for d in domains)
        and len(set(domains)) == len(domains)
    ):
        found = json.dumps(domains, ensure_ascii=False)
        problems.append(
            SuiteProblem(
                path, _key_line(text, "domains"), "domains", f"expected a list of distinct names, found {found}"
            )
        )
    if problems:
        raise SuiteFileError(problems)
    return SuiteManifest(path, tuple(domains) if domains is not None else None)


def _key_line(text: str, key: str) -> int | None:
    """Return the line a top-level `key = ...` is written on (tomllib does not say)."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    return next((n for n, line in enumerate(text.splitlines(), start=1) if pattern.match(line)), None)


def suite_name(path: Path | str) -> str:
    """Return a suite's name: its folder's name for `questions.jsonl`/`probes.jsonl`, else the file's stem."""
    path = Path(path)
    return path.parent.name if path.stem in ("questions", "probes") else path.stem


def node_param(item: Question | Probe, shipped: Path) -> str:
    """Return an item's pytest parameter id: its id in the shipped file `shipped`, `SUITE/ID` in any other.

    A custom suite runs through the shipped test module; its suite's name in every node id says whose item it
    is (`test_question[my_questions/tax-001]`) in `-v`, `--collect-only`, `-k my_questions` and JUnit.
    """
    if item.source is not None and Path(item.source).resolve() == Path(shipped).resolve():
        return item.id
    return f"{suite_name(item.source)}/{item.id}" if item.source is not None else item.id


def resolve_files(given: Sequence[str] | None, base: Path, configured: Sequence[Path], shipped: Path) -> list[Path]:
    """Return the suite files to run: `given` (command line, relative to `base`), else `configured`, else `shipped`."""
    if given:
        return [(base / p).resolve() for p in given]
    return [Path(p).resolve() for p in configured] or [Path(shipped).resolve()]


Item = TypeVar("Item", "Question", "Probe")


def load_files(paths: Sequence[Path], load: Callable[[Path], list[Item]]) -> list[Item]:
    """Return the items of several suite files loaded with `load`; an id used in two files is a SuiteFileError."""
    items: list[Item] = []
    first_seen: dict[str, Path] = {}
    for path in paths:
        loaded = load(path)
        clashes = [
            SuiteProblem(
                path,
                item.line,
                "id",
                f"expected ids unique across the run's files, found {item.id!r} also in {first_seen[item.id]}",
            )
            for item in loaded
            if item.id in first_seen
        ]
        if clashes:
            raise SuiteFileError(clashes)
        first_seen.update({item.id: path for item in loaded})
        items += loaded
    return items


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    """Return the shipped JSON Schema for `kind` ("question" or "probe")."""
    text = resources.files("tunebench").joinpath("schema", f"{kind}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)  # the shipped schema: a JSON object
    return loaded


def load_questions(path: Path | str, per_domain: int | None = None) -> list[Question]:
    """Return the questions of a JSONL file, validated; `per_domain`: the exact count required per domain.

    With `per_domain`, every domain the suite declares (or uses) must have exactly that many questions
    (the shipped benchmark asks 20). Without it, any number per domain is accepted.
    """
    path = Path(path)
    rule = None if per_domain is None else (lambda n: n == per_domain, f"exactly {per_domain}")
    return [
        Question(
            id=r["id"],
            domain=r["domain"],
            difficulty=r["difficulty"],
            question=r["question"],
            choices=tuple(r["choices"]),
            answer=r["answer"],
            explanation=r["explanation"],
            source=path,
            line=line,
        )
        for line, r in _valid_rows(path, "question", rule)
    ]


def load_probes(path: Path | str, min_per_domain: int | None = None) -> list[Probe]:
    """Return the probes of a JSONL file, validated; `min_per_domain`: the fewest probes each domain needs."""
    path = Path(path)
    rule = None if min_per_domain is None else (lambda n: n >= min_per_domain, f"at least {min_per_domain}")
    return [
        Probe(
            id=r["id"],
            domain=r["domain"],
            prompt=r["prompt"],
            key_points=tuple(r["key_points"]),
            forbidden=tuple(r["forbidden"]),
            reference=r["reference"],
            source=path,
            line=line,
        )
        for line, r in _valid_rows(path, "probe", rule)
    ]


def _valid_rows(
    path: Path, kind: str, rule: tuple[Callable[[int], bool], str] | None
) -> list[tuple[int, dict[str, Any]]]:
    """Return (line, row) of every item in the file, or raise SuiteFileError listing every problem in it.

    `rule`: (accept, "exactly 20"), the count each domain the suite declares (or uses) must satisfy.
    """
    manifest = read_manifest(path)
    rows, problems = _read_rows(path, kind, manifest)
    problems += _duplicate_ids(path, rows)
    if rule is not None:
        accept, expected = rule
        problems += _domain_counts(path, rows, manifest, accept, expected, f"{kind}s")
    if problems:
        raise SuiteFileError(problems)
    return rows


def _read_rows(
    path: Path, kind: str, manifest: SuiteManifest
) -> tuple[list[tuple[int, dict[str, Any]]], list[SuiteProblem]]:
    try:
        text = read_utf8(path, SuiteError, f"{kind} file")
    except SuiteError as exc:
        raise SuiteFileError([SuiteProblem(path, None, None, str(exc).removeprefix(f"{path}: "))]) from None
    validator = jsonschema.Draft202012Validator(schema(kind))
    rows, problems = [], []
    for number, data in json_lines(path, text):
        if isinstance(data, SuiteProblem):
            problems.append(data)
            continue
        errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
        problems += [_describe(path, number, error) for error in errors]
        refused = None if errors else manifest.refuses(data["domain"])
        if refused:
            problems.append(SuiteProblem(path, number, "domain", refused))
        elif not errors:
            rows.append((number, data))
    if not rows and not problems:
        problems.append(SuiteProblem(path, None, None, f"expected at least one {kind}, found none"))
    return rows, problems


def suite_rows(path: Path | str) -> Iterator[tuple[int, Any]]:
    """Yield (line, parsed JSON or a SuiteProblem for a non-JSON line) of a suite file, not validated.

    For readers that take what a file holds rather than refuse it: the report showing a past run's texts,
    the training data's contamination check. A file that is not readable UTF-8 is a SuiteError.
    """
    path = Path(path)
    return json_lines(path, read_utf8(path, SuiteError, "suite file"))


def json_lines(path: Path, text: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed JSON) for each non-blank line of `text`; a non-JSON line yields a SuiteProblem."""
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield number, json.loads(raw)
        except json.JSONDecodeError as exc:
            found = f"found invalid JSON ({exc.msg} at column {exc.colno})"
            yield number, SuiteProblem(path, number, None, f"expected one JSON object per line, {found}")


def _describe(path: Path, line: int, error: jsonschema.ValidationError) -> SuiteProblem:
    field = ".".join(str(p) for p in error.absolute_path) or None
    instance, spec = error.instance, error.schema
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return SuiteProblem(path, line, missing, "expected it to be present, found it missing")
    if error.validator == "additionalProperties":
        unknown = sorted(set(instance) - set(spec.get("properties", {})))
        return SuiteProblem(path, line, unknown[0], f"unknown field; expected only {', '.join(spec['properties'])}")
    if error.validator == "type" and not error.absolute_path:
        return SuiteProblem(path, line, None, f"expected a JSON object, found {type(instance).__name__}")
    expected = {
        "enum": lambda: "one of " + ", ".join(map(str, spec.get("enum", ()))),
        "type": lambda: f"a {spec.get('type')}",
        "minItems": lambda: f"at least {spec.get('minItems')} items",
        "maxItems": lambda: f"at most {spec.get('maxItems')} items",
        "uniqueItems": lambda: "all items different",
        "minLength": lambda: "a non-empty string",
        "maxLength": lambda: f"at most {spec.get('maxLength')} characters",
        "pattern": lambda: f"a string matching {spec.get('pattern')}",
    }.get(error.validator, lambda: error.message)()
    if field == "answer":
        expected += " (the letter of one of the 4 choices)"
    return SuiteProblem(path, line, field, f"expected {expected}, found {json.dumps(instance)}")


def _duplicate_ids(path: Path, rows: list[tuple[int, dict[str, Any]]]) -> list[SuiteProblem]:
    first: dict[str, int] = {}
    problems = []
    for line, row in rows:
        if row["id"] in first:
            problems.append(
                SuiteProblem(
                    path,
                    line,
                    "id",
                    f"expected a unique id, found {row['id']!r} again (first on line {first[row['id']]})",
                )
            )
        else:
            first[row["id"]] = line
    return problems


def _domain_counts(
    path: Path,
    rows: Sequence[tuple[int, dict[str, Any]]],
    manifest: SuiteManifest,
    accept: Callable[[int], bool],
    expected: str,
    noun: str,
) -> list[SuiteProblem]:
    counts = Counter(row["domain"] for _, row in rows)
    last_line = {row["domain"]: line for line, row in rows}
    return [
        SuiteProblem(
            path,
            last_line.get(domain),
            "domain",
            f"expected {expected} {noun} in domain {domain}, found {counts.get(domain, 0)}",
        )
        for domain in manifest.domains or dict.fromkeys(row["domain"] for _, row in rows)
        if not accept(counts.get(domain, 0))
    ]
