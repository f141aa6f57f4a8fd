"""Backtesting hotspot forecasts over rolling origins, per category group.

A backtest replays history: at each *origin* a forecaster sees only the incidents that
occurred before it, scores every study-area cell, and is judged on the incidents of the test
window that follows (``origin_s <= occurred_at < end_s``) with the measures of
:mod:`geo.evaluation`: hit rate, PAI and PEI at a few area fractions and AUC20 (mean hit rate
over 0-20 % of the area), area measured as true cell area and tied scores counted as their
expected value over random orderings. Test incidents outside the study cells count as misses.

Inputs
------
Incidents frame
    Columns ``occurred_at`` (``int64`` UTC seconds), ``cell`` (``int64`` H3 id at the study
    resolution) and ``category`` (category code, ``str``); other columns are passed through to
    the forecasters untouched.
Study cells
    Sorted, unique ``int64`` H3 ids (``np.unique`` gives that form).
Forecaster
    Any callable ``fn(train, cells, as_of_s) -> scores``: ``train`` holds only incidents with
    ``occurred_at < as_of_s``, ``cells`` is the study-cell array (read-only), and ``scores``
    has one number per study cell, higher meaning hotter. Wrapped in :class:`Forecaster` with
    a name and whether it wants every category (with the tested group's incidents marked in
    an ``in_group`` column) or only the group being tested.
    :func:`naive_count_forecaster`, :func:`constant_forecaster` and :func:`model_forecaster`
    (any :mod:`geo.scoring` model) build the usual ones.

Outputs
-------
:func:`run_backtest` gives a long table (one row per group, origin and model) and the coverage
curves for charting; :func:`summarise` and :func:`format_table` put the models side by side;
:func:`plot_coverage` draws the mean curves (matplotlib, imported only there);
:func:`area_share_of_top` and :func:`summarise_concentration` report how the top-ranked cells
spread over areas (districts, beats, grids) from one origin to the next, a guardrail against
sending patrols to the same neighbourhoods every time.

Everything except :func:`plot_coverage` is pure: no files, clock, environment or randomness.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from geo._frames import check_incidents
from geo.checks import check_cells, check_timezone, check_whole, day_start_s
from geo.errors import GeoError
from geo.evaluation import (
    AUC20_MAX_FRACTION,
    DEFAULT_FRACTIONS,
    auc,
    best_curve,
    cell_areas_km2,
    coverage_curve,
    hit_rate,
    pai,
    pei,
)
from geo.evaluation import test_counts_from_incidents as _counts_in_cells
from geo.scoring import MODELS, score_cells

__all__ = [
    "AREA_FRACTION_GRID",
    "BENCHMARK_GROUPS",
    "INCIDENT_COLUMNS",
    "IN_GROUP_COLUMN",
    "Forecaster",
    "Origin",
    "BacktestResult",
    "monthly_origins",
    "weekly_origins",
    "naive_count_forecaster",
    "constant_forecaster",
    "model_forecaster",
    "run_backtest",
    "summarise",
    "format_table",
    "plot_coverage",
    "area_share_of_top",
    "summarise_concentration",
]

INCIDENT_COLUMNS = ("occurred_at", "cell", "category")
# Column added to a pooling forecaster's training frame: True for the tested group's incidents.
IN_GROUP_COLUMN = "in_group"

# Area fractions at which every coverage curve is kept for charting: steps of 0.1 % of area.
AREA_FRACTION_GRID = np.linspace(0.0, 1.0, num=1001)
AREA_FRACTION_GRID.setflags(write=False)

# The category groups the benchmark reports (Chicago primary types); None means every category.
BENCHMARK_GROUPS: Mapping[str, tuple[str, ...] | None] = MappingProxyType(
    {
        "all": None,
        "burglary": ("BURGLARY",),
        "violent": ("HOMICIDE", "ROBBERY", "ASSAULT", "BATTERY", "CRIM SEXUAL ASSAULT"),
    }
)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

ForecastFn = Callable[[pd.DataFrame, np.ndarray, int], Any]


@dataclass(frozen=True)
class Forecaster:
    """A named forecasting model the harness can call at each origin.

    Attributes
    ----------
    name
        Label in tables and charts; unique within one backtest.
    fn
        ``fn(train, cells, as_of_s) -> scores``. ``train`` is the incidents frame cut to
        ``occurred_at < as_of_s`` (sorted by time; incidents outside the study cells
        included), ``cells`` the read-only study-cell array and ``scores`` one number per
        study cell (higher is hotter; ties allowed, NaN not).
    uses_all_categories
        False (the default): ``train`` holds only the category group being tested. True:
        ``train`` holds every category, so a pooling model can borrow strength from related
        categories, plus a boolean column ``in_group`` (:data:`IN_GROUP_COLUMN`) marking the
        incidents of the group being tested.
    """

    name: str
    fn: ForecastFn
    uses_all_categories: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GeoError(f"Forecaster name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise GeoError(f"Forecaster {self.name!r}: fn must be callable, got {self.fn!r}")
        if not isinstance(self.uses_all_categories, bool):
            raise GeoError(
                f"Forecaster {self.name!r}: uses_all_categories must be True or False, "
                f"got {self.uses_all_categories!r}"
            )


class Origin(NamedTuple):
    """A forecast origin and the end of its test window, both UTC seconds.

    The forecaster sees incidents with ``occurred_at < origin_s``; the test window is
    ``origin_s <= occurred_at < end_s``.
    """

    origin_s: int
    end_s: int


# Arrays and frames make the generated __eq__ ambiguous, so equality is left as identity.
@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything one backtest measured.

    Attributes
    ----------
    table
        One row per (group, origin, model), in the order groups x origins x models:
        ``group``, ``model``, ``origin_s``, ``end_s``, ``n_train`` (incidents the model was
        given), ``n_test`` (test incidents of the group, inside and outside the study cells),
        ``n_inside`` (those inside), ``auc20``, then ``hit_rate_<p>``, ``pai_<p>`` and
        ``pei_<p>`` for each fraction ``p`` (written ``f"{p:g}"``, e.g. ``pai_0.01``). The
        measures are NaN for an origin with no test incident in the group.
    fractions
        The area fractions of the ``hit_rate_``, ``pai_`` and ``pei_`` columns.
    groups, models
        Group and model names, in the order they were given.
    cells
        The study cells (read-only).
    area_fraction_grid
        Area fractions at which the curves are kept (:data:`AREA_FRACTION_GRID`).
    curves
        ``(group, model) ->`` read-only array of hit rates, one row per evaluated origin (in
        origin order, origins without test incidents left out), one column per grid point.
    best_curves
        ``group ->`` the best possible curves (cells ranked by their test counts), same shape.
    inside_shares
        ``group ->`` share of each evaluated origin's test incidents inside the study cells;
        a random forecast's curve is ``share * p``.
    scores
        ``(group, model) -> {origin_s: scores}`` when ``run_backtest(keep_scores=True)``,
        else empty; feed one of its mappings to :func:`area_share_of_top`.
    """

    table: pd.DataFrame
    fractions: tuple[float, ...]
    groups: tuple[str, ...]
    models: tuple[str, ...]
    cells: np.ndarray
    area_fraction_grid: np.ndarray
    curves: Mapping[tuple[str, str], np.ndarray]
    best_curves: Mapping[str, np.ndarray]
    inside_shares: Mapping[str, np.ndarray]
    scores: Mapping[tuple[str, str], Mapping[int, np.ndarray]]

    def mean_curve(self, group: str, model: str) -> np.ndarray:
        """Mean hit rate over the evaluated origins at each grid point (NaN if none)."""
        if (group, model) not in self.curves:
            raise GeoError(
                f"no curve for group {group!r} and model {model!r}; groups are "
                f"{list(self.groups)}, models {list(self.models)}"
            )
        return _mean_rows(self.curves[(group, model)])


# --- origins -----------------------------------------------------------------------------------


def monthly_origins(first: str, last: str, timezone: str) -> list[Origin]:
    """Return one origin per calendar month, in the city's local time.

    Month ``M`` gives ``origin_s`` = local midnight starting the 1st of ``M`` and ``end_s`` =
    local midnight starting the 1st of the next month: the forecaster sees everything before
    month ``M`` and is tested on month ``M`` itself (month-ahead). The labels therefore name
    the test months.

    Parameters
    ----------
    first, last
        First and last test month, ``"YYYY-MM"``, inclusive.
    timezone
        IANA timezone of the city, e.g. ``"America/Chicago"``.

    Returns
    -------
    list of Origin
        In time order. A window spanning a daylight-saving change is an hour shorter or
        longer than its calendar days (March 2018 in Chicago: 31 days less one hour).

    Raises
    ------
    GeoError
        When a month is not ``"YYYY-MM"``, ``last`` precedes ``first`` or the timezone is
        unknown.

    Examples
    --------
    >>> [o.end_s - o.origin_s for o in monthly_origins("2018-03", "2018-03", "America/Chicago")]
    [2674800]
    """
    check_timezone(timezone)
    start_year, start_month = _month(first, "first")
    end_year, end_month = _month(last, "last")
    n_months = (end_year - start_year) * 12 + (end_month - start_month) + 1
    if n_months < 1:
        raise GeoError(f"last must not precede first, got first={first!r} and last={last!r}")
    starts = []
    for k in range(n_months + 1):
        year, month0 = divmod(start_month - 1 + k, 12)
        starts.append(day_start_s(dt.date(start_year + year, month0 + 1, 1), timezone))
    return [Origin(starts[k], starts[k + 1]) for k in range(n_months)]


def weekly_origins(end: str, n: int, timezone: str) -> list[Origin]:
    """Return ``n`` consecutive week-long test windows ending with the day ``end``.

    The last window ends at local midnight after ``end`` (for ``end="2018-07-31"``:
    2018-08-01 00:00 local); each window is seven local calendar days, so the windows tile
    ``n`` weeks with no gap, and each origin is its window's start (a local midnight).

    Parameters
    ----------
    end
        Last day of the last test window, ``"YYYY-MM-DD"`` (local date).
    n
        Number of weeks (at least 1).
    timezone
        IANA timezone of the city.

    Returns
    -------
    list of Origin
        In time order. A week spanning a daylight-saving change is an hour shorter or longer.

    Raises
    ------
    GeoError
        When ``end`` is not a date, ``n`` is not a positive integer or the timezone is unknown.
    """
    check_timezone(timezone)
    try:
        last_day = dt.date.fromisoformat(end)
    except (TypeError, ValueError) as err:
        raise GeoError(f"end must be a date 'YYYY-MM-DD', got {end!r}") from err
    n = check_whole(n, "n", minimum=1)
    stop = last_day + dt.timedelta(days=1)
    starts = [day_start_s(stop - dt.timedelta(days=7 * (n - k)), timezone) for k in range(n + 1)]
    return [Origin(starts[k], starts[k + 1]) for k in range(n)]


# --- built-in forecasters ----------------------------------------------------------------------


def naive_count_forecaster(name: str = "naive") -> Forecaster:
    """Return the reference baseline: each cell's count over all its training history.

    Parameters
    ----------
    name
        Label in tables and charts.

    Returns
    -------
    Forecaster
        Sees only the group being tested. Cells with equal counts tie (all the never-seen
        cells form one tie at the bottom).
    """

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        counts, _ = _counts_in_cells(cells, train["cell"].to_numpy(dtype=np.int64))
        return counts.astype(np.float64)

    return Forecaster(name=name, fn=forecast)


def constant_forecaster(name: str = "constant") -> Forecaster:
    """Return the sanity check: every cell scores the same.

    With ties counted as their expected value its curve is ``HR(p) = p`` (times the share of
    test incidents inside the study cells), so AUC20 is exactly 0.1 and PAI 1 when every test
    incident is inside.

    Parameters
    ----------
    name
        Label in tables and charts.

    Returns
    -------
    Forecaster
    """

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        return np.zeros(cells.size, dtype=np.float64)

    return Forecaster(name=name, fn=forecast)


def model_forecaster(
    model: str,
    *,
    params: Any = None,
    category_weights: Mapping[str, float] | None = None,
    pool_categories: bool = False,
    name: str | None = None,
) -> Forecaster:
    """Return a forecaster that scores with a model of :func:`geo.scoring.score_cells`.

    Parameters
    ----------
    model
        A key of :data:`geo.scoring.MODELS`, e.g. ``"default"``.
    params
        The model's parameter dataclass; ``None`` for its defaults.
    category_weights
        ``code -> weight`` passed to the model; ``None`` weighs every incident 1 (plain
        counts, as the benchmarks compare).
    pool_categories
        False (the default): the model sees only the group being tested. True: it sees every
        category (:attr:`Forecaster.uses_all_categories`) and scores the group's categories
        with the others as context, so a pooling model (the default blend's all-crime
        feature) can borrow strength from them. An origin with no incident of the group in
        its history then scores every cell 0.
    name
        Label in tables and charts; the model's name by default.

    Returns
    -------
    Forecaster

    Raises
    ------
    GeoError
        For an unknown model. Parameters, weights and the training data are checked by
        :func:`geo.scoring.score_cells` at each call.
    """
    if model not in MODELS:
        raise GeoError(f"model must be one of {sorted(MODELS)}, got {model!r}")

    def forecast(train: pd.DataFrame, cells: np.ndarray, as_of_s: int) -> np.ndarray:
        codes: tuple[str, ...] | None = None
        if pool_categories:
            in_group = train[IN_GROUP_COLUMN].to_numpy(dtype=bool)
            if in_group.size and not in_group.any():
                return np.zeros(cells.size, dtype=np.float64)
            if not in_group.all():
                codes = tuple(train.loc[in_group, "category"].unique())
            train = train.drop(columns=[IN_GROUP_COLUMN])
        scored = score_cells(
            train,
            cells,
            as_of_s,
            model=model,
            params=params,
            category_weights=category_weights,
            categories=codes,
        )
        return scored["score"].to_numpy()

    return Forecaster(
        name=model if name is None else name, fn=forecast, uses_all_categories=pool_categories
    )


# --- the harness -------------------------------------------------------------------------------


def run_backtest(
    incidents: pd.DataFrame,
    cells: np.ndarray,
    forecasters: Sequence[Forecaster],
    origins: Sequence[tuple[int, int]],
    groups: Mapping[str, Sequence[str] | None],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    *,
    keep_scores: bool = False,
) -> BacktestResult:
    """Fit and score every forecaster at every origin, for every category group.

    At each origin and group, a forecaster is called once with the incidents that occurred
    before the origin (sorted by time, a fresh frame for every call): only the group's
    categories, or every category plus an ``in_group`` column when its
    ``uses_all_categories`` is set. Its scores are judged on the group's incidents in the test
    window; those outside the study cells count as misses.

    Parameters
    ----------
    incidents
        Columns ``occurred_at`` (``int64`` UTC s), ``cell`` (``int64``) and ``category``
        (code); other columns, except the reserved ``in_group``, are passed to the
        forecasters. Not modified.
    cells
        Study cells: sorted, unique ``int64`` H3 ids at the incidents' resolution.
    forecasters
        Models to compare, with unique names.
    origins
        ``(origin_s, end_s)`` pairs, e.g. from :func:`monthly_origins` or
        :func:`weekly_origins`.
    groups
        Group name -> category codes it pools, or None for every category (e.g.
        :data:`BENCHMARK_GROUPS`).
    fractions
        Area fractions in (0, 1] for the hit rate, PAI and PEI columns.
    keep_scores
        Keep every forecast's scores in :attr:`BacktestResult.scores` (for
        :func:`area_share_of_top`).

    Returns
    -------
    BacktestResult

    Raises
    ------
    GeoError
        When an argument is malformed (the message names it), or a forecaster returns
        scores of the wrong length, non-numbers or NaN.
    """
    frame = _check_incidents(incidents)
    cells = check_cells(cells, ordered=True)
    forecasters = _check_forecasters(forecasters)
    origins = _check_origins(origins)
    groups = _check_groups(groups)
    fractions = _check_fractions(fractions)
    areas = cell_areas_km2(cells)

    # Sorted by time once, so each origin's history is a prefix found by binary search.
    frame = frame.sort_values("occurred_at", kind="stable")
    every_time = frame["occurred_at"].to_numpy(dtype=np.int64)
    members = {
        name: np.ones(len(frame), dtype=bool)
        if codes is None
        else frame["category"].isin(codes).to_numpy(dtype=bool)
        for name, codes in groups.items()
    }
    by_group = {name: frame[member] for name, member in members.items()}
    group_times = {
        name: part["occurred_at"].to_numpy(dtype=np.int64) for name, part in by_group.items()
    }

    rows: list[dict[str, Any]] = []
    curves: dict[tuple[str, str], list[np.ndarray]] = {
        (g, f.name): [] for g in groups for f in forecasters
    }
    best_curves: dict[str, list[np.ndarray]] = {g: [] for g in groups}
    inside_shares: dict[str, list[float]] = {g: [] for g in groups}
    kept: dict[tuple[str, str], dict[int, np.ndarray]] = {
        (g, f.name): {} for g in groups for f in forecasters
    }
    for group in groups:
        part, times = by_group[group], group_times[group]
        for origin_s, end_s in origins:
            n_before = int(np.searchsorted(times, origin_s, side="left"))
            n_before_end = int(np.searchsorted(times, end_s, side="left"))
            test_cells = part["cell"].to_numpy(dtype=np.int64)[n_before:n_before_end]
            counts, outside = _counts_in_cells(cells, test_cells)
            n_test = int(test_cells.size)
            best = None
            if n_test > 0:
                best = best_curve(counts, areas, outside)
                best_curves[group].append(hit_rate(best, AREA_FRACTION_GRID))
                inside_shares[group].append(best.n_inside / best.n_incidents)
            n_all_before = int(np.searchsorted(every_time, origin_s, side="left"))
            for forecaster in forecasters:
                # A fresh frame per call: one forecaster changing its input cannot reach another.
                if forecaster.uses_all_categories:
                    train = frame.iloc[:n_all_before].assign(
                        **{IN_GROUP_COLUMN: members[group][:n_all_before]}
                    )
                else:
                    train = part.iloc[:n_before]
                scores = _call(forecaster, train, cells, origin_s, group)
                if keep_scores:
                    kept[(group, forecaster.name)][origin_s] = scores
                row: dict[str, Any] = {
                    "group": group,
                    "model": forecaster.name,
                    "origin_s": origin_s,
                    "end_s": end_s,
                    "n_train": len(train),
                    "n_test": n_test,
                    "n_inside": n_test - outside,
                }
                if best is None:
                    row.update(_measures(None, None, fractions))
                else:
                    curve = coverage_curve(scores, counts, areas, outside)
                    curves[(group, forecaster.name)].append(hit_rate(curve, AREA_FRACTION_GRID))
                    row.update(_measures(curve, best, fractions))
                rows.append(row)

    table = pd.DataFrame(rows, columns=_table_columns(fractions))
    for column in ("origin_s", "end_s", "n_train", "n_test", "n_inside"):
        table[column] = table[column].astype(np.int64)
    width = AREA_FRACTION_GRID.size
    return BacktestResult(
        table=table,
        fractions=fractions,
        groups=tuple(groups),
        models=tuple(f.name for f in forecasters),
        cells=_read_only(cells),
        area_fraction_grid=AREA_FRACTION_GRID,
        curves=MappingProxyType({key: _stack(rows_, width) for key, rows_ in curves.items()}),
        best_curves=MappingProxyType({g: _stack(c, width) for g, c in best_curves.items()}),
        inside_shares=MappingProxyType(
            {g: _read_only(np.array(s, dtype=np.float64)) for g, s in inside_shares.items()}
        ),
        scores=MappingProxyType({key: MappingProxyType(v) for key, v in kept.items()}),
    )


# --- summaries ---------------------------------------------------------------------------------


def summarise(
    result: BacktestResult | pd.DataFrame,
    reference: str | None = "naive",
    *,
    pai_at: Sequence[float] = (0.01, 0.05),
    pei_at: Sequence[float] = (0.05,),
) -> pd.DataFrame:
    """Put the models side by side: one row per (group, model), means and spread over origins.

    Parameters
    ----------
    result
        A :class:`BacktestResult` or its long ``table``.
    reference
        Model every other is compared with, in the same group and on the same origins; None
        for no comparison.
    pai_at, pei_at
        Area fractions whose mean PAI and PEI to report (columns of the long table).

    Returns
    -------
    pandas.DataFrame
        In the long table's group and model order, columns ``group``, ``model``,
        ``n_origins`` (origins with test incidents), ``mean_auc20``, ``std_auc20`` (sample
        standard deviation over origins, NaN for one origin), ``min_auc20``, ``max_auc20``,
        ``mean_pai_<p>``, ``mean_pei_<p>``; with a reference also ``reference``,
        ``auc20_vs_ref`` (``mean_auc20 / reference's mean_auc20 - 1``) and
        ``share_beats_ref`` (share of origins where the model's AUC20 is strictly higher;
        0 for the reference itself).

    Raises
    ------
    GeoError
        When the table lacks a needed column, or the reference model is missing from a group.
    """
    table = result.table if isinstance(result, BacktestResult) else result
    if not isinstance(table, pd.DataFrame):
        raise GeoError(f"result must be a BacktestResult or its table, got {type(result)}")
    wanted = [f"pai_{p:g}" for p in pai_at] + [f"pei_{p:g}" for p in pei_at]
    needed = ["group", "model", "origin_s", "auc20", *wanted]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise GeoError(
            f"the long table lacks columns {missing}; run the backtest with those fractions "
            "or pass other pai_at / pei_at"
        )
    evaluated = table[table["auc20"].notna()]
    grouped = evaluated.groupby(["group", "model"], sort=False)["auc20"]
    summary = pd.DataFrame(
        {
            "n_origins": grouped.count(),
            "mean_auc20": grouped.mean(),
            "std_auc20": grouped.std(ddof=1),
            "min_auc20": grouped.min(),
            "max_auc20": grouped.max(),
        }
    )
    means = evaluated.groupby(["group", "model"], sort=False)[wanted].mean()
    summary = summary.join(means.rename(columns={c: f"mean_{c}" for c in wanted}))
    # Keep every (group, model) of the table, even one with no evaluated origin.
    order = pd.MultiIndex.from_frame(table[["group", "model"]].drop_duplicates())
    summary = summary.reindex(order)
    summary["n_origins"] = summary["n_origins"].fillna(0).astype(np.int64)
    if reference is not None:
        summary = _compare_with(summary, evaluated, reference)
    return summary.reset_index()


def format_table(summary: pd.DataFrame) -> str:
    """Render a :func:`summarise` frame as a plain-text table for the CLI and benchmarks.

    Parameters
    ----------
    summary
        From :func:`summarise`.

    Returns
    -------
    str
        One header line, a rule and one line per (group, model); AUC20 as mean, standard
        deviation and range over origins, PAI and PEI as means, the comparison with the
        reference in per cent.

    Raises
    ------
    GeoError
        When ``summary`` lacks the columns :func:`summarise` writes.
    """
    needed = ["group", "model", "n_origins", "mean_auc20", "std_auc20", "min_auc20", "max_auc20"]
    missing = [c for c in needed if c not in summary.columns]
    if missing:
        raise GeoError(f"summary lacks columns {missing}; pass the frame summarise returns")
    extra = [c for c in summary.columns if re.fullmatch(r"mean_(pai|pei)_.+", str(c))]
    headers = ["group", "model", "n", "AUC20", "sd", "min", "max"]
    headers += [_measure_label(c) for c in extra]
    has_ref = {"reference", "auc20_vs_ref", "share_beats_ref"} <= set(summary.columns)
    if has_ref:
        headers += ["vs ref", "beats ref"]
    lines = []
    for record in summary.to_dict("records"):
        cells = [
            str(record["group"]),
            str(record["model"]),
            str(int(record["n_origins"])),
            *(_number(record[c], "{:.3f}") for c in needed[3:]),
            *(_number(record[c], "{:.2f}") for c in extra),
        ]
        if has_ref:
            if record["model"] == record["reference"]:
                cells += ["(ref)", ""]
            else:
                cells += [
                    _number(100 * record["auc20_vs_ref"], "{:+.1f}%"),
                    _number(100 * record["share_beats_ref"], "{:.0f}%"),
                ]
        lines.append(cells)
    widths = [max(len(row[i]) for row in [headers, *lines]) for i in range(len(headers))]

    def render(row: list[str]) -> str:
        text = [
            v.ljust(w) if i < 2 else v.rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(text).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(headers), rule, *(render(row) for row in lines)])


# --- chart -------------------------------------------------------------------------------------


def plot_coverage(
    result: BacktestResult,
    path: str | Path,
    groups: Sequence[str] | None = None,
    *,
    max_fraction: float = AUC20_MAX_FRACTION,
) -> Path:
    """Write a PNG of the mean coverage curves, one panel per group, one line per model.

    Each panel also shows the best possible curve (dashed) and a random forecast (dotted).
    Uses matplotlib's Agg canvas directly (no pyplot, no display, nothing fetched: the fonts
    are the ones matplotlib ships).

    Parameters
    ----------
    result
        From :func:`run_backtest`.
    path
        Where to write the PNG; the folder must exist.
    groups
        Groups to draw, in order; all by default.
    max_fraction
        Right end of the x axis (share of area), in (0, 1]; 0.2 shows the AUC20 range.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    GeoError
        When a group is unknown or ``max_fraction`` is outside (0, 1].
    ModuleNotFoundError
        When matplotlib is not installed.
    """
    names = list(result.groups) if groups is None else [str(g) for g in groups]
    unknown = [g for g in names if g not in result.groups]
    if unknown or not names:
        raise GeoError(f"groups must name groups of the result {list(result.groups)}, got {groups}")
    if not (isinstance(max_fraction, int | float) and 0 < max_fraction <= 1):
        raise GeoError(f"max_fraction must be in (0, 1], got {max_fraction!r}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator, PercentFormatter
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "plot_coverage needs matplotlib, which the project pins in pyproject.toml"
        ) from err

    grid = result.area_fraction_grid
    # The tolerance keeps the grid point at max_fraction despite rounding in linspace.
    shown = grid <= max_fraction + 1e-12
    x = grid[shown]
    figure = Figure(figsize=(4.2 * len(names), 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows=1, ncols=len(names), sharey=True, squeeze=False)[0]
    for ax, group in zip(axes, names, strict=True):
        n_origins = result.best_curves[group].shape[0]
        for model in result.models:
            ax.plot(x, result.mean_curve(group, model)[shown], label=model, linewidth=1.6)
        best = _mean_rows(result.best_curves[group])[shown]
        ax.plot(x, best, color="0.45", linestyle="--", linewidth=1.0, label="best possible")
        share = float(np.mean(result.inside_shares[group])) if n_origins else np.nan
        ax.plot(x, share * x, color="black", linestyle=":", linewidth=1.0, label="random")
        ax.set_title(f"{group} ({n_origins} origins)")
        ax.set_xlabel("share of study area")
        ax.set_xlim(0, max_fraction)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.grid(visible=True, linewidth=0.4, alpha=0.5)
    axes[0].set_ylabel("share of test incidents (hit rate)")
    axes[0].legend(loc="upper left", fontsize="small")
    destination = Path(path)
    figure.savefig(destination, format="png")
    return destination


# --- guardrail: where the top cells lie --------------------------------------------------------


def area_share_of_top(
    score_frames: Mapping[int, np.ndarray],
    cells: np.ndarray,
    area_cells: pd.DataFrame,
    top_fraction: float = 0.05,
) -> pd.DataFrame:
    """Share of the top-ranked area lying in each area (district, beat, grid), per origin.

    At each origin the cells are walked by descending score until ``top_fraction`` of the
    study area (true cell area) is covered, exactly as the hit rate walks them: the cell
    straddling the cut counts in part, and a run of tied cells straddling it counts each of
    its cells by the same part (the tie's expected share over random orderings when the tied
    cells have equal areas). Each area's share is the top area inside it over the whole top
    area.

    Parameters
    ----------
    score_frames
        ``origin_s -> scores``, one score per study cell (e.g. one mapping of
        :attr:`BacktestResult.scores`).
    cells
        Study cells: sorted, unique ``int64``.
    area_cells
        Columns ``area_id`` and ``cell`` (``int64``, same resolution as ``cells``): which
        cells make up each area. A cell belongs to at most one area; cells outside the study
        area are ignored; study cells in no area make up ``unassigned_share`` in
        :func:`summarise_concentration`.
    top_fraction
        Share of the study area counted as top, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        Columns ``origin_s``, ``area_id``, ``share`` (of the top area, 0..1) and
        ``study_share`` (the area's share of the whole study area, for comparison); one row
        per origin (in the mapping's order) and area (in order of first appearance in
        ``area_cells``), zero shares included.

    Raises
    ------
    GeoError
        When the cells, areas, scores or ``top_fraction`` are malformed.
    """
    cells = check_cells(cells, ordered=True)
    if not isinstance(area_cells, pd.DataFrame) or not {"area_id", "cell"} <= set(
        area_cells.columns
    ):
        raise GeoError("area_cells must be a DataFrame with columns 'area_id' and 'cell'")
    if area_cells["area_id"].isna().any():
        raise GeoError("area_cells has a missing area_id; drop cells that belong to no area")
    member = _int_column(area_cells["cell"], "area_cells['cell']")
    repeated = pd.Series(member).duplicated().to_numpy()
    if repeated.any():
        raise GeoError(
            f"area_cells must list each cell in one area only; {int(member[repeated][0]):x} "
            "appears more than once"
        )
    if not (
        isinstance(top_fraction, int | float | np.floating)
        and not isinstance(top_fraction, bool)
        and 0 < top_fraction <= 1
    ):
        raise GeoError(f"top_fraction must be an area fraction in (0, 1], got {top_fraction!r}")

    area_codes, area_ids = pd.factorize(area_cells["area_id"], sort=False)
    # Each study cell's area index, -1 for a study cell in no area.
    position = np.minimum(np.searchsorted(cells, member), cells.size - 1)
    in_study = cells[position] == member
    area_of_cell = np.full(cells.size, -1, dtype=np.int64)
    area_of_cell[position[in_study]] = area_codes[in_study]
    assigned = area_of_cell >= 0
    n_areas = len(area_ids)
    areas_km2 = cell_areas_km2(cells)
    total_km2 = float(areas_km2.sum())
    study_share = (
        np.bincount(area_of_cell[assigned], weights=areas_km2[assigned], minlength=n_areas)
        / total_km2
    )

    frames = []
    for origin_s, raw in score_frames.items():
        scores = _scores(raw, cells.size, f"score_frames[{origin_s!r}]")
        top_km2 = _top_weights(scores, areas_km2, float(top_fraction)) * areas_km2
        share = (
            np.bincount(area_of_cell[assigned], weights=top_km2[assigned], minlength=n_areas)
            / top_km2.sum()
        )
        frames.append(
            pd.DataFrame(
                {
                    "origin_s": np.full(n_areas, int(origin_s), dtype=np.int64),
                    "area_id": area_ids,
                    "share": share,
                    "study_share": study_share,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            {
                "origin_s": np.empty(0, dtype=np.int64),
                "area_id": area_ids[:0],
                "share": np.empty(0),
                "study_share": np.empty(0),
            }
        )
    return pd.concat(frames, ignore_index=True)


def summarise_concentration(shares: pd.DataFrame) -> pd.DataFrame:
    """Summarise how concentrated the top cells are at each origin: the guardrail report.

    Parameters
    ----------
    shares
        From :func:`area_share_of_top`.

    Returns
    -------
    pandas.DataFrame
        One row per origin, in time order: ``origin_s``, ``n_areas``, ``n_areas_with_top``
        (areas with any top area), ``max_share``, ``max_area_id`` (the area holding it),
        ``max_ratio`` (largest ``share / study_share``: 3 means an area holds three times
        the top area its size would suggest), ``herfindahl`` (sum of squared shares: 1 when
        one area holds everything, ``1 / n_areas`` when spread evenly by count), ``gini``
        (of the shares across all areas, 0 even .. near 1 concentrated) and
        ``unassigned_share`` (top area in no listed area).

    Raises
    ------
    GeoError
        When ``shares`` lacks the columns :func:`area_share_of_top` writes.
    """
    needed = {"origin_s", "area_id", "share", "study_share"}
    if not isinstance(shares, pd.DataFrame) or not needed <= set(shares.columns):
        raise GeoError(f"shares must be the frame area_share_of_top returns, with {needed}")
    records = []
    for _, part in shares.groupby("origin_s", sort=True):
        share = part["share"].to_numpy(dtype=np.float64)
        study = part["study_share"].to_numpy(dtype=np.float64)
        ratio = np.divide(share, study, out=np.full(share.size, np.nan), where=study > 0)
        top = int(np.argmax(share)) if share.size else -1
        records.append(
            {
                "origin_s": int(part["origin_s"].iloc[0]),
                "n_areas": int(share.size),
                "n_areas_with_top": int(np.count_nonzero(share > 0)),
                "max_share": float(share[top]) if share.size else np.nan,
                "max_area_id": part["area_id"].iloc[top] if share.size else None,
                "max_ratio": float(np.nanmax(ratio)) if np.isfinite(ratio).any() else np.nan,
                "herfindahl": float(np.sum(share**2)),
                "gini": _gini(share),
                "unassigned_share": max(0.0, 1.0 - float(share.sum())),
            }
        )
    columns = [
        "origin_s",
        "n_areas",
        "n_areas_with_top",
        "max_share",
        "max_area_id",
        "max_ratio",
        "herfindahl",
        "gini",
        "unassigned_share",
    ]
    return pd.DataFrame(records, columns=columns)


# --- helpers -----------------------------------------------------------------------------------


def _month(text: str, name: str) -> tuple[int, int]:
    """Parse ``"YYYY-MM"`` into (year, month), or raise naming the argument."""
    match = _MONTH.match(text) if isinstance(text, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise GeoError(f"{name} must be a month 'YYYY-MM', got {text!r}")
    return int(match.group(1)), int(match.group(2))


def _check_incidents(incidents: Any) -> pd.DataFrame:
    """Check the incidents frame's columns and their types."""
    check_incidents(incidents)
    if IN_GROUP_COLUMN in incidents.columns:
        raise GeoError(
            f"incidents must not have a column {IN_GROUP_COLUMN!r}: the harness adds it for "
            "forecasters that use all categories; rename or drop it"
        )
    return incidents


def _check_forecasters(forecasters: Any) -> tuple[Forecaster, ...]:
    """Check the forecasters are Forecaster objects with unique names."""
    checked: list[Forecaster] = []
    for f in forecasters:
        if not isinstance(f, Forecaster):
            raise GeoError(f"forecasters must be Forecaster objects, got {type(f).__name__}")
        checked.append(f)
    if not checked:
        raise GeoError("forecasters must name at least one Forecaster")
    names = [f.name for f in checked]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise GeoError(f"forecaster names must be unique; repeated: {repeated}")
    return tuple(checked)


def _check_origins(origins: Any) -> tuple[Origin, ...]:
    """Check the origins are (origin_s, end_s) pairs of whole seconds, origin before end."""
    checked = []
    for pair in origins:
        try:
            origin_s, end_s = pair
        except (TypeError, ValueError) as err:
            raise GeoError(f"origins must be (origin_s, end_s) pairs, got {pair!r}") from err
        for value in (origin_s, end_s):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise GeoError(f"origins must hold whole UTC seconds, got {pair!r}")
        if not origin_s < end_s:
            raise GeoError(f"each origin must precede its end_s, got {pair!r}")
        checked.append(Origin(int(origin_s), int(end_s)))
    if not checked:
        raise GeoError("origins must hold at least one (origin_s, end_s) pair")
    return tuple(checked)


def _check_groups(groups: Any) -> dict[str, tuple[str, ...] | None]:
    """Check each group maps a name to category codes or None."""
    if not isinstance(groups, Mapping) or not groups:
        raise GeoError(f"groups must be a non-empty mapping of name -> codes, got {groups!r}")
    checked: dict[str, tuple[str, ...] | None] = {}
    for name, codes in groups.items():
        if not isinstance(name, str) or not name:
            raise GeoError(f"group names must be non-empty strings, got {name!r}")
        if codes is None:
            checked[name] = None
            continue
        if isinstance(codes, str) or not all(isinstance(c, str) for c in codes):
            raise GeoError(
                f"groups[{name!r}] must be a sequence of category codes (e.g. ('BURGLARY',)) "
                f"or None, got {codes!r}"
            )
        if not codes:
            raise GeoError(f"groups[{name!r}] names no category; use None for all categories")
        checked[name] = tuple(codes)
    return checked


def _check_fractions(fractions: Any) -> tuple[float, ...]:
    """Check the area fractions are numbers in (0, 1]."""
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as err:
        raise GeoError(f"fractions must be numbers in (0, 1], got {fractions!r}") from err
    if not values or not all(0 < f <= 1 for f in values):
        raise GeoError(f"fractions must be a non-empty sequence in (0, 1], got {fractions!r}")
    return values


def _call(
    forecaster: Forecaster, train: pd.DataFrame, cells: np.ndarray, origin_s: int, group: str
) -> np.ndarray:
    """Call one forecaster and check its scores."""
    view = cells.view()
    view.setflags(write=False)
    raw = forecaster.fn(train, view, origin_s)
    where = f"forecaster {forecaster.name!r} (group {group!r}, origin_s {origin_s})"
    return _read_only(_scores(raw, cells.size, where))


def _scores(raw: Any, n_cells: int, where: str) -> np.ndarray:
    """Return scores as a fresh float64 array, or raise naming where they came from."""
    array = np.asarray(raw)
    if array.shape != (n_cells,) or (array.size and array.dtype.kind not in "biuf"):
        raise GeoError(
            f"{where} must give one number per study cell ({n_cells}), got shape "
            f"{array.shape} and dtype {array.dtype}"
        )
    array = array.astype(np.float64)  # a copy: later changes to raw cannot reach us
    if np.isnan(array).any():
        raise GeoError(
            f"{where} gave {np.count_nonzero(np.isnan(array))} NaN scores; give cells "
            "without a forecast a low score instead"
        )
    return array


def _measures(curve: Any, best: Any, fractions: tuple[float, ...]) -> dict[str, float]:
    """AUC20 and HR, PAI and PEI at each fraction; NaN when there is no curve."""
    wanted = np.array(fractions)
    if curve is None:
        nan = np.full(wanted.size, np.nan)
        hr = pai_values = pei_values = nan
        auc20 = math.nan
    else:
        hr = np.atleast_1d(hit_rate(curve, wanted))
        pai_values = np.atleast_1d(pai(curve, wanted))
        pei_values = np.atleast_1d(pei(curve, best, wanted))
        auc20 = auc(curve)
    row = {"auc20": float(auc20)}
    for name, values in (("hit_rate", hr), ("pai", pai_values), ("pei", pei_values)):
        for fraction, value in zip(fractions, values, strict=True):
            row[f"{name}_{fraction:g}"] = float(value)
    return row


def _table_columns(fractions: tuple[float, ...]) -> list[str]:
    """Column order of the long table."""
    columns = ["group", "model", "origin_s", "end_s", "n_train", "n_test", "n_inside", "auc20"]
    for name in ("hit_rate", "pai", "pei"):
        columns += [f"{name}_{f:g}" for f in fractions]
    return columns


def _compare_with(summary: pd.DataFrame, evaluated: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Add the relative AUC20 difference and share of origins beaten vs ``reference``."""
    groups = summary.index.get_level_values("group").unique()
    lacking = [g for g in groups if (g, reference) not in summary.index]
    if lacking:
        raise GeoError(
            f"reference model {reference!r} is missing from groups {lacking}; models are "
            f"{sorted(summary.index.get_level_values('model').unique())}"
        )
    ref_mean = summary.xs(reference, level="model")["mean_auc20"]
    summary = summary.copy()
    summary["reference"] = reference
    summary["auc20_vs_ref"] = (
        summary["mean_auc20"].to_numpy()
        / ref_mean.reindex(summary.index.get_level_values("group")).to_numpy()
        - 1.0
    )
    ref_rows = evaluated.loc[evaluated["model"] == reference, ["group", "origin_s", "auc20"]]
    paired = evaluated.merge(
        ref_rows.rename(columns={"auc20": "ref_auc20"}), on=["group", "origin_s"], how="inner"
    )
    paired["beats"] = (paired["auc20"] > paired["ref_auc20"]).astype(np.float64)
    beats = paired.groupby(["group", "model"], sort=False)["beats"].mean()
    summary["share_beats_ref"] = beats.reindex(summary.index)
    return summary


def _measure_label(column: str) -> str:
    """``mean_pai_0.01`` -> ``PAI@1%``."""
    _, measure, fraction = column.split("_", 2)
    return f"{measure.upper()}@{100 * float(fraction):g}%"


def _number(value: Any, pattern: str) -> str:
    """Format a number, or ``-`` for a missing one."""
    return "-" if value is None or pd.isna(value) else pattern.format(value)


def _top_weights(scores: np.ndarray, areas: np.ndarray, top_fraction: float) -> np.ndarray:
    """Part (0..1) of each cell inside the top ``top_fraction`` of the area, ties shared."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    run_end = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    run_start = np.concatenate(([0], run_end[:-1] + 1))
    cumulative = np.concatenate(([0.0], np.cumsum(areas[order])))
    target = top_fraction * cumulative[-1]
    before = cumulative[run_start]
    run_area = cumulative[run_end + 1] - before
    part = np.clip((target - before) / run_area, 0.0, 1.0)
    weights = np.empty(scores.size, dtype=np.float64)
    weights[order] = np.repeat(part, run_end - run_start + 1)
    return weights


def _gini(shares: np.ndarray) -> float:
    """Gini coefficient of non-negative shares (NaN when they sum to 0)."""
    total = float(shares.sum())
    if shares.size == 0 or total <= 0:
        return math.nan
    ranked = np.sort(shares)
    n = ranked.size
    rank = np.arange(1, n + 1)
    return float(2.0 * np.sum(rank * ranked) / (n * total) - (n + 1) / n)


def _int_column(values: pd.Series, name: str) -> np.ndarray:
    """Return an integer column as int64, or raise naming it."""
    if values.dtype.kind not in "iu":
        raise GeoError(f"{name} must hold int64 H3 ids, got dtype {values.dtype}")
    array = values.to_numpy()
    return array.view(np.int64) if array.dtype == np.uint64 else array.astype(np.int64)


def _stack(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Stack curve rows into a read-only (n_rows, width) array, empty rows allowed."""
    stacked = np.vstack(rows) if rows else np.empty((0, width), dtype=np.float64)
    return _read_only(stacked)


def _mean_rows(rows: np.ndarray) -> np.ndarray:
    """Column means of a stack of curves; NaN when it has no rows."""
    if rows.shape[0] == 0:
        return np.full(rows.shape[1], np.nan)
    return np.asarray(rows.mean(axis=0), dtype=np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only, so a frozen result cannot be changed through it."""
    array.setflags(write=False)
    return array
