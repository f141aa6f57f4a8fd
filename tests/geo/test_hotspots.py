"""Tests for geo/hotspots.py: ring weights, Gi* against esda, BH-FDR against scipy, Gi_Bin."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from geo.cells import cells_from_points
from geo.errors import GeoError
from geo.hotspots import (
    HOTSPOT_COLUMNS,
    classify_hotspots,
    fdr_significance,
    getis_ord_gi_star,
    hotspot_table,
    p_values,
    ring_weights,
)
from tests.conftest import CHICAGO_INCIDENTS

# A res-9 cell in Chicago's Loop; its neighbourhood holds no pentagon.
LOOP = h3.latlng_to_cell(41.8781, -87.6298, 9)


def int_cells(hex_cells: list[str]) -> np.ndarray:
    return np.array([h3.str_to_int(c) for c in hex_cells], dtype=np.int64)


def disk(radius: int, centre: str = LOOP) -> np.ndarray:
    return int_cells(sorted(h3.grid_disk(centre, radius)))


# --- ring_weights -------------------------------------------------------------------------


def test_flower_of_seven_k1_links_centre_to_all_and_petals_to_their_sides():
    petals = sorted(set(h3.grid_disk(LOOP, 1)) - {LOOP})
    cells = int_cells([LOOP, *petals])
    assert not any(h3.is_pentagon(c) for c in [LOOP, *petals])

    w = ring_weights(cells, k=1).toarray()

    # Every cell is within one ring of the centre, but opposite petals are two rings apart:
    # a petal sees itself, the centre and its two side petals.
    assert w[0].tolist() == [1.0] * 7
    assert w[:, 0].tolist() == [1.0] * 7
    assert (w[1:].sum(axis=1) == 4).all()
    assert (np.diag(w) == 1).all()
    assert (w == w.T).all()
    for i, a in enumerate(petals, start=1):
        for j, b in enumerate(petals, start=1):
            assert w[i, j] == float(h3.grid_distance(a, b) <= 1)


def test_flower_of_seven_k2_is_all_ones():
    cells = disk(1)
    assert (ring_weights(cells, k=2).toarray() == 1).all()


def test_ring_weights_match_brute_force_grid_distance_on_irregular_area():
    rng = np.random.default_rng(7)
    all_cells = sorted(h3.grid_disk(LOOP, 4))
    kept = [c for c in all_cells if rng.random() < 0.7]
    cells = int_cells(kept)
    decay = (1.0, 0.5, 0.25)

    w = ring_weights(cells, k=2, decay=decay).toarray()

    expected = np.zeros((len(kept), len(kept)))
    for i, a in enumerate(kept):
        for j, b in enumerate(kept):
            d = h3.grid_distance(a, b)
            if d <= 2:
                expected[i, j] = decay[d]
    np.testing.assert_array_equal(w, expected)


def test_ring_weights_follow_input_order():
    cells = disk(2)
    order = np.random.default_rng(3).permutation(cells.size)
    w = ring_weights(cells, k=1).toarray()
    np.testing.assert_array_equal(ring_weights(cells[order], k=1).toarray(), w[order][:, order])


def test_cells_far_apart_only_see_themselves():
    far = h3.latlng_to_cell(41.95, -87.75, 9)
    cells = int_cells([LOOP, far])
    np.testing.assert_array_equal(ring_weights(cells, k=3).toarray(), np.eye(2))


def test_cells_outside_the_area_are_ignored():
    # A straight edge: the centre and three petals; the centre has 3 + 1 neighbours, not 7.
    petals = sorted(set(h3.grid_disk(LOOP, 1)) - {LOOP})[:3]
    w = ring_weights(int_cells([LOOP, *petals]), k=1)
    assert w.shape == (4, 4)
    assert w.toarray()[0].sum() == 4


def test_ring_weights_returns_csr_and_empty_area():
    w = ring_weights(disk(1), k=1)
    assert isinstance(w, sparse.csr_matrix)
    assert w.dtype == np.float64
    assert ring_weights(np.empty(0, dtype=np.int64)).shape == (0, 0)
    np.testing.assert_array_equal(ring_weights(disk(1), k=0).toarray(), np.eye(7))


@pytest.mark.parametrize(
    ("cells", "k", "decay", "message"),
    [
        (np.array([h3.str_to_int(LOOP)] * 2), 1, None, "distinct"),
        (np.array([h3.str_to_int(LOOP), 12345]), 1, None, "not a valid H3 cell"),
        (
            int_cells([LOOP, h3.cell_to_parent(LOOP, 8)]),
            1,
            None,
            "one H3 resolution",
        ),
        (int_cells([LOOP]), -1, None, "non-negative"),
        (int_cells([LOOP]), 2, (1.0, 0.5), "one weight per ring"),
        (int_cells([LOOP]), 1, (1.0, -0.5), "non-negative"),
        (np.array([1.5]), 1, None, "integer"),
    ],
)
def test_ring_weights_rejects_bad_input(cells, k, decay, message):
    with pytest.raises(GeoError, match=message):
        ring_weights(cells, k, decay=decay)


# --- getis_ord_gi_star ---------------------------------------------------------------------


def test_gi_star_by_hand_on_a_path_of_four():
    # Cells 0-1-2-3 in a row, each its own neighbour too. x = [1, 2, 5, 3]:
    # n = 4, mean = 11/4 = 2.75, S^2 = (1 + 4 + 25 + 9)/4 - 2.75^2 = 2.1875.
    # Cell 0: neighbours {0, 1}, W = S1 = 2, local sum 3.
    #   z = (3 - 2.75 * 2) / (sqrt(2.1875) * sqrt((4 * 2 - 2**2) / 3)) = -2.5 / sqrt(2.916667)
    #     = -1.463850
    # Cell 1: neighbours {0, 1, 2}, W = S1 = 3, local sum 8.
    #   z = (8 - 8.25) / (sqrt(2.1875) * sqrt((12 - 9) / 3)) = -0.25 / 1.479020 = -0.169031
    path = np.array(
        [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]],
        dtype=float,
    )
    z = getis_ord_gi_star(np.array([1.0, 2.0, 5.0, 3.0]), sparse.csr_matrix(path))
    assert z[0] == pytest.approx(-2.5 / np.sqrt(2.1875 * 4 / 3), abs=1e-12)
    assert z[1] == pytest.approx(-0.25 / np.sqrt(2.1875), abs=1e-12)
    np.testing.assert_allclose(z, [-1.463850, -0.169031, 1.183216, 1.463850], atol=1e-6)
    # A dense array gives the same answer.
    np.testing.assert_array_equal(getis_ord_gi_star([1, 2, 5, 3], path), z)


@pytest.fixture(scope="module")
def chicago_area_counts() -> tuple[np.ndarray, np.ndarray]:
    """Real January 2016 Chicago incidents counted in res-8 cells near the Loop.

    The study area is every cell within 12 rings of the Loop that saw an incident, so Lake
    Michigan cuts an irregular edge into it.
    """
    frame = pd.read_csv(
        CHICAGO_INCIDENTS / "chicago_crimes_2016-01.csv.gz", usecols=["Latitude", "Longitude"]
    ).dropna()
    incident_cells = cells_from_points(
        frame["Latitude"].to_numpy(), frame["Longitude"].to_numpy(), 8
    )
    area = int_cells(sorted(h3.grid_disk(h3.cell_to_parent(LOOP, 8), 12)))
    counts = np.array([(incident_cells == c).sum() for c in area])
    return area[counts > 0], counts[counts > 0]


@pytest.mark.parametrize("k", [1, 2])
def test_gi_star_matches_esda_on_real_chicago_counts(k, chicago_area_counts):
    from esda.getisord import G_Local
    from libpysal.weights import W

    cells, counts = chicago_area_counts
    assert 200 <= cells.size <= 300
    weights = ring_weights(cells, k=k)

    # Same neighbour lists, handed to libpysal WITHOUT self: esda's G_Local(star=True,
    # transform="B") then puts a self-weight of 1 on the diagonal (fill_diagonal), so both
    # sides use binary weights with w_ii = 1 and the usual n-cell mean and variance.
    coo = weights.tocoo()
    off_diagonal = coo.row != coo.col
    neighbours = {i: [] for i in range(cells.size)}
    for i, j in zip(coo.row[off_diagonal], coo.col[off_diagonal], strict=True):
        neighbours[int(i)].append(int(j))
    w = W(neighbours, id_order=list(range(cells.size)), silence_warnings=True)
    reference = G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)

    np.testing.assert_allclose(getis_ord_gi_star(counts, weights), reference.Zs, atol=1e-8)


def test_gi_star_general_weights_match_the_formula_cell_by_cell():
    rng = np.random.default_rng(11)
    cells = disk(3)
    x = rng.poisson(3.0, size=cells.size).astype(float)
    w = ring_weights(cells, k=2, decay=(2.0, 1.0, 0.5)).toarray()
    n = x.size
    mean, s = x.mean(), np.sqrt((x**2).mean() - x.mean() ** 2)
    expected = [
        (w[i] @ x - mean * w[i].sum())
        / (s * np.sqrt((n * (w[i] ** 2).sum() - w[i].sum() ** 2) / (n - 1)))
        for i in range(n)
    ]
    np.testing.assert_allclose(getis_ord_gi_star(x, sparse.csr_matrix(w)), expected, atol=1e-12)


def test_gi_star_is_zero_without_variance_and_where_the_neighbourhood_is_everything():
    w = ring_weights(disk(2), k=1)
    assert (getis_ord_gi_star(np.full(19, 4.0), w) == 0).all()
    assert (getis_ord_gi_star(np.full(19, 0.1), w) == 0).all()
    # In the flower of seven the centre's neighbourhood is the whole area: z undefined -> 0.
    flower = disk(1)
    centre = flower == h3.str_to_int(LOOP)
    z = getis_ord_gi_star(np.array([5, 0, 1, 0, 2, 0, 1]), ring_weights(flower, k=1))
    assert z[centre] == 0.0
    assert np.isfinite(z).all() and (z[~centre] != 0).all()


def test_gi_star_rejects_bad_input():
    w = ring_weights(disk(1), k=1)
    with pytest.raises(GeoError, match="shape"):
        getis_ord_gi_star(np.ones(6), w)
    with pytest.raises(GeoError, match="finite"):
        getis_ord_gi_star(np.array([1, 2, np.nan, 0, 0, 0, 0]), w)
    with pytest.raises(GeoError, match="non-negative"):
        getis_ord_gi_star(np.ones(7), -w)
    with pytest.raises(GeoError, match="1-D"):
        getis_ord_gi_star(np.ones((7, 2)), w)


# --- p-values and FDR ---------------------------------------------------------------------


def test_p_values_are_two_sided():
    np.testing.assert_allclose(p_values([0.0, 1.959963985, -2.575829304]), [1.0, 0.05, 0.01])
    with pytest.raises(GeoError):
        p_values([np.inf])


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.10])
def test_fdr_matches_scipy_false_discovery_control(seed, alpha):
    rng = np.random.default_rng(seed)
    # A mix of true signals (tiny p) and nulls (uniform p), as on a hot spot map.
    p = np.concatenate([rng.uniform(0, 2e-4, size=40), rng.uniform(size=400)])
    rng.shuffle(p)
    expected = stats.false_discovery_control(p, method="bh") <= alpha
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(fdr_significance(p, alpha), expected)


def test_fdr_per_column_matches_scipy_along_axis_zero():
    rng = np.random.default_rng(5)
    p = rng.uniform(size=(300, 6)) ** 3
    expected = stats.false_discovery_control(p, axis=0) <= 0.05
    np.testing.assert_array_equal(fdr_significance(p, 0.05, axis=0), expected)
    np.testing.assert_array_equal(fdr_significance(p.T, 0.05, axis=1), expected.T)


def test_fdr_edge_cases():
    assert not fdr_significance(np.array([0.5, 0.9]), 0.05).any()
    assert fdr_significance(np.zeros(3), 0.05).all()
    assert fdr_significance(np.empty(0), 0.05).shape == (0,)
    with pytest.raises(GeoError, match="alpha"):
        fdr_significance([0.1], 1.5)
    with pytest.raises(GeoError, match=r"\[0, 1\]"):
        fdr_significance([np.nan], 0.05)


# --- classify_hotspots and hotspot_table ---------------------------------------------------


def cluster_counts() -> tuple[np.ndarray, np.ndarray, int]:
    """A 6-ring disk with one count per cell and 12 in the central flower of seven."""
    cells = disk(6)
    centre = int(np.flatnonzero(cells == h3.str_to_int(LOOP))[0])
    counts = np.ones(cells.size, dtype=np.int64)
    flower = np.isin(cells, disk(1))
    counts[flower] = 12
    return cells, counts, centre


def test_clear_cluster_is_hot_at_99_percent_in_the_centre():
    cells, counts, centre = cluster_counts()
    z = getis_ord_gi_star(counts, ring_weights(cells, k=1))
    bins = classify_hotspots(z, p_values(z))
    assert bins.dtype == np.int8
    assert bins[centre] == 3
    assert (bins[np.isin(cells, disk(1))] == 3).all()
    assert (bins >= -3).all() and (bins <= 3).all()
    # Far from the cluster nothing is hot.
    far = ~np.isin(cells, disk(3))
    assert (bins[far] <= 0).all()


def test_uniform_counts_give_no_hot_or_cold_spots():
    cells = disk(6)
    table = hotspot_table(cells, np.full(cells.size, 3))
    assert (table["gi_bin"] == 0).all()
    assert (table["z"] == 0).all()
    assert (table["p"] == 1).all()


def test_bins_follow_confidence_levels_without_fdr():
    z = np.array([3.0, 2.2, 1.7, 1.0, -1.7, -2.2, -3.0, 0.0])
    bins = classify_hotspots(z, p_values(z), fdr=False)
    assert bins.tolist() == [3, 2, 1, 0, -1, -2, -3, 0]


def test_fdr_lowers_bins_when_few_cells_are_extreme():
    # 100 cells, one with p = 0.02: significant at 95 % alone, not after FDR over 100 tests.
    z = np.zeros(100)
    z[0] = stats.norm.isf(0.01)
    bins_raw = classify_hotspots(z, p_values(z), fdr=False)
    bins_fdr = classify_hotspots(z, p_values(z), fdr=True)
    assert bins_raw[0] == 2
    assert bins_fdr[0] == 0


def test_classify_rejects_mismatched_input():
    with pytest.raises(GeoError, match="shape"):
        classify_hotspots(np.zeros(3), np.ones(2))


def test_hotspot_table_columns_and_order():
    cells, counts, centre = cluster_counts()
    table = hotspot_table(cells, counts, k=1)
    assert tuple(table.columns) == HOTSPOT_COLUMNS
    assert table["cell"].dtype == np.int64
    np.testing.assert_array_equal(table["cell"], cells)
    np.testing.assert_array_equal(table["count"], counts)
    assert table.loc[centre, "gi_bin"] == 3
    with pytest.raises(GeoError, match="one value per cell"):
        hotspot_table(cells, counts[:-1])
