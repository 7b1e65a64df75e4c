"""tunebench: train LoRA/DoRA adapters, evaluate them with pytest suites, gate CI on the history."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from tunebench.errors import TunebenchError

try:
    __version__ = version("tunebench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["TunebenchError", "__version__", "train"]


def train(recipe, **kwargs):
    """Run a training recipe and return its TrainingRecord (see `tunebench.training.run.train`)."""
    from tunebench.training.run import train as _train

    return _train(recipe, **kwargs)
