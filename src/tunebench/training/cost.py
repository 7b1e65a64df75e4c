"""Training cost: wall hours times the hourly price of the hardware, from `[tool.tunebench.prices]`."""

from __future__ import annotations

from typing import Any

__all__ = ["hardware_key", "training_cost", "missing_price"]


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
