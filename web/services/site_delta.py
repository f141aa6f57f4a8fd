"""Bringing the site's in-memory incidents up to date with a few changed rows, without
reading the whole table again.

Incidents fed in while the site runs (the dispatch feed, accepted field reports) arrive a
few hundred at a time. Reloading millions of incidents for each batch would take seconds
per server process; :func:`apply_delta` instead removes the earlier versions of updated
incidents and inserts the new rows at their places in the sorted columns of a
:class:`~web.services.site_data.SiteData`, giving a new one (the old one stays valid for
requests still using it). The result is the same, array for array, as a fresh load of the
database: incidents sorted by cell, time and category row, the distinct cells sorted, and
local hours, weekdays and days carried along when they had been worked out.

A row is the triple (cell, time, category row): two incidents with the same triple are
interchangeable in every column the site keeps, so removing "an" earlier version means
removing one row with its triple.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from web.services.site_data import SiteData, _read_only, local_fields

__all__ = ["IncidentDelta", "apply_delta"]


@dataclass(frozen=True)
class IncidentDelta:
    """Rows to add and rows to remove: UTC seconds (int64), H3 cells (int64) and category
    rows (indices into the category table, int), one array each, per side."""

    added_times: np.ndarray
    added_cells: np.ndarray
    added_rows: np.ndarray
    removed_times: np.ndarray
    removed_cells: np.ndarray
    removed_rows: np.ndarray

    @property
    def size(self) -> int:
        return len(self.added_times) + len(self.removed_times)


def apply_delta(
    data: SiteData,
    delta: IncidentDelta,
    version: tuple[int, int],
    categories: pd.DataFrame | None = None,
    category_weights: dict[str, float] | None = None,
) -> SiteData:
    """A new :class:`SiteData` of ``version``: ``data`` without one row of each removed
    triple and with the added rows. ``categories`` and ``category_weights`` replace the
    table when the change brought new categories (rows are only ever appended to it).

    Raises LookupError when a removed triple is not in ``data`` (the delta does not follow
    from this data: the caller reloads instead).
    """
    times, cell_index, rows = data.occurred_at, data.cell_index, data.category_index
    local = data._memo.get("local_fields")
    gone = _positions_of(data, delta)
    if len(gone):
        times, cell_index, rows = (np.delete(a, gone) for a in (times, cell_index, rows))
        if local is not None:
            local = tuple(np.delete(a, gone) for a in local)

    cell_ids = data.cell_ids
    new_cells = np.setdiff1d(delta.added_cells, cell_ids)
    if len(new_cells):
        merged = np.union1d(cell_ids, new_cells)
        cell_index = np.searchsorted(merged, cell_ids)[cell_index].astype(np.int32)
        cell_ids = merged
    counts = np.bincount(cell_index, minlength=len(cell_ids))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    order = np.lexsort((delta.added_rows, delta.added_times, delta.added_cells))
    add_times = np.asarray(delta.added_times, dtype=np.int64)[order]
    add_cells = np.searchsorted(cell_ids, np.asarray(delta.added_cells)[order]).astype(np.int32)
    add_rows = np.asarray(delta.added_rows, dtype=np.int16)[order]
    at = _insertion_points(times, rows, starts, add_cells, add_times, add_rows)
    times = np.insert(times, at, add_times)
    cell_index = np.insert(cell_index, at, add_cells)
    rows = np.insert(rows, at, add_rows)
    memo = {}
    if local is not None:
        added_local = local_fields(add_times, data.timezone)
        memo["local_fields"] = tuple(
            _read_only(np.insert(a, at, b)) for a, b in zip(local, added_local, strict=True)
        )
    counts = np.bincount(cell_index, minlength=len(cell_ids))
    if (counts == 0).any():  # every incident of a cell removed: the cell goes too
        kept = counts > 0
        cell_index = (np.cumsum(kept) - 1)[cell_index].astype(np.int32)
        cell_ids, counts = cell_ids[kept], counts[kept]
    return dataclasses.replace(
        data,
        version=version,
        categories=data.categories if categories is None else categories,
        category_weights=(
            data.category_weights if category_weights is None else dict(category_weights)
        ),
        cell_ids=_read_only(np.asarray(cell_ids, dtype=np.int64)),
        cell_starts=_read_only(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)),
        occurred_at=_read_only(times),
        cell_index=_read_only(cell_index),
        category_index=_read_only(rows),
        first_s=int(times.min()) if len(times) else None,
        last_s=int(times.max()) if len(times) else None,
        _areas=data._areas,
        _memo=memo,
    )


def _positions_of(data: SiteData, delta: IncidentDelta) -> np.ndarray:
    """One row position per removed triple (distinct positions for repeated triples)."""
    taken: set[int] = set()
    for time, cell, row in zip(
        delta.removed_times.tolist(),
        delta.removed_cells.tolist(),
        delta.removed_rows.tolist(),
        strict=True,
    ):
        rows = data.cell_rows(int(cell))
        low = rows.start + int(np.searchsorted(data.occurred_at[rows], time, side="left"))
        high = rows.start + int(np.searchsorted(data.occurred_at[rows], time, side="right"))
        found = [
            i
            for i in range(low, high)
            if int(data.category_index[i]) == int(row) and i not in taken
        ]
        if not found:
            raise LookupError(f"no incident at cell {cell:x}, time {time}, category row {row}")
        taken.add(found[0])
    return np.array(sorted(taken), dtype=np.int64)


def _insertion_points(
    times: np.ndarray,
    rows: np.ndarray,
    starts: np.ndarray,
    cells: np.ndarray,
    add_times: np.ndarray,
    add_rows: np.ndarray,
) -> np.ndarray:
    """Where each added row goes (before the returned position) so that the columns stay
    sorted by cell, time and category row; the added rows are in that order themselves."""
    at = np.empty(len(cells), dtype=np.int64)
    for i, (cell, time, row) in enumerate(
        zip(cells.tolist(), add_times.tolist(), add_rows.tolist(), strict=True)
    ):
        start, stop = int(starts[cell]), int(starts[cell + 1])
        low = start + int(np.searchsorted(times[start:stop], time, side="left"))
        high = start + int(np.searchsorted(times[start:stop], time, side="right"))
        at[i] = low + int(np.searchsorted(rows[low:high], row, side="right"))
    return at
