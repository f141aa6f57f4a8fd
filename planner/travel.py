"""Travel times between patrol stops: the great-circle estimate and the matrix it returns.

A patrol stop is an H3 cell, represented here by its centre (longitude, latitude in WGS-84
degrees). Every travel-time source in the planner returns a `TravelMatrix`: seconds and metres
from each point to every other, ``inf`` where a trip is impossible, the points that cannot
take part and why, and the geometry of each trip.

The default estimate needs no street data: the great-circle (haversine) distance times a
circuity factor, driven at the mode's average speed. `planner.roads` computes the same matrix
along an OpenStreetMap street graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner._arrays import FloatArray
from planner.errors import (
    InvalidPointsError,
    InvalidTravelParameterError,
    TravelTimeError,
    UnknownModeError,
)

__all__ = [
    "DEFAULT_CIRCUITY",
    "EARTH_RADIUS_M",
    "MODE_SPEEDS_KMH",
    "InvalidPointsError",
    "InvalidTravelParameterError",
    "TravelMatrix",
    "TravelTimeError",
    "UnknownModeError",
    "UnreachablePoint",
    "great_circle_m",
    "great_circle_matrix",
    "mode_speed_kmh",
    "points_from_lon_lat",
]

PathFunction = Callable[[int, int], list[tuple[float, float]]]
Cause = Literal["too_far_from_street", "cut_off"]

# Mean Earth radius (IUGG), as in osmnx: one degree of latitude is then 111.195 km.
EARTH_RADIUS_M = 6_371_009.0

MODE_SPEEDS_KMH: Mapping[str, float] = MappingProxyType(
    {
        # Average door-to-door speed of a patrol car in city streets, stops at signals and
        # junctions included: urban speed limits are 40-50 km/h (Chicago's default is 30 mph)
        # but measured average urban car speeds in large US and European cities sit near
        # 25-35 km/h once intersections are counted.
        "car": 30.0,
        # An officer on foot patrol walks a little slower than the 5 km/h commuter pace,
        # because the patrol looks around and stops at crossings.
        "foot": 4.5,
    }
)

# Network distance over straight-line distance between two addresses: studies of street
# networks report 1.2-1.4 in grid-plan cities (Chicago, most planned Chinese cities) and
# higher where rivers, rail lines or expressways cut the grid. Tune per city.
DEFAULT_CIRCUITY = 1.3


@dataclass(frozen=True)
class UnreachablePoint:
    """A point that cannot reach, or be reached from, the other points.

    Attributes
    ----------
    index
        Position of the point in the matrix.
    cause
        ``"too_far_from_street"`` (no street within the snapping distance) or ``"cut_off"``
        (the nearest streets form a part of the network that the rest cannot reach, or that
        cannot reach the rest).
    detail
        A sentence for people: distances, the nearest street node, the limit that applied.
    """

    index: int
    cause: Cause
    detail: str


@dataclass(frozen=True, eq=False)
class TravelMatrix:
    """Travel seconds and metres between every ordered pair of points.

    Row ``i``, column ``j`` is the trip from point ``i`` to point ``j``; the diagonal is 0.
    The arrays are read-only.

    Attributes
    ----------
    points
        ``(n, 2)`` longitudes and latitudes (WGS-84 degrees).
    seconds
        ``(n, n)`` travel time in seconds, ``inf`` where the trip is impossible.
    metres
        ``(n, n)`` distance travelled in metres along the same trips, ``inf`` where impossible.
    unreachable
        The points whose off-diagonal rows and columns are ``inf``, with the reason.
    mode
        Travel mode (a key of ``MODE_SPEEDS_KMH``).
    method
        ``"great_circle"`` or ``"road"``.
    snap_m
        ``(n,)`` straight-line metres from each point to where it joins the network (the
        nearest usable street node for ``"road"``, 0 for ``"great_circle"``); for a point that
        is too far from any street, the distance to the nearest one.
    """

    points: FloatArray
    seconds: FloatArray
    metres: FloatArray
    unreachable: tuple[UnreachablePoint, ...]
    mode: str
    method: Literal["great_circle", "road"]
    snap_m: FloatArray
    route_geometry: PathFunction | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = self.points.shape[0]
        if self.points.shape != (n, 2):
            raise TravelTimeError(f"points must have shape (n, 2), got {self.points.shape}")
        for name in ("seconds", "metres"):
            if getattr(self, name).shape != (n, n):
                raise TravelTimeError(
                    f"{name} must have shape ({n}, {n}), got {getattr(self, name).shape}"
                )
        if self.snap_m.shape != (n,):
            raise TravelTimeError(f"snap_m must have shape ({n},), got {self.snap_m.shape}")
        for name in ("points", "seconds", "metres", "snap_m"):
            # A private read-only copy: the caller's array stays writeable and unshared.
            value = np.array(getattr(self, name), dtype=np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def reachable(self) -> npt.NDArray[np.bool_]:
        """Boolean mask over the points: True where the point is not in ``unreachable``."""
        mask = np.ones(self.points.shape[0], dtype=bool)
        mask[[u.index for u in self.unreachable]] = False
        return mask

    def path(self, i: int, j: int) -> list[tuple[float, float]]:
        """Return the trip from point ``i`` to point ``j`` as ``(lon, lat)`` vertices.

        The line starts at point ``i`` and ends at point ``j``: a straight segment for
        ``"great_circle"``, the streets followed (with the straight snap legs at both ends)
        for ``"road"``. ``path(i, i)`` is the single point ``i``.

        Returns
        -------
        list of tuple
            The vertices, or an empty list when ``j`` cannot be reached from ``i``.

        Raises
        ------
        IndexError
            When ``i`` or ``j`` is not a point index.
        """
        n = self.points.shape[0]
        if not (-n <= i < n and -n <= j < n):
            raise IndexError(f"point index out of range for {n} points: ({i}, {j})")
        i, j = i % n, j % n
        if i == j:
            return [_vertex(self.points[i])]
        if not np.isfinite(self.seconds[i, j]):
            return []
        if self.route_geometry is None:
            return [_vertex(self.points[i]), _vertex(self.points[j])]
        return self.route_geometry(i, j)


def _vertex(point: FloatArray) -> tuple[float, float]:
    return (float(point[0]), float(point[1]))


def points_from_lon_lat(lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
    """Return an ``(n, 2)`` float64 array of checked longitudes and latitudes.

    Raises
    ------
    InvalidPointsError
        When lon and lat are not 1-d arrays of one length, hold a non-finite value, or lie
        outside -180..180 and -90..90 degrees.
    """
    try:
        lon_array = np.asarray(lon, dtype=np.float64)
        lat_array = np.asarray(lat, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidPointsError(f"lon and lat must be arrays of numbers; got {err}") from err
    if lon_array.ndim != 1 or lat_array.ndim != 1 or lon_array.shape != lat_array.shape:
        raise InvalidPointsError(
            "lon and lat must be 1-d arrays of one length, got shapes "
            f"{lon_array.shape} and {lat_array.shape}"
        )
    bad = ~(np.isfinite(lon_array) & np.isfinite(lat_array))
    if bad.any():
        raise InvalidPointsError(
            f"lon and lat must be finite; point {int(np.flatnonzero(bad)[0])} is "
            f"({lon_array[bad][0]}, {lat_array[bad][0]})"
        )
    bad = (np.abs(lon_array) > 180.0) | (np.abs(lat_array) > 90.0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InvalidPointsError(
            "lon must be in -180..180 and lat in -90..90 degrees; point "
            f"{first} is ({lon_array[first]}, {lat_array[first]}) - swapped?"
        )
    return np.column_stack([lon_array, lat_array])


def mode_speed_kmh(mode: str, speed_kmh: float | None = None) -> float:
    """Return ``speed_kmh`` if given, else the mode's default speed, after checking both.

    Raises
    ------
    UnknownModeError
        When ``mode`` is not a key of ``MODE_SPEEDS_KMH``.
    InvalidTravelParameterError
        When ``speed_kmh`` is not a positive finite number.
    """
    if mode not in MODE_SPEEDS_KMH:
        raise UnknownModeError(f"mode must be one of {sorted(MODE_SPEEDS_KMH)}, got {mode!r}")
    if speed_kmh is None:
        return MODE_SPEEDS_KMH[mode]
    return _positive("speed_kmh", speed_kmh)


def _positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a positive finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidTravelParameterError(f"{name} must be a number, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise InvalidTravelParameterError(f"{name} must be positive and finite, got {value}")
    return float(value)


def great_circle_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> FloatArray:
    """Great-circle (haversine) distance in metres; the arguments broadcast like numpy's.

    Examples
    --------
    >>> round(float(great_circle_m(0.0, 0.0, 0.0, 1.0)))
    111195
    """
    lon1_rad, lat1_rad, lon2_rad, lat2_rad = (
        np.radians(np.asarray(v, dtype=np.float64)) for v in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2_rad - lat1_rad) / 2.0) ** 2
        + np.cos(lat1_rad) * np.cos(lat2_rad) * np.sin((lon2_rad - lon1_rad) / 2.0) ** 2
    )
    # Rounding can push h a hair above 1 for antipodal points, where arcsin would give NaN.
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def great_circle_matrix(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    mode: str = "car",
    speed_kmh: float | None = None,
    circuity: float = DEFAULT_CIRCUITY,
) -> TravelMatrix:
    """Estimate travel between every pair of points from straight-line distance.

    ``metres = great-circle distance x circuity`` and ``seconds = metres / speed``. Every
    point is reachable, so ``unreachable`` is empty; ``path(i, j)`` is the straight segment.

    Parameters
    ----------
    lon, lat
        Point longitudes and latitudes in WGS-84 degrees (1-d, equal length).
    mode
        ``"car"`` or ``"foot"``: selects the default speed from ``MODE_SPEEDS_KMH``.
    speed_kmh
        Average speed in km/h; ``None`` uses the mode's default.
    circuity
        Network distance over straight-line distance, at least 1 (``DEFAULT_CIRCUITY``).

    Returns
    -------
    TravelMatrix
        Symmetric ``seconds`` and ``metres`` with a zero diagonal.

    Raises
    ------
    InvalidPointsError
        For coordinates of unequal length, non-finite or out of range.
    UnknownModeError
        For a mode without a default speed.
    InvalidTravelParameterError
        For a speed that is not positive, or a circuity below 1.
    """
    points = points_from_lon_lat(lon, lat)
    speed_mps = mode_speed_kmh(mode, speed_kmh) / 3.6
    circuity = _positive("circuity", circuity)
    if circuity < 1.0:
        raise InvalidTravelParameterError(
            f"circuity must be at least 1 (a trip is never shorter than the straight line), "
            f"got {circuity}"
        )
    metres = circuity * great_circle_m(
        points[:, None, 0], points[:, None, 1], points[None, :, 0], points[None, :, 1]
    )
    np.fill_diagonal(metres, 0.0)
    return TravelMatrix(
        points=points,
        seconds=metres / speed_mps,
        metres=metres,
        unreachable=(),
        mode=mode,
        method="great_circle",
        snap_m=np.zeros(points.shape[0]),
    )
