"""The probes' load phase (`--concurrency N`, N > 1): N concurrent streams of the probes' prompts.

Records TTFT, TPOT, inter-token latency and end-to-end latency (p50/p90/p99) and output tokens/s at that
load, as `load` in the run's record. Collected only when N > 1 (see conftest.py).
"""

import pytest

from tunebench.engines.load import load_phase
from tunebench.errors import TunebenchError


def test_load_phase(tb_engine, tb_settings, tb_config, probes_for_load, record):
    conversations = [[{"role": "user", "content": p.prompt}] for p in probes_for_load]
    try:
        figures = load_phase(tb_engine, conversations, tb_settings.concurrency, tb_config.eval.max_new_tokens)
    except TunebenchError as exc:
        pytest.fail(f"load phase at concurrency {tb_settings.concurrency} failed: {exc}", pytrace=False)
    record(kind="load", engine=tb_engine.name, **figures)
