"""Training examples: the JSONL schema, loading, content hashes, and the contamination check.

An example is one JSON object per line with an `id`, a `domain`, a `difficulty`, and either `messages`
(a chat ending on the assistant's answer) or `prompt`/`completion` strings. Its domains follow the rule
suites follow (`suites.py`): a `suite.toml` in the data file's folder may declare them (`domains = [...]`,
in the order the curriculum's per-domain blocks take them); without one, any domain is accepted. Before training, every
example is compared with the evaluation suites' questions and probe prompts; a normalized exact match or
a near duplicate (word-shingle Jaccard or containment over a threshold) is refused with the offending ids,
because a benchmark the model has trained on measures nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from tunebench.errors import DataError, SuiteError
from tunebench.suites import SuiteProblem, read_manifest, suite_rows
from tunebench.textfile import read_utf8
from tunebench.vocabulary import DIFFICULTIES

__all__ = [
    "EXAMPLE_SCHEMA",
    "Example",
    "load_examples",
    "declared_domains",
    "examples_sha256",
    "SuiteText",
    "load_suite_texts",
    "find_contamination",
    "check_contamination",
    "normalize",
]


_MESSAGE = {
    "type": "object",
    "required": ["role", "content"],
    "additionalProperties": False,
    "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string", "minLength": 1}},
}
EXAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "domain", "difficulty"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "minLength": 1},
        # Which domains: the suite.toml beside the file, if any (checked in load_examples).
        "domain": {"type": "string", "minLength": 1},
        "difficulty": {"enum": list(DIFFICULTIES)},
        "messages": {"type": "array", "minItems": 2, "items": _MESSAGE},
        "prompt": {"type": "string", "minLength": 1},
        "completion": {"type": "string", "minLength": 1},
        "source": {"type": "string"},
    },
    "oneOf": [
        {"required": ["messages"], "not": {"anyOf": [{"required": ["prompt"]}, {"required": ["completion"]}]}},
        {"required": ["prompt", "completion"], "not": {"required": ["messages"]}},
    ],
}
_VALIDATOR = jsonschema.Draft202012Validator(EXAMPLE_SCHEMA)

# Near-duplicate thresholds, on 3-word shingles of normalized text. Jaccard catches a reworded copy of a
# whole question; containment catches a suite question pasted inside a longer training prompt.
SHINGLE = 3
JACCARD_LIMIT = 0.5
CONTAINMENT_LIMIT = 0.8


@dataclass(frozen=True)
class Example:
    """One training example; `where` is `file:line` for error messages."""

    id: str
    domain: str
    difficulty: str
    where: str
    messages: tuple[dict[str, str], ...] | None = None
    prompt: str | None = None
    completion: str | None = None

    def for_trainer(self) -> dict[str, Any]:
        """Return the example in TRL's prompt/completion form, so the loss falls on the answer only.

        A chat becomes a conversational prompt (every turn before the last) and completion (the last,
        assistant turn): TRL then masks the prompt without needing `{% generation %}` markers in the
        chat template, which Qwen2's template lacks.
        """
        if self.messages is not None:
            return {"prompt": [dict(m) for m in self.messages[:-1]], "completion": [dict(self.messages[-1])]}
        return {"prompt": self.prompt, "completion": self.completion}

    @property
    def prompt_text(self) -> str:
        """The text a user wrote: every non-assistant turn, or the prompt."""
        if self.messages is not None:
            return "\n".join(m["content"] for m in self.messages if m["role"] != "assistant")
        return self.prompt or ""

    @property
    def full_text(self) -> str:
        if self.messages is not None:
            return "\n".join(m["content"] for m in self.messages)
        return f"{self.prompt}\n{self.completion}"

    def canonical(self) -> str:
        """Return the example as canonical JSON: what its hash covers."""
        body: dict[str, Any] = {"id": self.id, "domain": self.domain, "difficulty": self.difficulty}
        if self.messages is not None:
            body["messages"] = list(self.messages)
        else:
            body.update(prompt=self.prompt, completion=self.completion)
        return json.dumps(body, sort_keys=True, ensure_ascii=False)


def load_examples(path: str | Path) -> list[Example]:
    """Return the schema-checked examples of a JSONL file; a bad line is a DataError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    manifest = read_manifest(path)
    examples: list[Example] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(read_utf8(path, DataError, "data file").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON: {exc.msg}") from exc
        _check_example(data, where)
        refused = manifest.refuses(data["domain"])
        if refused:
            raise DataError(f"{where}: key domain: {refused}")
        if data["id"] in seen:
            raise DataError(f"{where}: id {data['id']!r} already used on line {seen[data['id']]}")
        seen[data["id"]] = number
        examples.append(_example(data, where))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def declared_domains(paths: Iterable[str | Path]) -> tuple[str, ...] | None:
    """Return the domains the data files' manifests declare, in order, each once; None when none declares."""
    declared = [read_manifest(path).domains for path in paths]
    if all(domains is None for domains in declared):
        return None
    return tuple(dict.fromkeys(d for domains in declared for d in domains or ()))


def _check_example(data: Any, where: str) -> None:
    errors = sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        if "messages" in data and data["messages"][-1]["role"] != "assistant":
            raise DataError(
                f"{where}: key messages: expected the last message to be the assistant's answer, "
                f"found role {data['messages'][-1]['role']!r}"
            )
        return
    error = errors[0]
    key = ".".join(map(str, error.absolute_path)) or "<example>"
    if error.validator == "oneOf":
        found = sorted(k for k in ("messages", "prompt", "completion") if k in data)
        raise DataError(f"{where}: expected either 'messages' or both 'prompt' and 'completion', found {found}")
    if error.validator == "additionalProperties":
        unknown = sorted(set(data) - set(EXAMPLE_SCHEMA["properties"]))
        raise DataError(f"{where}: unknown key {unknown[0]!r}: expected {', '.join(EXAMPLE_SCHEMA['properties'])}")
    raise DataError(f"{where}: key {key}: {error.message}")


def _example(data: dict[str, Any], where: str) -> Example:
    messages = tuple(dict(m) for m in data["messages"]) if "messages" in data else None
    return Example(
        id=data["id"],
        domain=data["domain"],
        difficulty=data["difficulty"],
        where=where,
        messages=messages,
        prompt=data.get("prompt"),
        completion=data.get("completion"),
    )


def examples_sha256(examples: Iterable[Example]) -> str:
    """Return `sha256:<hex>` over the examples in their order (what a phase trained on, in that order)."""
    digest = hashlib.sha256()
    for example in examples:
        digest.update(example.canonical().encode("utf-8") + b"\n")
    return "sha256:" + digest.hexdigest()


# --- contamination -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuiteText:
    """One evaluation item's text: a benchmark question or a probe prompt."""

    id: str
    text: str
    where: str


def load_suite_texts(paths: Sequence[str | Path]) -> list[SuiteText]:
    """Return the `question` / `prompt` texts of the suite JSONL files that exist among `paths`."""
    texts: list[SuiteText] = []
    for path in map(Path, paths):
        if not path.is_file():
            continue
        try:
            rows = list(suite_rows(path))
        except SuiteError as exc:
            raise DataError(str(exc)) from None
        for number, item in rows:
            if isinstance(item, SuiteProblem):
                raise DataError(str(item))
            text = item.get("question") or item.get("prompt") if isinstance(item, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{path}:{number}: expected a 'question' or 'prompt' string, found none")
            texts.append(SuiteText(id=str(item.get("id", f"line {number}")), text=text, where=f"{path}:{number}"))
    return texts


def normalize(text: str) -> str:
    """Return text lowercased, accents and punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.sub(r"[^a-z0-9$%]+", " ", text).split())


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    if len(words) < SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


@dataclass(frozen=True)
class Overlap:
    """A training example that matches an evaluation item, and how."""

    example_id: str
    example_where: str
    suite_id: str
    suite_where: str
    how: str  # "exact", "jaccard 0.62", "containment 0.91"


def find_contamination(examples: Sequence[Example], suite: Sequence[SuiteText]) -> list[Overlap]:
    """Return every (example, suite item) pair that is a normalized exact match or a near duplicate."""
    exact = {normalize(s.text): s for s in suite}
    suite_shingles = [_shingles(s.text) for s in suite]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, shingles in enumerate(suite_shingles):
        for shingle in shingles:
            index[shingle].append(i)
    found: list[Overlap] = []
    for example in examples:
        hit = exact.get(normalize(example.prompt_text))
        if hit is not None:
            found.append(Overlap(example.id, example.where, hit.id, hit.where, "exact"))
            continue
        found.extend(_near(example, suite, suite_shingles, index))
    return found


def _near(
    example: Example,
    suite: Sequence[SuiteText],
    suite_shingles: list[set[tuple[str, ...]]],
    index: dict[tuple[str, ...], list[int]],
) -> list[Overlap]:
    prompt = _shingles(example.prompt_text)
    full = _shingles(example.full_text)
    shared: dict[int, int] = defaultdict(int)
    for shingle in full:
        for i in index.get(shingle, ()):
            shared[i] += 1
    found = []
    for i in sorted(shared):
        theirs = suite_shingles[i]
        jaccard = len(prompt & theirs) / len(prompt | theirs) if prompt | theirs else 0.0
        containment = shared[i] / len(theirs)
        if jaccard >= JACCARD_LIMIT:
            how = f"jaccard {jaccard:.2f}"
        elif containment >= CONTAINMENT_LIMIT:
            how = f"containment {containment:.2f}"
        else:
            continue
        found.append(Overlap(example.id, example.where, suite[i].id, suite[i].where, how))
    return found


def check_contamination(examples: Sequence[Example], suite_paths: Sequence[str | Path]) -> int:
    """Raise DataError listing every example that overlaps an eval suite; return how many suite items were checked."""
    suite = load_suite_texts(suite_paths)
    overlaps = find_contamination(examples, suite)
    if overlaps:
        lines = [f"  {o.example_id} ({o.example_where}) ~ {o.suite_id} ({o.suite_where}): {o.how}" for o in overlaps]
        ids = sorted({o.example_id for o in overlaps})
        raise DataError(
            f"{len(ids)} training example(s) overlap the evaluation suites and are refused: "
            f"{', '.join(ids)}\n"
            + "\n".join(lines[:50])
            + ("\n  ..." if len(lines) > 50 else "")
            + "\nRemove or rewrite them: a benchmark the model trained on measures nothing."
        )
    return len(suite)
