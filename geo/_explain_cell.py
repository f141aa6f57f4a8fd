"""One cell's own parts of an explanation, counted from its incidents (see geo.explain).

The counts, the trend and the hour counts are the same for every way of explaining a cell:
:class:`geo.explain.ExplainContext` and :func:`geo.explain.explain_cell_incidents` both
select the cell's incidents with :func:`select_incidents` and explain them with
:func:`explanation_from_incidents`. Internal to :mod:`geo.explain`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo._explain_results import (
    CellExplanation,
    GiStarSummary,
    HotHours,
    HourCounts,
    ModelSummary,
    TrendSummary,
)
from geo._explain_settings import ALL_CATEGORIES, MISSING_CATEGORY, ExplainSettings
from geo.cells import cells_from_hex
from geo.checks import DAY_S
from geo.emerging import mann_kendall, space_time_cube
from geo.errors import GeoError
from geo.temporal import local_weekday_hour

_H3_MASK = 0xFFFF_FFFF_FFFF_FFFF


class UnknownCellError(GeoError):
    """A cell to explain is not one of the study cells."""


def as_cell_id(cell: Any) -> np.int64:
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


def hex_id(cell: np.int64) -> str:
    """The hex form of any 64-bit id, valid H3 or not (H3's hex is the id in base 16)."""
    return format(int(cell) & _H3_MASK, "x")


def unknown_cell(cell: np.int64, n_cells: int) -> UnknownCellError:
    """The error for a cell that is not one of the ``n_cells`` study cells, naming its hex id."""
    return UnknownCellError(f"cell {hex_id(cell)} is not one of the {n_cells} study cells")


def explanation_from_incidents(
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


def select_incidents(
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
