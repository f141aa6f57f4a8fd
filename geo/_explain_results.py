"""The parts of a cell explanation, their notes and their JSON form (see geo.explain).

Internal to :mod:`geo.explain`, which re-exports the public names; import them from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from geo._explain_settings import check_days
from geo.cells import hex_from_cells
from geo.checks import check_whole
from geo.errors import GeoError
from geo.hotspots import CONFIDENCE_LEVELS

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_PER_WEEK = 168


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


_LOG_MULTIPLIER = "Log of the score's multiplier from "

#: ``model -> column -> note``: one line per explanation column of
#: :func:`geo.scoring.score_cells`. A column missing here gets :data:`_NO_NOTE`.
COMPONENT_NOTES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "naive": _frozen(
            {"long_run": "Weighted count of the cell's incidents over all history."},
        ),
        "weighted_count": _frozen(
            {
                "weighted_count": "Weighted count in the lookback window, each incident "
                "discounted by its age (halved every half-life).",
            }
        ),
        "ring_smoothed": _frozen(
            {
                "own": "The cell's own weighted count times the kernel's ring-0 weight.",
                "neighbours": "Counts lent by study cells within the kernel's rings, times "
                "their ring weights.",
            }
        ),
        "sepp": _frozen(
            {
                "background": "Expected incidents over the horizon from the cell's steady "
                "background rate.",
                "triggered": "Expected incidents over the horizon triggered by the cell's "
                "recent incidents (near-repeats).",
            }
        ),
        "default": _frozen(
            {
                "intercept": "Log of the blend's base rate; the same for every cell.",
                "long_run": _LOG_MULTIPLIER + "the cell's count over all history.",
                "recent_year": _LOG_MULTIPLIER + "the cell's count over the last year.",
                "recent": _LOG_MULTIPLIER + "the cell's count over the last quarter.",
                "neighbours": _LOG_MULTIPLIER + "the neighbours' mean count over all history.",
                "neighbours_recent": _LOG_MULTIPLIER
                + "the neighbours' mean count over the last year.",
                "pooled": _LOG_MULTIPLIER + "the cell's count over every category (used only "
                "when a category group is scored).",
            }
        ),
    }
)
_NO_NOTE = "An explanation column of the model (no note recorded)."


@dataclass(frozen=True)
class TrendSummary:
    """Mann-Kendall test of one cell's counts per step.

    Attributes
    ----------
    s, z, p
        Kendall's S, its normal score and the two-sided p-value.
    direction
        ``"up"`` or ``"down"`` when ``p <= alpha`` (by the sign of ``z``), else ``"none"``.
    alpha
        The significance level used.
    bin_days
        Step length in days.
    bin_starts_s
        Start of each step, UTC seconds; the last step ends at ``as_of_s``.
    counts
        Selected incidents in the cell per step, oldest first.
    """

    s: int
    z: float
    p: float
    direction: str
    alpha: float
    bin_days: float
    bin_starts_s: tuple[int, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class GiStarSummary:
    """The cell's row of the area-wide Gi* hot spot table.

    Attributes
    ----------
    count
        Selected incidents in the cell in the window.
    z, p
        Gi* z-score and two-sided p-value.
    gi_bin
        -3..3 as :func:`geo.hotspots.classify_hotspots` (FDR on).
    label
        ``gi_bin`` in words (:func:`gi_bin_label`), e.g. ``"hot spot, 99 % confidence"``.
    window_days
        The counts are those of this many days before ``as_of_s``.
    k
        Rings of the neighbourhood.
    """

    count: int
    z: float
    p: float
    gi_bin: int
    label: str
    window_days: float
    k: int


@dataclass(frozen=True)
class ModelSummary:
    """The cell's score, rank and model components.

    Attributes
    ----------
    name
        Model name, a key of :data:`geo.scoring.MODELS`.
    score
        The cell's score (higher is hotter).
    rank
        1 for the hottest study cell; tied cells share the best rank among them (a caller
        that ranked the cells itself, see :func:`model_summary`, may break ties otherwise).
    n_cells
        Number of study cells ranked.
    percentile
        Percentage of the other study cells that score strictly lower (100: hotter than all
        others; 100 for a lone cell); ``None`` when the caller that ranked the cells did
        not work it out.
    components
        ``column -> value``: the cell's explanation columns of
        :func:`geo.scoring.score_cells`, in its order.
    notes
        ``column -> note`` from :data:`COMPONENT_NOTES`.
    """

    name: str
    score: float
    rank: int
    n_cells: int
    percentile: float | None
    components: Mapping[str, float]
    notes: Mapping[str, str]


@dataclass(frozen=True)
class HotWindow:
    """A run of consecutive hours of the week when the cell's relative risk is high.

    Attributes
    ----------
    weekday
        Local weekday of the first hour, Monday = 0.
    start_hour
        Local hour of the first hour, 0..23.
    hours
        Length; a window may run past midnight.
    mean_risk, peak_risk
        Mean and highest relative risk over the window (1.0 = the cell's average hour).
    """

    weekday: int
    start_hour: int
    hours: int
    mean_risk: float
    peak_risk: float

    @property
    def label(self) -> str:
        """E.g. ``"Fri 22:00 - Sat 02:00"`` (local time; the end is exclusive)."""
        start = self.weekday * 24 + self.start_hour
        end = (start + self.hours) % _HOURS_PER_WEEK
        return (
            f"{_WEEKDAYS[self.weekday]} {self.start_hour:02d}:00 - "
            f"{_WEEKDAYS[end // 24]} {end % 24:02d}:00"
        )


@dataclass(frozen=True)
class HotHours:
    """The cell's hot windows of the week.

    Attributes
    ----------
    timezone
        IANA timezone of the local weekdays and hours.
    threshold
        Relative risk a window's hours exceed.
    lookback_days
        Days of incidents behind the profile.
    windows
        At most ``max_hot_windows`` windows, highest peak risk first.
    """

    timezone: str
    threshold: float
    lookback_days: float
    windows: tuple[HotWindow, ...]


@dataclass(frozen=True)
class HourCounts:
    """The cell's incidents per local hour of the day.

    Attributes
    ----------
    timezone
        IANA timezone of the local hours.
    window_days
        The counts are those of this many days before ``as_of_s``.
    counts
        24 counts, the hour from 00:00 first.
    """

    timezone: str
    window_days: float
    counts: tuple[int, ...]


# A DataFrame field makes the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class CellExplanation:
    """Everything :func:`explain_cell` knows about one cell (see :mod:`geo.explain`).

    Attributes
    ----------
    cell
        The H3 cell (int64).
    as_of_s
        Only incidents before this UTC second count.
    counts
        Selected incidents per category (rows: the codes present in the cell, most
        incidents first, then ``"ALL"``) and window (columns: one per ``windows_days``, e.g.
        ``"7d"``, then ``"all"``); int64.
    trend
        Trend of the cell's recent counts.
    gi_star
        Gi* hot spot class over the study area; ``None`` when not computed.
    emerging
        Emerging hot spot class (:data:`geo.emerging.EMERGING_CATEGORIES`); ``None`` when
        not computed.
    model
        Score, rank and components; ``None`` when not computed (a cell outside the study
        area has none).
    hot_hours
        Hot windows of the week, local time; ``None`` when not computed.
    hour_counts
        Selected incidents per local hour of the day.

    :func:`explain_cell` computes every part; :func:`explain_cell_incidents` only those a
    cell's own incidents give (counts, trend, hour counts) and takes the others as given.
    """

    cell: np.int64
    as_of_s: int
    counts: pd.DataFrame
    trend: TrendSummary
    gi_star: GiStarSummary | None
    emerging: str | None
    model: ModelSummary | None
    hot_hours: HotHours | None
    hour_counts: HourCounts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types: the cell as an H3 hex string, counts as nested dicts.

        Non-finite floats become ``None`` so that the result is strict JSON.

        Returns
        -------
        dict
            Keys ``cell``, ``as_of_s``, ``counts`` (``category -> window -> count``),
            ``trend``, ``gi_star``, ``emerging``, ``model`` (its ``components`` as
            ``column -> {"value", "note"}``), ``hot_hours`` (each window with a ``label``)
            and ``hour_counts``; a part not computed is ``None``.
        """
        counts = {
            str(row): {str(col): int(v) for col, v in values.items()}
            for row, values in self.counts.to_dict(orient="index").items()
        }
        trend = self.trend
        hours = self.hour_counts
        return {
            "cell": hex_from_cells(np.array([self.cell], dtype=np.int64))[0],
            "as_of_s": int(self.as_of_s),
            "counts": counts,
            "trend": {
                "s": int(trend.s),
                "z": _json_float(trend.z),
                "p": _json_float(trend.p),
                "direction": trend.direction,
                "alpha": _json_float(trend.alpha),
                "bin_days": _json_float(trend.bin_days),
                "bin_starts_s": [int(t) for t in trend.bin_starts_s],
                "counts": [int(c) for c in trend.counts],
            },
            "gi_star": None if self.gi_star is None else _gi_star_dict(self.gi_star),
            "emerging": self.emerging,
            "model": None if self.model is None else _model_dict(self.model),
            "hot_hours": None if self.hot_hours is None else _hot_hours_dict(self.hot_hours),
            "hour_counts": {
                "timezone": hours.timezone,
                "window_days": _json_float(hours.window_days),
                "counts": [int(c) for c in hours.counts],
            },
        }


def _gi_star_dict(gi: GiStarSummary) -> dict[str, Any]:
    return {
        "count": int(gi.count),
        "z": _json_float(gi.z),
        "p": _json_float(gi.p),
        "gi_bin": int(gi.gi_bin),
        "label": gi.label,
        "window_days": _json_float(gi.window_days),
        "k": int(gi.k),
    }


def _model_dict(model: ModelSummary) -> dict[str, Any]:
    return {
        "name": model.name,
        "score": _json_float(model.score),
        "rank": int(model.rank),
        "n_cells": int(model.n_cells),
        "percentile": None if model.percentile is None else _json_float(model.percentile),
        "components": {
            name: {"value": _json_float(value), "note": model.notes[name]}
            for name, value in model.components.items()
        },
    }


def _hot_hours_dict(hours: HotHours) -> dict[str, Any]:
    return {
        "timezone": hours.timezone,
        "threshold": _json_float(hours.threshold),
        "lookback_days": _json_float(hours.lookback_days),
        "windows": [
            {
                "weekday": int(w.weekday),
                "start_hour": int(w.start_hour),
                "hours": int(w.hours),
                "mean_risk": _json_float(w.mean_risk),
                "peak_risk": _json_float(w.peak_risk),
                "label": w.label,
            }
            for w in hours.windows
        ],
    }


def _json_float(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def gi_bin_label(gi_bin: int) -> str:
    """Words for a Gi* bin, e.g. ``3`` -> ``"hot spot, 99 % confidence"``.

    ``0`` reads ``"not significant"``; negative bins are cold spots.

    Raises
    ------
    GeoError
        For a bin outside -3..3.
    """
    if isinstance(gi_bin, bool) or not isinstance(gi_bin, int | np.integer) or abs(gi_bin) > 3:
        raise GeoError(f"gi_bin must be a whole number in -3..3, got {gi_bin!r}")
    if gi_bin == 0:
        return "not significant"
    alpha = dict(CONFIDENCE_LEVELS)[abs(int(gi_bin))]
    side = "hot" if gi_bin > 0 else "cold"
    return f"{side} spot, {100 * (1 - alpha):g} % confidence"


def model_summary(
    name: str,
    score: float,
    rank: int,
    n_cells: int,
    components: Mapping[str, float],
    percentile: float | None = None,
) -> ModelSummary:
    """A :class:`ModelSummary` with each component's note from :data:`COMPONENT_NOTES`.

    For a caller that scored and ranked the study cells itself (a map that already has
    every cell's score) and gives :func:`explain_cell_incidents` the cell's part of it.

    Parameters
    ----------
    name
        Model name, a key of :data:`COMPONENT_NOTES` for the notes (others get a generic
        note).
    score, rank, n_cells, percentile
        As in :class:`ModelSummary`; ``percentile`` may be ``None``.
    components
        ``column -> value`` of the model's explanation columns, in order.

    Returns
    -------
    ModelSummary

    Raises
    ------
    GeoError
        For a rank outside ``1..n_cells``.
    """
    n = check_whole(n_cells, "n_cells", minimum=1)
    if check_whole(rank, "rank", minimum=1) > n:
        raise GeoError(f"rank must be in 1..n_cells ({n}), got {rank!r}")
    notes = COMPONENT_NOTES.get(name, {})
    values = {str(c): float(v) for c, v in components.items()}
    return ModelSummary(
        name=str(name),
        score=float(score),
        rank=int(rank),
        n_cells=n,
        percentile=None if percentile is None else float(percentile),
        components=MappingProxyType(values),
        notes=MappingProxyType({c: notes.get(c, _NO_NOTE) for c in values}),
    )


def gi_star_summary(
    count: int, z: float, p: float, gi_bin: int, window_days: float, k: int
) -> GiStarSummary:
    """A :class:`GiStarSummary` (its label from :func:`gi_bin_label`) for a cell's row of a
    Gi* table computed elsewhere, e.g. by a map over its own dates.

    Parameters
    ----------
    count, z, p, gi_bin, window_days, k
        As in :class:`GiStarSummary`.

    Returns
    -------
    GiStarSummary

    Raises
    ------
    GeoError
        For a bin outside -3..3, a negative count or rings, or a window that is not a
        positive number of days.
    """
    return GiStarSummary(
        count=check_whole(count, "count", minimum=0),
        z=float(z),
        p=float(p),
        gi_bin=int(gi_bin),
        label=gi_bin_label(gi_bin),
        window_days=check_days(window_days, "window_days"),
        k=check_whole(k, "k", minimum=0),
    )
