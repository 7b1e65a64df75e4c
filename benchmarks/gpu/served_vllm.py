"""The served-vLLM section of the GPU benchmark (`run_gpu_bench.py --served-vllm`), for a GPU session.

Serves the benchmark's shape (Qwen2.5-14B's config) with `vllm serve`-equivalent
`python -m vllm.entrypoints.openai.api_server --load-format dummy` (vLLM fills random weights itself, so
nothing is downloaded and no 28 GB checkpoint is written), then runs tunebench's load phase
(`tunebench.engines.load.load_phase` through the openai engine, the code `pytest eval_suites --engine
openai --concurrency N` runs) at concurrency 1, 8 and 32 on the probe prompts. Reported per concurrency:
decode ms/token (TPOT p50), TTFT p50 and p99, end-to-end p50 and output tokens/s.

Needs `vllm` installed (`pip install "tunebench[vllm]"`) and a GPU; on this repository's CPU machines the
served path is covered by tests/test_vllm_served.py instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CONCURRENCY = (1, 8, 32)
HEADERS = ("concurrency", "decode ms/token (TPOT p50)", "TTFT p50 s", "TTFT p99 s", "e2e p50 s", "output tokens/s")


def served_rows(shape: dict[str, Any], prompts: list[str], new_tokens: int, log=print) -> list[list[str]]:
    """Start a vLLM server on `shape` with dummy weights, measure each concurrency, stop it; return table rows."""
    from tunebench.engines.load import load_phase
    from tunebench.engines.openai_api import OpenAIEngine

    with tempfile.TemporaryDirectory(prefix="served-vllm-") as folder:
        _write_config(shape, Path(folder))
        port = _free_port()
        process = _start(Path(folder), port)
        try:
            root = f"http://127.0.0.1:{port}"
            _wait(root, process)
            engine = OpenAIEngine(f"{root}/v1", "bench", timeout_s=600)
            conversations = [[{"role": "user", "content": p}] for p in prompts]
            rows = []
            for concurrency in CONCURRENCY:
                log(f"served vLLM: concurrency {concurrency}")
                figures = load_phase(engine, conversations, concurrency, new_tokens, requests=4 * concurrency)
                rows.append(
                    [
                        str(concurrency),
                        f"{1000 * figures['tpot_s']['p50']:.2f}" if figures["tpot_s"]["p50"] else "-",
                        f"{figures['ttft_s']['p50']:.3f}",
                        f"{figures['ttft_s']['p99']:.3f}",
                        f"{figures['e2e_s']['p50']:.3f}",
                        f"{figures['output_tokens_per_s']:.1f}",
                    ]
                )
            engine.close()
            return rows
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=120)


def _write_config(shape: dict[str, Any], folder: Path) -> None:
    from transformers import AutoTokenizer, Qwen2Config

    from tunebench.tiny import tiny_path

    tokenizer = AutoTokenizer.from_pretrained(tiny_path())
    config = Qwen2Config(**{**shape, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id})
    config.torch_dtype = "bfloat16"
    config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _start(folder: Path, port: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(folder),
        "--served-model-name",
        "bench",
        "--load-format",
        "dummy",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "4096",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return subprocess.Popen(command, start_new_session=True)


def _wait(root: str, process: subprocess.Popen, timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    raise RuntimeError(f"the vLLM server did not start in {timeout_s:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_section(rows: list[list[str]]) -> str:
    lines = ["## Served vLLM", "", "| " + " | ".join(HEADERS) + " |", "| " + " | ".join("---" for _ in HEADERS) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(json.dumps({"concurrency": CONCURRENCY, "headers": HEADERS}))
