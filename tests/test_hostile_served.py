"""A served engine fails once per session: every start-up failure is one message and exit 4, and a protocol error
mid-run is one item failure with a one-line reason, the run recorded incomplete, never a traceback.

The hostile servers are small loopback servers (openai_fault_server.FaultServer, and a TCP server that answers
garbage): a healthy vLLM never misbehaves on demand. The client, its retries, the sockets, the plugin and the
history are real.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path

import plugin_support  # noqa: F401  # imports torch, transformers' Qwen2: an in-process run must not import them again
import pytest
from hostile_support import snapshot
from openai_fault_server import FaultServer

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each case is a whole `pytest eval_suites` run

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"
PROBES = ROOT / "eval_suites" / "domain_probes" / "probes.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GarbageServer:
    """Accepts TCP connections and answers every request with bytes that are not HTTP."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"\x00\xff\x1b[2Jgarbage\r\n\r\n")

    def close(self) -> None:
        self._socket.close()


def _run(pytester, monkeypatch, tmp_path: Path, endpoint: str, model: str = "fake-model", n: int = 4):
    """`pytest eval_suites --engine openai` on `n` questions and two probes; return (result, output, history).

    The POSTs, in order: the start-up probe (1), the questions (n x 4 choices in batches of 4: n), each probe's
    warm-up and one timed repeat (2 each)."""
    suite = tmp_path / "few.jsonl"
    suite.write_text("\n".join(QUESTIONS.read_text(encoding="utf-8").splitlines()[:n]) + "\n", encoding="utf-8")
    probes = tmp_path / "probes.jsonl"
    probes.write_text("\n".join(PROBES.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    config = tmp_path / "tunebench.toml"
    config.write_text(
        f'home = "{tmp_path / "home"}"\nlog = "{tmp_path / "LOG.md"}"\n[eval]\nbatch_size = 4\nrepeats = 1\n'
        "request_timeout_s = 5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
    history = tmp_path / "history"
    result = pytester.runpytest_inprocess(
        str(ROOT / "eval_suites"),
        f"--rootdir={ROOT}",
        "--engine",
        "openai",
        "--endpoint",
        endpoint,
        "--model",
        model,
        "--suite",
        str(suite),
        "--probes",
        str(probes),
        "--history",
        str(history),
        "-p",
        "no:cacheprovider",
    )
    return result, result.stdout.str() + result.stderr.str(), history


def _assert_refused_once(result, output: str, expected: str, history: Path, before: dict) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output[-3000:]  # errors.EXIT_CANNOT_START
    assert output.count(expected) == 1, output[-3000:]
    assert "Traceback" not in output and re.search(r"\d+ (passed|failed|errors?)\b", output) is None
    assert len(output) < 4000  # one message, not an exception chain per item
    assert snapshot(history) == before


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://[::1", "endpoint 'http://[::1': not a valid URL"),
        ("ftp://127.0.0.1/v1", "found scheme 'ftp'"),
        ("http://127.0.0.1:99999/v1", "not a valid URL (Port out of range 0-65535)"),
        ("127.0.0.1:8000/v1", "found no scheme"),
    ],
)
def test_a_malformed_endpoint_is_one_message_and_exit_4(pytester, monkeypatch, tmp_path, endpoint, expected):
    result, output, history = _run(pytester, monkeypatch, tmp_path, endpoint)
    _assert_refused_once(result, output, expected, history, {})


def test_a_server_that_is_down_is_one_message_and_exit_4(pytester, monkeypatch, tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    result, output, history = _run(pytester, monkeypatch, tmp_path, url)
    _assert_refused_once(result, output, f"no server at {url}", history, {})


def test_a_wrong_served_name_is_one_message_and_exit_4(pytester, monkeypatch, tmp_path):
    with FaultServer(served=("fake-model",)) as server:
        result, output, history = _run(pytester, monkeypatch, tmp_path, server.url, model="fake-modle")
    _assert_refused_once(result, output, "'fake-modle' is not served at", history, {})


def test_a_garbage_tcp_server_is_one_message_and_exit_4(pytester, monkeypatch, tmp_path):
    garbage = GarbageServer()
    url = garbage.url
    try:
        result, output, history = _run(pytester, monkeypatch, tmp_path, url)
    finally:
        garbage.close()
    _assert_refused_once(result, output, f"no server at {url}", history, {})
    assert "\x1b" not in output  # the server's escape sequence is shown, never sent to the terminal


def test_http_500_on_completions_from_the_start_is_one_message_and_exit_4(pytester, monkeypatch, tmp_path):
    history = tmp_path / "history"
    history.mkdir()
    (history / "keep.txt").write_text("recorded before", encoding="utf-8")
    before = snapshot(history)
    with FaultServer(mode="fail_after") as server:  # fail_after 0: every POST answers 500
        result, output, history = _run(pytester, monkeypatch, tmp_path, server.url)
    _assert_refused_once(result, output, "HTTP 500 from", history, before)


def test_a_server_without_prompt_logprobs_is_refused_at_start(pytester, monkeypatch, tmp_path):
    with FaultServer(mode="no_logprobs") as server:
        result, output, history = _run(pytester, monkeypatch, tmp_path, server.url)
    _assert_refused_once(result, output, "returned no logprobs", history, {})


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("invalid_json", "held no stream events"),
        ("wrong_shape", "held no stream events"),
        ("cut_stream", "the stream broke off"),
        ("error_event", "the stream broke off: injected stream error"),
        ("fail_after", "HTTP 500 from"),
    ],
)
def test_a_protocol_error_mid_run_fails_the_item_in_one_line_and_records_the_run_incomplete(
    pytester, monkeypatch, tmp_path, mode, reason
):
    with FaultServer(mode=mode) as server:
        server.fail_after = 1 + 4 + 2  # the start-up probe, the questions and the first probe are answered
        result, output, history = _run(pytester, monkeypatch, tmp_path, server.url)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    _assert_one_line_per_failure(output, failures=1, reason=reason)
    [path] = list(history.rglob("*.json"))
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["status"] == "incomplete"
    assert len([q for q in record["questions"] if q["status"] == "answered"]) == 4
    assert [p["status"] for p in record["probes"]] == ["answered", "failed"]


@pytest.mark.parametrize(
    ("mode", "reason"), [("invalid_json", "malformed answer from"), ("wrong_shape", "malformed answer from")]
)
def test_a_malformed_completions_answer_fails_each_question_in_one_line(pytester, monkeypatch, tmp_path, mode, reason):
    with FaultServer(mode=mode) as server:
        server.fail_after = 1  # only the start-up probe is answered
        result, output, history = _run(pytester, monkeypatch, tmp_path, server.url)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    _assert_one_line_per_failure(output, failures=4 + 2, reason=reason, which=0)
    assert not history.exists() or not list(history.rglob("*.json"))  # nothing answered: nothing recorded


def _assert_one_line_per_failure(output: str, failures: int, reason: str, which: int = -1) -> None:
    """Each failed item is one line under its header: no traceback ("E   ..." lines), no exception chain."""
    assert "Traceback" not in output and "The above exception" not in output and "During handling" not in output
    lines = output.splitlines()
    assert [line for line in lines if line.startswith("E ")] == []
    bodies = []
    for index, line in enumerate(lines):
        if re.fullmatch(r"_{3,} .* _{3,}", line):
            body = []
            for following in lines[index + 1 :]:
                if following.startswith(("___", "===")):
                    break
                body.append(following)
            bodies.append([b for b in body if b.strip()])
    assert len(bodies) == failures and all(len(body) == 1 for body in bodies), bodies
    assert reason in bodies[which][0], bodies
