"""Tests for geo/statistics.py: the exact test of two periods' counts and Holm's adjustment.

Expected p-values are summed by hand from binomial probabilities (``math.comb``), the
intervals come from the Clopper-Pearson beta quantiles, and the Holm values are worked out by
hand (they are what statsmodels' ``multipletests(method="holm")`` gives).
"""

from __future__ import annotations

import math

import pytest
from scipy.stats import beta

from geo.errors import GeoError
from geo.statistics import ALPHA, Change, compare_counts, holm


def binomial_two_sided_p(k: int, n: int, p: float) -> float:
    """Sum of the probabilities of every outcome no more likely than ``k`` (by hand)."""
    probability = [math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)]
    return sum(q for q in probability if q <= probability[k] * (1 + 1e-7))


def rate_ratio_interval(earlier: int, later: int, exposure: float) -> tuple[float, float]:
    """Clopper-Pearson 95 % interval of the later share, turned into a rate ratio."""
    n = earlier + later
    low = beta.ppf(0.025, later, n - later + 1) if later else 0.0
    high = beta.ppf(0.975, later + 1, n - later) if later < n else 1.0
    odds = [math.inf if pi >= 1 else pi / (1 - pi) * exposure for pi in (low, high)]
    return odds[0], odds[1]


# --- compare_counts ------------------------------------------------------------------------------


def test_two_then_eight_by_hand() -> None:
    change = compare_counts(2, 8)
    # P(X <= 2 or X >= 8) for X ~ Bin(10, 1/2) = 2 (1 + 10 + 45) / 1024.
    assert change.p_value == pytest.approx(112 / 1024, abs=1e-12)
    assert change.ratio == 4.0
    low, high = rate_ratio_interval(2, 8, 1.0)
    assert (change.ci_low, change.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert change.ci_low < 1 < change.ci_high
    assert change.verdict() == "no significant change"


def test_unequal_exposures_by_hand() -> None:
    # June (30 days) then July (31 days): under no change July's share of 15 is 31/61.
    change = compare_counts(3, 12, earlier_days=30.0, later_days=31.0)
    assert change.p_value == pytest.approx(binomial_two_sided_p(12, 15, 31 / 61), rel=1e-9)
    assert change.ratio == pytest.approx((12 / 31) / (3 / 30))
    low, high = rate_ratio_interval(3, 12, 30 / 31)
    assert (change.ci_low, change.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert change.p_value < ALPHA and change.verdict() == "increase"
    # Holm-adjusted, the same change may no longer count.
    assert change.verdict(p_value=0.2) == "no significant change"
    assert change.verdict(alpha=change.p_value / 2) == "no significant change"


def test_exposures_decide_what_no_change_means() -> None:
    assert compare_counts(31, 62, 31, 62).verdict() == "no significant change"
    assert compare_counts(31, 62, 31, 62).ratio == pytest.approx(1.0)
    assert compare_counts(31, 62).verdict() == "increase"


def test_equal_counts_and_strong_evidence() -> None:
    same = compare_counts(30, 30)
    assert same.p_value == pytest.approx(1.0) and same.ratio == 1.0
    assert same.verdict() == "no significant change"
    assert compare_counts(12, 18).verdict() == "no significant change"
    rise = compare_counts(10, 60)
    assert rise.p_value < 1e-6 and rise.verdict() == "increase" and rise.ci_low > 1
    fall = compare_counts(60, 10)
    assert fall.verdict() == "decrease" and fall.ci_high < 1


def test_zero_counts() -> None:
    nothing = compare_counts(0, 0, 7.0, 7.0)
    assert nothing == Change(0, 0, 7.0, 7.0, 1.0, nothing.ratio, 0.0, math.inf)
    assert math.isnan(nothing.ratio)
    assert nothing.verdict() == "no significant change"
    new = compare_counts(0, 5)
    # All five in the later period: 2 x (1/2)^5.
    assert new.p_value == pytest.approx(0.0625)
    assert new.ratio == math.inf and new.ci_high == math.inf
    share = 0.025 ** (1 / 5)  # Clopper-Pearson lower bound for 5 of 5
    assert new.ci_low == pytest.approx(share / (1 - share), rel=1e-9)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((-1, 3), "earlier must be a non-negative whole number"),
        ((1, 2.5), "later must be a non-negative whole number"),
        ((1, 2, 0.0, 1.0), "earlier_days must be a finite number > 0"),
        ((1, 2, 1.0, math.inf), "later_days must be a finite number > 0"),
    ],
)
def test_compare_counts_rejects_bad_input(arguments: tuple, message: str) -> None:
    with pytest.raises(GeoError, match=message):
        compare_counts(*arguments)


# --- holm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p_values", "expected"),
    [
        ([0.01, 0.04, 0.5], [0.03, 0.08, 0.5]),
        ([0.01, 0.02, 0.03, 0.04, 0.05], [0.05, 0.08, 0.09, 0.09, 0.09]),
        # Out of order: sorted .005 (x4), .01 (x3), .03 (x2), .04 (x1, raised to .06).
        ([0.01, 0.04, 0.03, 0.005], [0.03, 0.06, 0.06, 0.02]),
        ([0.6, 0.7], [1.0, 1.0]),
        ([0.02, 0.02], [0.04, 0.04]),
        ([0.3], [0.3]),
        ([], []),
    ],
)
def test_holm_known_values(p_values: list[float], expected: list[float]) -> None:
    assert holm(p_values) == pytest.approx(expected, abs=1e-12)


def test_holm_leaves_nan_out_of_the_count() -> None:
    adjusted = holm([0.05, 0.01, math.nan, 0.04])
    assert math.isnan(adjusted[2])
    assert [adjusted[i] for i in (0, 1, 3)] == pytest.approx([0.08, 0.03, 0.08])
    assert all(isinstance(value, float) for value in adjusted)
