"""The openai engine's bad input: each a clear error, nothing recorded as answered (see openai_fault_server.py)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from openai_fault_server import FaultServer

from tunebench.engines import EngineError, score_choices
from tunebench.engines.openai_api import OpenAIEngine
from tunebench.suites import load_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "eval_suites" / "benchmark_100" / "questions.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    with FaultServer(served=("fake-model", "other-model")) as running:
        yield running


def test_endpoint_down_says_no_server_at_url():
    url = f"http://127.0.0.1:{_free_port()}/v1"
    with pytest.raises(EngineError, match=rf"no server at {url}"):
        OpenAIEngine(url, "fake-model", max_retries=0)


def test_wrong_model_name_lists_the_served_names(server):
    with pytest.raises(EngineError) as caught:
        OpenAIEngine(server.url, "fake-modle", max_retries=0)
    message = str(caught.value)
    assert "'fake-modle' is not served at" in message and "it serves: fake-model, other-model" in message


def test_a_server_without_logprobs_refuses_multiple_choice(server):
    server.mode = "no_logprobs"
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    with pytest.raises(EngineError, match="returned no logprobs.*multiple choice .* is refused"):
        score_choices(engine, load_questions(QUESTIONS)[:2])


def test_a_request_past_its_timeout_is_a_timeout_error(server):
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0, timeout_s=0.3)
    server.mode, server.delay_s = "slow", 2.0
    with pytest.raises(EngineError, match=r"no answer from .* within 0.3 s \(timeout\)"):
        engine.loglikelihood([("Answer:", " A")])


def test_echoed_offsets_cut_context_from_continuation(server):
    """The continuation's log-likelihood is the sum over its echoed tokens only (not the generated one)."""
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    [(ll, greedy)] = engine.loglikelihood([("Answer:", " B")])
    assert ll == pytest.approx(-(ord(" ") % 7) / 10 - (ord("B") % 7) / 10)
    assert greedy is True
    info = engine.info().to_dict()
    assert (info["engine"], info["engine_version"], info["model_id"], info["max_length"]) == (
        "openai",
        "0.0-fault",
        "fake-model",
        2048,
    )


def test_streamed_generation_times_chunks_and_counts_usage_tokens(server):
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    result = engine.generate([{"role": "user", "content": "hi"}], max_new_tokens=8, repeats=2, warmup=1)
    assert (result.text, result.new_tokens, result.prompt_tokens, result.stop_reason) == ("Hello there.", 4, 7, "eos")
    assert len(result.latency_s) == 2 and len(result.itl_s) == 2
    assert 0 <= result.ttft_s <= result.latency_median_s
    assert server.requests.count("POST /v1/chat/completions") == 3  # warm-up + 2 repeats


@pytest.mark.slow
def test_http_500_in_the_middle_of_a_run_records_it_incomplete(server, tmp_path, pytester, monkeypatch):
    """`pytest eval_suites --engine openai`: the server answers the benchmark and the first probe, then 500s."""
    # The session's start-up probe: 1 completion; 20 questions x 4 choices in batches of 8: 10 completions;
    # each probe: 1 warm-up + 3 repeats. The 20 questions are all retirement_planning, so its 2 probes run.
    server.mode, server.fail_after = "fail_after", 1 + 10 + 1 * 4
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()[:20]
    suite = tmp_path / "twenty.jsonl"
    suite.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "tunebench.toml"
    config.write_text(f'home = "{tmp_path / "home"}"\nlog = "{tmp_path / "LOG.md"}"\n[eval]\nbatch_size = 8\n')
    monkeypatch.setenv("TUNEBENCH_CONFIG", str(config))
    history = tmp_path / "history"
    result = pytester.runpytest_inprocess(
        str(ROOT / "eval_suites"),
        f"--rootdir={ROOT}",
        "--engine",
        "openai",
        "--endpoint",
        server.url,
        "--model",
        "fake-model",
        "--suite",
        str(suite),
        "--history",
        str(history),
        "-p",
        "no:cacheprovider",
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*HTTP 500 from*injected internal error*"])
    [path] = list(history.rglob("*.json"))
    record = json.loads(path.read_text())
    assert record["status"] == "incomplete"
    assert len([q for q in record["questions"] if q["status"] == "answered"]) == 20
    answered = [p for p in record["probes"] if p["status"] == "answered"]
    assert len(answered) == 1 and len(record["probes"]) == 2  # the other is failed, not answered
    assert all(p["status"] == "failed" for p in record["probes"] if p not in answered)
    assert record["model"]["engine"]["engine"] == "openai"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("cut_stream", "the stream broke off"),
        ("error_event", "the stream broke off: injected stream error"),
        ("invalid_json", "held no stream events"),
        ("fail_after", "HTTP 500 from"),
    ],
)
def test_a_broken_stream_is_one_engine_error_naming_the_request(server, mode, reason):
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    server.mode = mode
    with pytest.raises(EngineError, match=reason) as caught:
        engine.generate([{"role": "user", "content": "hi"}], max_new_tokens=8, repeats=1, warmup=0)
    assert "POST /chat/completions (stream)" in str(caught.value) and "\n" not in str(caught.value)


def test_stream_events_are_read_as_the_event_stream_format_defines_them():
    """`data:` lines of one event join with newlines, comments and other fields are skipped, [DONE] ends it."""
    from tunebench.engines.openai_stream import _events

    lines = [": keep-alive", "event: chunk", 'data: {"a":', "data:1}", "", "id: 7", "", 'data: {"b": 2}', ""]
    lines += ["data: [DONE]", "", 'data: {"after": "done"}', ""]
    assert [json.loads(data) for _, data in _events(lines)] == [{"a": 1}, {"b": 2}]
    assert [data for _, data in _events(['data: {"last": true}'])] == ['{"last": true}']  # no closing blank line


def test_each_content_event_is_timed_at_its_arrival_and_the_reply_is_the_plain_clients(server):
    """The timed text equals what the plain `openai` client streams; one gap per content event after the first."""
    import openai

    server.words = [f" w{i}" for i in range(50)]
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    result = engine.generate([{"role": "user", "content": "hi"}], max_new_tokens=64, repeats=1, warmup=0)
    plain = openai.OpenAI(base_url=server.url, api_key="EMPTY", max_retries=0)
    stream = plain.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "hi"}], max_tokens=64, stream=True
    )
    assert result.text == "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert len(result.itl_s) == 49 and all(gap >= 0 for gap in result.itl_s)
    assert (result.new_tokens, result.stop_reason) == (51, "eos")


def test_generate_until_refuses_sampling_and_sends_the_tasks_stop_strings_and_length(server):
    engine = OpenAIEngine(server.url, "fake-model", max_retries=0)
    with pytest.raises(EngineError, match=r"request 1: only greedy generation is supported"):
        engine.generate_until([("Q:", {"until": ["\n"]}), ("Q:", {"until": ["\n"], "do_sample": True})])
    assert server.requests.count("POST /v1/completions") == 1  # the sampled request was never sent
    [text] = engine.generate_until([("Q:", {"until": "\n\n", "max_gen_toks": 5})])
    assert isinstance(text, str)
