"""A real vLLM server (CPU build) for the served-engine tests: one per test session, on a free 127.0.0.1 port.

Loaded as a pytest plugin (`pytest_plugins = ["vllm_server"]`). It serves `tiny-hd32` (tiny's head_dim-32
twin: vLLM's CPU attention refuses tiny's head_dim 16) in float32, so its log-likelihoods can be compared
with in-process transformers to 1e-3. The server runs from its own cached venv (tests/vllm_venv.py): vLLM
pins a torch and a transformers the project venv does not have. The tests talk to it over HTTP only.

`TUNEBENCH_TEST_VLLM_URL=http://127.0.0.1:PORT` uses a server already running (same flags and environment) instead.
Without that venv the tests skip locally, naming the command that builds it; under CI (`CI=true`) the
fixture builds it instead, and a server that cannot start fails the tests (never a skip).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import vllm_venv

SERVED_NAME = "tiny-hd32"
START_TIMEOUT_S = 900  # 1-4 minutes on 2 busy cores; generous for a loaded CI runner


@dataclass(frozen=True)
class VLLMServer:
    url: str  # the OpenAI base URL, .../v1
    served_name: str
    folder: Path  # the weights it serves (load the same folder in-process to compare)
    version: str
    log: Path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_venv() -> Path:
    """The vLLM venv's folder: built under CI, else a skip that says how to build it."""
    if vllm_venv.is_ready():
        return vllm_venv.venv_folder()
    if in_ci():
        return vllm_venv.build()
    pytest.skip(
        f"needs the vLLM CPU venv ({vllm_venv.venv_folder()}); build it once with "
        "`python tests/vllm_venv.py` (about 10 minutes, 3.4 GB), then rerun"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(root: str) -> bool:
    try:
        with urllib.request.urlopen(f"{root}/health", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory, _tiny_cache):
    """Start `python -m vllm.entrypoints.openai.api_server` on the tiny-hd32 weights; stop it at session end."""
    from tunebench.tiny import tiny_hd32_path

    folder = tiny_hd32_path()
    running = os.environ.get("TUNEBENCH_TEST_VLLM_URL")
    if running:  # a server already serving tiny-hd32 (fp32), to iterate without a 1-4 minute start each time
        root = running.removesuffix("/v1").rstrip("/")
        with urllib.request.urlopen(f"{root}/version", timeout=5) as answer:
            version = json.loads(answer.read())["version"]
        yield VLLMServer(f"{root}/v1", SERVED_NAME, folder, version, Path(os.devnull))
        return
    venv = require_venv()
    port = _free_port()
    root = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache: tiny needs almost none
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        # Else vLLM finds its own address by a UDP connect to 8.8.8.8: no packet leaves, but the tests'
        # network guard (rightly) sees an off-machine connect.
        "VLLM_HOST_IP": "127.0.0.1",
        # /server_info says the dtype the server computes in (tunebench records it; else "unknown").
        "VLLM_SERVER_DEV_MODE": "1",
    }
    command = [
        str(vllm_venv.venv_python(venv)),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(folder),
        "--served-model-name",
        SERVED_NAME,
        "--dtype",
        "float32",
        "--max-model-len",
        "2048",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-logprobs",
        "5",
        # No torch.compile: on 2 busy cores compiling took 2 of the 7 start-up minutes, for a model that
        # needs no speed-up; the scores do not change (the tests compare them with transformers).
        "--enforce-eager",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(root):
            if process.poll() is not None:
                pytest.fail(f"the vLLM server exited with {process.returncode}:\n{_tail(log)}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"the vLLM server did not start in {START_TIMEOUT_S} s:\n{_tail(log)}", pytrace=False)
            time.sleep(2)
        with urllib.request.urlopen(f"{root}/version", timeout=5) as answer:
            version = json.loads(answer.read())["version"]
        yield VLLMServer(f"{root}/v1", SERVED_NAME, folder, version, log)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # its own session: the engine core is a child process
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
