"""Timed generation on tiny: consistent timings, stop reasons from the model's own eos ids, warm-up and repeats."""

from __future__ import annotations

import pytest

from tunebench.engines.hf_generation import eos_token_ids, timed_generate

MESSAGES = [{"role": "user", "content": "What is a Roth IRA?"}]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ForceTokenAt:
    """A real logits processor: from step `step` on (counted in new tokens), only `token` can be generated."""

    def __init__(self, prompt_length: int, step: int, token: int):
        self.prompt_length, self.step, self.token = prompt_length, step, token

    def __call__(self, input_ids, scores):
        if input_ids.shape[1] - self.prompt_length >= self.step:
            forced = scores.new_full(scores.shape, float("-inf"))
            forced[:, self.token] = 0.0
            return forced
        return scores


def _prompt_length(tokenizer) -> int:
    return len(tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=True)["input_ids"])


def test_ttft_is_positive_and_never_above_total_latency(tiny):
    result = timed_generate(*tiny, MESSAGES, max_new_tokens=12, repeats=3, warmup=1)
    assert len(result.ttft_runs_s) == len(result.latency_s) == 3
    assert all(0 < ttft <= total for ttft, total in zip(result.ttft_runs_s, result.latency_s, strict=True))
    assert 0 < result.ttft_s <= result.latency_median_s <= result.latency_p90_s <= max(result.latency_s)


def test_decode_tokens_per_s_is_tokens_after_the_first_over_time_after_the_first(tiny):
    result = timed_generate(*tiny, MESSAGES, max_new_tokens=16, repeats=3, warmup=0)
    decode_time = result.latency_median_s - result.ttft_s
    assert result.decode_tokens_per_s == pytest.approx((result.new_tokens - 1) / decode_time, rel=1e-12)


def test_a_probe_hitting_max_new_tokens_stops_for_length(tiny):
    # The random tiny model never emits eos by itself.
    result = timed_generate(*tiny, MESSAGES, max_new_tokens=7, repeats=1, warmup=0)
    assert (result.new_tokens, result.stop_reason) == (7, "length")


def test_generation_stops_on_either_eos_id_of_the_generation_config(tiny):
    model, tokenizer = tiny
    eos = eos_token_ids(model, tokenizer)
    assert eos == [tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    from transformers import LogitsProcessorList

    for token in eos:
        force = LogitsProcessorList([ForceTokenAt(_prompt_length(tokenizer), step=3, token=token)])
        result = timed_generate(
            model, tokenizer, MESSAGES, max_new_tokens=20, repeats=1, warmup=0, logits_processor=force
        )
        assert (result.new_tokens, result.stop_reason, result.token_ids[-1]) == (4, "eos", token)
        assert "<|" not in result.text


def test_a_one_token_answer_has_no_decode_speed(tiny):
    model, tokenizer = tiny
    from transformers import LogitsProcessorList

    eos = eos_token_ids(model, tokenizer)[0]
    force = LogitsProcessorList([ForceTokenAt(_prompt_length(tokenizer), step=0, token=eos)])
    result = timed_generate(model, tokenizer, MESSAGES, max_new_tokens=5, repeats=2, warmup=0, logits_processor=force)
    assert (result.new_tokens, result.stop_reason, result.text) == (1, "eos", "")
    assert result.decode_tokens_per_s is None


def test_warmup_runs_are_generated_but_not_timed(tiny, monkeypatch):
    model, tokenizer = tiny
    calls = []
    original = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: calls.append(1) or original(**kw))  # counts, still generates
    result = timed_generate(model, tokenizer, MESSAGES, max_new_tokens=4, repeats=2, warmup=3)
    assert len(calls) == 5 and len(result.latency_s) == 2


def test_greedy_answers_are_identical_across_calls(tiny):
    first = timed_generate(*tiny, MESSAGES, max_new_tokens=10, repeats=1, warmup=0)
    second = timed_generate(*tiny, MESSAGES, max_new_tokens=10, repeats=2, warmup=1)
    assert (first.token_ids, first.text, first.prompt_tokens) == (second.token_ids, second.text, second.prompt_tokens)
