"""Record integrity: a content checksum sealed into every stored record, and a consistency check of its numbers.

The checksum is `sha256:<hex>` of the record's stored bytes (`records.to_json`) without the `checksum` key,
so it survives a parse and re-serialize and catches any changed byte in the content. The consistency check
catches what a checksum cannot (a record written by hand or by an older version without one): every
proportion's `value` is `k / n` and its interval is the Wilson interval of `k` of `n`, and an eval record's
overall, per-domain and per-difficulty counts agree with its questions.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from tunebench.errors import RecordError
from tunebench.history.records import to_json
from tunebench.stats import proportion

__all__ = ["CHECKSUM_KEY", "checksum", "seal", "unseal", "check_consistency"]

CHECKSUM_KEY = "checksum"
_PREFIX = "sha256:"
# Stored proportions are rounded to 6 digits; allow that rounding and nothing more.
_TOLERANCE = 1.5e-6


def checksum(record: dict[str, Any]) -> str:
    """Return `sha256:<hex>` of the record's canonical bytes, ignoring any `checksum` key it already has."""
    content = {k: v for k, v in record.items() if k != CHECKSUM_KEY}
    return _PREFIX + hashlib.sha256(to_json(content)).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `record` with its content checksum under `checksum` (what the store writes)."""
    return {**{k: v for k, v in record.items() if k != CHECKSUM_KEY}, CHECKSUM_KEY: checksum(record)}


def unseal(record: dict[str, Any], where: str = "record", data: bytes | None = None) -> dict[str, Any]:
    """Return `record` without its checksum; RecordError when the checksum does not match the content.

    A record without a checksum (written before checksums existed, or by hand) is returned as is: the
    consistency check still applies to it. `data`, the bytes `record` was parsed from, saves serializing
    it again when they are in the store's own layout (`_content_bytes`).
    """
    if not isinstance(record, dict) or CHECKSUM_KEY not in record:
        return record
    stored = record[CHECKSUM_KEY]
    content = _content_bytes(data) if data is not None else None
    if content is not None and content[0] == stored and _PREFIX + hashlib.sha256(content[1]).hexdigest() == stored:
        return {k: v for k, v in record.items() if k != CHECKSUM_KEY}
    actual = checksum(record)
    if stored != actual:
        raise RecordError(
            f"{where}: content checksum mismatch (stored {str(stored)[:19]}..., content {actual[:19]}...): "
            "the record was changed after it was written; never used as a baseline or shown as a result"
        )
    return {k: v for k, v in record.items() if k != CHECKSUM_KEY}


# The checksum line of a stored record: a top-level key (two spaces deep; JSON strings hold no raw newline).
_CHECKSUM_LINE = re.compile(rb'\n  "checksum": "(sha256:[0-9a-f]{64})"(,?)(?=\n)')


def _content_bytes(data: bytes) -> tuple[str, bytes] | None:
    """Return (the stored checksum, `data` without its checksum line) for bytes `records.to_json` wrote, else None.

    Those bytes are `to_json` of the content, so hashing them checks the checksum without re-serializing
    (pure-Python JSON with indentation: about 20 ms for a 100-question record). If they hash to the stored
    checksum they are the content that was sealed, byte for byte; anything else takes the slow path.
    """
    found = _CHECKSUM_LINE.search(data)
    if found is None:
        return None
    start, end = found.span()
    if found.group(2):  # a key follows: drop the line with its comma
        return found.group(1).decode("ascii"), data[:start] + data[end:]
    if not data[:start].endswith(b","):
        return None
    return found.group(1).decode("ascii"), data[: start - 1] + data[
        end:
    ]  # the last key: the line before loses its comma


def check_consistency(record: dict[str, Any], where: str = "record") -> None:
    """Raise RecordError naming the first key whose numbers disagree (k, n, value, interval, question counts)."""
    aggregates = record.get("aggregates")
    if record.get("kind") != "eval" or not isinstance(aggregates, dict):
        return
    for path, part in _proportions(aggregates):
        _check_proportion(part, f"{where}: key aggregates.{path}")
    questions = record.get("questions") or []
    if questions:
        _check_counts(record, questions, where)


def _proportions(aggregates: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("accuracy", "accuracy_norm"):
        if isinstance(aggregates.get(key), dict):
            yield key, aggregates[key]
    for group in ("by_domain", "by_difficulty"):
        for name, part in (aggregates.get(group) or {}).items():
            if isinstance(part, dict):
                yield f"{group}.{name}", part


def _check_proportion(part: dict[str, Any], where: str) -> None:
    k, n = part.get("k"), part.get("n")
    if not isinstance(k, int) or not isinstance(n, int) or not 0 <= k <= n:
        raise RecordError(f"{where}: expected counts 0 <= k <= n, found k={k!r}, n={n!r}")
    expected = proportion(k, n)
    for key in ("value", "low", "high"):
        found, wanted = part.get(key), expected[key]
        if wanted is None or found is None:
            if found is not wanted:
                raise RecordError(f"{where}.{key}: expected {wanted!r} for k={k}, n={n}, found {found!r}")
            continue
        if not isinstance(found, int | float) or abs(found - wanted) > _TOLERANCE:
            what = "k / n" if key == "value" else "the 95% Wilson interval of k of n"
            raise RecordError(f"{where}.{key}: expected {wanted} ({what}, k={k}, n={n}), found {found!r}")


def _check_counts(record: dict[str, Any], questions: list[dict[str, Any]], where: str) -> None:
    aggregates = record["aggregates"]
    expected: dict[str, tuple[int, int]] = {
        "accuracy": (sum(q.get("correct") is True for q in questions), len(questions))
    }
    if isinstance(aggregates.get("accuracy_norm"), dict):
        expected["accuracy_norm"] = (sum(q.get("correct_norm") is True for q in questions), len(questions))
    for group, field in (("by_domain", "domain"), ("by_difficulty", "difficulty")):
        if group not in aggregates:
            continue
        totals = Counter(str(q.get(field, "unknown")) for q in questions)
        rights = Counter(str(q.get(field, "unknown")) for q in questions if q.get("correct") is True)
        found = set(aggregates[group] or {})
        if found != set(totals):
            raise RecordError(
                f"{where}: key aggregates.{group}: lists {', '.join(sorted(found)) or 'nothing'}, but its questions "
                f"have {', '.join(sorted(totals))}"
            )
        names = found
        expected.update({f"{group}.{name}": (rights[name], totals[name]) for name in names})
    for path, (k, n) in sorted(expected.items()):
        part = _lookup(aggregates, path)
        if part is None:
            continue  # an aggregate the record does not carry cannot disagree
        if (part.get("k"), part.get("n")) != (k, n):
            raise RecordError(
                f"{where}: key aggregates.{path}: says {part.get('k')} of {part.get('n')} correct, "
                f"but its questions give {k} of {n}"
            )


def _lookup(aggregates: dict[str, Any], path: str) -> dict[str, Any] | None:
    group, _, name = path.partition(".")
    if not name:
        return aggregates.get(group)
    return (aggregates.get(group) or {}).get(name)
