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

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from geo._explain_cell import (
    UnknownCellError,
    as_cell_id,
    explanation_from_incidents,
    select_incidents,
    unknown_cell,
)
from geo._explain_context import ExplainContext
from geo._explain_results import (
    COMPONENT_NOTES,
    CellExplanation,
    GiStarSummary,
    HotHours,
    HotWindow,
    HourCounts,
    ModelSummary,
    TrendSummary,
    gi_bin_label,
    gi_star_summary,
    model_summary,
)
from geo._explain_settings import (
    ALL_CATEGORIES,
    ALL_TIME,
    DEFAULT_WINDOWS_DAYS,
    MISSING_CATEGORY,
    ExplainSettings,
    check_settings,
    window_label,
)
from geo._frames import check_incidents
from geo.checks import check_seconds, check_timezone
from geo.emerging import EMERGING_CATEGORIES
from geo.errors import GeoError

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


def explain_cell(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    cell: int | np.integer | str,
    as_of_s: int,
    timezone: str,
    model: str = "default",
    *,
    settings: ExplainSettings | None = None,
    params: Any = None,
    category_weights: Mapping[str, float] | None = None,
    categories: Collection[str] | None = None,
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
    settings
        Every window and threshold (:class:`ExplainSettings`); ``None`` for the defaults.
    params
        The model's parameters; ``None`` for its defaults.
    category_weights, categories
        As for :func:`geo.scoring.score_cells` (see the module notes for what the
        descriptive parts count).

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
        settings=settings,
        params=params,
        category_weights=category_weights,
        categories=categories,
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
    incidents, cells, as_of_s, timezone, model, category_weights, categories, params
        As for :func:`explain_cell`.
    windows_days, k, trend_bin_days, trend_bins
        As in :class:`ExplainSettings`; ignored when ``settings`` is given.
    settings
        Every window and threshold at once; overrides the four arguments above.

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
    wanted = [as_cell_id(t) for t in targets]
    study = np.asarray(cells)
    # Check the targets before the costly build; build itself validates the cells.
    if study.ndim == 1 and study.dtype.kind in "iu":
        known = set((study.view(np.int64) if study.dtype == np.uint64 else study).tolist())
        for cell in wanted:
            if int(cell) not in known:
                raise unknown_cell(cell, study.size)
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
    cell_id = as_cell_id(cell)
    as_of = check_seconds(as_of_s, "as_of_s")
    check_timezone(timezone)
    settings = check_settings(settings)
    _check_parts(model, gi_star, emerging, hot_hours)
    _row, times, codes, labels = select_incidents(
        frame, np.array([cell_id], dtype=np.int64), as_of, None, None
    )
    return explanation_from_incidents(
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


def _check_parts(model: Any, gi_star: Any, emerging: Any, hot_hours: Any) -> None:
    """GeoError unless each area-wide part given is of its kind (or None)."""
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
