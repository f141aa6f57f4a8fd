"""Backtest of the early warnings: volume, coverage, hits and the lift over a cell's history.

For each origin (a time ``as_of_s``), each rule's warnings are computed from the incidents
before it (:func:`geo.warnings.compute_warnings`) and judged by what happened next:

- ``warned_cells`` and ``share_warned``: study cells under warning at the origin;
- ``new_warnings`` and ``per_area_week``: warnings that started in the 7 days before the
  origin (an area warning counts once, a cell warning once per cell), over the number of areas
  (police beats, grids): the notifications each area's people received that week;
- ``hits`` and ``hit_share``: warned cells with an incident of the group between the origin
  and the warning's end;
- ``expected_hits`` and ``base_rate``: the matched base rate. Every study cell is put in a
  stratum of its own history at the origin: its count of the group in the last 28 days (0, 1,
  2, 3+) x in the last 365 days (0, 1-2, 3-5, 6-10, 11+). For each warned cell, the base is
  the share of the *unwarned* cells of its stratum with an incident within the same horizon
  (origin to the warning's end); ``expected_hits`` sums those shares over the warned cells and
  ``base_rate = expected_hits / warned_cells``;
- ``lift = hits / expected_hits``: how much better than the cell's own history the warning
  picks the cells about to have an incident. Pooled over origins as
  ``sum(hits) / sum(expected_hits)``.

The reference rule ``simple`` warns a cell and its six neighbours for 7 days after any incident
of the group in the last 7 days (:func:`simple_rule_warnings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from geo._frames import check_incidents
from geo.errors import GeoError
from geo.near_repeat import DAY_S, NearRepeatBands
from geo.warnings import (
    DEFAULT_GROUP_CODES,
    NearRepeatSettings,
    WarningSettings,
    compute_warnings,
    near_repeat_warnings,
)

__all__ = [
    "BACKTEST_COLUMNS",
    "SIMPLE_RULE",
    "history_strata",
    "simple_rule_warnings",
    "backtest_warnings",
    "summarise_warning_backtest",
    "format_warning_backtest",
]

#: Name of the reference rule in backtest tables.
SIMPLE_RULE = "simple"
#: Columns of :func:`backtest_warnings`, in order.
BACKTEST_COLUMNS: tuple[str, ...] = (
    "origin_s",
    "rule",
    "warned_cells",
    "share_warned",
    "new_warnings",
    "per_area_week",
    "hits",
    "hit_share",
    "expected_hits",
    "base_rate",
    "lift",
)
_RECENT_EDGES = np.array([1, 2, 3])  # 28-day count: 0, 1, 2, 3+
_YEAR_EDGES = np.array([1, 3, 6, 11])  # 365-day count: 0, 1-2, 3-5, 6-10, 11+


def _positions(
    study: NDArray[np.int64], values: NDArray[np.int64]
) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Position of each value in the sorted ``study`` and whether it is there at all."""
    position = np.minimum(np.searchsorted(study, values), max(study.size - 1, 0))
    return position, study[position] == values


def history_strata(
    times_s: NDArray[np.int64], incident_cells: NDArray[np.int64], cells: ArrayLike, as_of_s: int
) -> NDArray[np.int64]:
    """Stratum 0..19 of each study cell: 28-day count class x 5 + 365-day count class.

    Parameters
    ----------
    times_s, incident_cells
        Time and cell of each incident of the group.
    cells
        Study cells (sorted distinct int64).
    as_of_s
        The origin; incidents at or after it are ignored.

    Returns
    -------
    numpy.ndarray
        ``int64`` stratum per study cell.
    """
    study = np.asarray(cells, dtype=np.int64)

    def counts(start_s: int) -> NDArray[np.int64]:
        keep = (times_s >= start_s) & (times_s < as_of_s)
        position, inside = _positions(study, incident_cells[keep])
        return np.bincount(position[inside], minlength=study.size).astype(np.int64)

    recent = np.searchsorted(_RECENT_EDGES, counts(as_of_s - 28 * DAY_S), side="right")
    year = np.searchsorted(_YEAR_EDGES, counts(as_of_s - 365 * DAY_S), side="right")
    return np.asarray(recent * 5 + year, dtype=np.int64)


def simple_rule_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    as_of_s: int,
    *,
    group_codes: Iterable[str] | None = DEFAULT_GROUP_CODES,
    days: float = 7.0,
) -> pd.DataFrame:
    """The reference rule: the cell and its six neighbours for ``days`` after any incident."""
    bands = NearRepeatBands(
        distance_m=0.0, time_days=days, ratio=1.0, min_ratio_cell=1.0, max_p_value=1.0
    )
    settings = NearRepeatSettings(
        bands=bands,
        min_incidents=1,
        max_share=1.0,
        distance_m=None,
        include_origin=True,
        max_recent=None,
        rank="strength",
        rings=1,
        window_days=days,
    )
    frame = near_repeat_warnings(
        incidents, cells, as_of_s, group_codes=group_codes, settings=settings
    )
    return frame.assign(rule=SIMPLE_RULE)


def _first_after(
    times_s: NDArray[np.int64],
    incident_cells: NDArray[np.int64],
    study: NDArray[np.int64],
    as_of_s: int,
) -> NDArray[np.float64]:
    """Seconds from the origin to each study cell's first incident at or after it (inf: none)."""
    keep = times_s >= as_of_s
    delay = np.full(study.size, np.inf)
    position, inside = _positions(study, incident_cells[keep])
    later = (times_s[keep] - as_of_s).astype(np.float64)
    np.minimum.at(delay, position[inside], later[inside])
    return delay


def _judge(
    warnings: pd.DataFrame,
    study: NDArray[np.int64],
    strata: NDArray[np.int64],
    delay: NDArray[np.float64],
    as_of_s: int,
    n_areas: int,
) -> dict[str, float]:
    by_cell = warnings.groupby("cell", sort=True)["ends_s"].max() if len(warnings) else None
    warned = np.zeros(study.size, dtype=bool)
    horizon = np.zeros(study.size)
    if by_cell is not None:
        position = np.searchsorted(study, by_cell.index.to_numpy(dtype=np.int64))
        warned[position] = True
        horizon[position] = by_cell.to_numpy(dtype=np.float64) - as_of_s
    hits = int((delay[warned] < horizon[warned]).sum())
    expected = 0.0
    for stratum in np.unique(strata[warned]):
        pool = np.sort(delay[(strata == stratum) & ~warned])
        mine = horizon[warned & (strata == stratum)]
        if pool.size == 0:
            # no unwarned cell to compare with: count the warned cells as expected hits
            # at their own rate, so they neither raise nor lower the lift
            expected += float((delay[warned & (strata == stratum)] < mine).sum())
            continue
        expected += float((np.searchsorted(pool, mine, side="left") / pool.size).sum())
    new = warnings[warnings["starts_s"] >= as_of_s - 7 * DAY_S] if len(warnings) else warnings
    if len(new):
        places = new["area"].where(new["area"].notna(), new["cell"].astype(str))
        n_new = int(places.nunique())
    else:
        n_new = 0
    n_warned = int(warned.sum())
    return {
        "warned_cells": n_warned,
        "share_warned": n_warned / study.size,
        "new_warnings": n_new,
        "per_area_week": n_new / n_areas if n_areas else float("nan"),
        "hits": hits,
        "hit_share": hits / n_warned if n_warned else float("nan"),
        "expected_hits": expected,
        "base_rate": expected / n_warned if n_warned else float("nan"),
        "lift": hits / expected if expected > 0 else float("nan"),
    }


def backtest_warnings(
    incidents: pd.DataFrame,
    cells: ArrayLike,
    origins_s: Sequence[int],
    *,
    areas: Mapping[str, ArrayLike] | None = None,
    group_codes: Sequence[str] | None = DEFAULT_GROUP_CODES,
    settings: WarningSettings | None = None,
    simple: bool = True,
) -> pd.DataFrame:
    """Judge each rule's warnings at each origin against what happened after it.

    Parameters
    ----------
    incidents
        Frame with ``occurred_at``, ``cell``, ``category`` (the future included: it is the
        outcome).
    cells
        Study cells.
    origins_s
        Origins in UTC seconds.
    areas
        Area id -> cells: the rising-area rule's areas and the denominator of
        ``per_area_week`` (None: that column is NaN and the rising-area rule is off).
    group_codes
        Category codes of the group (None: all).
    settings
        Rule settings, as for :func:`geo.warnings.compute_warnings` (None: the defaults).
    simple
        Also judge the reference rule (:func:`simple_rule_warnings`).

    Returns
    -------
    pandas.DataFrame
        One row per origin and rule with :data:`BACKTEST_COLUMNS` (see the module notes).
    """
    settings = settings if settings is not None else WarningSettings()
    frame = check_incidents(incidents)
    if group_codes is not None:
        frame = frame[frame["category"].isin(set(group_codes))]
    study = np.unique(np.asarray(cells, dtype=np.int64))
    if study.size == 0:
        raise GeoError("cells must list at least one study cell")
    times = frame["occurred_at"].to_numpy(dtype=np.int64)
    incident_cells = frame["cell"].to_numpy(dtype=np.int64)
    n_areas = len(areas) if areas else 0
    rows = []
    for origin in origins_s:
        as_of = int(origin)
        strata = history_strata(times, incident_cells, study, as_of)
        delay = _first_after(times, incident_cells, study, as_of)
        warnings = compute_warnings(
            frame, study, as_of, areas=areas, group_codes=group_codes, settings=settings
        )
        per_rule = {rule: part for rule, part in warnings.groupby("rule", sort=False)}
        if simple:
            per_rule[SIMPLE_RULE] = simple_rule_warnings(
                frame, study, as_of, group_codes=group_codes
            )
        enabled = [
            rule
            for rule, on in (
                ("near_repeat", settings.near_repeat is not None),
                ("rising_area", settings.rising_area is not None and bool(areas)),
                ("emerging", settings.emerging is not None),
                (SIMPLE_RULE, simple),
            )
            if on
        ]
        for rule in enabled:
            part = per_rule.get(rule, warnings.iloc[0:0])
            rows.append(
                {
                    "origin_s": as_of,
                    "rule": rule,
                    **_judge(part, study, strata, delay, as_of, n_areas),
                }
            )
    return pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))


def summarise_warning_backtest(table: pd.DataFrame) -> pd.DataFrame:
    """Per rule over all origins: mean and largest share warned, mean notifications per area
    per week, pooled hit share, base rate and lift (``sum hits / sum expected``), and the
    lowest and highest lift of a single origin."""
    rows = []
    for rule, part in table.groupby("rule", sort=False):
        hits, expected, warned = (
            part["hits"].sum(),
            part["expected_hits"].sum(),
            part["warned_cells"].sum(),
        )
        rows.append(
            {
                "rule": rule,
                "origins": len(part),
                "mean_warned_cells": float(part["warned_cells"].mean()),
                "mean_share": float(part["share_warned"].mean()),
                "max_share": float(part["share_warned"].max()),
                "per_area_week": float(part["per_area_week"].mean()),
                "hit_share": hits / warned if warned else float("nan"),
                "base_rate": expected / warned if warned else float("nan"),
                "lift": hits / expected if expected > 0 else float("nan"),
                "lift_min": float(part["lift"].min()),
                "lift_max": float(part["lift"].max()),
            }
        )
    return pd.DataFrame(rows)


def format_warning_backtest(summary: pd.DataFrame) -> str:
    """The summary as a fixed-width text table."""
    lines = [
        f"{'rule':<12}{'origins':>8}{'cells':>8}{'share':>8}{'max':>8}{'/area/wk':>10}"
        f"{'hit':>8}{'base':>8}{'lift':>7}{'range':>13}"
    ]
    for row in summary.itertuples(index=False):
        lines.append(
            f"{row.rule:<12}{row.origins:>8}{row.mean_warned_cells:>8.0f}{row.mean_share:>8.1%}"
            f"{row.max_share:>8.1%}{row.per_area_week:>10.2f}{row.hit_share:>8.1%}"
            f"{row.base_rate:>8.1%}{row.lift:>7.2f}{f'{row.lift_min:.2f}-{row.lift_max:.2f}':>13}"
        )
    return "\n".join(lines)
