"""Power of the exact McNemar test, checked against a brute-force enumeration of every paired outcome."""

import math

import pytest

from tunebench.power import detectable_drop, mcnemar_power, plan, questions_needed, t_detectable_drop
from tunebench.stats import mcnemar_exact


def _two_sided_p_table(n: int) -> list[list[float]]:
    """p[m][b]: exact two-sided McNemar p of b right->wrong among m discordant, by its definition."""
    table = []
    for m in range(n + 1):
        pmf = [math.comb(m, k) / 2**m for k in range(m + 1)]
        lower = [sum(pmf[: k + 1]) for k in range(m + 1)]
        table.append([min(1.0, 2 * lower[min(b, m - b)]) for b in range(m + 1)])
    return table


def brute_force_power(n: int, drop: float, discordance: float, alpha: float = 0.05) -> float:
    """Sum P(b, c) over every (b right->wrong, c wrong->right) the test rejects as a drop (b > c, p < alpha)."""
    d = max(discordance, drop)
    p_b, p_c, p_same = (d + drop) / 2, (d - drop) / 2, 1 - d
    table = _two_sided_p_table(n)
    total = 0.0
    for b in range(n + 1):
        for c in range(min(b, n - b + 1)):
            if table[b + c][b] >= alpha:
                continue
            log_p = math.lgamma(n + 1) - math.lgamma(b + 1) - math.lgamma(c + 1) - math.lgamma(n - b - c + 1)
            for count, rate in ((b, p_b), (c, p_c), (n - b - c, p_same)):
                if count:
                    log_p += count * math.log(rate) if rate > 0 else -math.inf
            total += math.exp(log_p)
    return total


def test_the_p_table_is_the_gates_exact_mcnemar_test():
    table = _two_sided_p_table(40)
    assert all(table[m][b] == pytest.approx(mcnemar_exact(b, m - b), abs=1e-12) for m in range(41) for b in range(m))


@pytest.mark.parametrize(("n", "drop", "discordance"), [(100, 0.05, 0.1), (100, 0.08, 0.0), (60, 0.1, 0.3)])
def test_power_equals_the_brute_force_enumeration(n, drop, discordance):
    assert mcnemar_power(n, drop, discordance) == pytest.approx(brute_force_power(n, drop, discordance), abs=1e-9)


def test_five_right_to_wrong_of_five_can_never_fail_at_alpha_005():
    # The figure: b=5, c=0 gives p = 0.0625, so on 100 questions a 5-point drop without churn is
    # detected only when at least 6 flips happen.
    assert mcnemar_exact(5, 0) == 0.0625
    assert mcnemar_power(5, 1.0, 0.0) == 0.0 and mcnemar_power(6, 1.0, 0.0) == pytest.approx(1.0)


def test_detectable_drop_at_100_questions_is_where_the_brute_force_power_crosses_80_percent():
    drop = detectable_drop(100, 0.1)
    assert brute_force_power(100, drop, 0.1) >= 0.8 > brute_force_power(100, drop - 0.001, 0.1)
    assert 0.08 < drop < 0.1  # a 5-point drop is far out of reach with 100 questions


def test_questions_needed_reach_the_power_and_one_question_fewer_does_not():
    needed = questions_needed(0.05, 0.1)
    assert brute_force_power(needed, 0.05, 0.1) >= 0.8 > brute_force_power(needed - 1, 0.05, 0.1)


def test_plan_describes_questions_needed_and_the_detectable_drop():
    result = plan(0.05, 0.1, questions=100)
    text = result.describe()
    assert f"to detect a drop of 5.0 points: {result.needed} questions" in text
    assert f"with 100 questions: the smallest detectable drop is {100 * result.detectable:.1f} points" in text
    assert result.power_at_questions == pytest.approx(brute_force_power(100, 0.05, 0.1), abs=1e-9)


def test_paired_t_detectable_drop_matches_the_noncentral_t_power():
    from scipy import stats

    drop = t_detectable_drop(100, 0.1)
    critical = stats.t.isf(0.05, 99)
    assert stats.nct.sf(critical, 99, drop * 10 / 0.1) >= 0.8 > stats.nct.sf(critical, 99, (drop - 1e-5) * 10 / 0.1)
    assert t_detectable_drop(100, 0.0) is None
