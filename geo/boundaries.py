"""Jurisdiction boundaries and area layers: loading, H3 covers, lookups and point-in-boundary.

A *boundary* is one (multi)polygon: the study area of a city. An *area layer* is a set of
named polygons that should tile it (police districts, beats, management grids). Loaders turn
a file into a GeoDataFrame in EPSG:4326 with documented columns; everything after them works
on frames and arrays and never touches files.

Covers follow H3's containment rules (see :func:`cells_from_polygons`) and are computed with
h3ronpy's vectorised kernels, the same H3 v4 C library as the ``h3`` package (h3ronpy's modes
``ContainsCentroid`` / ``Covers`` / ``ContainsBoundary`` give the same cells as
``h3.h3shape_to_cells_experimental`` with ``contain="center" / "overlap" / "full"``, about
five times faster on the Chicago city limit).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio.errors
import pyproj
import shapely
from h3ronpy import ContainmentMode
from h3ronpy.vector import geometry_to_cells
from shapely.geometry.base import BaseGeometry

from geo.cells import validate_resolution
from geo.checks import CONTROL_CHARACTERS, check_number
from geo.errors import GeoError, InvalidBoundaryError, InvalidCoordinatesError

__all__ = [
    "CONTAINMENT_MODES",
    "ID_FIELD_CANDIDATES",
    "load_boundary",
    "load_areas",
    "cells_from_polygons",
    "study_area_cells",
    "area_lookup",
    "points_in_boundary",
    "expand_boundary",
]

WGS84 = "EPSG:4326"

#: Containment rules accepted by :func:`cells_from_polygons`, mapped to h3ronpy's modes.
#: ``Covers`` rather than ``IntersectsBoundary`` for "overlap": it also returns the cell
#: around a polygon smaller than one cell, which touches no cell boundary.
CONTAINMENT_MODES = {
    "center": ContainmentMode.ContainsCentroid,
    "overlap": ContainmentMode.Covers,
    "full": ContainmentMode.ContainsBoundary,
}

#: Field names tried, case-insensitively and in this order, when ``load_areas`` is given no
#: ``id_field``; ``{kind}`` is replaced by the area kind. ``{kind}_num`` comes before
#: ``{kind}`` because Chicago's beat layer has ``BEAT`` (the beat within its sector, "1")
#: next to ``BEAT_NUM`` (the beat number, "1713").
ID_FIELD_CANDIDATES = (
    "area_id",
    "id",
    "{kind}_id",
    "{kind}_num",
    "{kind}_no",
    "{kind}",
    "beat_num",
    "dist_num",
    "district_num",
    "grid_id",
    "objectid",
    "fid",
)

#: Most H3 cells one layer may cover, about 210,000 km² at resolution 9 (a large Chinese
#: prefecture is under 100,000 km²). A province, a country or a file in the wrong CRS would
#: otherwise cover billions of cells and exhaust the memory.
MAX_COVER_CELLS = 2_000_000
#: Longest area id and name kept (the database column holds 80 characters for an id).
MAX_AREA_ID_CHARS = 80
MAX_AREA_NAME_CHARS = 200
#: Widest tolerance around a boundary, in metres: it absorbs coordinates snapped a little
#: outside the city limit; a kilometre-sized one (1e12 crashed GEOS) is a typing error.
MAX_TOLERANCE_M = 10_000.0

# Chinese web-map datums: lon/lat coordinates shifted from WGS-84 by a published algorithm.
_SHIFTED_DATUMS = {"GCJ02": "GCJ-02", "BD09": "BD-09"}

# Boxes per axis of the pre-classification grid of points_in_boundary: about sqrt(n) / 4
# balances building the boxes against exact tests (measured on 684k Chicago points).
_MIN_BOXES_PER_AXIS = 8
_MAX_BOXES_PER_AXIS = 256


def load_boundary(
    path: str | os.PathLike[str],
    layer: str | int | None = None,
    crs: str | int | pyproj.CRS | None = None,
    name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a jurisdiction boundary and dissolve it into one (multi)polygon.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, Shapefile, or a ``.zip`` holding a Shapefile.
    layer
        Layer name or index for multi-layer files (GeoPackage); the first layer by default.
    crs
        Coordinate system of the file's coordinates, overriding what the file declares.
        ``None`` trusts the file and assumes EPSG:4326 when it declares nothing.
        ``"GCJ-02"`` or ``"BD-09"`` mark lon/lat from Chinese web maps (AMap, Tencent;
        Baidu), which no file labels; they are converted to WGS-84.
    name
        Value of the ``name`` column. By default the file's ``name`` field when all its
        features agree on one non-empty value, otherwise the file name without extension.

    Returns
    -------
    geopandas.GeoDataFrame
        One row with columns ``name`` and ``geometry`` (Polygon or MultiPolygon, valid),
        CRS EPSG:4326. Invalid rings are repaired with ``shapely.make_valid`` and only
        polygonal parts are kept; points and lines in the file are ignored.

    Raises
    ------
    InvalidBoundaryError
        When the file is missing, unreadable, empty or holds no polygon.
    InvalidCoordinatesError
        When ``crs`` is not a coordinate system, or the coordinates are not lon/lat after
        reprojection (a projected file without a declared CRS: pass ``crs``).
    """
    frame = _read_polygons(path, layer=layer, crs=crs)
    polygonal = frame.geometry[~frame.geometry.is_empty]
    if polygonal.empty:
        raise InvalidBoundaryError(f"{_describe(path, layer)}: no polygon geometry found")
    geometry = _polygonal(shapely.union_all(polygonal.to_numpy()))
    if name is None:
        name = _common_name(frame) or _stem(path)
    return gpd.GeoDataFrame({"name": [name]}, geometry=[geometry], crs=WGS84)


def load_areas(
    path: str | os.PathLike[str],
    kind: str,
    id_field: str | None = None,
    name_field: str | None = None,
    layer: str | int | None = None,
    crs: str | int | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """Read an area layer (districts, beats, grids) with one row per area.

    Features sharing an area id are dissolved into one row (their union), because real
    layers store some areas in pieces: Chicago's 2012 district layer has 25 polygons for 23
    districts (district 31 is three pieces) and its beat layer 277 polygons for 275 beats.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, Shapefile, or a ``.zip`` holding a Shapefile.
    kind
        What the areas are, e.g. ``"district"``, ``"beat"``, ``"grid"``; copied into the
        ``kind`` column and used to guess the id field.
    id_field
        Field holding the area id. By default the first field (case-insensitively) of
        :data:`ID_FIELD_CANDIDATES`, otherwise the 0-based row number.
    name_field
        Field holding a display name; the area id by default and where the name is empty.
    layer
        Layer name or index for multi-layer files; the first layer by default.
    crs
        As for :func:`load_boundary`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``area_id`` (str), ``name`` (str), ``kind`` (str) and ``geometry`` (valid
        Polygon or MultiPolygon), CRS EPSG:4326, in order of each id's first feature.
        Integer-valued ids are written without a decimal point (``17``, not ``17.0``).

    Raises
    ------
    InvalidBoundaryError
        When the file is missing, unreadable or empty, a field is missing (the message
        lists the fields available), an id is empty, or a feature has no polygon.
    InvalidCoordinatesError
        As for :func:`load_boundary`.
    """
    if not isinstance(kind, str) or not kind.strip():
        raise GeoError(f"kind must be a non-empty string such as 'district', got {kind!r}")
    kind = kind.strip()
    source = _describe(path, layer)
    frame = _read_polygons(path, layer=layer, crs=crs)
    if id_field is None:
        id_field = _default_id_field(frame, kind)
    if id_field is None:
        area_ids = pd.Series([str(row) for row in range(len(frame))], index=frame.index)
    else:
        area_ids = _text_field(frame, id_field, source)
        empty = area_ids.isna() | (area_ids == "")
        if empty.any():
            raise InvalidBoundaryError(
                f"{source}: field {id_field!r} is empty in {int(empty.sum())} of "
                f"{len(frame)} features (first at row {int(np.flatnonzero(empty)[0])})"
            )
    _check_area_text(area_ids, id_field or "(row number)", source, MAX_AREA_ID_CHARS)
    if name_field is None:
        names = area_ids
    else:
        names = _text_field(frame, name_field, source)
        _check_area_text(names, name_field, source, MAX_AREA_NAME_CHARS)
        names = names.where(names.notna() & (names != ""), area_ids)

    no_polygon = frame.geometry.is_empty.to_numpy()
    if no_polygon.any():
        missing = area_ids[no_polygon].tolist()
        raise InvalidBoundaryError(
            f"{source}: {len(missing)} feature(s) have no polygon geometry, area ids "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}"
        )

    table = pd.DataFrame(
        {
            "area_id": area_ids.to_numpy(),
            "name": names.to_numpy(),
            "geometry": frame.geometry.to_numpy(),
        }
    )
    rows = []
    for area_id, group in table.groupby("area_id", sort=False):
        geometry = group["geometry"].iloc[0]
        if len(group) > 1:
            geometry = _polygonal(shapely.union_all(group["geometry"].to_numpy()))
        rows.append((area_id, group["name"].iloc[0], geometry))
    area_ids_out, names_out, geometries = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {
            "area_id": pd.array(area_ids_out, dtype="str"),
            "name": pd.array(names_out, dtype="str"),
            "kind": pd.array([kind] * len(rows), dtype="str"),
        },
        geometry=list(geometries),
        crs=WGS84,
    )


def cells_from_polygons(
    areas: gpd.GeoDataFrame, resolution: int, containment: str = "center"
) -> pd.DataFrame:
    """Cover each area's polygon with H3 cells.

    Containment rules:

    - ``"center"``: the cell's centre point lies inside the polygon. Areas that partition
      a region give each cell at most one area (H3 settles centres on a shared edge
      consistently), so this is the rule for area layers.
    - ``"overlap"``: the cell and the polygon share some area, including a polygon smaller
      than one cell. Use it for a study area so that no incident near the edge is lost;
      neighbouring areas then share their edge cells.
    - ``"full"``: the whole cell lies inside the polygon.

    Every ``"full"`` cell is a ``"center"`` cell and every ``"center"`` cell an
    ``"overlap"`` cell. Holes are honoured (a cell whose centre is in a hole is not in the
    ``"center"`` cover) and MultiPolygons are covered part by part. Polygon edges are
    straight lines in lon/lat, as in shapely.

    Parameters
    ----------
    areas
        Frame with columns ``area_id`` and ``geometry`` (Polygon or MultiPolygon), as from
        :func:`load_areas`. A CRS other than EPSG:4326 is reprojected; none is taken as
        EPSG:4326.
    resolution
        H3 resolution 0..15.
    containment
        ``"center"``, ``"overlap"`` or ``"full"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``area_id`` (str) and ``cell`` (int64), one row per (area, cell), ordered
        by area as in ``areas`` and then by cell. An area too small for any cell under the
        rule has no rows.

    Raises
    ------
    InvalidResolutionError
        For a resolution outside 0..15.
    InvalidBoundaryError
        When a column is missing or a geometry is not polygonal.
    GeoError
        For an unknown containment rule.
    """
    resolution = validate_resolution(resolution)
    if containment not in CONTAINMENT_MODES:
        raise GeoError(
            f"containment must be one of {sorted(CONTAINMENT_MODES)}, got {containment!r}"
        )
    mode = CONTAINMENT_MODES[containment]
    missing = {"area_id", "geometry"} - set(areas.columns)
    if missing:
        raise InvalidBoundaryError(
            f"areas lacks column(s) {sorted(missing)}; columns are {list(areas.columns)}"
        )
    geometries = _as_wgs84(areas).geometry.to_numpy()
    area_ids = areas["area_id"].astype("str").to_numpy()
    _check_cover_size(geometries, area_ids, resolution)
    pieces_ids: list[np.ndarray] = []
    pieces_cells: list[np.ndarray] = []
    for area_id, geometry in zip(area_ids, geometries, strict=True):
        if geometry is None or geometry.is_empty:
            continue
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise InvalidBoundaryError(
                f"area {area_id!r}: geometry must be a Polygon or MultiPolygon, "
                f"got {geometry.geom_type}"
            )
        covered = np.asarray(geometry_to_cells(geometry, resolution, containment_mode=mode))
        # A MultiPolygon is covered part by part, so parts closer than a cell repeat cells.
        cells = np.unique(covered.astype(np.uint64).view(np.int64))
        pieces_cells.append(cells)
        pieces_ids.append(np.full(cells.size, area_id, dtype=object))
    if not pieces_cells:
        return pd.DataFrame(
            {"area_id": pd.array([], dtype="str"), "cell": np.empty(0, dtype=np.int64)}
        )
    return pd.DataFrame(
        {
            "area_id": pd.array(np.concatenate(pieces_ids), dtype="str"),
            "cell": np.concatenate(pieces_cells),
        }
    )


def _check_cover_size(geometries: np.ndarray, area_ids: np.ndarray, resolution: int) -> None:
    """Raise before covering when the polygons hold more than :data:`MAX_COVER_CELLS` cells
    (estimated from their geodesic area)."""
    geod = pyproj.Geod(ellps="WGS84")
    cell_km2 = h3.average_hexagon_area(resolution, unit="km^2")
    total_km2 = 0.0
    largest = ("", 0.0)
    for area_id, geometry in zip(area_ids, geometries, strict=True):
        if geometry is None or geometry.is_empty:
            continue
        km2 = abs(geod.geometry_area_perimeter(geometry)[0]) / 1e6
        total_km2 += km2
        largest = max(largest, (str(area_id), km2), key=lambda item: item[1])
    estimate = total_km2 / cell_km2
    if estimate > MAX_COVER_CELLS:
        raise InvalidBoundaryError(
            f"the areas cover {total_km2:,.0f} km² (largest: area {largest[0]!r}, "
            f"{largest[1]:,.0f} km²), about {estimate:,.0f} cells at resolution {resolution}: "
            f"more than the {MAX_COVER_CELLS:,} a layer may have; is it the right file and "
            "coordinate system?"
        )


def study_area_cells(boundary: gpd.GeoDataFrame | gpd.GeoSeries, resolution: int) -> np.ndarray:
    """Return the study area: the sorted unique cells whose centre lies inside the boundary.

    These are the cells that are scored and over which forecasts are measured (5,629 cells
    for Chicago at resolution 9). Each cell is inside or outside as a whole, by its centre,
    so the study area's true area is close to the boundary's. The jurisdiction's stored cover
    uses the ``"overlap"`` rule instead (:func:`cells_from_polygons`), so that no incident
    on the edge falls outside it at import.

    Parameters
    ----------
    boundary
        Boundary frame or series (all rows are united), as from :func:`load_boundary`. A
        CRS other than EPSG:4326 is reprojected; none is taken as EPSG:4326.
    resolution
        H3 resolution 0..15.

    Returns
    -------
    numpy.ndarray
        ``int64`` cell ids, sorted ascending.

    Raises
    ------
    InvalidResolutionError
        For a resolution outside 0..15.
    InvalidBoundaryError
        When the boundary holds no polygon.
    """
    resolution = validate_resolution(resolution)
    geometry = _boundary_geometry(boundary)
    covered = np.asarray(
        geometry_to_cells(geometry, resolution, containment_mode=CONTAINMENT_MODES["center"])
    )
    return np.unique(covered.astype(np.uint64).view(np.int64))


def area_lookup(
    area_cells: pd.DataFrame,
    cells: Sequence[int] | np.ndarray,
    *,
    keep: Literal["first", "last"] = "first",
) -> pd.Series:
    """Return the area id of each cell, or missing where no area holds it.

    ``area_cells`` is expected to be a partition (each cell in at most one area), as the
    ``"center"`` cover of non-overlapping areas is. Where a cell appears in several rows
    (an ``"overlap"`` cover, or overlapping areas) the first row wins (``keep="last"``: the
    last), so order the frame by priority when that matters.

    Parameters
    ----------
    area_cells
        Frame with columns ``area_id`` and ``cell``, as from :func:`cells_from_polygons`.
    cells
        Cell ids (int64 or uint64), e.g. one per incident.
    keep
        ``"first"`` or ``"last"``: which row answers for a cell listed more than once.

    Returns
    -------
    pandas.Series
        Named ``area_id``, dtype str, one value per cell in order (NaN where missing); it
        keeps the index of ``cells`` when that is a Series.

    Raises
    ------
    GeoError
        When a column of ``area_cells`` is missing or ``keep`` is neither ``"first"`` nor
        ``"last"``.
    """
    if keep not in ("first", "last"):
        raise GeoError(f"keep must be 'first' or 'last', got {keep!r}")
    missing = {"area_id", "cell"} - set(area_cells.columns)
    if missing:
        raise GeoError(
            f"area_cells lacks column(s) {sorted(missing)}; columns are {list(area_cells.columns)}"
        )
    index = cells.index if isinstance(cells, pd.Series) else None
    query = _int64_cells(cells)
    unique = area_cells.drop_duplicates(subset="cell", keep=keep)
    positions = pd.Index(_int64_cells(unique["cell"])).get_indexer(query)
    ids = unique["area_id"].astype("str").to_numpy(dtype=object)
    found = positions >= 0
    result = np.full(query.size, None, dtype=object)
    result[found] = ids[positions[found]]
    return pd.Series(result, index=index, name="area_id", dtype="str")


def points_in_boundary(
    lon: np.ndarray | Sequence[float],
    lat: np.ndarray | Sequence[float],
    boundary_geom: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
    tolerance_m: float = 0.0,
) -> np.ndarray:
    """Tell which points lie inside the boundary; same answer as ``shapely.contains_xy``.

    Points are binned into a regular lon/lat grid of boxes. A box that does not touch the
    boundary's rings is wholly inside or wholly outside, decided by its centre; only points
    in boxes crossed by a ring get the exact test. On 684k Chicago incidents this takes
    about a fifth of the time of ``contains_xy`` on every point (and indexing the points
    into H3 cells first would alone cost more than the plain test).

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (WGS-84), equal length. Non-finite values
        are outside.
    boundary_geom
        Polygon or MultiPolygon in EPSG:4326, or a boundary frame or series (all rows
        united, reprojected to EPSG:4326 if needed).
    tolerance_m
        Grow the boundary by this many metres first (buffered in the local UTM zone), to
        keep points geocoded just outside the edge. A point on the boundary line itself is
        outside when ``tolerance_m`` is 0, as in shapely.

    Returns
    -------
    numpy.ndarray
        Boolean, one value per point.

    Raises
    ------
    InvalidBoundaryError
        When the boundary holds no polygon.
    InvalidCoordinatesError
        When ``lon`` and ``lat`` differ in shape.
    GeoError
        When ``tolerance_m`` is negative or not finite.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.shape != lat.shape:
        raise InvalidCoordinatesError(
            f"lon and lat must have the same shape, got {lon.shape} and {lat.shape}"
        )
    tolerance_m = check_number(tolerance_m, "tolerance_m", low=0.0, high=MAX_TOLERANCE_M)
    geometry = _boundary_geometry(boundary_geom)
    if tolerance_m > 0:
        geometry = _buffer_m(geometry, tolerance_m)
    # Work on a copy: preparing attaches an index to the geometry object itself.
    geometry = shapely.from_wkb(shapely.to_wkb(geometry))
    shapely.prepare(geometry)

    inside = np.zeros(lon.shape, dtype=bool)
    min_x, min_y, max_x, max_y = geometry.bounds
    # NaN fails every comparison, so missing coordinates stay outside.
    in_bounds = (lon >= min_x) & (lon <= max_x) & (lat >= min_y) & (lat <= max_y)
    candidates = np.flatnonzero(in_bounds.ravel())
    if candidates.size == 0:
        return inside
    x = lon.ravel()[candidates]
    y = lat.ravel()[candidates]

    boxes_per_axis = int(
        np.clip(math.sqrt(candidates.size) / 4, _MIN_BOXES_PER_AXIS, _MAX_BOXES_PER_AXIS)
    )
    box_size = max(max_x - min_x, max_y - min_y) / boxes_per_axis
    n_x = math.ceil((max_x - min_x) / box_size) + 1
    n_y = math.ceil((max_y - min_y) / box_size) + 1
    box_of_point = ((y - min_y) / box_size).astype(np.int64) * n_x + (
        (x - min_x) / box_size
    ).astype(np.int64)
    occupied = np.flatnonzero(np.bincount(box_of_point, minlength=n_x * n_y))
    box_x = min_x + (occupied % n_x) * box_size
    box_y = min_y + (occupied // n_x) * box_size
    # Pad each box far beyond rounding error so every point binned into it lies inside it.
    pad = box_size * 1e-6
    boxes = shapely.box(box_x - pad, box_y - pad, box_x + box_size + pad, box_y + box_size + pad)
    rings = shapely.boundary(geometry)
    shapely.prepare(rings)
    on_edge = shapely.intersects(rings, boxes)
    centre_inside = shapely.contains_xy(geometry, box_x + box_size / 2, box_y + box_size / 2)

    # 0 outside, 1 inside, 2 crossed by a ring (exact test per point).
    state = np.zeros(n_x * n_y, dtype=np.int8)
    state[occupied] = np.where(on_edge, 2, centre_inside.astype(np.int8))
    point_state = state[box_of_point]
    result = point_state == 1
    exact = point_state == 2
    result[exact] = shapely.contains_xy(geometry, x[exact], y[exact])
    inside.ravel()[candidates] = result
    return inside


def _read_polygons(
    path: str | os.PathLike[str], layer: str | int | None, crs: str | int | pyproj.CRS | None
) -> gpd.GeoDataFrame:
    """Read a layer, bring it to EPSG:4326 and keep only valid polygonal geometry per row."""
    source = _describe(path, layer)
    if not Path(path).exists():
        raise InvalidBoundaryError(f"{source}: file not found")
    try:
        frame = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as err:
        raise InvalidBoundaryError(f"{source}: cannot read as a vector layer: {err}") from err
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame.columns:
        raise InvalidBoundaryError(f"{source}: the layer has no geometry column")
    if frame.empty:
        raise InvalidBoundaryError(f"{source}: the layer has no features")

    shifted = _shifted_datum(crs)
    if shifted is not None:
        if frame.crs is not None and not frame.crs.is_geographic:
            raise InvalidCoordinatesError(
                f"{source}: crs={crs!r} expects lon/lat, but the file declares the "
                f"projected CRS {frame.crs.to_string()}"
            )
        from geo.coords import geometry_to_wgs84  # the coordinate module is optional here

        converted = gpd.GeoSeries(geometry_to_wgs84(frame.geometry, shifted)).to_numpy()
        frame = frame.set_geometry(gpd.GeoSeries(converted, index=frame.index, crs=WGS84))
    elif crs is not None:
        try:
            declared = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as err:
            raise InvalidCoordinatesError(
                f"{source}: crs={crs!r} is not a coordinate system (use an EPSG code, "
                f"'GCJ-02' or 'BD-09')"
            ) from err
        frame = frame.set_crs(declared, allow_override=True)
    elif frame.crs is None:
        frame = frame.set_crs(WGS84)

    if frame.crs.is_projected:
        raw = shapely.total_bounds(frame.geometry.to_numpy())
        if (
            np.isfinite(raw).all()
            and (-180 <= raw[0] <= raw[2] <= 180)
            and (-90 <= raw[1] <= raw[3] <= 90)
        ):
            raise InvalidCoordinatesError(
                f"{source}: the coordinates {raw.round(3).tolist()} look like longitude and "
                f"latitude, but the file is read in the projected CRS "
                f"{frame.crs.to_string()} (metres or feet: the areas would be a few hundred "
                "metres wide near 0°, 0°); pass crs='EPSG:4326' (--crs EPSG:4326), or "
                "GCJ-02 / BD-09"
            )
    if not frame.crs.equals(pyproj.CRS.from_user_input(WGS84)):
        frame = frame.to_crs(WGS84)
    geometries = frame.geometry.to_numpy()
    bounds = shapely.total_bounds(geometries)
    if np.isfinite(bounds).all() and not (
        -180 <= bounds[0] <= bounds[2] <= 180 and -90 <= bounds[1] <= bounds[3] <= 90
    ):
        raise InvalidCoordinatesError(
            f"{source}: coordinates {bounds.round(3).tolist()} are not lon/lat; the file "
            f"declares no coordinate system or a wrong one, pass crs= (e.g. 'EPSG:3435')"
        )
    polygonal = [_polygonal(geometry) for geometry in geometries]
    return frame.set_geometry(gpd.GeoSeries(polygonal, index=frame.index, crs=WGS84))


def _polygonal(geometry: BaseGeometry | None) -> BaseGeometry:
    """Repair a geometry and keep its polygonal parts (an empty Polygon if there are none)."""
    if geometry is None or geometry.is_empty:
        return shapely.Polygon()
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry, method="structure", keep_collapsed=False)
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        part
        for part in shapely.get_parts(geometry)
        if part.geom_type in ("Polygon", "MultiPolygon") and not part.is_empty
    ]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def _boundary_geometry(
    boundary: BaseGeometry | gpd.GeoSeries | gpd.GeoDataFrame,
) -> BaseGeometry:
    """Return one valid polygonal geometry in EPSG:4326 from a geometry, series or frame."""
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        series = _as_wgs84(boundary)
        series = series.geometry if isinstance(series, gpd.GeoDataFrame) else series
        geometry = shapely.union_all(series.dropna().to_numpy())
    elif isinstance(boundary, BaseGeometry):
        geometry = boundary
    else:
        raise InvalidBoundaryError(
            f"boundary must be a shapely geometry, GeoSeries or GeoDataFrame, "
            f"got {type(boundary).__name__}"
        )
    polygonal = _polygonal(geometry)
    if polygonal.is_empty:
        raise InvalidBoundaryError(
            f"boundary holds no polygon (got {geometry.geom_type}, empty={geometry.is_empty})"
        )
    return polygonal


def _as_wgs84(
    frame: gpd.GeoDataFrame | gpd.GeoSeries,
) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Return ``frame`` in EPSG:4326, taking a missing CRS to be EPSG:4326."""
    if frame.crs is None:
        return frame.set_crs(WGS84)
    if frame.crs.equals(pyproj.CRS.from_user_input(WGS84)):
        return frame
    return frame.to_crs(WGS84)


def expand_boundary(geometry: BaseGeometry, tolerance_m: float) -> BaseGeometry:
    """Return ``geometry`` grown outwards by ``tolerance_m`` metres (unchanged for 0).

    Buffering takes a tenth of a second on a city outline; callers that test many batches
    of points expand once and pass ``tolerance_m=0`` to :func:`points_in_boundary`.
    """
    tolerance_m = check_number(
        tolerance_m, "tolerance_m", low=0.0, high=MAX_TOLERANCE_M, error=InvalidBoundaryError
    )
    if tolerance_m == 0:
        return geometry
    return _buffer_m(geometry, tolerance_m)


def _buffer_m(geometry: BaseGeometry, distance_m: float) -> BaseGeometry:
    """Buffer a lon/lat geometry by metres in its local UTM zone."""
    series = gpd.GeoSeries([geometry], crs=WGS84)
    utm = series.estimate_utm_crs()
    return series.to_crs(utm).buffer(distance_m).to_crs(WGS84).iloc[0]


def _shifted_datum(crs: object) -> str | None:
    """Return "GCJ-02" or "BD-09" when ``crs`` names one of them, else None."""
    if not isinstance(crs, str):
        return None
    return _SHIFTED_DATUMS.get(crs.upper().replace("-", "").replace("_", "").strip())


def _default_id_field(frame: gpd.GeoDataFrame, kind: str) -> str | None:
    """Return the first field of ID_FIELD_CANDIDATES present in the frame, or None."""
    by_lower = {
        str(column).lower(): str(column)
        for column in frame.columns
        if column != frame.geometry.name
    }
    for candidate in ID_FIELD_CANDIDATES:
        field = by_lower.get(candidate.format(kind=kind.lower()))
        if field is not None:
            return field
    return None


def _text_field(frame: gpd.GeoDataFrame, field: str, source: str) -> pd.Series:
    """Return a field as stripped strings (integral floats without ".0"; NaN where empty)."""
    if field not in frame.columns or field == frame.geometry.name:
        available = [str(column) for column in frame.columns if column != frame.geometry.name]
        raise InvalidBoundaryError(
            f"{source}: field {field!r} not found; available fields are {available}"
        )
    values = frame[field]
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        if (finite == finite.round()).all():
            values = values.astype("Int64")
    text: pd.Series = values.astype("str").str.strip().where(values.notna())
    return text


def _common_name(frame: gpd.GeoDataFrame) -> str | None:
    """Return the single non-empty value of a ``name`` field, if the file has one."""
    for column in frame.columns:
        if str(column).lower() == "name" and column != frame.geometry.name:
            values = frame[column].dropna().astype("str").str.strip()
            values = values[values != ""].unique()
            if len(values) == 1 and _plain_text(str(values[0]), MAX_AREA_NAME_CHARS):
                return str(values[0])
    return None


def _plain_text(value: str, limit: int) -> bool:
    """Whether ``value`` fits ``limit`` characters and has no control characters."""
    return len(value) <= limit and re.search(CONTROL_CHARACTERS, value) is None


def _check_area_text(values: pd.Series, field: str, source: str, limit: int) -> None:
    """Raise naming the first feature whose ``field`` is longer than ``limit`` characters or
    holds control characters (the database keeps 80 for an id; PostgreSQL refuses a NUL)."""
    text = values.fillna("").astype("str")
    checks = (
        (text.str.len() > limit, f"longer than {limit} characters"),
        (text.str.contains(CONTROL_CHARACTERS, regex=True), "control characters in the text"),
    )
    for mask, why in checks:
        bad = np.flatnonzero(mask.to_numpy(dtype=bool))
        if bad.size:
            raise InvalidBoundaryError(
                f"{source}: feature {int(bad[0]) + 1}, field {field!r}: {why} "
                f"({bad.size} feature(s))"
            )


def _int64_cells(cells: Sequence[int] | np.ndarray | pd.Series) -> np.ndarray:
    """Return cell ids as a 1-D int64 array (uint64 ids are reinterpreted, not converted)."""
    array = np.asarray(cells)
    if array.dtype == np.uint64:
        return array.view(np.int64).ravel()
    return array.astype(np.int64, copy=False).ravel()


def _describe(path: str | os.PathLike[str], layer: str | int | None) -> str:
    """Name a file (and layer) for error messages."""
    return f"{os.fspath(path)!s}" + (f" (layer {layer!r})" if layer is not None else "")


def _stem(path: str | os.PathLike[str]) -> str:
    """Return the file name without its extension."""
    return Path(path).stem
