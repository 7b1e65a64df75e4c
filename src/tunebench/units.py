"""Byte counts for people: one unit convention (decimal kB, MB, GB, as the seed log and bucket listings use)."""

from __future__ import annotations

__all__ = ["format_bytes"]


def format_bytes(value: float) -> str:
    """Return `value` bytes as a short human figure: '812 MB', '29.5 GB'."""
    if value >= 1e9:
        return f"{value / 1e9:.1f} GB"
    if value >= 1e6:
        return f"{value / 1e6:.0f} MB"
    return f"{value / 1e3:.0f} kB"
