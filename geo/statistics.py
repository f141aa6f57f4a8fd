"""Has the rate changed? An exact test of two periods' counts, and Holm's adjustment.

Counts of incidents in two periods (a month and the one before, or the same month a year
earlier) are modelled as Poisson with rates per day. Under "no change", the later count
given the total is binomial with probability ``later_days / (earlier_days + later_days)``:
:func:`compare_counts` runs that exact conditional test (two-sided) and gives the rate
ratio later/earlier with its exact (Clopper-Pearson) 95 % interval. When many groups are
tested at once, :func:`holm` adjusts their p-values so that the chance of any false
"significant change" stays below the level (Holm 1979, step-down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import binomtest

from geo.checks import check_number, check_whole

__all__ = ["ALPHA", "Change", "compare_counts", "holm"]

#: Significance level of the verdicts (two-sided).
ALPHA = 0.05


@dataclass(frozen=True)
class Change:
    """Exact conditional test of two Poisson counts over exposures (days).

    Attributes
    ----------
    earlier, later
        The two counts.
    earlier_days, later_days
        Their exposures (days each period covers).
    p_value
        Two-sided p-value of "the rate did not change" (1 when both counts are 0).
    ratio
        Rate ratio later/earlier: ``inf`` when only the later count is positive, NaN when
        both are 0.
    ci_low, ci_high
        Its exact 95 % confidence interval (``0``..``inf`` when both counts are 0).
    """

    earlier: int
    later: int
    earlier_days: float
    later_days: float
    p_value: float
    ratio: float
    ci_low: float
    ci_high: float

    def verdict(self, alpha: float = ALPHA, p_value: float | None = None) -> str:
        """``increase``, ``decrease`` or ``no significant change`` at level ``alpha``.

        ``p_value`` replaces :attr:`p_value`, e.g. by its :func:`holm` adjustment.
        """
        p = self.p_value if p_value is None else p_value
        if not p <= alpha:
            return "no significant change"
        return "increase" if self.ratio > 1 else "decrease"


def compare_counts(
    earlier: int, later: int, earlier_days: float = 1.0, later_days: float = 1.0
) -> Change:
    """Test whether the rate changed between two counts over their exposures.

    Parameters
    ----------
    earlier, later
        Counts of the earlier and the later period (whole numbers >= 0).
    earlier_days, later_days
        Exposures of the two periods, e.g. days (> 0).

    Returns
    -------
    Change

    Raises
    ------
    GeoError
        For a negative or fractional count or an exposure that is not a positive number.

    Examples
    --------
    2 incidents, then 8 in as many days: P(X >= 8 or X <= 2) for X ~ Bin(10, 1/2).

    >>> change = compare_counts(2, 8)
    >>> round(change.p_value, 6), change.ratio, change.verdict()
    (0.109375, 4.0, 'no significant change')
    """
    earlier = check_whole(earlier, "earlier", minimum=0)
    later = check_whole(later, "later", minimum=0)
    earlier_days = check_number(earlier_days, "earlier_days", low=0.0, low_open=True)
    later_days = check_number(later_days, "later_days", low=0.0, low_open=True)
    total = earlier + later
    if total == 0:
        return Change(earlier, later, earlier_days, later_days, 1.0, math.nan, 0.0, math.inf)
    share = later_days / (earlier_days + later_days)
    result = binomtest(later, total, share, alternative="two-sided")
    low, high = result.proportion_ci(confidence_level=0.95, method="exact")
    exposure = earlier_days / later_days

    def ratio(pi: float) -> float:
        # pi is the later period's share of the total; its odds times the exposure ratio
        # is the rate ratio.
        return math.inf if pi >= 1 else pi / (1 - pi) * exposure

    rate_ratio = (later / later_days) / (earlier / earlier_days) if earlier else math.inf
    return Change(
        earlier,
        later,
        earlier_days,
        later_days,
        float(result.pvalue),
        rate_ratio,
        ratio(low),
        ratio(high),
    )


def holm(p_values: ArrayLike) -> list[float]:
    """Return Holm's step-down adjustment of p-values tested together.

    With the ``m`` finite p-values sorted ascending, the ``i``-th (from 0) becomes
    ``max_{j <= i} min(1, (m - j) p_(j))``; a test is significant at level ``alpha`` when its
    adjusted p-value is ``<= alpha``. NaN stays NaN and does not count towards ``m``.

    Parameters
    ----------
    p_values
        The p-values, in any order.

    Returns
    -------
    list of float
        Adjusted p-values in the order given.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.5])
    [0.03, 0.08, 0.5]
    """
    p = np.asarray(p_values, dtype=float)
    finite = np.flatnonzero(np.isfinite(p))
    out = p.copy()
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return [float(value) for value in out]
