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

Modules
-------
This module is the entry point and re-exports every public name: origins live in
:mod:`geo.backtest_origins`, forecasters in :mod:`geo.backtest_forecasters`, the harness and
its result in :mod:`geo.backtest_run`, summaries and the chart in :mod:`geo.backtest_summary`,
and the concentration guardrail in :mod:`geo.backtest_concentration`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from geo._frames import INCIDENT_COLUMNS
from geo.backtest_concentration import area_share_of_top, summarise_concentration
from geo.backtest_forecasters import (
    IN_GROUP_COLUMN,
    Forecaster,
    constant_forecaster,
    model_forecaster,
    naive_count_forecaster,
)
from geo.backtest_origins import Origin, monthly_origins, weekly_origins
from geo.backtest_run import AREA_FRACTION_GRID, BacktestResult, run_backtest
from geo.backtest_summary import format_table, plot_coverage, summarise

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

# The category groups the benchmark reports (Chicago primary types); None means every category.
BENCHMARK_GROUPS: Mapping[str, tuple[str, ...] | None] = MappingProxyType(
    {
        "all": None,
        "burglary": ("BURGLARY",),
        "violent": ("HOMICIDE", "ROBBERY", "ASSAULT", "BATTERY", "CRIM SEXUAL ASSAULT"),
    }
)
