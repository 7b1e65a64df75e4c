"""The `openai` engine: any OpenAI-compatible server (`vllm serve`, SGLang, TGI, llama.cpp's server).

Multiple choice goes through `/v1/completions` with `echo`, `logprobs=1` and `max_tokens=1`, as lm-eval's
`local-completions` model does: the server echoes the prompt's tokens with their log-probabilities, and
the continuation's log-likelihood is the sum over its tokens (the one generated token is left out).
lm-eval sends token ids it encoded itself and cuts at the context's token count; tunebench sends the text
(a served model need not have its tokenizer here) and cuts where the echoed `text_offset`s cross the
context's length. A token that straddles that boundary is refused rather than split, and a server that
echoes no log-probabilities refuses multiple choice (never a silent 25%). Context trailing spaces move to
the continuation first, as lm-eval's `_encode_pair` does, so the tokens scored are the in-process ones.

Probes go through streaming `/v1/chat/completions`, timed event by event in `openai_stream`.

Requests and their errors (the client's retries, one EngineError naming the server and the request) are in
`openai_requests`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from tunebench.engines.base import (
    UNKNOWN,
    Engine,
    EngineError,
    EngineInfo,
    EngineOptions,
    Progress,
    check_repeats,
    register_engine,
    until_request,
)
from tunebench.engines.openai_requests import answer_of, call, checked_endpoint
from tunebench.engines.openai_stream import StreamTiming, timed_stream
from tunebench.engines.served_floor import served_decode_floor
from tunebench.scoring.generation import GenerationResult

if TYPE_CHECKING:
    from tunebench.registry import ModelEntry

__all__ = ["OpenAIEngine", "continuation_logprob"]

T = TypeVar("T")


@register_engine("openai")
class OpenAIEngine(Engine):
    """A model served behind an OpenAI-compatible API at `endpoint` (the base URL, ending in /v1)."""

    needs_weights = False
    served = True

    def __init__(
        self,
        endpoint: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        batch_size: int = 16,
        token_ids: bool = False,
        dtype: str | None = None,
    ):
        import openai

        self.endpoint = checked_endpoint(endpoint)
        self.model = model
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        # vLLM's extension: logprob tokens come back as "token_id:N", for token-by-token comparisons.
        self.token_ids = token_ids
        self.dtype = dtype
        self.load_seconds: float | None = None  # the server loaded the weights, not this process
        self.client = openai.OpenAI(
            base_url=self.endpoint, api_key=api_key or "EMPTY", timeout=timeout_s, max_retries=max_retries
        )
        self._served = self._check_model()
        self._version, self._server = self._server_version()
        self._dtype = self._server_dtype()

    @classmethod
    def open(cls, entry: ModelEntry, options: EngineOptions) -> OpenAIEngine:
        """Connect to the entry's endpoint, as its `served_name` (default: its name), with its API key."""
        if not entry.endpoint:
            raise EngineError(
                f"model {entry.name!r}: engine openai needs an endpoint (--endpoint URL, [tool.tunebench.eval] "
                "endpoint, or the registry entry's endpoint)"
            )
        api_key = None
        if entry.api_key_env:
            api_key = os.environ.get(entry.api_key_env)
            if not api_key:
                raise EngineError(f"model {entry.name!r}: api_key_env {entry.api_key_env!r} is not set")
        served = entry.served_name or entry.name
        return cls(entry.endpoint, served, api_key=api_key, timeout_s=options.timeout_s, batch_size=options.batch_size)

    # -- provenance -------------------------------------------------------------------------------------

    def info(self) -> EngineInfo:
        """What the server says it serves: the weights (`root`), an adapter on a base (`parent`), the dtype."""
        card = self._served.get(self.model, {})
        parent = card.get("parent")  # vLLM: a LoRA adapter's card names its base model's id
        base_card = self._served.get(parent, {}) if parent else card
        return EngineInfo(
            engine=self.name,
            engine_version=self._version,
            model_id=f"{parent} + {self.model}" if parent else self.model,
            dtype=self.dtype or self._dtype or UNKNOWN,
            tensor_parallel_size=None,
            max_length=card.get("max_model_len") or base_card.get("max_model_len"),
            endpoint=self.endpoint,
            server=self._server or card.get("owned_by"),
            root=base_card.get("root"),
            adapter=(card.get("root") or self.model) if parent else None,
        )

    def decode_floor(self) -> dict[str, object]:
        """The floor when the server is ours (loopback, its root a folder here), else why it is unknown, in words."""
        info = self.info()
        dtype = info.dtype if info.dtype != UNKNOWN else None
        return served_decode_floor(self.endpoint, info.root, dtype, info.adapter)

    def _check_model(self) -> dict[str, dict[str, Any]]:
        page = self._call(lambda: self.client.models.list(), "GET /models")
        with self._answer_of("GET /models"):
            served = {str(m.id): m.model_dump() for m in page.data}
        if self.model not in served:
            names = ", ".join(sorted(served)) or "(none)"
            raise EngineError(f"model {self.model!r} is not served at {self.endpoint}; it serves: {names}")
        return served

    def _server_version(self) -> tuple[str | None, str | None]:
        """vLLM and SGLang answer GET /version at the server root; others may not (then unknown)."""
        parts = urlsplit(self.endpoint)
        try:
            with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/version", timeout=10) as answer:
                version = json.loads(answer.read()).get("version")
        except (OSError, ValueError, AttributeError):
            return None, None
        owner = self._served.get(self.model, {}).get("owned_by")
        return (str(version) if version else None), owner

    def _server_dtype(self) -> str | None:
        """The dtype the server computes in, where it says: vLLM's `/server_info` (VLLM_SERVER_DEV_MODE=1).

        Its first answer gathers the server's system details (11 s on a busy 2-core machine), so it gets the
        engine's request timeout; a server without the route answers 404 at once.
        """
        parts = urlsplit(self.endpoint)
        try:
            url = f"{parts.scheme}://{parts.netloc}/server_info?config_format=json"
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:
                dtype = json.loads(answer.read())["vllm_config"]["model_config"]["dtype"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return str(dtype).removeprefix("torch.") if dtype else None

    # -- multiple choice -----------------------------------------------------------------------------------

    def loglikelihood(
        self, requests: Sequence[tuple[str, str]], progress: Progress | None = None
    ) -> list[tuple[float, bool]]:
        out: list[tuple[float, bool]] = []
        for start in range(0, len(requests), self.batch_size):
            batch = [_move_trailing_spaces(c, x) for c, x in requests[start : start + self.batch_size]]
            answer = self._call(
                functools.partial(self._echo, [context + continuation for context, continuation in batch]),
                f"POST /completions (requests {start}-{start + len(batch) - 1})",
            )
            with self._answer_of(f"POST /completions (requests {start}-{start + len(batch) - 1})"):
                choices = sorted(answer.choices, key=lambda c: c.index)
                if len(choices) != len(batch):
                    raise EngineError(f"{self.endpoint}: {len(batch)} prompts sent, {len(choices)} choices returned")
                for offset, ((context, continuation), choice) in enumerate(zip(batch, choices, strict=True)):
                    where = f"request {start + offset}"
                    out.append(continuation_logprob(choice.logprobs, context, continuation, where))
            if progress:
                progress(len(out), len(requests))
        return out

    # -- generation ------------------------------------------------------------------------------------------

    def generate(
        self, messages: list[dict[str, str]], max_new_tokens: int, repeats: int = 1, warmup: int = 1
    ) -> GenerationResult:
        check_repeats(repeats)
        for _ in range(warmup):
            self._stream(messages, max_new_tokens)
        runs = [self._stream(messages, max_new_tokens) for _ in range(repeats)]
        first = runs[0]
        return GenerationResult(
            text=first.text,
            prompt_tokens=first.prompt_tokens,
            new_tokens=first.new_tokens,
            stop_reason=first.stop_reason,
            ttft_runs_s=tuple(r.ttft for r in runs),
            latency_s=tuple(r.total for r in runs),
            token_ids=tuple(first.token_ids),
            itl_s=tuple(first.gaps),
        )

    def _stream(self, messages: list[dict[str, str]], max_new_tokens: int) -> StreamTiming:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": 0,
        }
        if self.token_ids:
            request |= {"logprobs": True, "top_logprobs": 1, "extra_body": {"return_tokens_as_token_ids": True}}
        return timed_stream(self.client, request, self._call, self.endpoint, token_ids=self.token_ids)

    def generate_until(
        self, requests: Sequence[tuple[str, dict[str, Any]]], progress: Progress | None = None
    ) -> list[str]:
        """lm-eval's `generate_until` as its `local-completions` does it: `/v1/completions`, greedy, `stop`."""
        out: list[str] = []
        for index, (context, gen_kwargs) in enumerate(requests):
            until, max_tokens = until_request(index, gen_kwargs)
            answer = self._call(
                functools.partial(self._complete, context, max_tokens, until[:4]),  # OpenAI's API takes 4 at most
                f"POST /completions (generate_until request {index})",
            )
            with self._answer_of(f"POST /completions (generate_until request {index})"):
                out.append(str(answer.choices[0].text))
            if progress:
                progress(len(out), len(requests))
        return out

    def close(self) -> None:
        self.client.close()

    def _echo(self, prompts: list[str]) -> Any:
        """The prompts echoed with their tokens' log-probabilities (and one generated token, left out)."""
        return self.client.completions.create(
            model=self.model, prompt=prompts, max_tokens=1, echo=True, logprobs=1, temperature=0
        )

    def _complete(self, context: str, max_tokens: int, stop: list[str]) -> Any:
        return self.client.completions.create(
            model=self.model, prompt=context, max_tokens=max_tokens, temperature=0, stop=stop, seed=1234
        )

    def _call(self, request: Callable[[], T], what: str) -> T:
        return call(request, what, self.endpoint, self.timeout_s)

    def _answer_of(self, what: str) -> contextlib.AbstractContextManager[None]:
        return answer_of(what, self.endpoint)


def continuation_logprob(logprobs: Any, context: str, continuation: str, where: str) -> tuple[float, bool]:
    """Return (log-likelihood, is_greedy) of `continuation` from one echoed `/v1/completions` choice.

    The continuation's tokens are the echoed tokens whose text offset lies in [len(context),
    len(context + continuation)): the generated token starts at the prompt's end and is left out.
    """
    if logprobs is None or not getattr(logprobs, "token_logprobs", None) or logprobs.text_offset is None:
        raise EngineError(
            f"{where}: the server returned no logprobs for the echoed prompt (/v1/completions with echo=true, "
            "logprobs=1); multiple choice needs the continuation's log-probabilities and is refused"
        )
    begin, end = len(context), len(context) + len(continuation)
    offsets = list(logprobs.text_offset)
    if begin not in offsets:
        raise EngineError(
            f"{where}: no echoed token starts at the context/continuation boundary (character {begin} of "
            f"{context[-20:] + continuation!r}): the server's tokenization merges the two; refused rather than split"
        )
    picked = [i for i, offset in enumerate(offsets) if begin <= offset < end]
    values = [logprobs.token_logprobs[i] for i in picked]
    if not picked or any(v is None for v in values):
        raise EngineError(f"{where}: the server returned no log-probability for the continuation {continuation!r}")
    tops = logprobs.top_logprobs or [None] * len(offsets)
    greedy = all(tops[i] and logprobs.token_logprobs[i] >= max(tops[i].values()) for i in picked)
    return float(sum(values)), bool(greedy)


def _move_trailing_spaces(context: str, continuation: str) -> tuple[str, str]:
    spaces = len(context) - len(context.rstrip())
    if spaces:
        return context[:-spaces], context[-spaces:] + continuation
    return context, continuation
