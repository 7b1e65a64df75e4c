"""Shared test set-up: offline everywhere, one tiny-model cache per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Offline by configuration, and by force: no test reaches past loopback (tests/network_guard_plugin.py).
pytest_plugins = ["network_guard_plugin"]

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[_var] = "1"


@pytest.fixture(scope="session", autouse=True)
def _tiny_cache(tmp_path_factory: pytest.TempPathFactory):
    """Build `tiny` once per session in a private cache (inherited by subprocesses through the env)."""
    if "TUNEBENCH_CACHE" not in os.environ:
        os.environ["TUNEBENCH_CACHE"] = str(tmp_path_factory.mktemp("tunebench-cache"))
    yield


@pytest.fixture(scope="session")
def tiny_dir(_tiny_cache):
    """The folder of the built-in tiny model."""
    from tunebench.tiny import tiny_path

    return tiny_path()


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    """(model, tokenizer) of the tiny model, loaded once per test module, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), AutoTokenizer.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module on one torch thread: tiny's 64-wide matrices are too small for intra-op threads to pay
    off, and on a busy 2-core machine they made tiny's forward passes ~10x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project folder as the working directory; write its pyproject.toml with `project.write`."""
    from tunebench.config import _load_cached

    _load_cached.cache_clear()
    monkeypatch.chdir(tmp_path)

    class Project:
        root = tmp_path

        @staticmethod
        def write(text: str, name: str = "pyproject.toml"):
            path = tmp_path / name
            path.write_text(text, encoding="utf-8")
            _load_cached.cache_clear()
            return path

    yield Project
    _load_cached.cache_clear()


@pytest.fixture
def real_tiny_history(tmp_path):
    """A copy of tests/data/real_tiny_history: reading a history writes its summary index beside the records, and
    the checkout's copy must stay as committed."""
    import shutil

    source = Path(__file__).parent / "data" / "real_tiny_history"
    return Path(shutil.copytree(source, tmp_path / "real_tiny_history", ignore=shutil.ignore_patterns("index")))
