"""Byte counts for people, in one convention everywhere: decimal units (B, kB, MB, GB).

The seed log, bucket listings and disk vendors use them; binary MiB appear only as constants in code.
"""

from __future__ import annotations

__all__ = ["format_bytes"]

_UNITS = ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def format_bytes(value: float, decimals: int | None = None) -> str:
    """Return `value` bytes as a short figure: '512 B', '812 MB', '29.5 GB'.

    `decimals=None` shows one decimal in GB and none below; a number shows that many in every unit from
    kB up ('27.52 GB', '96.00 MB', as bucket listings print sizes).
    """
    for scale, unit in _UNITS:
        if abs(value) >= scale:
            places = (1 if unit == "GB" else 0) if decimals is None else decimals
            return f"{value / scale:.{places}f} {unit}"
    return f"{value:.0f} B"
