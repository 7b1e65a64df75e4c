"""The words suites, training data and reports share: the difficulty levels, and how domains are ordered.

Domains belong to a suite: a suite declares its own in a `suite.toml` beside its file (`suites.py`), and
the shipped suites declare the seed log's five, `SEED_DOMAINS`. Training data declares its own the same way
(`data.py`; the curriculum's per-domain blocks follow that order). Tables and plots list domains with
`order_domains`: the declared ones in their declared order, then any other alphabetically. Records
written before suites declared their domains are ordered by `SEED_DOMAINS`, so they render as they did.

The difficulties are defined once, in the question schema (`schema/question.schema.json`, the contract
a suite author reads); recipes' difficulty mixes and the curriculum's easy-to-extreme order use them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from importlib import resources

__all__ = ["DIFFICULTIES", "SEED_DOMAINS", "order_domains", "order_difficulties"]

SEED_DOMAINS = ("retirement_planning", "federal_income_tax", "estate_planning", "investment", "compliance")
_QUESTION_SCHEMA = resources.files("tunebench").joinpath("schema", "question.schema.json").read_text(encoding="utf-8")
DIFFICULTIES: tuple[str, ...] = tuple(json.loads(_QUESTION_SCHEMA)["properties"]["difficulty"]["enum"])


def order_domains(found: Iterable[str], declared: Sequence[str] = SEED_DOMAINS) -> list[str]:
    """Return the domains in `found` (each once): those in `declared` in its order, then the rest sorted."""
    return _ordered(found, declared)


def order_difficulties(found: Iterable[str]) -> list[str]:
    """Return the difficulties in `found` (each once): easy to extreme, then any unknown one sorted."""
    return _ordered(found, DIFFICULTIES)


def _ordered(found: Iterable[str], known: Sequence[str]) -> list[str]:
    present = set(found)
    ordered = [name for name in known if name in present]
    return ordered + sorted(present - set(ordered))
