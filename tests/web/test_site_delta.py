"""Bringing the site's data up to date with a delta gives, array for array, what a fresh
load of the changed incidents gives (web.services.site_delta)."""

from __future__ import annotations

import numpy as np
import pytest

from web import storage
from web.services import site_data as hd
from web.services.site_delta import IncidentDelta, apply_delta

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

PER_INCIDENT = ("occurred_at", "cell_index", "category_index")


@pytest.fixture(scope="module")
def site(demo_db):
    return hd.site_data(storage.make_engine(demo_db))


def _triples(site) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return site.occurred_at.copy(), site.incident_cells.copy(), site.category_index.copy()


def _expected(times, cells, rows):
    """The columns a fresh load of these incidents gives (sorted by cell, time, row)."""
    cell_ids, cell_index = np.unique(cells, return_inverse=True)
    order = np.lexsort((rows, times, cell_index))
    return {
        "occurred_at": times[order],
        "cell_index": cell_index[order],
        "category_index": rows[order],
        "cell_ids": cell_ids,
        "cell_starts": np.concatenate([[0], np.cumsum(np.bincount(cell_index))]),
    }


def _delta(site, seed: int) -> tuple[IncidentDelta, tuple[np.ndarray, ...]]:
    """A delta that removes 40 rows (some with repeated triples), adds 60 (some in cells the
    data has no incident in, some at times and categories equal to stored rows), and the
    triples the changed data should hold."""
    rng = np.random.default_rng(seed)
    times, cells, rows = _triples(site)
    gone = rng.choice(len(times), 40, replace=False)
    copies = rng.choice(len(times), 20, replace=False)  # same triples as stored rows
    fresh_cells = np.setdiff1d(site.cells, site.cell_ids)[:10]
    assert len(fresh_cells) == 10
    add_times = np.concatenate([times[copies], rng.integers(times.min(), times.max(), 40)])
    add_cells = np.concatenate([cells[copies], rng.choice(site.cell_ids, 30), fresh_cells]).astype(
        np.int64
    )
    add_rows = np.concatenate([rows[copies], rng.integers(0, len(site.categories), 40)])
    delta = IncidentDelta(
        added_times=add_times,
        added_cells=add_cells,
        added_rows=add_rows.astype(np.int16),
        removed_times=times[gone],
        removed_cells=cells[gone],
        removed_rows=rows[gone],
    )
    keep = np.ones(len(times), dtype=bool)
    keep[gone] = False
    after = (
        np.concatenate([times[keep], add_times]),
        np.concatenate([cells[keep], add_cells]),
        np.concatenate([rows[keep], add_rows]).astype(np.int16),
    )
    return delta, after


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_delta_gives_what_a_fresh_load_gives(site, seed: int) -> None:
    assert len(site.hour) == site.n_incidents  # worked out: they must be carried along
    delta, after = _delta(site, seed)
    changed = apply_delta(site, delta, (site.version[0] + 1, site.version[1] + 1))
    expected = _expected(*after)
    for name, values in expected.items():
        assert np.array_equal(getattr(changed, name), values), name
    assert changed.n_incidents == site.n_incidents + 20
    assert changed.version == (site.version[0] + 1, site.version[1] + 1)
    fresh = hd._local_columns(changed.occurred_at, changed.timezone)
    assert "local_fields" in changed._memo
    for carried, computed in zip(changed._local_fields(), fresh, strict=True):
        assert np.array_equal(carried, computed)
    assert (changed.first_s, changed.last_s) == (after[0].min(), after[0].max())
    # the data it came from is unchanged (requests may still be reading it)
    assert np.array_equal(site.occurred_at, _triples(site)[0])


def test_removing_a_row_that_is_not_there_is_refused(site) -> None:
    cell = int(site.cell_ids[0])
    delta = IncidentDelta(
        added_times=np.empty(0, np.int64),
        added_cells=np.empty(0, np.int64),
        added_rows=np.empty(0, np.int16),
        removed_times=np.array([-5], np.int64),
        removed_cells=np.array([cell], np.int64),
        removed_rows=np.array([0], np.int16),
    )
    with pytest.raises(LookupError, match="no incident"):
        apply_delta(site, delta, site.version)
