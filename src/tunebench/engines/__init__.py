"""Engines: where a model runs. Scorers and probes talk to an engine, never to transformers directly.

The interface follows lm-eval's `LM`: `loglikelihood(requests)` for (context, continuation) pairs and a
streaming, timed `generate(messages, ...)`, plus `info()` for the record's provenance (engine, engine
version, served model id, dtype, tensor parallel size, max length). Engines:

- `hf` (`engines.hf`): in-process transformers, the default; today's batched one-pass scorer.
- `openai` (`engines.openai_api`): any OpenAI-compatible server (`vllm serve`, SGLang, TGI, llama.cpp).
- `vllm` (`engines.vllm_inprocess`): `vllm.LLM` in this process (extra `vllm`; tensor parallel on GPUs).
"""

from __future__ import annotations

from tunebench.engines.base import ENGINES, Engine, EngineError, EngineInfo, score_choices

__all__ = ["ENGINES", "Engine", "EngineError", "EngineInfo", "score_choices"]
