"""H3 cells: vectorised indexing of points, parents, and hex-string conversion.

Inside the project a cell is a 64-bit integer (``np.int64``; valid H3 ids never set the top
bit, so the signed type holds them unchanged and databases store them as BIGINT). Hex strings
(``"89283082803ffff"``) appear only at boundaries: API, exports and CLI output.

Indexing uses h3ronpy's vectorised kernels (the same H3 v4 C library as the ``h3`` package),
which avoid one Python call per point.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
from h3ronpy import cells_parse, cells_to_string, cells_valid, change_resolution
from h3ronpy.vector import coordinates_to_cells

from geo.errors import GeoError, InvalidResolutionError

__all__ = [
    "DEFAULT_RESOLUTION",
    "MAX_RESOLUTION",
    "validate_resolution",
    "cells_from_points",
    "parent_cells",
    "hex_from_cells",
    "cells_from_hex",
]

MAX_RESOLUTION = 15
#: Base resolution incidents are indexed at unless a site sets another: about 0.1 km² a cell,
#: a few street blocks, the scale of hot-spot patrols.
DEFAULT_RESOLUTION = 9


def validate_resolution(resolution: int, *, name: str = "resolution") -> int:
    """Return ``resolution`` as an int, or raise if it is not an H3 resolution.

    Raises
    ------
    InvalidResolutionError
        When ``resolution`` is not an integer in 0..15.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
        raise InvalidResolutionError(f"{name} must be an integer 0..15, got {resolution!r}")
    if not 0 <= int(resolution) <= MAX_RESOLUTION:
        raise InvalidResolutionError(f"{name} must be in 0..15, got {resolution}")
    return int(resolution)


def cells_from_points(lat: np.ndarray, lon: np.ndarray, resolution: int) -> np.ndarray:
    """Index WGS-84 points into H3 cells.

    Parameters
    ----------
    lat, lon
        Latitudes and longitudes in degrees (equal length, finite).
    resolution
        H3 resolution 0..15.

    Returns
    -------
    numpy.ndarray
        ``int64`` cell ids, one per point.

    Raises
    ------
    InvalidResolutionError
        For a resolution outside 0..15.
    GeoError
        When the arrays differ in length or hold non-finite values.
    """
    resolution = validate_resolution(resolution)
    lat = np.ascontiguousarray(lat, dtype=np.float64)
    lon = np.ascontiguousarray(lon, dtype=np.float64)
    if lat.shape != lon.shape:
        raise GeoError(f"lat and lon differ in length: {lat.size} and {lon.size}")
    if lat.size == 0:
        return np.empty(0, dtype=np.int64)
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise GeoError("lat and lon must be finite; drop or reject missing coordinates first")
    cells = coordinates_to_cells(lat, lon, resolution)
    return np.asarray(cells, dtype=np.uint64).view(np.int64)


def parent_cells(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Return each cell's parent at a coarser ``resolution`` (``int64``)."""
    resolution = validate_resolution(resolution)
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    if cells.size == 0:
        return cells.copy()
    parents = change_resolution(cells.view(np.uint64), resolution)
    return np.asarray(parents, dtype=np.uint64).view(np.int64)


def hex_from_cells(cells: np.ndarray) -> list[str]:
    """Convert integer cell ids to H3 hex strings (the form used at every boundary)."""
    cells = np.ascontiguousarray(cells, dtype=np.int64)
    if cells.size == 0:
        return []
    return pa.array(cells_to_string(cells.view(np.uint64))).to_pylist()


def cells_from_hex(values: Iterable[str]) -> np.ndarray:
    """Parse H3 hex strings into ``int64`` cell ids.

    Raises
    ------
    GeoError
        Naming the first value that is not a valid H3 cell.
    """
    values = [str(v) for v in values]
    if not values:
        return np.empty(0, dtype=np.int64)
    parsed = pa.array(
        cells_parse(pa.array(values, type=pa.large_utf8()), set_failing_to_invalid=True)
    )
    valid = parsed.is_valid().to_numpy(zero_copy_only=False)
    if valid.all():
        valid = pa.array(cells_valid(parsed)).to_numpy(zero_copy_only=False)
    if not valid.all():
        bad = values[int(np.flatnonzero(~valid)[0])]
        raise GeoError(f"not a valid H3 cell id: {bad!r}")
    return parsed.to_numpy(zero_copy_only=False).astype(np.uint64).view(np.int64)
