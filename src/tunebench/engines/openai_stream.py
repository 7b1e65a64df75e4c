"""The openai engine's timed chat stream: server-sent events read as they arrive, a clock per content chunk.

One streaming `/v1/chat/completions` request: TTFT is the arrival of the first content event, inter-token
latency the gaps between content events, output tokens the server's `usage`
(`stream_options.include_usage`), the stop reason its `finish_reason`.

The request goes through the `openai` client (its retries, timeout and errors), but the events are read
here from the raw response (`with_streaming_response`): one `json.loads` per event and a clock read when its
line arrives. The client's own stream builds a typed model per event, about 1 ms each on a 2-core
machine, which sat between a token's arrival and its timestamp and made a timed stream slower than an
untimed one (`benchmarks/test_bench_engines.py`, group `stream-client`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from tunebench.engines.base import STOP_REASONS, EngineError
from tunebench.engines.openai_requests import MALFORMED, one_line

__all__ = ["StreamTiming", "timed_stream"]


@dataclass
class StreamTiming:
    """One streamed reply and its clock: seconds from the request's start."""

    text: str
    prompt_tokens: int
    new_tokens: int
    stop_reason: str | None
    ttft: float
    total: float
    gaps: list[float] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)


def timed_stream(
    client: Any,
    request: dict[str, Any],
    call: Callable[[Callable[[], Any], str], Any],
    endpoint: str,
    token_ids: bool = False,
) -> StreamTiming:
    """Stream one chat completion (`request`: create()'s keywords) and time its content events.

    `call` runs the request and turns the client's errors into EngineErrors; a stream that breaks off,
    an error event, a malformed event or an answer without usage is an EngineError naming `endpoint`.
    """
    import openai

    what = "POST /chat/completions (stream)"
    start = time.perf_counter()
    manager = client.chat.completions.with_streaming_response.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    response = call(manager.__enter__, what)
    try:
        reader = _Reader(start, token_ids)
        for stamp, data in _events(response.iter_lines()):
            reader.add(stamp, data)
    except EngineError as exc:
        raise EngineError(f"{what} at {endpoint}: {exc}") from exc
    except (openai.APIError, _transport_error()) as exc:
        raise EngineError(f"{what} at {endpoint}: the stream broke off: {one_line(exc)}") from exc
    except MALFORMED as exc:  # an event of the wrong shape
        raise EngineError(f"{what} at {endpoint}: malformed stream event: {one_line(exc)}") from exc
    finally:
        manager.__exit__(None, None, None)
    return reader.result(time.perf_counter() - start, f"{what} at {endpoint}")


def _events(lines: Iterable[str]) -> Iterator[tuple[float, str]]:
    """Yield (arrival time, data) of each server-sent event; `[DONE]` ends the stream.

    The event stream format (WHATWG HTML, "server-sent events"): `data:` lines joined by newlines, an event
    dispatched at a blank line, `:` comments and other fields ignored. An event's time is its first line's.
    """
    data: list[str] = []
    stamp = 0.0
    for line in lines:
        if not line:
            if data:
                if data[0] == "[DONE]":
                    return
                yield stamp, "\n".join(data)
                data = []
            continue
        name, _, value = line.partition(":")
        if name == "data":
            if not data:
                stamp = time.perf_counter()
            data.append(value[1:] if value.startswith(" ") else value)
    if data and data[0] != "[DONE]":
        yield stamp, "\n".join(data)


class _Reader:
    """Fold chat completion chunks (as JSON text) into the reply, its usage and its clock."""

    def __init__(self, start: float, token_ids: bool):
        self.start, self.token_ids = start, token_ids
        self.first: float | None = None
        self.last = start
        self.gaps: list[float] = []
        self.parts: list[str] = []
        self.ids: list[int] = []
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.events = 0

    def add(self, stamp: float, data: str) -> None:
        chunk = json.loads(data)
        self.events += 1
        if isinstance(chunk, dict) and chunk.get("error"):
            raise EngineError(f"the stream broke off: {one_line(_error_message(chunk['error']))}")
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk["choices"]:
            content = (choice.get("delta") or {}).get("content")
            if content:
                if self.first is None:
                    self.first = stamp
                else:
                    self.gaps.append(stamp - self.last)
                self.last = stamp
                self.parts.append(content)
            if self.token_ids:
                self.ids.extend(_token_id(t["token"]) for t in (choice.get("logprobs") or {}).get("content") or ())
            self.finish = choice.get("finish_reason") or self.finish

    def result(self, total: float, where: str) -> StreamTiming:
        if not self.events:
            raise EngineError(f"{where}: the answer held no stream events (not a server-sent event stream)")
        if self.usage is None:
            raise EngineError(
                f"{where}: the server sent no usage (stream_options.include_usage); output tokens cannot be counted"
            )
        try:
            prompt_tokens, new_tokens = int(self.usage["prompt_tokens"]), int(self.usage["completion_tokens"])
        except (*MALFORMED,) as exc:
            raise EngineError(f"{where}: malformed usage {one_line(str(self.usage))}: {one_line(exc)}") from exc
        return StreamTiming(
            text="".join(self.parts),
            prompt_tokens=prompt_tokens,
            new_tokens=new_tokens,
            stop_reason=STOP_REASONS.get(self.finish or ""),
            ttft=(self.first - self.start) if self.first is not None else total,
            total=total,
            gaps=self.gaps,
            token_ids=self.ids,
        )


def _error_message(error: Any) -> str:
    """The message of an error event (`{"error": {"message": ...}}`), as the openai client reads it."""
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


def _token_id(token: str) -> int:
    prefix = "token_id:"
    if not token.startswith(prefix):
        raise EngineError(f"expected a token as 'token_id:N' (vLLM's return_tokens_as_token_ids), found {token!r}")
    return int(token[len(prefix) :])


def _transport_error() -> type[Exception]:
    """The HTTP library's base error under the openai client (httpx2 for openai 3, httpx before)."""
    try:
        import httpx2

        return cast("type[Exception]", httpx2.HTTPError)
    except ImportError:
        import httpx

        return cast("type[Exception]", httpx.HTTPError)
