"""tunebench.units: one byte convention (decimal units) for every figure a person reads."""

from __future__ import annotations

import pytest

from tunebench.units import format_bytes


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (0, None, "0 B"),
        (512, None, "512 B"),
        (4_096, None, "4 kB"),
        (812_300_000, None, "812 MB"),
        (29_540_000_000, None, "29.5 GB"),
        (1 << 20, None, "1 MB"),  # a MiB is 1.05 MB: never printed as "MiB"
        (27_520_000_000, 2, "27.52 GB"),  # the seed log's size of the 14B base
        (96_000_000, 2, "96.00 MB"),
        (512, 2, "512 B"),
    ],
)
def test_bytes_are_shown_in_decimal_units(value, decimals, shown):
    assert format_bytes(value, decimals) == shown
