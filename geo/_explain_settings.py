"""Settings of a cell explanation: count windows, neighbourhoods, thresholds (see geo.explain).

Internal to :mod:`geo.explain`, which re-exports the public names; import them from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from geo.checks import DAY_S, check_number, check_whole
from geo.errors import GeoError

#: Row of the counts table that sums every category.
ALL_CATEGORIES = "ALL"
#: Column of the counts table that counts everything before ``as_of_s``.
ALL_TIME = "all"
#: Row label for incidents without a category.
MISSING_CATEGORY = "(missing)"
#: Count windows of every explanation, in days: a week, four weeks, a quarter (13 whole weeks,
#: so each weekday counts as often as the others) and a year.
DEFAULT_WINDOWS_DAYS: tuple[float, ...] = (7, 28, 91, 365)


@dataclass(frozen=True)
class ExplainSettings:
    """Windows, neighbourhoods and thresholds of an explanation (see :mod:`geo.explain`).

    Attributes
    ----------
    windows_days
        Count windows in days, :data:`DEFAULT_WINDOWS_DAYS` unless given; each becomes a
        column such as ``"7d"``, followed by ``"all"``.
    k
        Rings of the neighbourhood for Gi*, the emerging class and the hot-hour profile.
    trend_bin_days, trend_bins
        Step length and number of steps of the trend (and of the emerging class).
    alpha
        Significance level of the trend and of the emerging class.
    gi_window_days
        Gi* counts the incidents of this many days before ``as_of_s``.
    hot_threshold
        A hot window's hours have relative risk above this (1.0 is the cell's average hour).
    hot_lookback_days
        Days of incidents behind the hour profile.
    max_hot_windows
        Keep at most this many hot windows, those of highest peak risk.
    include_emerging
        Compute the emerging hot spot class.
    hour_window_days
        The hour counts count the incidents of this many days before ``as_of_s`` (91, the
        quarter of :data:`DEFAULT_WINDOWS_DAYS`: recent enough to guide a patrol, long
        enough for every hour to have a chance).
    """

    windows_days: tuple[float, ...] = DEFAULT_WINDOWS_DAYS
    k: int = 1
    trend_bin_days: float = 7
    trend_bins: int = 26
    alpha: float = 0.05
    gi_window_days: float = 365.0
    hot_threshold: float = 1.5
    hot_lookback_days: float = 365.0
    max_hot_windows: int = 5
    include_emerging: bool = True
    hour_window_days: float = 91.0

    def __post_init__(self) -> None:
        if isinstance(self.windows_days, str) or not isinstance(self.windows_days, Iterable):
            raise GeoError(f"windows_days must be a sequence of days, got {self.windows_days!r}")
        windows = tuple(check_days(w, "windows_days entries") for w in self.windows_days)
        labels = [window_label(w) for w in windows]
        if len(set(labels)) != len(labels):
            raise GeoError(f"windows_days must be distinct, got {self.windows_days!r}")
        object.__setattr__(self, "windows_days", windows)
        check_whole(self.k, "k", minimum=0)
        check_days(self.trend_bin_days, "trend_bin_days")
        if round(self.trend_bin_days * DAY_S) < 1:
            raise GeoError(f"trend_bin_days must be at least a second, got {self.trend_bin_days}")
        check_whole(self.trend_bins, "trend_bins", minimum=2)
        check_number(self.alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
        check_days(self.gi_window_days, "gi_window_days")
        check_number(self.hot_threshold, "hot_threshold", low=0.0)
        check_days(self.hot_lookback_days, "hot_lookback_days")
        check_whole(self.max_hot_windows, "max_hot_windows", minimum=0)
        if not isinstance(self.include_emerging, bool):
            raise GeoError(f"include_emerging must be True or False, got {self.include_emerging!r}")
        check_days(self.hour_window_days, "hour_window_days")

    @property
    def window_labels(self) -> tuple[str, ...]:
        """Column names of the counts table, ``"all"`` last."""
        return (*(window_label(w) for w in self.windows_days), ALL_TIME)


def check_settings(settings: Any) -> ExplainSettings:
    """``settings``, or the defaults for ``None``; GeoError for anything else."""
    if settings is None:
        return ExplainSettings()
    if not isinstance(settings, ExplainSettings):
        raise GeoError(f"settings must be an ExplainSettings, got {type(settings).__name__}")
    return settings


def check_days(value: Any, name: str) -> float:
    """``value`` as a float, or GeoError unless a finite number of days > 0."""
    return check_number(value, name, low=0.0, low_open=True)


def window_label(days: float) -> str:
    """Column name of a count window, e.g. ``7`` -> ``"7d"``, ``0.5`` -> ``"0.5d"``."""
    return f"{days:g}d"
