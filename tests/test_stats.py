"""Wilson intervals, exact McNemar and percentiles, checked against scipy and numpy."""

import numpy as np
import pytest
from scipy.stats import binomtest

from tunebench.stats import mcnemar_exact, percentile, percentiles, proportion, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (42, 100), (99, 100), (100, 100), (3, 7), (500, 1000)])
def test_wilson_interval_matches_scipy(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n, z=1.959963984540054)
    assert low == pytest.approx(expected.low, abs=1e-9)
    assert high == pytest.approx(expected.high, abs=1e-9)


def test_wilson_interval_contains_the_estimate_and_stays_in_unit_range():
    for n in (1, 5, 30):
        for k in range(n + 1):
            low, high = wilson_interval(k, n)
            assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_interval_of_no_trials_is_the_whole_range_and_bad_counts_are_refused():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="k=5, n=3"):
        wilson_interval(5, 3)


@pytest.mark.parametrize(("b", "c"), [(0, 0), (0, 1), (1, 0), (5, 5), (10, 2), (2, 10), (0, 12), (40, 25), (300, 250)])
def test_mcnemar_exact_matches_scipy_binomial_test(b, c):
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_is_symmetric_and_significant_only_with_enough_discordant_pairs():
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)
    assert mcnemar_exact(5, 0) > 0.05  # five one-sided flips are not enough at alpha 0.05
    assert mcnemar_exact(6, 0) < 0.05


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear_interpolation(q):
    values = [3.2, 0.5, 9.9, 1.1, 4.4, 4.4, 7.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None
    assert percentiles([]) == {"n": 0, "p50": None, "p90": None, "p99": None, "mean": None, "max": None}


def test_percentiles_are_the_rounded_summary_records_carry():
    values = [0.1234567, 0.3, 0.2, 0.9]
    assert percentiles(values) == {
        "n": 4,
        "p50": 0.25,
        "p90": round(float(np.percentile(values, 90)), 6),
        "p99": round(float(np.percentile(values, 99)), 6),
        "mean": round(sum(values) / 4, 6),
        "max": 0.9,
    }


def test_proportion_carries_counts_value_and_interval():
    result = proportion(42, 100)
    assert result["k"] == 42 and result["n"] == 100 and result["value"] == 0.42
    assert result["low"] < 0.42 < result["high"]
    assert proportion(0, 0)["value"] is None
