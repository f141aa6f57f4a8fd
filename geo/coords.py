"""Coordinate systems: WGS-84, the Chinese map systems GCJ-02 and BD-09, and any pyproj CRS.

Chinese city bureaus and their basemaps (AMap/高德, Tencent, Baidu) publish coordinates in
GCJ-02, the state-mandated obfuscation of WGS-84, or in Baidu's BD-09, a further shift of
GCJ-02. H3 and every other part of this library work in WGS-84 (EPSG:4326), so incidents and
boundaries pass through `to_wgs84` or `geometry_to_wgs84` on the way in.

Out-of-China rule: a point is converted only when it lies in the rough bounding box of China
used by the open implementations (eviltransform, PRCoords), longitude 72.004 to 137.8347 E
and latitude 0.8293 to 55.8271 N, edges included. Every other point, and NaN, is returned
unchanged by all six conversions, BD-09 ones included, so that a round trip is the identity
outside the box too. Each function tests its own input against the box. Two consequences:
parts of neighbouring countries inside the box are shifted like China, and within about a
kilometre of the box's edge (nowhere in China) a shifted point can leave the box, so its round
trip does not return the start.

All conversions are vectorised over numpy arrays and need no network.

Converters: each of the six ``x_from_y(lon, lat)`` functions takes longitudes and latitudes in
degrees (array-likes of one shape, or broadcastable) and returns a tuple ``(lon, lat)`` of
float64 arrays in the target system; points outside the China box and NaN come back
unchanged; non-numeric or non-broadcastable input raises ``InvalidCoordinatesError``.

>>> gcj02_from_wgs84([116.391, -0.1276], [39.907, 51.507])[0].round(4)
array([116.3972,  -0.1276])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely
from pyproj.exceptions import CRSError

from geo.errors import InvalidCoordinatesError

__all__ = [
    "CHINESE_CRS",
    "WGS84_CRS",
    "bd09_from_gcj02",
    "bd09_from_wgs84",
    "gcj02_from_bd09",
    "gcj02_from_wgs84",
    "geometry_to_wgs84",
    "normalise_crs_name",
    "to_wgs84",
    "wgs84_from_bd09",
    "wgs84_from_gcj02",
]

FloatArray = npt.NDArray[np.float64]
LonLat = tuple[FloatArray, FloatArray]
CrsLike = str | int | pyproj.CRS

WGS84_CRS = "EPSG:4326"
CHINESE_CRS = ("GCJ-02", "BD-09")

# Keys are upper-cased with "-", "_", ":" and spaces removed, so "gcj_02", "Gcj02" and
# "epsg:4326" all match; "BD09LL" is the name Baidu's own APIs give to BD-09 lon/lat.
_CRS_ALIASES = {
    "EPSG4326": WGS84_CRS,
    "WGS84": WGS84_CRS,
    "GCJ02": "GCJ-02",
    "BD09": "BD-09",
    "BD09LL": "BD-09",
}

# GCJ-02 scales its offsets, given in metres, to degrees on the Krasovsky 1940 ellipsoid.
_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_E2 = 0.00669342162296594323

_CHINA_LON_MIN_DEG = 72.004
_CHINA_LON_MAX_DEG = 137.8347
_CHINA_LAT_MIN_DEG = 0.8293
_CHINA_LAT_MAX_DEG = 55.8271

_BD_DLON_DEG = 0.0065
_BD_DLAT_DEG = 0.006
_BD_RADIUS_WOBBLE_DEG = 2e-5
_BD_ANGLE_WOBBLE_RAD = 3e-6
_BD_WOBBLE_RAD_PER_DEG = np.pi * 3000.0 / 180.0

# 1e-10 degrees is about 0.01 mm, far inside the 1 cm the inverses promise. The forward
# transforms move a point by its own offset plus at most ~2 % of an error in the guess, so
# the fixed-point iteration gains about two digits a step and needs 3 to 5 steps; the bound
# only guards against a case nobody has found.
_INVERSE_TOLERANCE_DEG = 1e-10
_INVERSE_MAX_ITERATIONS = 30


def _lon_lat_arrays(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Return lon and lat as float64 arrays of one broadcast shape, copied so callers may write."""
    try:
        lon_array = np.asarray(lon, dtype=np.float64)
        lat_array = np.asarray(lat, dtype=np.float64)
        lon_array, lat_array = np.broadcast_arrays(lon_array, lat_array)
    except (TypeError, ValueError) as err:
        raise InvalidCoordinatesError(
            f"lon and lat must be numbers or arrays of numbers of one shape; got {err}"
        ) from err
    return lon_array.copy(), lat_array.copy()


def _is_in_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    """Return True where a point lies in the rough bounding box of China (NaN is outside)."""
    return (
        (lon >= _CHINA_LON_MIN_DEG)
        & (lon <= _CHINA_LON_MAX_DEG)
        & (lat >= _CHINA_LAT_MIN_DEG)
        & (lat <= _CHINA_LAT_MAX_DEG)
    )


def _convert_in_china(
    convert: Callable[[FloatArray, FloatArray], LonLat], lon: npt.ArrayLike, lat: npt.ArrayLike
) -> LonLat:
    """Apply `convert` to the points inside China and return every other point as it came."""
    lon_array, lat_array = _lon_lat_arrays(lon, lat)
    shape = lon_array.shape
    out_lon, out_lat = lon_array.reshape(-1), lat_array.reshape(-1)
    inside = _is_in_china(out_lon, out_lat)
    # Converting only the inside points keeps NaN and inf away from sin/sqrt, which would
    # warn, and keeps the inverse iterations' convergence test over finite values.
    out_lon[inside], out_lat[inside] = convert(out_lon[inside], out_lat[inside])
    return out_lon.reshape(shape), out_lat.reshape(shape)


def _gcj02_waves_m(t: FloatArray, amplitude_24: float, amplitude_60: float) -> FloatArray:
    """The GCJ-02 formula's sine terms in ``t`` (degrees from its centre) of periods 2 and 6
    degrees (the same for both axes) and 24 and 60 degrees (amplitudes given), in metres."""
    short = 20.0 * np.sin(np.pi * t) + 40.0 * np.sin(np.pi * t / 3.0)
    long = amplitude_24 * np.sin(np.pi * t / 12.0) + amplitude_60 * np.sin(np.pi * t / 30.0)
    return (short + long) * 2.0 / 3.0


def _gcj02_offset_deg(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Return the GCJ-02 shift (dlon, dlat) in degrees at WGS-84 points, with no China test."""
    # The published formula is centred on 105 E, 35 N and gives the shift in metres.
    x = lon - 105.0
    y = lat - 35.0
    common_m = (20.0 * np.sin(6.0 * np.pi * x) + 20.0 * np.sin(2.0 * np.pi * x)) * 2.0 / 3.0
    dlat_m = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat_m += common_m + _gcj02_waves_m(y, 160.0, 320.0)
    dlon_m = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon_m += common_m + _gcj02_waves_m(x, 150.0, 300.0)
    lat_rad = np.radians(lat)
    w = 1.0 - _KRASOVSKY_E2 * np.sin(lat_rad) ** 2
    meridian_radius_m = _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_E2) / (w * np.sqrt(w))
    parallel_radius_m = _KRASOVSKY_A_M * np.cos(lat_rad) / np.sqrt(w)
    return np.degrees(dlon_m / parallel_radius_m), np.degrees(dlat_m / meridian_radius_m)


def _gcj02_from_wgs84_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Forward GCJ-02 transform with no China test."""
    dlon, dlat = _gcj02_offset_deg(lon, lat)
    return lon + dlon, lat + dlat


def _bd09_from_gcj02_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Forward BD-09 transform with no China test."""
    radius = np.hypot(lon, lat) + _BD_RADIUS_WOBBLE_DEG * np.sin(lat * _BD_WOBBLE_RAD_PER_DEG)
    angle = np.arctan2(lat, lon) + _BD_ANGLE_WOBBLE_RAD * np.cos(lon * _BD_WOBBLE_RAD_PER_DEG)
    return radius * np.cos(angle) + _BD_DLON_DEG, radius * np.sin(angle) + _BD_DLAT_DEG


def _invert(
    forward: Callable[[FloatArray, FloatArray], LonLat],
    target_lon: FloatArray,
    target_lat: FloatArray,
    guess_lon: FloatArray,
    guess_lat: FloatArray,
) -> LonLat:
    """Solve forward(lon, lat) == target by fixed-point iteration from a guess."""
    # Each forward transform is the identity plus a small shift whose slope stays below ~2 %
    # (GCJ-02's sqrt(|lon - 105|) term is steeper only within ~1e-9 degrees of 105 E, where
    # the error it feeds back is already below the tolerance), so subtracting the residual
    # is a contraction and needs no Jacobian.
    lon, lat = guess_lon, guess_lat
    for _ in range(_INVERSE_MAX_ITERATIONS):
        forward_lon, forward_lat = forward(lon, lat)
        residual_lon = forward_lon - target_lon
        residual_lat = forward_lat - target_lat
        worst_deg = max(
            np.max(np.abs(residual_lon), initial=0.0), np.max(np.abs(residual_lat), initial=0.0)
        )
        if worst_deg < _INVERSE_TOLERANCE_DEG:
            break
        lon = lon - residual_lon
        lat = lat - residual_lat
    return lon, lat


def _wgs84_from_gcj02_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Inverse GCJ-02 transform with no China test."""
    # The shift changes little over its own size, so the target minus its shift starts
    # within about ten metres of the answer.
    dlon, dlat = _gcj02_offset_deg(lon, lat)
    return _invert(_gcj02_from_wgs84_everywhere, lon, lat, lon - dlon, lat - dlat)


def _gcj02_from_bd09_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """Inverse BD-09 transform with no China test."""
    # Undoing the wobbles at the shifted point, the widely published inverse, is good to
    # about 1e-7 degrees (a decimetre); the iteration refines it.
    x = lon - _BD_DLON_DEG
    y = lat - _BD_DLAT_DEG
    radius = np.hypot(x, y) - _BD_RADIUS_WOBBLE_DEG * np.sin(y * _BD_WOBBLE_RAD_PER_DEG)
    angle = np.arctan2(y, x) - _BD_ANGLE_WOBBLE_RAD * np.cos(x * _BD_WOBBLE_RAD_PER_DEG)
    guess_lon, guess_lat = radius * np.cos(angle), radius * np.sin(angle)
    return _invert(_bd09_from_gcj02_everywhere, lon, lat, guess_lon, guess_lat)


def _bd09_from_wgs84_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """WGS-84 to BD-09 with no China test."""
    return _bd09_from_gcj02_everywhere(*_gcj02_from_wgs84_everywhere(lon, lat))


def _wgs84_from_bd09_everywhere(lon: FloatArray, lat: FloatArray) -> LonLat:
    """BD-09 to WGS-84 with no China test."""
    return _wgs84_from_gcj02_everywhere(*_gcj02_from_bd09_everywhere(lon, lat))


def _in_china(
    everywhere: Callable[[FloatArray, FloatArray], LonLat], summary: str
) -> Callable[[npt.ArrayLike, npt.ArrayLike], LonLat]:
    """The public converter of ``_<name>_everywhere``: named ``<name>``, it applies that
    transform to the points inside the China box only (see :func:`_convert_in_china`).

    Its docstring is ``summary``; arguments, result and errors are the same for all six and
    described in the module docstring ("Converters").
    """

    def convert(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
        return _convert_in_china(everywhere, lon, lat)

    convert.__name__ = convert.__qualname__ = everywhere.__name__[1 : -len("_everywhere")]
    convert.__doc__ = f'{summary}\n\nSee the module docstring ("Converters").\n'
    return convert


gcj02_from_wgs84 = _in_china(_gcj02_from_wgs84_everywhere, "WGS-84 to GCJ-02 (AMap, Tencent).")
# GCJ-02 has no closed-form inverse: the forward transform is iterated until it reproduces
# the input within _INVERSE_TOLERANCE_DEG (see _invert), and likewise for BD-09.
wgs84_from_gcj02 = _in_china(_wgs84_from_gcj02_everywhere, "GCJ-02 to WGS-84, to within 1 cm.")
bd09_from_gcj02 = _in_china(_bd09_from_gcj02_everywhere, "GCJ-02 to Baidu's BD-09.")
gcj02_from_bd09 = _in_china(_gcj02_from_bd09_everywhere, "Baidu's BD-09 to GCJ-02, to within 1 cm.")
bd09_from_wgs84 = _in_china(_bd09_from_wgs84_everywhere, "WGS-84 to Baidu's BD-09 via GCJ-02.")
wgs84_from_bd09 = _in_china(_wgs84_from_bd09_everywhere, "Baidu's BD-09 to WGS-84, to within 1 cm.")


def _parse_crs(crs: CrsLike) -> pyproj.CRS:
    """Return the pyproj CRS for `crs`, raising our error when pyproj cannot read it."""
    try:
        return pyproj.CRS.from_user_input(crs)
    except (CRSError, TypeError) as err:
        raise InvalidCoordinatesError(
            "crs must be 'EPSG:4326' (or 'WGS84'), 'GCJ-02', 'BD-09' or a CRS that pyproj "
            f"understands, such as 'EPSG:3435'; got {crs!r}"
        ) from err


def _chinese_or_wgs84_name(crs: CrsLike) -> str | None:
    """Return the canonical name when `crs` spells WGS-84, GCJ-02 or BD-09, else None."""
    if not isinstance(crs, str):
        return None
    key = crs.strip().upper()
    for separator in ("-", "_", ":", " "):
        key = key.replace(separator, "")
    return _CRS_ALIASES.get(key)


def normalise_crs_name(crs: CrsLike) -> str:
    """Return the canonical name of a coordinate reference system.

    Parameters
    ----------
    crs
        "EPSG:4326"/"WGS84", "GCJ-02" or "BD-09" in any case and with or without the dash
        or underscore ("gcj02", "bd09", "BD09LL"), or anything `pyproj.CRS` accepts (an
        authority string, an EPSG code as int, WKT, a PROJ string, a `pyproj.CRS`).

    Returns
    -------
    str
        "EPSG:4326" for WGS-84 in either axis order (also "OGC:CRS84"), "GCJ-02", "BD-09",
        otherwise the pyproj authority string such as "EPSG:3435", or the PROJ string of a
        CRS that no authority code matches.

    Raises
    ------
    InvalidCoordinatesError
        If pyproj cannot read `crs`; the message names the value.

    Examples
    --------
    >>> normalise_crs_name("gcj02"), normalise_crs_name("epsg:3435")
    ('GCJ-02', 'EPSG:3435')
    """
    name = _chinese_or_wgs84_name(crs)
    if name is not None:
        return name
    parsed = _parse_crs(crs)
    # always_xy makes the axis order of a geographic WGS-84 irrelevant to every caller.
    if parsed.equals(WGS84_CRS, ignore_axis_order=True):
        return WGS84_CRS
    authority = parsed.to_authority()
    if authority is None:
        return str(parsed.to_string())
    return ":".join(authority)


def _identity(lon: npt.ArrayLike, lat: npt.ArrayLike) -> LonLat:
    """Return lon and lat as float64 arrays, unchanged."""
    return _lon_lat_arrays(lon, lat)


def _converter_to_wgs84(
    crs: CrsLike,
) -> Callable[[npt.ArrayLike, npt.ArrayLike], LonLat]:
    """Return a function taking (x, y) in `crs` to WGS-84 (lon, lat)."""
    name = _chinese_or_wgs84_name(crs)
    if name == WGS84_CRS:
        return _identity
    if name == "GCJ-02":
        return wgs84_from_gcj02
    if name == "BD-09":
        return wgs84_from_bd09
    parsed = _parse_crs(crs)
    if parsed.equals(WGS84_CRS, ignore_axis_order=True):
        return _identity
    # Built from the parsed CRS rather than its authority name, which pyproj may have
    # matched only approximately; always_xy keeps (x, y) = (easting, northing) or (lon, lat).
    transformer = pyproj.Transformer.from_crs(parsed, WGS84_CRS, always_xy=True)

    def project(x: npt.ArrayLike, y: npt.ArrayLike) -> LonLat:
        x_array, y_array = _lon_lat_arrays(x, y)
        lon, lat = transformer.transform(x_array, y_array)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    return project


def to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike, crs: CrsLike) -> LonLat:
    """Convert coordinates in any supported system to WGS-84 longitudes and latitudes.

    Parameters
    ----------
    lon, lat
        Coordinates in `crs`: degrees for WGS-84, GCJ-02 and BD-09, otherwise the CRS's own
        x (easting or longitude) and y (northing or latitude), e.g. US feet for EPSG:3435.
    crs
        The system `lon` and `lat` are in; see `normalise_crs_name` for the spellings.

    Returns
    -------
    tuple of numpy.ndarray
        WGS-84 ``(lon, lat)`` in degrees, float64. NaN comes back as NaN; points that pyproj
        cannot project come back as inf.

    Raises
    ------
    InvalidCoordinatesError
        If `crs` is unknown, or lon and lat are not numeric or do not broadcast together.
    """
    return _converter_to_wgs84(crs)(lon, lat)


def geometry_to_wgs84(
    geoms: gpd.GeoSeries | npt.NDArray[np.object_] | Sequence[shapely.Geometry | None],
    crs: CrsLike,
) -> gpd.GeoSeries:
    """Convert geometries in any supported system to WGS-84.

    Parameters
    ----------
    geoms
        A GeoSeries, or an array or sequence of shapely geometries (None allowed). The `crs`
        argument, not a GeoSeries' own ``crs``, says what the coordinates are in, since
        GCJ-02 and BD-09 data usually arrive labelled EPSG:4326.
    crs
        The system the coordinates are in; see `normalise_crs_name` for the spellings.

    Returns
    -------
    geopandas.GeoSeries
        The geometries in EPSG:4326, two-dimensional (any z is dropped), with the index and
        name of `geoms` when it is a GeoSeries.

    Raises
    ------
    InvalidCoordinatesError
        If `crs` is unknown or `geoms` holds something other than geometries and None.
    """
    convert = _converter_to_wgs84(crs)

    def convert_coordinates(xy: FloatArray) -> FloatArray:
        lon, lat = convert(xy[:, 0], xy[:, 1])
        return np.column_stack((lon, lat))

    index = geoms.index if isinstance(geoms, pd.Series) else None
    name = geoms.name if isinstance(geoms, pd.Series) else None
    values = np.asarray(geoms, dtype=object)
    try:
        # One call per array: shapely hands every coordinate over at once.
        converted = shapely.transform(values, convert_coordinates, include_z=False)
    except TypeError as err:
        raise InvalidCoordinatesError(
            f"geoms must hold shapely geometries or None; got {type(geoms).__name__} with {err}"
        ) from err
    return gpd.GeoSeries(converted, index=index, name=name, crs=WGS84_CRS)
