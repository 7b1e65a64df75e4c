"""A small OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose, for the engine's bad-input tests.

Why not the real vLLM server: the faults under test (no logprobs in an echo, a request that never answers,
HTTP 500 after some requests) are ones a healthy vLLM never produces on demand. Everything else in those
tests is real: the `openai` client, its retries and timeouts, real sockets, and, for the mid-run 500, the
real `pytest eval_suites` run recording to a real history.

Behaviour (`FaultServer.mode`): "ok" answers like a server whose tokens are single characters (each with
log-probability -(code point % 7) / 10, so the four choices differ); "no_logprobs" echoes with
`logprobs: null` (as servers without prompt logprobs do); "slow" sleeps `delay_s` before answering;
"fail_after" answers `fail_after` POST requests and then HTTP 500 to every POST. After `fail_after` POSTs
too: "invalid_json" answers 200 with a body that is not JSON, "wrong_shape" 200 with JSON of the wrong shape,
"cut_stream" cuts the chat stream off after its first event, "error_event" streams an error event.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a retry, a cancelled stream) is normal here: socketserver's default prints its
    traceback to stderr, which lands in the output of the pytester run under test as if tunebench had printed it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FaultServer:
    def __init__(self, served: tuple[str, ...] = ("fake-model",), mode: str = "ok"):
        self.served = served
        self.mode = mode
        self.delay_s = 5.0
        self.words = ["Hello", " there", "."]  # the streamed reply, one chunk each
        self.fail_after = 0
        self.posts = 0
        self.requests: list[str] = []
        self.cards: dict[str, dict[str, Any]] = {}  # more of a model's /v1/models card (vLLM: root, parent)
        self.server_info: dict[str, Any] | None = None  # vLLM's /server_info (dev mode) answer; None: no route
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def _logprob(char: str) -> float:
    return -(ord(char) % 7) / 10


def _echo(prompt: str) -> dict[str, Any]:
    generated = "x"
    text = prompt + generated
    return {
        "text": text,
        "logprobs": {
            "tokens": list(text),
            "token_logprobs": [None] + [_logprob(c) for c in text[1:]],
            "top_logprobs": [None] + [{c: _logprob(c)} for c in text[1:]],
            "text_offset": list(range(len(text))),
        },
    }


def _raw(handler: BaseHTTPRequestHandler, content_type: str, data: bytes, length: int | None = None) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data) if length is None else length))
    handler.end_headers()
    handler.wfile.write(data)


def _cut_stream(handler: BaseHTTPRequestHandler) -> None:
    """Promise a long event stream, send one event, then close the connection."""
    event = {"id": "s", "object": "chat.completion.chunk", "created": 0, "model": "m", "choices": []}
    _raw(handler, "text/event-stream", f"data: {json.dumps(event)}\n\n".encode(), length=100_000)
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.shutdown(2)


_PROTOCOL_FAULTS = {
    "invalid_json": lambda h: _raw(h, "application/json", b'{"choices": [ this is not json'),
    "wrong_shape": lambda h: _raw(h, "application/json", json.dumps({"choices": 5, "usage": "many"}).encode()),
    "cut_stream": _cut_stream,
    "error_event": lambda h: _raw(h, "text/event-stream", b'data: {"error": {"message": "injected stream error"}}\n\n'),
}


def _handler(state: FaultServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers: no connection set-up in the timings

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.requests.append(f"GET {self.path}")
            if self.path == "/v1/models":
                models = [
                    {"id": m, "object": "model", "owned_by": "fault", "max_model_len": 2048, **state.cards.get(m, {})}
                    for m in state.served
                ]
                self._json(200, {"object": "list", "data": models})
            elif self.path == "/server_info?config_format=json" and state.server_info is not None:
                self._json(200, state.server_info)
            elif self.path == "/version":
                self._json(200, {"version": "0.0-fault"})
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.requests.append(f"POST {self.path}")
            if state.mode == "slow":
                time.sleep(state.delay_s)
            state.posts += 1
            if state.mode == "fail_after" and state.posts > state.fail_after:
                self._json(500, {"error": {"message": "injected internal error"}})
                return
            if state.mode in _PROTOCOL_FAULTS and state.posts > state.fail_after:
                _PROTOCOL_FAULTS[state.mode](self)
                return
            if self.path == "/v1/completions":
                prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                choices = []
                for i, prompt in enumerate(prompts):
                    choice = {"index": i, "finish_reason": "length", **_echo(prompt)}
                    if state.mode == "no_logprobs":
                        choice["logprobs"] = None
                    choices.append(choice)
                self._json(
                    200,
                    {"id": "c", "object": "text_completion", "created": 0, "model": body["model"], "choices": choices},
                )
            elif self.path == "/v1/chat/completions":
                self._stream_chat(body)
            else:
                self._json(404, {"error": {"message": f"no route {self.path}"}})

        def _stream_chat(self, body: dict[str, Any]) -> None:
            base = {"id": "s", "object": "chat.completion.chunk", "created": 0, "model": body["model"]}
            words = state.words
            events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
            events += [{**base, "choices": [{"index": 0, "delta": {"content": w}}]} for w in words]
            events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            usage = {"prompt_tokens": 7, "completion_tokens": len(words) + 1, "total_tokens": len(words) + 8}
            events.append({**base, "choices": [], "usage": usage})
            # One body with its length (HTTP/1.1 keep-alive); the client still parses it as a stream of events.
            data = "".join(f"data: {json.dumps(event)}\n\n" for event in events).encode() + b"data: [DONE]\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
