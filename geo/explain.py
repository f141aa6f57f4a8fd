"""Why a cell is hot: counts, trend, Gi* class, model components and hot hours for one cell.

An explanation answers the questions a commander asks of one cell on the hot spot map: how
many incidents, of which categories, over which recent windows; is it getting worse; is it a
statistically significant hot spot; why does the model score it where it does; and at which
hours is it hot. :func:`explain_cell` answers them for one cell, :func:`explain_cells` for a
few at once, and :class:`ExplainContext` holds the area-wide work they share, so that after
one :meth:`ExplainContext.build` every :meth:`ExplainContext.explain` is a cheap lookup.
:func:`explain_cell_incidents` explains one cell from the incidents a caller has already
chosen (a map's filters, say), taking the area-wide parts the caller has already computed
(score and rank, Gi*, emerging class) as given: the hot spot map, the JSON API and grid
workers' cell cards explain cells this way, with the same counts, trend and hour counts.
:meth:`CellExplanation.to_dict` gives the JSON-ready form the CLI prints and the site returns.

Every explanation counts over the same windows unless told otherwise,
:data:`DEFAULT_WINDOWS_DAYS`: 7, 28, 91 and 365 days.

Inputs
------
Incidents, study cells, ``as_of_s``, ``category_weights`` and ``categories`` are those of
:func:`geo.scoring.score_cells`. Only incidents with ``occurred_at < as_of_s`` in study cells
count anywhere.

Which incidents each part uses
------------------------------
The model score gets the incidents exactly as :func:`geo.scoring.score_cells` does (weights
applied, and every category still available to the default blend's ``pooled`` feature). The
descriptive parts (counts, trend, Gi*, emerging class, hot hours) count the *selected*
incidents: those in ``categories`` (every category when ``None``) whose category weight is
not 0, each counted once, unweighted. A weight of 0 means "excluded" to the model (the
police-activity guardrail), so it means excluded here too; other weights only scale scores.

Parts of an explanation
-----------------------
Counts (:attr:`CellExplanation.counts`)
    Selected incidents in the cell per category and window. A window of ``w`` days holds the
    incidents with ``as_of - w days <= occurred_at < as_of`` (the model's own convention);
    ``all`` is everything before ``as_of``.
Hour counts (:class:`HourCounts`)
    Selected incidents in the cell per local hour of the day over the last
    ``hour_window_days``.
Trend (:class:`TrendSummary`)
    The Mann-Kendall test (:func:`geo.emerging.mann_kendall`) of the cell's counts in the
    last ``trend_bins`` steps of ``trend_bin_days``, aligned to end at ``as_of``
    (:func:`geo.emerging.space_time_cube`). ``up``/``down`` when ``p <= alpha``.
Gi* (:class:`GiStarSummary`)
    :func:`geo.hotspots.hotspot_table` (``k`` rings, FDR on) over the whole study area on the
    counts of the last ``gi_window_days`` (365 by default: a year covers every season, so
    the class is not a summer or winter artefact), computed once for the area so a cell's z
    is comparable with every other cell's.
Emerging class
    :func:`geo.emerging.emerging_hotspots` over the whole area on the trend's steps (``k``
    rings, one previous step in the space-time neighbourhood, ``alpha``). Cheap: the cube is
    cells x ``trend_bins``.
Model (:class:`ModelSummary`)
    :func:`geo.scoring.score_cells` over the study area, the cell's rank (1 = hottest) and
    its explanation columns, each with a note from :data:`COMPONENT_NOTES`.
Hot hours (:class:`HotHours`)
    :func:`geo.temporal.hour_weekday_profile` over the area (last ``hot_lookback_days``,
    ``k`` rings, local time in ``timezone``) and :func:`geo.temporal.hot_windows` of the
    cell's row at ``hot_threshold``: the ``max_hot_windows`` windows of highest peak risk.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._frames import check_incidents
from geo.cells import cells_from_hex, hex_from_cells
from geo.checks import DAY_S, check_number, check_seconds, check_timezone, check_whole
from geo.emerging import EMERGING_CATEGORIES, emerging_hotspots, mann_kendall, space_time_cube
from geo.errors import GeoError
from geo.hotspots import CONFIDENCE_LEVELS, hotspot_table
from geo.scoring import score_cells
from geo.temporal import (
    HOT_WINDOW_COLUMNS,
    hot_windows,
    hour_weekday_profile,
    local_weekday_hour,
)

__all__ = [
    "ALL_CATEGORIES",
    "ALL_TIME",
    "DEFAULT_WINDOWS_DAYS",
    "MISSING_CATEGORY",
    "COMPONENT_NOTES",
    "UnknownCellError",
    "ExplainSettings",
    "TrendSummary",
    "GiStarSummary",
    "ModelSummary",
    "HotWindow",
    "HotHours",
    "HourCounts",
    "CellExplanation",
    "ExplainContext",
    "explain_cell",
    "explain_cell_incidents",
    "explain_cells",
    "gi_bin_label",
    "gi_star_summary",
    "model_summary",
    "window_label",
]

#: Row of the counts table that sums every category.
ALL_CATEGORIES = "ALL"
#: Column of the counts table that counts everything before ``as_of_s``.
ALL_TIME = "all"
#: Row label for incidents without a category.
MISSING_CATEGORY = "(missing)"
#: Count windows of every explanation, in days: a week, four weeks, a quarter (13 whole weeks,
#: so each weekday counts as often as the others) and a year.
DEFAULT_WINDOWS_DAYS: tuple[float, ...] = (7, 28, 91, 365)

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_PER_WEEK = 168
_H3_MASK = 0xFFFF_FFFF_FFFF_FFFF


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


class UnknownCellError(GeoError):
    """A cell to explain is not one of the study cells."""


# --- settings and results -----------------------------------------------------------------------


@dataclass(frozen=True)
class ExplainSettings:
    """Windows, neighbourhoods and thresholds of an explanation (see the module notes).

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
        windows = tuple(_check_days(w, "windows_days entries") for w in self.windows_days)
        labels = [window_label(w) for w in windows]
        if len(set(labels)) != len(labels):
            raise GeoError(f"windows_days must be distinct, got {self.windows_days!r}")
        object.__setattr__(self, "windows_days", windows)
        check_whole(self.k, "k", minimum=0)
        _check_days(self.trend_bin_days, "trend_bin_days")
        if round(self.trend_bin_days * DAY_S) < 1:
            raise GeoError(f"trend_bin_days must be at least a second, got {self.trend_bin_days}")
        check_whole(self.trend_bins, "trend_bins", minimum=2)
        check_number(self.alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
        _check_days(self.gi_window_days, "gi_window_days")
        check_number(self.hot_threshold, "hot_threshold", low=0.0)
        _check_days(self.hot_lookback_days, "hot_lookback_days")
        check_whole(self.max_hot_windows, "max_hot_windows", minimum=0)
        if not isinstance(self.include_emerging, bool):
            raise GeoError(f"include_emerging must be True or False, got {self.include_emerging!r}")
        _check_days(self.hour_window_days, "hour_window_days")

    @property
    def window_labels(self) -> tuple[str, ...]:
        """Column names of the counts table, ``"all"`` last."""
        return (*(window_label(w) for w in self.windows_days), ALL_TIME)


def _check_settings(settings: Any) -> ExplainSettings:
    """``settings``, or the defaults for ``None``; GeoError for anything else."""
    if settings is None:
        return ExplainSettings()
    if not isinstance(settings, ExplainSettings):
        raise GeoError(f"settings must be an ExplainSettings, got {type(settings).__name__}")
    return settings


def _check_days(value: Any, name: str) -> float:
    """``value`` as a float, or GeoError unless a finite number of days > 0."""
    return check_number(value, name, low=0.0, low_open=True)


def window_label(days: float) -> str:
    """Column name of a count window, e.g. ``7`` -> ``"7d"``, ``0.5`` -> ``"0.5d"``."""
    return f"{days:g}d"


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
    """Everything :func:`explain_cell` knows about one cell (see the module notes).

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
        window_days=_check_days(window_days, "window_days"),
        k=check_whole(k, "k", minimum=0),
    )


# --- the shared, area-wide work -----------------------------------------------------------------


# Arrays make the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class ExplainContext:
    """Area-wide work shared by every explanation at one ``as_of_s``; build with :meth:`build`.

    Holds the selected incidents grouped by cell, the model scores and ranks, the Gi* table,
    the emerging classes and the hour profiles, so that :meth:`explain` only looks up one
    cell (and counts its own incidents). Read-only arrays; do not build by hand.
    """

    cells: NDArray[np.int64]
    as_of_s: int
    timezone: str
    model_name: str
    settings: ExplainSettings
    category_labels: tuple[str, ...]
    incident_starts: NDArray[np.int64]
    incident_times: NDArray[np.int64]
    incident_codes: NDArray[np.int64]
    scores: pd.DataFrame
    ranks: NDArray[np.int64]
    percentiles: NDArray[np.float64]
    gi_star: pd.DataFrame
    emerging: tuple[str, ...] | None
    profile: NDArray[np.float64]

    @classmethod
    def build(
        cls,
        incidents: pd.DataFrame,
        cells: np.ndarray,
        as_of_s: int,
        timezone: str,
        model: str = "default",
        settings: ExplainSettings | None = None,
        *,
        params: Any = None,
        category_weights: Mapping[str, float] | None = None,
        categories: Collection[str] | None = None,
    ) -> ExplainContext:
        """Compute the area-wide parts once (see the module notes for each).

        Parameters
        ----------
        incidents, cells, as_of_s, model, params, category_weights, categories
            As for :func:`geo.scoring.score_cells`; ``params`` are the model's parameters
            (``None`` for its defaults).
        timezone
            IANA timezone of the city, e.g. ``"America/Chicago"``, for the hot hours.
        settings
            Windows and thresholds; ``None`` for the defaults.

        Returns
        -------
        ExplainContext

        Raises
        ------
        GeoError
            For bad incidents, cells, time, model, parameters, weights, categories,
            timezone or settings.
        """
        settings = _check_settings(settings)
        # score_cells validates incidents, cells, as_of_s, model, weights and categories,
        # so the selection below can trust them.
        scores = score_cells(
            incidents,
            cells,
            as_of_s,
            model=model,
            params=params,
            category_weights=category_weights,
            categories=categories,
        )
        study = scores["cell"].to_numpy(dtype=np.int64, copy=True)
        as_of = int(as_of_s)
        n = study.size

        index, times, codes, labels = _select(incidents, study, as_of, category_weights, categories)
        order = np.lexsort((times, index))
        index, times, codes = index[order], times[order], codes[order]
        starts = np.searchsorted(index, np.arange(n + 1)).astype(np.int64)

        score = scores["score"].to_numpy(dtype=np.float64)
        ranks, percentiles = _ranks(score)

        gi_start = as_of - int(round(settings.gi_window_days * DAY_S))
        gi_counts = np.bincount(index[times >= gi_start], minlength=n).astype(np.int64)
        gi_star = hotspot_table(study, gi_counts, k=settings.k, fdr=True)

        bin_s = int(round(settings.trend_bin_days * DAY_S))
        trend_start = as_of - settings.trend_bins * bin_s
        incident_cells = study[index]
        emerging = None
        if settings.include_emerging:
            table = emerging_hotspots(
                study,
                incident_cells,
                times,
                trend_start,
                as_of,
                bin_s=bin_s,
                k=settings.k,
                alpha=settings.alpha,
            )
            emerging = tuple(str(c) for c in table["category"])

        selected = pd.DataFrame(
            {"occurred_at": times, "cell": incident_cells, "category": np.asarray(labels)[codes]}
        )
        profile = hour_weekday_profile(
            selected,
            study,
            as_of,
            timezone,
            lookback_days=float(settings.hot_lookback_days),
            k=settings.k,
        )
        return cls(
            cells=_read_only(study),
            as_of_s=as_of,
            timezone=str(timezone),
            model_name=model,
            settings=settings,
            category_labels=labels,
            incident_starts=_read_only(starts),
            incident_times=_read_only(times),
            incident_codes=_read_only(codes),
            scores=scores,
            ranks=_read_only(ranks),
            percentiles=_read_only(percentiles),
            gi_star=gi_star,
            emerging=emerging,
            profile=_read_only(profile),
        )

    def position(self, cell: int | np.integer | str) -> int:
        """Row of ``cell`` (int64 id or H3 hex string) among the study cells.

        Raises
        ------
        UnknownCellError
            When ``cell`` is not a study cell, naming its hex id.
        GeoError
            When ``cell`` is neither an integer nor a valid H3 hex string.
        """
        cell_id = _cell_id(cell)
        found = np.flatnonzero(self.cells == cell_id)
        if found.size == 0:
            raise UnknownCellError(
                f"cell {_hex(cell_id)} is not one of the {self.cells.size} study cells"
            )
        return int(found[0])

    def explain(self, cell: int | np.integer | str) -> CellExplanation:
        """Explain one study cell from the shared work.

        Parameters
        ----------
        cell
            The cell, as an int64 id or an H3 hex string.

        Returns
        -------
        CellExplanation

        Raises
        ------
        UnknownCellError
            When ``cell`` is not a study cell, naming its hex id.
        """
        i = self.position(cell)
        start, stop = int(self.incident_starts[i]), int(self.incident_starts[i + 1])
        return _explain(
            np.int64(self.cells[i]),
            self.incident_times[start:stop],
            self.incident_codes[start:stop],
            self.category_labels,
            self.as_of_s,
            self.timezone,
            self.settings,
            model=self._model(i),
            gi_star=self._gi_star(i),
            emerging=None if self.emerging is None else self.emerging[i],
            hot_hours=self._hot_hours(i),
        )

    def _gi_star(self, i: int) -> GiStarSummary:
        """The cell's row of the Gi* table."""
        row = self.gi_star.iloc[i]
        return gi_star_summary(
            count=int(row["count"]),
            z=float(row["z"]),
            p=float(row["p"]),
            gi_bin=int(row["gi_bin"]),
            window_days=float(self.settings.gi_window_days),
            k=int(self.settings.k),
        )

    def _model(self, i: int) -> ModelSummary:
        """The cell's score, rank and explanation columns with notes."""
        row = self.scores.iloc[i]
        names = [c for c in self.scores.columns if c not in ("cell", "score")]
        return model_summary(
            self.model_name,
            score=float(row["score"]),
            rank=int(self.ranks[i]),
            n_cells=int(self.cells.size),
            components={c: float(row[c]) for c in names},
            percentile=float(self.percentiles[i]),
        )

    def _hot_hours(self, i: int) -> HotHours:
        """The cell's hot windows, highest peak risk first."""
        settings = self.settings
        table = hot_windows(self.profile[i], threshold=settings.hot_threshold)
        table = table.sort_values(
            ["peak_risk", "weekday", "start_hour"], ascending=[False, True, True], kind="stable"
        ).head(settings.max_hot_windows)
        windows = tuple(
            HotWindow(
                weekday=int(weekday),
                start_hour=int(start_hour),
                hours=int(hours),
                mean_risk=float(mean_risk),
                peak_risk=float(peak_risk),
            )
            for weekday, start_hour, hours, mean_risk, peak_risk in zip(
                *(table[c].to_numpy() for c in HOT_WINDOW_COLUMNS), strict=True
            )
        )
        return HotHours(
            timezone=self.timezone,
            threshold=float(settings.hot_threshold),
            lookback_days=float(settings.hot_lookback_days),
            windows=windows,
        )


# --- one cell's own parts: the same for every way of explaining it ------------------------------


def _explain(
    cell: np.int64,
    times: NDArray[np.int64],
    codes: NDArray[np.int64],
    labels: tuple[str, ...],
    as_of_s: int,
    timezone: str,
    settings: ExplainSettings,
    *,
    model: ModelSummary | None,
    gi_star: GiStarSummary | None,
    emerging: str | None,
    hot_hours: HotHours | None,
) -> CellExplanation:
    """The explanation of one cell from its selected incidents before ``as_of_s`` (time and
    index into ``labels``), with the area-wide parts as given."""
    return CellExplanation(
        cell=cell,
        as_of_s=as_of_s,
        counts=_count_table(times, codes, labels, as_of_s, settings),
        trend=_trend(cell, times, as_of_s, settings),
        gi_star=gi_star,
        emerging=emerging,
        model=model,
        hot_hours=hot_hours,
        hour_counts=_hour_counts(times, as_of_s, timezone, settings),
    )


def _count_table(
    times: NDArray[np.int64],
    codes: NDArray[np.int64],
    labels: tuple[str, ...],
    as_of_s: int,
    settings: ExplainSettings,
) -> pd.DataFrame:
    """Counts per category (most incidents first, then ``ALL``) and window, then ``all``."""
    n_labels = len(labels)
    columns = []
    for days in settings.windows_days:
        recent = times >= as_of_s - int(round(days * DAY_S))
        columns.append(np.bincount(codes[recent], minlength=n_labels))
    columns.append(np.bincount(codes, minlength=n_labels))
    table = np.column_stack(columns).astype(np.int64)
    present = np.flatnonzero(table[:, -1] > 0)
    # Most incidents first; ties by name so the order does not depend on the input's.
    names = [labels[c] for c in present]
    ordered = sorted(range(present.size), key=lambda j: (-table[present[j], -1], names[j]))
    rows = table[present[ordered]]
    frame = pd.DataFrame(
        np.vstack([rows, table.sum(axis=0, keepdims=True)]),
        index=pd.Index([names[j] for j in ordered] + [ALL_CATEGORIES], name="category"),
        columns=list(settings.window_labels),
    )
    return frame.astype(np.int64)


def _trend(
    cell: np.int64, times: NDArray[np.int64], as_of_s: int, settings: ExplainSettings
) -> TrendSummary:
    """Mann-Kendall summary of the cell's counts per trend step, the last ending at as_of."""
    bin_s = int(round(settings.trend_bin_days * DAY_S))
    cells = np.array([cell], dtype=np.int64)
    cube, bin_edges = space_time_cube(
        cells,
        np.full(times.size, cell, dtype=np.int64),
        times,
        as_of_s - settings.trend_bins * bin_s,
        as_of_s,
        bin_s,
    )
    series = cube[0]
    test = mann_kendall(cube)
    s, z, p = int(test.s[0]), float(test.z[0]), float(test.p[0])
    alpha = settings.alpha
    direction = "none" if p > alpha or z == 0 else ("up" if z > 0 else "down")
    return TrendSummary(
        s=s,
        z=z,
        p=p,
        direction=direction,
        alpha=float(alpha),
        bin_days=float(settings.trend_bin_days),
        bin_starts_s=tuple(int(t) for t in bin_edges[:-1]),
        counts=tuple(int(c) for c in series),
    )


def _hour_counts(
    times: NDArray[np.int64], as_of_s: int, timezone: str, settings: ExplainSettings
) -> HourCounts:
    """Incidents per local hour of the day over the last ``hour_window_days``."""
    recent = times[times >= as_of_s - int(round(settings.hour_window_days * DAY_S))]
    _weekday, hour = local_weekday_hour(recent, timezone)
    return HourCounts(
        timezone=str(timezone),
        window_days=float(settings.hour_window_days),
        counts=tuple(int(n) for n in np.bincount(hour, minlength=24)),
    )


def _select(
    incidents: pd.DataFrame,
    study: NDArray[np.int64],
    as_of_s: int,
    category_weights: Mapping[str, float] | None,
    categories: Collection[str] | None,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], tuple[str, ...]]:
    """Selected incidents before ``as_of_s`` in study cells: cell row, time, category code.

    Returns the row of each incident's cell in ``study``, its time, the index of its
    category in the returned labels, and the labels.
    """
    times = incidents["occurred_at"].to_numpy().astype(np.int64, copy=False)
    raw_cells = incidents["cell"].to_numpy()
    incident_cells = (
        raw_cells.view(np.int64) if raw_cells.dtype == np.uint64 else raw_cells.astype(np.int64)
    )
    order = np.argsort(study, kind="stable")
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, incident_cells), study.size - 1)
    inside = sorted_study[position] == incident_cells

    # Factorise the few distinct codes rather than looking up every incident.
    codes, uniques = pd.factorize(incidents["category"], use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    weights = {} if category_weights is None else category_weights
    wanted = None if categories is None else frozenset(categories)
    kept_code = np.array(
        [(wanted is None or u in wanted) and float(weights.get(u, 1.0)) > 0 for u in labels]
        # A missing category weighs 1.0 and is selected only when every category is, as in
        # score_cells.
        + [wanted is None],
        dtype=bool,
    )
    codes = np.where(codes < 0, len(labels), codes)
    keep = (times < as_of_s) & inside & kept_code[codes]
    return (
        order[position[keep]].astype(np.int64),
        times[keep],
        codes[keep].astype(np.int64),
        (*labels, MISSING_CATEGORY),
    )


def _ranks(score: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Rank (1 = highest, ties share the best) and percent of other cells scoring lower."""
    n = score.size
    ascending = np.sort(score)
    lower = np.searchsorted(ascending, score, side="left")
    not_higher = np.searchsorted(ascending, score, side="right")
    ranks = (n - not_higher + 1).astype(np.int64)
    percentiles = 100.0 * lower / (n - 1) if n > 1 else np.full(n, 100.0)
    return ranks, np.asarray(percentiles, dtype=np.float64)


def _cell_id(cell: Any) -> np.int64:
    """An int64 cell id from an integer or an H3 hex string."""
    if isinstance(cell, str):
        return np.int64(cells_from_hex([cell])[0])
    if isinstance(cell, bool) or not isinstance(cell, int | np.integer):
        raise GeoError(f"cell must be an int64 H3 id or a hex string, got {cell!r}")
    value = int(cell)
    if not -(2**63) <= value < 2**64:
        raise GeoError(f"cell must be an int64 H3 id or a hex string, got {cell!r}")
    # Ids with the top bit set (never valid H3) wrap to negative int64, as in the frames.
    return np.int64(value - 2**64 if value >= 2**63 else value)


def _hex(cell: np.int64) -> str:
    """The hex form of any 64-bit id, valid H3 or not (H3's hex is the id in base 16)."""
    return format(int(cell) & _H3_MASK, "x")


def _read_only(array: NDArray[Any]) -> NDArray[Any]:
    """Mark an array read-only, so a frozen context cannot be changed through it."""
    array.setflags(write=False)
    return array


# --- entry points -------------------------------------------------------------------------------


def explain_cell(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    cell: int | np.integer | str,
    as_of_s: int,
    timezone: str,
    model: str = "default",
    windows_days: tuple[float, ...] = DEFAULT_WINDOWS_DAYS,
    k: int = 1,
    trend_bin_days: float = 7,
    trend_bins: int = 26,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
    *,
    params: Any = None,
    settings: ExplainSettings | None = None,
) -> CellExplanation:
    """Explain one study cell: counts, trend, Gi* class, model components and hot hours.

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and ``category``;
        only incidents before ``as_of_s`` count. Not modified.
    cells
        Distinct int64 study cells of one resolution: the area the cell is ranked and
        tested in.
    cell
        The cell to explain, an int64 id or an H3 hex string.
    as_of_s
        Explanation time, UTC seconds.
    timezone
        IANA timezone of the city, for the hot hours.
    model
        A key of :data:`geo.scoring.MODELS`.
    windows_days, k, trend_bin_days, trend_bins
        As in :class:`ExplainSettings`; ignored when ``settings`` is given.
    category_weights, categories
        As for :func:`geo.scoring.score_cells` (see the module notes for what the
        descriptive parts count).
    params
        The model's parameters; ``None`` for its defaults.
    settings
        Every window and threshold at once; overrides the four arguments above.

    Returns
    -------
    CellExplanation

    Raises
    ------
    UnknownCellError
        When ``cell`` is not a study cell, naming its hex id.
    GeoError
        For any other bad input.

    Notes
    -----
    Builds an :class:`ExplainContext` (the cost is there: scoring the area, Gi*, the
    profile); to explain several cells use :func:`explain_cells` or keep the context.
    """
    return explain_cells(
        incidents,
        cells,
        [cell],
        as_of_s,
        timezone,
        model,
        windows_days,
        k,
        trend_bin_days,
        trend_bins,
        category_weights,
        categories,
        params=params,
        settings=settings,
    )[0]


def explain_cells(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    targets: Iterable[int | np.integer | str],
    as_of_s: int,
    timezone: str,
    model: str = "default",
    windows_days: tuple[float, ...] = DEFAULT_WINDOWS_DAYS,
    k: int = 1,
    trend_bin_days: float = 7,
    trend_bins: int = 26,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
    *,
    params: Any = None,
    settings: ExplainSettings | None = None,
) -> tuple[CellExplanation, ...]:
    """Explain several study cells, sharing the area-wide work.

    Parameters
    ----------
    targets
        The cells to explain (int64 ids or H3 hex strings); every one is checked before
        any work is done.
    incidents, cells, as_of_s, timezone, model, windows_days, k, trend_bin_days, trend_bins,
    category_weights, categories, params, settings
        As for :func:`explain_cell`.

    Returns
    -------
    tuple of CellExplanation
        One per target, in order.

    Raises
    ------
    UnknownCellError
        For the first target that is not a study cell, naming its hex id.
    GeoError
        For any other bad input.
    """
    if isinstance(targets, str | bytes) or not isinstance(targets, Iterable):
        raise GeoError(f"targets must be a sequence of cells, got {targets!r}")
    wanted = [_cell_id(t) for t in targets]
    study = np.asarray(cells)
    # Check the targets before the costly build; build itself validates the cells.
    if study.ndim == 1 and study.dtype.kind in "iu":
        known = set((study.view(np.int64) if study.dtype == np.uint64 else study).tolist())
        for cell in wanted:
            if int(cell) not in known:
                raise UnknownCellError(
                    f"cell {_hex(cell)} is not one of the {study.size} study cells"
                )
    context = ExplainContext.build(
        incidents,
        cells,
        as_of_s,
        timezone,
        model,
        _settings(settings, windows_days, k, trend_bin_days, trend_bins),
        params=params,
        category_weights=category_weights,
        categories=categories,
    )
    return tuple(context.explain(cell) for cell in wanted)


def explain_cell_incidents(
    incidents: pd.DataFrame,
    cell: int | np.integer | str,
    as_of_s: int,
    timezone: str,
    settings: ExplainSettings | None = None,
    *,
    model: ModelSummary | None = None,
    gi_star: GiStarSummary | None = None,
    emerging: str | None = None,
    hot_hours: HotHours | None = None,
) -> CellExplanation:
    """Explain one cell from the incidents given, taking the area-wide parts as computed.

    The counts, the trend and the hour counts are counted here exactly as
    :meth:`ExplainContext.explain` counts them, from every incident of ``incidents`` in
    ``cell`` before ``as_of_s``: the caller chooses the incidents (a map passes those its
    filters let through, an API every stored one). The parts that need the whole study
    area, the model's score and rank, the Gi* class, the emerging class and the hot hours,
    are taken as given (e.g. from a map that computed them for every cell already; see
    :func:`model_summary` and :func:`gi_star_summary`); a part not given is ``None``.

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (int64 UTC seconds), ``cell`` (int64) and ``category``;
        those of other cells or not before ``as_of_s`` are ignored, and no category weight
        applies. Not modified.
    cell
        The cell to explain, an int64 id or an H3 hex string; any cell, in the study area
        or not.
    as_of_s
        Explanation time, UTC seconds.
    timezone
        IANA timezone of the city, for the hour counts.
    settings
        Windows of the counts, trend steps and ``alpha``, hour-count window;
        ``None`` for the defaults (:data:`DEFAULT_WINDOWS_DAYS`). The settings of the
        area-wide parts do not apply: those parts are given.
    model, gi_star, emerging, hot_hours
        The cell's area-wide parts, or ``None``; ``emerging`` is one of
        :data:`geo.emerging.EMERGING_CATEGORIES`.

    Returns
    -------
    CellExplanation

    Raises
    ------
    GeoError
        For bad incidents, cell, time, timezone, settings or parts.

    Examples
    --------
    A cell with no incidents has a counts table of one ``ALL`` row of zeros:

    >>> empty = pd.DataFrame({"occurred_at": [0], "cell": [0], "category": ["THEFT"]})
    >>> e = explain_cell_incidents(empty, "8926641a8a3ffff", 86_400 * 400, "Asia/Shanghai")
    >>> e.counts.to_dict(orient="index"), e.model
    ({'ALL': {'7d': 0, '28d': 0, '91d': 0, '365d': 0, 'all': 0}}, None)
    """
    frame = check_incidents(incidents)
    cell_id = _cell_id(cell)
    as_of = check_seconds(as_of_s, "as_of_s")
    check_timezone(timezone)
    settings = _check_settings(settings)
    for part, name, kind in (
        (model, "model", ModelSummary),
        (gi_star, "gi_star", GiStarSummary),
        (hot_hours, "hot_hours", HotHours),
    ):
        if part is not None and not isinstance(part, kind):
            raise GeoError(f"{name} must be a {kind.__name__} or None, got {part!r}")
    if emerging is not None and emerging not in EMERGING_CATEGORIES:
        raise GeoError(
            f"emerging must be one of geo.emerging.EMERGING_CATEGORIES or None, got {emerging!r}"
        )
    _row, times, codes, labels = _select(
        frame, np.array([cell_id], dtype=np.int64), as_of, None, None
    )
    return _explain(
        cell_id,
        times,
        codes,
        labels,
        as_of,
        str(timezone),
        settings,
        model=model,
        gi_star=gi_star,
        emerging=emerging,
        hot_hours=hot_hours,
    )


def _settings(
    settings: ExplainSettings | None,
    windows_days: tuple[float, ...],
    k: int,
    trend_bin_days: float,
    trend_bins: int,
) -> ExplainSettings:
    """The given settings, or the defaults with the four common arguments applied."""
    if settings is not None:
        return settings
    return ExplainSettings(
        windows_days=windows_days, k=k, trend_bin_days=trend_bin_days, trend_bins=trend_bins
    )
