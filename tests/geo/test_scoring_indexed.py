"""Tests for geo.scoring.IndexedIncidents: every model scores the indexed form of incidents
exactly as it scores the frame (cells outside the study area, missing categories, weights of
zero, category filters), and bad indices are refused."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from geo.errors import GeoError
from geo.scoring import MODELS, IndexedIncidents, score_cells

DAY = 86_400
CENTRE = h3.latlng_to_cell(41.8781, -87.6298, 9)
CENTRE_ID = h3.str_to_int(CENTRE)


def _incidents(seed: int, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A frame of ``n`` incidents over a disk of cells (some outside the study cells
    returned), three categories and a few missing ones, over 120 days."""
    rng = np.random.default_rng(seed)
    disk = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 4)), dtype=np.int64)
    study = disk[: len(disk) - 10]  # the last ten cells hold incidents but are not studied
    codes = np.array(["BURGLARY", "THEFT", "NARCOTICS"], dtype=object)
    category = codes[rng.integers(0, 3, n)]
    category[rng.random(n) < 0.02] = None
    frame = pd.DataFrame(
        {
            "occurred_at": rng.integers(0, 120 * DAY, n).astype(np.int64),
            "cell": disk[rng.integers(0, len(disk), n)],
            "category": pd.Categorical(category, categories=list(codes)),
        }
    )
    return frame, study


def _indexed(frame: pd.DataFrame) -> IndexedIncidents:
    cell_ids, cell_index = np.unique(frame["cell"].to_numpy(), return_inverse=True)
    return IndexedIncidents(
        occurred_at=frame["occurred_at"].to_numpy(),
        cell_index=cell_index.astype(np.int32),
        cell_ids=cell_ids,
        category_index=frame["category"].cat.codes.to_numpy().astype(np.int16),
        category_codes=tuple(frame["category"].cat.categories),
    )


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("categories", [None, ("BURGLARY",), ("THEFT", "NARCOTICS")])
def test_the_indexed_form_scores_as_the_frame(model: str, categories) -> None:
    frame, study = _incidents(seed=7, n=3_000)
    weights = {"BURGLARY": 2.0, "THEFT": 1.0, "NARCOTICS": 0.0}
    as_of = 100 * DAY
    from_frame = score_cells(
        frame, study, as_of, model=model, category_weights=weights, categories=categories
    )
    from_index = score_cells(
        _indexed(frame), study, as_of, model=model, category_weights=weights, categories=categories
    )
    pd.testing.assert_frame_equal(from_index, from_frame)
    assert from_frame["score"].sum() > 0  # the comparison compared something


def test_incidents_without_a_category_weigh_one_unless_a_filter_is_set() -> None:
    frame, study = _incidents(seed=3, n=500)
    frame["category"] = pd.Categorical([None] * len(frame), categories=["THEFT"])
    indexed = _indexed(frame)
    assert (indexed.category_index == -1).all()
    counts = score_cells(indexed, study, 200 * DAY, model="naive")["score"]
    assert counts.sum() == int(frame["cell"].isin(study).sum())
    filtered = score_cells(indexed, study, 200 * DAY, model="naive", categories=("THEFT",))
    assert filtered["score"].sum() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cell_index": np.array([0, 5])}, "cell_index must point into cell_ids"),
        ({"category_index": np.array([0, 2])}, "category_index must point into"),
        ({"occurred_at": np.array([0, 10**13])}, "must be UTC seconds"),
        ({"cell_index": np.array([0])}, "must have one length"),
    ],
)
def test_bad_indices_are_refused(change: dict, message: str) -> None:
    fields = {
        "occurred_at": np.array([0, 10], dtype=np.int64),
        "cell_index": np.array([0, 1]),
        "cell_ids": np.array([CENTRE_ID, CENTRE_ID + 1], dtype=np.int64),
        "category_index": np.array([0, -1]),
        "category_codes": ("THEFT",),
    }
    with pytest.raises(GeoError, match=message):
        IndexedIncidents(**{**fields, **change})
