"""The keys a training recipe may have: each key's type and bounds, which keys are required (at the top and in
a `[[phases]]` table), and the names a key may take (methods, phase kinds, schedulers, devices, trackers,
attention implementations). `tunebench.training.recipe` checks a recipe's table against them.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "METHODS",
    "PHASE_KINDS",
    "SCHEDULERS",
    "DEVICES",
    "TRACKERS",
    "ATTENTION",
    "SEED_RANGE",
    "INT_LIMIT",
    "AUTO",
    "TOP_KEYS",
    "REQUIRED",
    "PHASE_KEYS",
    "PHASE_REQUIRED",
]

METHODS = ("lora", "dora", "qlora", "qdora")
# A: one domain after another; B: domains interleaved, easy to extreme; C: a hard-heavy stress epoch;
# flat: one seeded shuffle, no curriculum (the seed's sessions 2-4).
PHASE_KINDS = ("domain_blocks", "mixed", "stress", "flat")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial")
DEVICES = ("auto", "cpu", "cuda")
# Experiment trackers, each transformers' own integration (`report_to`).
TRACKERS = ("tensorboard", "mlflow", "wandb")

# key: (type or types, check or None, what the check expects). Every number is also checked finite and within
# INT_LIMIT first (training.recipe's `_check_number`): inf/nan would train at loss NaN and a huge int fails deep
# in torch.
INT_LIMIT = 2**31 - 1
# transformers.set_seed seeds numpy too, whose seeds are 0..2**32-1.
SEED_RANGE = (0, 2**32 - 1)
_POSITIVE = (lambda v: v > 0, "> 0")
AUTO = 'true, false or "auto"'
# The attention implementations a recipe may name (transformers' names; "auto" resolved by training.throughput).
ATTENTION = ("auto", "sdpa", "eager", "flash_attention_2")
TOP_KEYS: dict[str, tuple[Any, Any]] = {
    "model": (str, None),
    "method": (str, (lambda v: v in METHODS, "one of " + ", ".join(METHODS))),
    "output": (
        str,
        (
            lambda v: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) is not None,
            "a model name (letters, digits, '.', '_', '-')",
        ),
    ),
    "rank": (int, _POSITIVE),
    "alpha": (int, _POSITIVE),
    "dropout": ((int, float), (lambda v: 0 <= v < 1, ">= 0 and < 1")),
    "target_modules": (list, (lambda v: bool(v) and all(isinstance(x, str) for x in v), "a non-empty list of strings")),
    "batch_size": (int, _POSITIVE),
    "grad_accum": (int, _POSITIVE),
    "epochs": (int, _POSITIVE),
    "learning_rate": ((int, float), (lambda v: 0 < v <= 1, "> 0 and <= 1")),
    "lr_scheduler": (str, (lambda v: v in SCHEDULERS, "one of " + ", ".join(SCHEDULERS))),
    "warmup_ratio": ((int, float), (lambda v: 0 <= v < 1, ">= 0 and < 1")),
    "weight_decay": ((int, float), (lambda v: v >= 0, ">= 0")),
    "max_length": (int, (lambda v: v >= 16, ">= 16")),
    "seed": (int, (lambda v: SEED_RANGE[0] <= v <= SEED_RANGE[1], f"{SEED_RANGE[0]} to {SEED_RANGE[1]}")),
    "save_steps": (int, _POSITIVE),
    "save_total_limit": (int, _POSITIVE),
    "cpu_threads": (int, _POSITIVE),
    "validation": (list, (lambda v: bool(v) and all(isinstance(x, str) for x in v), "a non-empty list of paths")),
    "validation_size": (int, _POSITIVE),
    "output_dir": (str, None),
    "device": (str, (lambda v: v in DEVICES, "one of " + ", ".join(DEVICES))),
    "hardware": (str, None),
    "price": (str, None),
    "report_to": (
        list,
        (lambda v: all(x in TRACKERS for x in v), "a list of trackers (" + ", ".join(TRACKERS) + ")"),
    ),
    "run_name": (str, (lambda v: bool(v.strip()), "a non-empty name")),
    "tracking_dir": (str, None),
    "tracking_uri": (str, None),
    "bf16": (bool, None),
    "gradient_checkpointing": (bool, None),
    "attn_implementation": (str, (lambda v: v in ATTENTION, "one of " + ", ".join(ATTENTION))),
    "padding_free": ((bool, str), (lambda v: v in (True, False, "auto"), AUTO)),
    "liger_kernel": ((bool, str), (lambda v: v in (True, False, "auto"), AUTO)),
    "merge": (bool, None),
    "description": (str, None),
    "contamination_suites": (list, (lambda v: all(isinstance(x, str) for x in v), "a list of paths")),
    "phases": (list, (lambda v: bool(v), "at least one [[phases]] table")),
}
REQUIRED = ("model", "method", "output", "phases", "validation")
PHASE_KEYS: dict[str, tuple[Any, Any]] = {
    "name": (str, (lambda v: re.fullmatch(r"[A-Za-z0-9_-]+", v) is not None, "letters, digits, '_' or '-'")),
    "kind": (str, (lambda v: v in PHASE_KINDS, "one of " + ", ".join(PHASE_KINDS))),
    "data": (list, (lambda v: bool(v) and all(isinstance(x, str) for x in v), "a non-empty list of paths")),
    "size": (int, _POSITIVE),
    "mix": (dict, None),
    "epochs": (int, _POSITIVE),
}
PHASE_REQUIRED = ("name", "kind", "data", "size", "mix")
