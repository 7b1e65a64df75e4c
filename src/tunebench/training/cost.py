"""Training cost: wall hours times the hourly price of the hardware, from `[tool.tunebench.prices]`."""

from __future__ import annotations

from typing import Any

__all__ = ["LIST_PRICES", "hardware_key", "training_cost", "missing_price"]

# USD per GPU-hour of a one-GPU cloud machine (GPU with its share of CPU and memory), on demand and spot, the
# providers' public list prices for us-central1 / us-east-1 as last read by the authors (2025-06; this table was
# written in a session without web access, so the figures were not re-read: check your provider's page and set
# your own under [tool.tunebench.prices]). Sources: Google Cloud "GPU pricing" (A3 H100, A3 Ultra H200,
# A2 A100 40GB, G2 L4: VM list prices per GPU), AWS EC2 on-demand and spot pages (g6e.xlarge, one L40S;
# Google Cloud sells no L40S). h100 and h100-spot are the seed's own figures (its H100 sessions' cost).
LIST_PRICES: dict[str, float] = {
    "h100": 9.80,
    "h100-spot": 2.50,
    "h200": 10.60,
    "h200-spot": 3.70,
    "a100": 3.67,
    "a100-spot": 1.15,
    "l40s": 1.86,
    "l40s-spot": 0.75,
    "l4": 0.71,
    "l4-spot": 0.28,
    "cpu": 0.0,
}

# GPU name fragments mapped to price-table keys; the first match wins (so "H100" before "H10").
_GPU_KEYS = (
    ("h200", "h200"),
    ("h100", "h100"),
    ("a100", "a100"),
    ("l40", "l40s"),
    ("l4", "l4"),
    ("a10", "a10g"),
    ("t4", "t4"),
    ("v100", "v100"),
)


def hardware_key(hardware: dict[str, Any], prices: dict[str, float], requested: str | None = None) -> str:
    """Return the price-table key: the recipe's `price`, else the GPU's (its `-spot` entry when the table has one)."""
    if requested:
        return requested
    name = (hardware.get("gpu_name") or "").lower()
    if not name:
        return "cpu"
    for fragment, key in _GPU_KEYS:
        if fragment in name:
            # A spot price, when the table has one, is what preemptible training runs pay (they resume after a
            # SIGTERM); a recipe's `price = "h100"` asks for the on-demand one.
            return f"{key}-spot" if f"{key}-spot" in prices else key
    return name.replace(" ", "-")


def training_cost(wall_seconds: float, key: str, prices: dict[str, float], units: int = 1) -> dict[str, Any]:
    """Return {hardware, usd_per_hour, units, wall_hours, usd}: wall hours x price x units (GPUs).

    `usd` is None when the price table has no entry for `key` (`missing_price(key)` says which key to add).
    """
    hours = wall_seconds / 3600.0
    price = prices.get(key)
    units = max(units, 1)
    return {
        "hardware": key,
        "usd_per_hour": price,
        "units": units,
        "wall_hours": round(hours, 6),
        "usd": round(hours * price * units, 6) if price is not None else None,
    }


def missing_price(key: str) -> str:
    """Return the line shown when the price table has no entry for `key`: which key to add, and where."""
    return (
        f"no price for {key!r}, so no cost: add `{key} = USD_PER_HOUR` (and `{key}-spot = ...` for spot) "
        "under [tool.tunebench.prices] in pyproject.toml (or [prices] in tunebench.toml)"
    )
