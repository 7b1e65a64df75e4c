"""The openai engine's requests: its endpoint checked, and what fails in a request turned into one EngineError.

The `openai` client retries connection errors, 408/409/429 and 5xx with exponential back-off
(`max_retries`) and applies a per-request timeout; what still fails becomes an EngineError saying which
server, which request and why, on one line (a server's text can be anything).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from tunebench.engines.base import EngineError

__all__ = ["MALFORMED", "answer_of", "call", "checked_endpoint", "one_line"]

T = TypeVar("T")

# What reading a malformed answer raises: json's JSONDecodeError is a ValueError, as pydantic's errors are.
MALFORMED = (ValueError, TypeError, AttributeError, KeyError, IndexError)


def call(request: Callable[[], T], what: str, endpoint: str, timeout_s: float) -> T:
    """Run one API request (the client retries); turn what still fails into an EngineError."""
    import openai

    try:
        return request()
    except openai.APITimeoutError as exc:
        raise EngineError(f"{what}: no answer from {endpoint} within {timeout_s:g} s (timeout)") from exc
    except openai.APIConnectionError as exc:
        raise EngineError(f"no server at {endpoint} ({what}: {one_line(exc.__cause__ or exc)})") from exc
    except openai.APIStatusError as exc:
        raise EngineError(f"{what}: HTTP {exc.status_code} from {endpoint}: {_message(exc)}") from exc
    except openai.APIError as exc:  # e.g. an answer the client could not validate
        raise EngineError(f"{what}: bad answer from {endpoint}: {one_line(exc)}") from exc
    except MALFORMED as exc:  # a body that is not JSON, or JSON of another shape
        raise EngineError(f"{what}: malformed answer from {endpoint}: {one_line(exc)}") from exc


@contextlib.contextmanager
def answer_of(what: str, endpoint: str) -> Iterator[None]:
    """Turn a parsed answer of the wrong shape (a server bug, not ours) into an EngineError naming the request."""
    try:
        yield
    except EngineError:
        raise
    except MALFORMED as exc:
        raise EngineError(f"{what}: malformed answer from {endpoint}: {one_line(exc)}") from exc


def one_line(exc: BaseException | str) -> str:
    """An exception's message on one line, at most 300 characters (a server's text can be anything)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:299] + "…"


def checked_endpoint(endpoint: str) -> str:
    """Return `endpoint` without a trailing '/'; EngineError unless it is http(s)://HOST[:PORT][/PATH]."""
    expected = "expected http://HOST[:PORT]/v1 or https://..."
    try:
        parts = urlsplit(endpoint)
        port = parts.port  # ValueError when out of 0-65535 or not a number
    except ValueError as exc:
        raise EngineError(f"endpoint {endpoint!r}: not a valid URL ({exc}); {expected}") from None
    if parts.scheme not in ("http", "https"):
        found = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise EngineError(f"endpoint {endpoint!r}: {expected}, found {found}")
    if not parts.hostname:
        raise EngineError(f"endpoint {endpoint!r}: {expected}, found no host")
    if port == 0:
        raise EngineError(f"endpoint {endpoint!r}: {expected}, found port 0")
    return endpoint.rstrip("/")


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        detail = body.get("message") or body.get("error") or body.get("detail")
        if isinstance(detail, dict):
            detail = detail.get("message")
        if detail:
            return one_line(str(detail))
    return one_line(str(getattr(exc, "message", exc)))
