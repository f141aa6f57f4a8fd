"""Getis-Ord Gi* hot spots over H3 ring neighbourhoods.

Scoring is a chain of small steps, each a function of plain arrays:

1. :func:`ring_weights` builds the spatial weights between study-area cells: cells within
   ``k`` grid rings of each other are neighbours, and every cell is its own neighbour (the
   "star" in Gi*).
2. :func:`getis_ord_gi_star` turns counts per cell into Gi* z-scores.
3. :func:`p_values` gives two-sided normal p-values.
4. :func:`fdr_significance` applies the Benjamini-Hochberg false discovery rate correction.
5. :func:`classify_hotspots` bins cells into the -3..3 classes commanders know from ArcGIS
   Pro's hot spot tool (``Gi_Bin``).

:func:`hotspot_table` runs the chain for one set of counts.

Conventions
-----------
Gi* (Getis & Ord 1992; Ord & Getis 1995) for cell ``i`` with weights ``w_ij`` (``w_ii``
included) and values ``x`` over all ``n`` study-area cells is::

    z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i**2) / (n - 1)))

with ``xbar`` the mean of ``x``, ``S`` its population standard deviation (divisor ``n``),
``W_i = sum_j w_ij`` and ``S1_i = sum_j w_ij**2``. This is the statistic ArcGIS Pro reports
as ``GiZScore`` and esda reports as ``G_Local(star=True).Zs`` for binary weights.

A z-score is 0 wherever it is undefined: when every value is equal (no variance to test
against), and for a cell whose neighbourhood is the whole study area (its local sum is then
the global sum and the denominator vanishes). Such cells are never hot or cold.

Significance uses two-sided p-values ``p <= alpha``. With FDR on, the Benjamini-Hochberg
step-up procedure runs over all cells, hot and cold together, once for each confidence level
(90, 95 and 99 %); a cell's bin is the highest level at which it survives. This follows the
intent of ArcGIS's "Apply False Discovery Rate Correction" option (which lowers the critical
p-value per confidence level); exact agreement with ArcGIS's own FDR thresholds is not
claimed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from h3ronpy import cells_valid, grid_disk_distances
from numpy.typing import ArrayLike, NDArray
from scipy import sparse, stats

from geo.checks import check_number, check_whole
from geo.errors import GeoError

__all__ = [
    "CONFIDENCE_LEVELS",
    "HOTSPOT_COLUMNS",
    "ring_weights",
    "getis_ord_gi_star",
    "p_values",
    "fdr_significance",
    "classify_hotspots",
    "hotspot_table",
]

#: ``(gi_bin magnitude, alpha)`` pairs, strongest first: 3 = 99 %, 2 = 95 %, 1 = 90 %.
CONFIDENCE_LEVELS: tuple[tuple[int, float], ...] = ((3, 0.01), (2, 0.05), (1, 0.10))

#: Columns of :func:`hotspot_table`, in order.
HOTSPOT_COLUMNS: tuple[str, ...] = ("cell", "count", "z", "p", "gi_bin")

# H3 index layout: the resolution sits in bits 52-55.
#: Most (cell, neighbour) pairs a weights matrix may hold, about 1 GB while it is built:
#: --k 1000 over a city's 11,687 cells asked for 35 billion and took 16 GB before it died.
MAX_RING_PAIRS = 20_000_000
_RESOLUTION_SHIFT = 52
_RESOLUTION_MASK = 0xF


def _study_cells(cells: ArrayLike, *, name: str = "cells") -> NDArray[np.int64]:
    """Return ``cells`` as a 1-D int64 array of distinct, valid H3 cells of one resolution."""
    array = np.asarray(cells)
    if array.ndim != 1:
        raise GeoError(f"{name} must be a 1-D array of H3 cells, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise GeoError(f"{name} must hold integer H3 cell ids, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.size == 0:
        return array
    if np.unique(array).size != array.size:
        raise GeoError(f"{name} must be distinct; aggregate duplicates before scoring")
    valid = pa.array(cells_valid(array.view(np.uint64))).is_valid().to_numpy(zero_copy_only=False)
    if not valid.all():
        bad = int(array[np.flatnonzero(~valid)[0]])
        raise GeoError(f"{name} holds a value that is not a valid H3 cell: {bad}")
    resolutions = np.unique((array >> _RESOLUTION_SHIFT) & _RESOLUTION_MASK)
    if resolutions.size != 1:
        raise GeoError(f"{name} must share one H3 resolution, got {resolutions.tolist()}")
    return array


def ring_weights(
    cells: ArrayLike, k: int = 1, *, decay: Sequence[float] | None = None
) -> sparse.csr_matrix:
    """Spatial weights between study-area cells within ``k`` grid rings, self included.

    Parameters
    ----------
    cells
        Distinct ``int64`` H3 cells of one resolution: the study area. Row and column ``i``
        of the result belong to ``cells[i]``.
    k
        Neighbourhood radius in grid rings (0 gives each cell only itself).
    decay
        Weight for each ring distance ``0..k`` (``k + 1`` non-negative numbers); the default
        is all ones, i.e. binary weights. ``decay[0]`` is the self-weight.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``float64`` matrix of shape ``(n, n)`` with ``w_ij = decay[d]`` where ``d`` is the
        grid distance between cells ``i`` and ``j`` and ``d <= k``, else 0. Cells outside
        ``cells`` are ignored, so cells at the edge of the area have fewer neighbours.

    Raises
    ------
    GeoError
        For cells that are not distinct valid H3 cells of one resolution, a negative ``k``
        or a ``decay`` of the wrong length or with negative or non-finite values.

    Examples
    --------
    A lone cell is its own only neighbour:

    >>> ring_weights(np.array([0x89283082803FFFF]), k=1).toarray()
    array([[1.]])
    """
    k = check_whole(k, "k", minimum=0)
    if decay is None:
        ring_weight = np.ones(k + 1)
    else:
        ring_weight = np.asarray(decay, dtype=np.float64)
        if ring_weight.shape != (k + 1,):
            raise GeoError(
                f"decay must give one weight per ring distance 0..{k} ({k + 1} values), "
                f"got shape {ring_weight.shape}"
            )
        if not (np.isfinite(ring_weight).all() and (ring_weight >= 0).all()):
            raise GeoError(f"decay must be finite and non-negative, got {ring_weight.tolist()}")
    study = _study_cells(cells)
    n = study.size
    if n == 0:
        return sparse.csr_matrix((0, 0), dtype=np.float64)
    pairs = n * (3 * k * (k + 1) + 1)  # cells within k rings of a cell, self included
    if pairs > MAX_RING_PAIRS:
        raise GeoError(
            f"k={k} rings around {n} cells make about {pairs:,} neighbour pairs, more than "
            f"{MAX_RING_PAIRS:,}: use fewer rings"
        )

    disks = pa.record_batch(grid_disk_distances(study.view(np.uint64), k))
    disk_cells = disks.column("cell")
    offsets = disk_cells.offsets.to_numpy()
    neighbours = disk_cells.values.to_numpy().view(np.int64)
    distances = disks.column("k").values.to_numpy()
    rows = np.repeat(np.arange(n), np.diff(offsets))

    order = np.argsort(study)
    sorted_study = study[order]
    position = np.minimum(np.searchsorted(sorted_study, neighbours), n - 1)
    inside = sorted_study[position] == neighbours
    cols = order[position[inside]]
    data = ring_weight[distances[inside]]
    weights = sparse.csr_matrix((data, (rows[inside], cols)), shape=(n, n))
    weights.eliminate_zeros()
    weights.sort_indices()
    return weights


def _as_weights(weights: object, n: int) -> sparse.csr_matrix:
    """Return ``weights`` as an ``(n, n)`` float64 CSR matrix with non-negative entries."""
    try:
        matrix = sparse.csr_matrix(weights, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise GeoError(
            f"weights must be a square sparse matrix or array, got {type(weights)!r}"
        ) from err
    if matrix.shape != (n, n):
        raise GeoError(f"weights must have shape ({n}, {n}) to match values, got {matrix.shape}")
    if matrix.nnz and not (np.isfinite(matrix.data).all() and (matrix.data >= 0).all()):
        raise GeoError("weights must be finite and non-negative")
    return matrix


def _gi_star_z(
    local_sum: NDArray[np.float64],
    weight_sum: NDArray[np.float64],
    weight_sq_sum: NDArray[np.float64],
    *,
    mean: float,
    std: float,
    n: int,
) -> NDArray[np.float64]:
    """Gi* z-scores from local weighted sums and the global moments (0 where undefined)."""
    z = np.zeros(np.broadcast_shapes(local_sum.shape, weight_sum.shape), dtype=np.float64)
    if std == 0.0 or n < 2:
        return z
    spread = (n * weight_sq_sum - weight_sum**2) / (n - 1)
    # Rounding can leave a tiny positive spread where it is exactly 0 in theory (a
    # neighbourhood covering the whole area); treat those as undefined rather than huge.
    defined = spread > 1e-12 * np.maximum(n * weight_sq_sum, 1.0)
    numerator = local_sum - mean * weight_sum
    np.divide(numerator, std * np.sqrt(np.where(defined, spread, 1.0)), out=z, where=defined)
    return z


def getis_ord_gi_star(values: ArrayLike, weights: object) -> NDArray[np.float64]:
    """Gi* z-scores of ``values`` (e.g. incident counts per cell) under ``weights``.

    Parameters
    ----------
    values
        One finite number per study-area cell.
    weights
        ``(n, n)`` non-negative weights including self-weights, e.g. from
        :func:`ring_weights`; a scipy sparse matrix or a dense array.

    Returns
    -------
    numpy.ndarray
        ``float64`` z-scores, one per cell; positive means a cluster of high values. All
        zeros when every value is equal, and 0 for a cell whose neighbourhood covers the
        whole area with equal weights (the statistic is undefined there).

    Raises
    ------
    GeoError
        For non-finite values, or weights of the wrong shape or with negative entries.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise GeoError(f"values must be 1-D (one per cell), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise GeoError("values must be finite; fill missing counts with 0 first")
    n = x.size
    matrix = _as_weights(weights, n)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    # An exact test for equal values: np.std of equal floats can round to a tiny non-zero.
    std = 0.0 if np.ptp(x) == 0 else float(x.std())
    local_sum = np.asarray(matrix @ x, dtype=np.float64)
    weight_sum = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    weight_sq_sum = np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64).ravel()
    return _gi_star_z(local_sum, weight_sum, weight_sq_sum, mean=float(x.mean()), std=std, n=n)


def p_values(z: ArrayLike) -> NDArray[np.float64]:
    """Two-sided p-values of standard-normal z-scores, any shape.

    Raises
    ------
    GeoError
        For non-finite z-scores.
    """
    scores = np.asarray(z, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise GeoError("z must be finite")
    return np.asarray(2.0 * stats.norm.sf(np.abs(scores)), dtype=np.float64)


def _check_alpha(alpha: float) -> float:
    """``alpha`` as a float, or GeoError unless a significance level strictly in (0, 1)."""
    return check_number(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)


def fdr_significance(
    p: ArrayLike, alpha: float = 0.05, *, axis: int | None = None
) -> NDArray[np.bool_]:
    """Benjamini-Hochberg significance: which tests to reject at false discovery rate ``alpha``.

    With ``m`` tests sorted so that ``p_(1) <= ... <= p_(m)``, find the largest ``r`` with
    ``p_(r) <= alpha * r / m`` and call the ``r`` smallest p-values significant. This is the
    same decision as ``scipy.stats.false_discovery_control(p) <= alpha``.

    Parameters
    ----------
    p
        p-values in [0, 1], any shape.
    alpha
        False discovery rate, strictly between 0 and 1.
    axis
        ``None`` treats every p-value as one family; an integer corrects each slice along
        that axis separately (``axis=0`` on a cells x time steps array: one family per step).

    Returns
    -------
    numpy.ndarray
        Boolean array of the shape of ``p``.

    Raises
    ------
    GeoError
        For p-values outside [0, 1] or NaN, or ``alpha`` outside (0, 1).
    """
    alpha = _check_alpha(alpha)
    probs = np.asarray(p, dtype=np.float64)
    if not ((probs >= 0) & (probs <= 1)).all():
        raise GeoError("p must hold p-values in [0, 1] (no NaN)")
    if probs.size == 0:
        return np.zeros(probs.shape, dtype=bool)
    if axis is None:
        family = probs.reshape(1, -1)
    else:
        family = np.moveaxis(probs, axis, -1).reshape(-1, probs.shape[axis])
    m = family.shape[1]
    ordered = np.sort(family, axis=1)
    passes = ordered <= alpha * np.arange(1, m + 1) / m
    has_any = passes.any(axis=1)
    last = m - 1 - np.argmax(passes[:, ::-1], axis=1)
    cutoff = np.where(has_any, ordered[np.arange(family.shape[0]), last], -1.0)
    significant = family <= cutoff[:, None]
    if axis is None:
        return significant.reshape(probs.shape)
    moved_shape = np.moveaxis(probs, axis, -1).shape
    return np.moveaxis(significant.reshape(moved_shape), -1, axis)


def classify_hotspots(z: ArrayLike, p: ArrayLike, fdr: bool = True) -> NDArray[np.int8]:
    """Hot and cold spot bins in -3..3, as ArcGIS Pro's ``Gi_Bin``.

    ``3``/``-3``: hot/cold at 99 % confidence, ``2``/``-2`` at 95 %, ``1``/``-1`` at 90 %,
    ``0`` not significant. The sign follows ``z``.

    Parameters
    ----------
    z
        Gi* z-scores.
    p
        Their two-sided p-values (same shape).
    fdr
        Apply the Benjamini-Hochberg correction over all cells at each confidence level
        (alpha 0.10, 0.05, 0.01); a cell takes the highest level it passes. Without it a
        cell passes a level when ``p <= alpha``.

    Returns
    -------
    numpy.ndarray
        ``int8`` bins of the shape of ``z``.

    Raises
    ------
    GeoError
        When ``z`` and ``p`` differ in shape or hold invalid values.
    """
    scores = np.asarray(z, dtype=np.float64)
    probs = np.asarray(p, dtype=np.float64)
    if scores.shape != probs.shape:
        raise GeoError(f"z and p differ in shape: {scores.shape} and {probs.shape}")
    if not np.isfinite(scores).all():
        raise GeoError("z must be finite")
    if not ((probs >= 0) & (probs <= 1)).all():
        raise GeoError("p must hold p-values in [0, 1] (no NaN)")
    level = np.zeros(scores.shape, dtype=np.int8)
    # Weakest level first so that stronger levels overwrite it; BH rejections are nested in
    # alpha, so a cell passing 99 % also passes 95 % and 90 %.
    for magnitude, alpha in reversed(CONFIDENCE_LEVELS):
        passes = fdr_significance(probs, alpha) if fdr else probs <= alpha
        level[passes] = magnitude
    return (level * np.sign(scores)).astype(np.int8)


def hotspot_table(
    cells: ArrayLike,
    counts: ArrayLike,
    k: int = 1,
    fdr: bool = True,
    *,
    decay: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Gi* hot spots of incident counts per cell, as one table.

    Parameters
    ----------
    cells
        Distinct ``int64`` H3 cells of one resolution: the whole study area, including
        cells with no incidents (they are part of the mean and variance).
    counts
        Incident count (or any non-negative value) per cell, aligned with ``cells``.
    k, decay
        Neighbourhood, as in :func:`ring_weights`.
    fdr
        Apply the false discovery rate correction, as in :func:`classify_hotspots`.

    Returns
    -------
    pandas.DataFrame
        One row per cell in input order with columns ``cell`` (int64), ``count``, ``z``
        (Gi* z-score), ``p`` (two-sided p-value) and ``gi_bin`` (int8, -3..3).

    Raises
    ------
    GeoError
        For invalid cells, counts of another length, or an invalid neighbourhood.
    """
    study = _study_cells(cells)
    values = np.asarray(counts)
    if values.shape != study.shape:
        raise GeoError(
            f"counts must give one value per cell ({study.size}), got shape {values.shape}"
        )
    weights = ring_weights(study, k, decay=decay)
    z = getis_ord_gi_star(values, weights)
    p = p_values(z)
    return pd.DataFrame(
        {
            "cell": study,
            "count": values,
            "z": z,
            "p": p,
            "gi_bin": classify_hotspots(z, p, fdr=fdr),
        },
        columns=list(HOTSPOT_COLUMNS),
    )
