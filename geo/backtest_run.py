"""The backtest harness: every forecaster at every origin, for every category group.

:func:`run_backtest` replays history (see :mod:`geo.backtest`): at each origin it hands each
forecaster the incidents before the origin, checks its scores and measures them on the
group's test incidents with :mod:`geo.evaluation`, and gathers everything in a
:class:`BacktestResult`: the long table, the coverage curves on :data:`AREA_FRACTION_GRID`
and, when asked, the scores. :mod:`geo.backtest` re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from geo._frames import check_incidents
from geo.backtest_forecasters import IN_GROUP_COLUMN, Forecaster, check_scores
from geo.backtest_origins import Origin
from geo.checks import check_cells
from geo.errors import GeoError
from geo.evaluation import (
    DEFAULT_FRACTIONS,
    CoverageCurve,
    auc,
    best_curve,
    cell_areas_km2,
    coverage_curve,
    hit_rate,
    pai,
    pei,
)
from geo.evaluation import test_counts_from_incidents as _counts_in_cells

__all__ = ["AREA_FRACTION_GRID", "BacktestResult", "run_backtest", "mean_rows"]

# Area fractions at which every coverage curve is kept for charting: steps of 0.1 % of area.
AREA_FRACTION_GRID = np.linspace(0.0, 1.0, num=1001)
AREA_FRACTION_GRID.setflags(write=False)


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
        return mean_rows(self.curves[(group, model)])


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
    members = _group_members(frame, groups)
    tally = _Tally.start(groups, forecasters, fractions, keep_scores)
    for group in groups:
        part = frame[members[group]]
        times = part["occurred_at"].to_numpy(dtype=np.int64)
        for origin in origins:
            test = _TestWindow.cut(part, times, origin, cells, areas)
            tally.add_test(group, test)
            n_all_before = int(np.searchsorted(every_time, origin.origin_s, side="left"))
            for forecaster in forecasters:
                # A fresh frame per call: one forecaster changing its input cannot reach another.
                if forecaster.uses_all_categories:
                    train = _with_group(frame, members[group], n_all_before)
                else:
                    train = part.iloc[: test.n_before]
                scores = _call(forecaster, train, cells, origin.origin_s, group)
                tally.add_forecast(group, forecaster.name, test, len(train), scores)
    return tally.result(cells)


def _group_members(frame: pd.DataFrame, groups: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``group name ->`` one flag per incident of ``frame``: True for the group's categories."""
    return {
        name: np.ones(len(frame), dtype=bool)
        if codes is None
        else frame["category"].isin(codes).to_numpy(dtype=bool)
        for name, codes in groups.items()
    }


def _with_group(frame: pd.DataFrame, member: np.ndarray, n_before: int) -> pd.DataFrame:
    """The first ``n_before`` incidents with the tested group's :data:`IN_GROUP_COLUMN`."""
    return frame.iloc[:n_before].assign(**{IN_GROUP_COLUMN: member[:n_before]})


@dataclass(frozen=True, eq=False)
class _TestWindow:
    """One group's test incidents at one origin, counted per study cell.

    ``n_before`` is the number of the group's incidents before the origin (its training
    prefix); ``best`` the best possible curve, None without test incidents.
    """

    origin: Origin
    n_before: int
    counts: np.ndarray
    outside: int
    n_test: int
    areas: np.ndarray
    best: CoverageCurve | None

    @classmethod
    def cut(
        cls,
        part: pd.DataFrame,
        times: np.ndarray,
        origin: Origin,
        cells: np.ndarray,
        areas: np.ndarray,
    ) -> _TestWindow:
        """The test window of ``origin`` from the group's incidents ``part`` (sorted by time)."""
        n_before = int(np.searchsorted(times, origin.origin_s, side="left"))
        n_before_end = int(np.searchsorted(times, origin.end_s, side="left"))
        test_cells = part["cell"].to_numpy(dtype=np.int64)[n_before:n_before_end]
        counts, outside = _counts_in_cells(cells, test_cells)
        n_test = int(test_cells.size)
        best = best_curve(counts, areas, outside) if n_test > 0 else None
        return cls(origin, n_before, counts, outside, n_test, areas, best)


@dataclass(frozen=True, eq=False)
class _Tally:
    """What :func:`run_backtest` gathers, origin by origin, until it makes the result."""

    groups: tuple[str, ...]
    models: tuple[str, ...]
    fractions: tuple[float, ...]
    keep_scores: bool
    rows: list[dict[str, Any]]
    curves: dict[tuple[str, str], list[np.ndarray]]
    best_curves: dict[str, list[np.ndarray]]
    inside_shares: dict[str, list[float]]
    kept: dict[tuple[str, str], dict[int, np.ndarray]]

    @classmethod
    def start(
        cls,
        groups: Mapping[str, Any],
        forecasters: Sequence[Forecaster],
        fractions: tuple[float, ...],
        keep_scores: bool,
    ) -> _Tally:
        """An empty tally with a place for every group and model."""
        return cls(
            groups=tuple(groups),
            models=tuple(f.name for f in forecasters),
            fractions=fractions,
            keep_scores=keep_scores,
            rows=[],
            curves={(g, f.name): [] for g in groups for f in forecasters},
            best_curves={g: [] for g in groups},
            inside_shares={g: [] for g in groups},
            kept={(g, f.name): {} for g in groups for f in forecasters},
        )

    def add_test(self, group: str, test: _TestWindow) -> None:
        """Keep the best possible curve of a test window with incidents."""
        if test.best is not None:
            self.best_curves[group].append(hit_rate(test.best, AREA_FRACTION_GRID))
            self.inside_shares[group].append(test.best.n_inside / test.best.n_incidents)

    def add_forecast(
        self, group: str, model: str, test: _TestWindow, n_train: int, scores: np.ndarray
    ) -> None:
        """Measure one forecaster's scores on a test window: a table row and a curve."""
        if self.keep_scores:
            self.kept[(group, model)][test.origin.origin_s] = scores
        row: dict[str, Any] = {
            "group": group,
            "model": model,
            "origin_s": test.origin.origin_s,
            "end_s": test.origin.end_s,
            "n_train": n_train,
            "n_test": test.n_test,
            "n_inside": test.n_test - test.outside,
        }
        if test.best is None:
            row.update(_measures(None, None, self.fractions))
        else:
            curve = coverage_curve(scores, test.counts, test.areas, test.outside)
            self.curves[(group, model)].append(hit_rate(curve, AREA_FRACTION_GRID))
            row.update(_measures(curve, test.best, self.fractions))
        self.rows.append(row)

    def result(self, cells: np.ndarray) -> BacktestResult:
        """Freeze what was gathered into a :class:`BacktestResult`."""
        table = pd.DataFrame(self.rows, columns=_table_columns(self.fractions))
        for column in ("origin_s", "end_s", "n_train", "n_test", "n_inside"):
            table[column] = table[column].astype(np.int64)
        width = AREA_FRACTION_GRID.size
        return BacktestResult(
            table=table,
            fractions=self.fractions,
            groups=self.groups,
            models=self.models,
            cells=_read_only(cells),
            area_fraction_grid=AREA_FRACTION_GRID,
            curves=MappingProxyType({k: _stack(rows, width) for k, rows in self.curves.items()}),
            best_curves=MappingProxyType(
                {g: _stack(c, width) for g, c in self.best_curves.items()}
            ),
            inside_shares=MappingProxyType(
                {
                    g: _read_only(np.array(s, dtype=np.float64))
                    for g, s in self.inside_shares.items()
                }
            ),
            scores=MappingProxyType({key: MappingProxyType(v) for key, v in self.kept.items()}),
        )


# --- helpers -----------------------------------------------------------------------------------


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
    return _read_only(check_scores(raw, cells.size, where))


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


def _stack(rows: list[np.ndarray], width: int) -> np.ndarray:
    """Stack curve rows into a read-only (n_rows, width) array, empty rows allowed."""
    stacked = np.vstack(rows) if rows else np.empty((0, width), dtype=np.float64)
    return _read_only(stacked)


def mean_rows(rows: np.ndarray) -> np.ndarray:
    """Column means of a stack of curves; NaN when it has no rows."""
    if rows.shape[0] == 0:
        return np.full(rows.shape[1], np.nan)
    return np.asarray(rows.mean(axis=0), dtype=np.float64)


def _read_only(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only, so a frozen result cannot be changed through it."""
    array.setflags(write=False)
    return array
