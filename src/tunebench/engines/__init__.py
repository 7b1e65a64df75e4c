"""Engines: where a model runs. Scorers and probes talk to an engine, never to transformers directly.

Every engine is an `Engine` (`engines.base`): lm-eval's `LM` shape, `loglikelihood(requests)` for (context,
continuation) pairs and a timed `generate(messages, ...)`, plus `score_choices` (multiple choice, shared in
the base class), `info()` for the record's provenance, and its traits (`needs_weights`, `served`). Each
engine owns its compute and registers itself by name; `engines.registry` is the one list of them
(`engine_names()`, `engine_class(name)`, `make_engine`). The built-in engines:

- `hf` (`engines.hf`, `hf_choice`, `hf_generation`): in-process transformers, the default.
- `openai` (`engines.openai_api`): any OpenAI-compatible server (`vllm serve`, SGLang, TGI, llama.cpp).
- `vllm` (`engines.vllm_inprocess`): `vllm.LLM` in this process (extra `vllm`; tensor parallel on GPUs).
"""

from __future__ import annotations

from tunebench.engines.base import Engine, EngineError, EngineInfo, EngineOptions, register_engine, score_choices

__all__ = ["Engine", "EngineError", "EngineInfo", "EngineOptions", "register_engine", "score_choices"]
