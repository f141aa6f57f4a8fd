"""Patrol problems: units, candidate stops, travel times, and how their seconds become integers.

A problem is a set of *nodes* (rows of the travel-time matrices: stations and cell centres),
the *units* that patrol between them and the candidate *stops* (a cell at a node with a value,
a dwell time and the windows when it is hot). Node numbers are our positions in the problem;
OR-Tools' own indices never leave ``planner.ortools_engine``.

Conventions
-----------
- Times are seconds on one clock for the whole problem (e.g. seconds since midnight of the
  planning day); travel times are seconds too, ``inf`` where a trip is impossible.
- A unit leaves its start node no earlier than ``shift_start_s`` and reaches its end node no
  later than ``shift_end_s``; dwell at stops, waiting and its break all count.
- A visit *starts* (the unit begins its dwell) inside one of the stop's windows; a stop
  without windows may start any time in the shift. The value of a visit is
  ``stop.value * window.weight * repeat_decay ** (k - 1)`` for the ``k``-th visit of the stop
  in time order: the hotspot score times the risk of the hour the visit starts, with
  diminishing value for repeats (:func:`windows_from_hourly_risk` builds weights by hour).
- Repeat visits of one stop start at least ``dwell_s + min_gap_s`` apart.
- Caps: no cell (and no area) gets more dwell in a day than ``max_cell_share``
  (``max_area_share``) of the total shift time of all units.
- The solver works in integer *ticks*: ``seconds * ticks_per_second(problem)``, a power of
  two so that the conversion is exact. Costs (travel, dwell, releases) round up and
  deadlines round down, so a route feasible in ticks is feasible in exact arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from planner._arrays import FloatArray, IntArray
from planner.errors import InvalidProblemError

__all__ = [
    "DEFAULT_DWELL_S",
    "DEFAULT_REPEAT_DECAY",
    "INF_TICKS",
    "Problem",
    "RestBreak",
    "Stop",
    "TimeWindow",
    "Unit",
    "ceil_ticks",
    "floor_ticks",
    "reachable_stops",
    "ticks_per_second",
    "visit_weight",
    "windows_from_hourly_risk",
]


# Hot-spot policing research (Koper 1995) found 11-15 minute visits the most effective: long
# enough for a residual deterrence effect, short enough to cover many hot spots.
DEFAULT_DWELL_S = 15 * 60.0
# Each further visit of a cell on the same day is worth half the one before: repeat presence
# still deters, but less than the first visit.
DEFAULT_REPEAT_DECAY = 0.5
# Integer travel time for an impossible trip: far beyond any horizon (2**31 ticks), yet small
# enough that sums of a few thousand never overflow int64.
INF_TICKS = 2**40
# Horizons are scaled to at most 2**31 ticks, which keeps OR-Tools' costs plus prize
# penalties well inside int64.
_MAX_HORIZON_TICKS = 2**31
_MAX_TICKS_EXPONENT = 30
# Most visits of one stop in a day (a visit every 90 seconds of a day and night): the
# solvers set aside room per allowed visit, and a typo such as 1000000000 exhausted memory.
MAX_VISITS_PER_STOP = 1000


@dataclass(frozen=True)
class TimeWindow:
    """An interval in which a visit may start, with the risk weight of a visit started in it.

    Attributes
    ----------
    start_s, end_s
        Earliest and latest start of a visit, seconds.
    weight
        Multiplies the stop's value for a visit that starts in this window (the relative
        risk of those hours); 1 by default.
    """

    start_s: float
    end_s: float
    weight: float = 1.0


@dataclass(frozen=True)
class RestBreak:
    """A unit's break: ``duration_s`` that must start between the two given times.

    The unit pauses where it is (after a stop, or before the first one) and travels on
    afterwards.
    """

    earliest_start_s: float
    latest_start_s: float
    duration_s: float


@dataclass(frozen=True)
class Unit:
    """A patrol unit (a car or a foot patrol) and its shift.

    Attributes
    ----------
    id
        Unique name of the unit.
    start_node, end_node
        Nodes of the station where the shift starts and ends.
    shift_start_s, shift_end_s
        The unit leaves ``start_node`` no earlier and reaches ``end_node`` no later.
    mode
        Key of ``Problem.travel_time_s``: ``"car"`` or ``"foot"`` (the speed is the one the
        matrix was built with, see ``planner.travel.MODE_SPEEDS_KMH``), or any profile name.
    rest_break
        An optional break the shift must include.
    """

    id: str
    start_node: int
    end_node: int
    shift_start_s: float
    shift_end_s: float
    mode: str = "car"
    rest_break: RestBreak | None = None


@dataclass(frozen=True)
class Stop:
    """A candidate stop: a cell worth patrolling, at a node of the travel-time matrix.

    Attributes
    ----------
    node
        Row of the travel-time matrices at the cell's centre.
    value
        Value of a first visit started with weight 1 (the cell's hotspot score).
    dwell_s
        Minutes on the spot, in seconds (``DEFAULT_DWELL_S``: 15 minutes).
    windows
        Sorted, non-overlapping windows in which a visit may start, with risk weights;
        empty means any time in the shift, weight 1.
    mandatory
        True when the stop must be visited at least once; a plan that cannot says so.
    max_visits
        How many times the stop may be visited in the day (1..``MAX_VISITS_PER_STOP``).
    min_gap_s
        Least time between leaving the stop and starting the next visit of it.
    cell
        The cell's id (an H3 index string or any label) for plans, exports and the cell cap;
        stops with the same cell share the cap.
    area
        Optional area label (beat, district) for the area cap.
    unit
        The one unit that may visit the stop (a planner's lock or move), None for any.
    """

    node: int
    value: float
    dwell_s: float = DEFAULT_DWELL_S
    windows: tuple[TimeWindow, ...] = ()
    mandatory: bool = False
    max_visits: int = 1
    min_gap_s: float = 0.0
    cell: str | None = None
    area: str | None = None
    unit: str | None = None


@dataclass(frozen=True, eq=False)
class Problem:
    """A day's patrol planning problem at the level of a travel-time matrix.

    Attributes
    ----------
    travel_time_s
        ``{mode: (n, n) seconds}``; row ``i``, column ``j`` is the trip from node ``i`` to
        node ``j``, ``inf`` where impossible. A single array is taken as ``{"car": array}``.
        Stored read-only.
    units
        The units on shift; ids are unique.
    stops
        The candidate stops; a stop's number in plans is its position here.
    node_lon_lat
        Optional ``(n, 2)`` longitude and latitude of each node, for the map exports.
    node_names
        Optional name of each node (station or cell), for the exports.
    repeat_decay
        Factor applied to the value of each further visit of a stop, in (0, 1].
    max_cell_share, max_area_share
        Optional caps on the dwell any one cell (area) gets, as a share of the total shift
        time of all units.

    Raises
    ------
    InvalidProblemError
        When a matrix, node, unit, stop, window or share is malformed; the message names it.
    """

    travel_time_s: Mapping[str, FloatArray]
    units: tuple[Unit, ...]
    stops: tuple[Stop, ...]
    node_lon_lat: FloatArray | None = None
    node_names: tuple[str, ...] | None = None
    repeat_decay: float = DEFAULT_REPEAT_DECAY
    max_cell_share: float | None = None
    max_area_share: float | None = None
    _n_nodes: int = field(init=False, repr=False)

    def __reduce__(self):
        """Pickled by its fields (the read-only matrix mapping as a dict), so a problem can be
        solved in another process."""
        return (
            Problem,
            (dict(self.travel_time_s), self.units, self.stops, self.node_lon_lat,
             self.node_names, self.repeat_decay, self.max_cell_share, self.max_area_share),
        )  # fmt: skip

    def __post_init__(self) -> None:
        matrices = _check_matrices(self.travel_time_s)
        n = next(iter(matrices.values())).shape[0]
        object.__setattr__(self, "travel_time_s", MappingProxyType(matrices))
        object.__setattr__(self, "_n_nodes", n)
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "stops", tuple(self.stops))
        if self.node_lon_lat is not None:
            lon_lat = np.array(self.node_lon_lat, dtype=np.float64)
            if lon_lat.shape != (n, 2) or not np.isfinite(lon_lat).all():
                raise InvalidProblemError(
                    f"node_lon_lat must be a finite ({n}, 2) array, got shape {lon_lat.shape}"
                )
            lon_lat.setflags(write=False)
            object.__setattr__(self, "node_lon_lat", lon_lat)
        if self.node_names is not None:
            names = tuple(str(name) for name in self.node_names)
            if len(names) != n:
                raise InvalidProblemError(f"node_names must name all {n} nodes, got {len(names)}")
            object.__setattr__(self, "node_names", names)
        _check_units(self.units, n, matrices)
        unit_ids = {u.id for u in self.units}
        for number, stop in enumerate(self.stops):
            _check_stop(number, stop, n)
            if stop.unit is not None and stop.unit not in unit_ids:
                raise InvalidProblemError(
                    f"stop {number} may only be visited by unit {stop.unit!r}, which the "
                    "problem does not have"
                )
        if not (0.0 < self.repeat_decay <= 1.0):
            raise InvalidProblemError(f"repeat_decay must be in (0, 1], got {self.repeat_decay}")
        for name in ("max_cell_share", "max_area_share"):
            share = getattr(self, name)
            if share is not None and not (0.0 < share <= 1.0):
                raise InvalidProblemError(f"{name} must be in (0, 1] or None, got {share}")

    @property
    def n_nodes(self) -> int:
        """Number of nodes (rows of each travel-time matrix)."""
        return self._n_nodes

    @property
    def total_shift_s(self) -> float:
        """Sum of all units' shift lengths: the day's patrol time that the caps refer to."""
        return float(sum(u.shift_end_s - u.shift_start_s for u in self.units))

    def cell_key(self, stop_number: int) -> str:
        """Return the cell label the cell cap groups stop ``stop_number`` by."""
        cell = self.stops[stop_number].cell
        return cell if cell is not None else f"stop-{stop_number}"

    def unit_index(self, unit_id: str) -> int:
        """Return the position of the unit called ``unit_id``.

        Raises
        ------
        InvalidProblemError
            When no unit has that id.
        """
        for position, unit in enumerate(self.units):
            if unit.id == unit_id:
                return position
        raise InvalidProblemError(f"no unit with id {unit_id!r}")


def _check_matrices(travel_time_s: object) -> dict[str, FloatArray]:
    if isinstance(travel_time_s, Mapping):
        items = list(travel_time_s.items())
    else:
        items = [("car", travel_time_s)]
    if not items:
        raise InvalidProblemError("travel_time_s must hold at least one matrix")
    matrices: dict[str, FloatArray] = {}
    size: int | None = None
    for mode, values in items:
        try:
            matrix = np.array(values, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidProblemError(
                f"travel_time_s[{mode!r}] must be a matrix of numbers: {err}"
            ) from err
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise InvalidProblemError(
                f"travel_time_s[{mode!r}] must be a non-empty square matrix, got shape "
                f"{matrix.shape}"
            )
        if size is not None and matrix.shape[0] != size:
            raise InvalidProblemError(
                f"travel_time_s[{mode!r}] has {matrix.shape[0]} nodes, the others {size}"
            )
        size = matrix.shape[0]
        if np.isnan(matrix).any() or (matrix < 0).any():
            bad = np.argwhere(np.isnan(matrix) | (matrix < 0))[0]
            raise InvalidProblemError(
                f"travel_time_s[{mode!r}] must be >= 0 seconds or inf; entry "
                f"({bad[0]}, {bad[1]}) is {matrix[bad[0], bad[1]]}"
            )
        matrix.setflags(write=False)
        matrices[str(mode)] = matrix
    return matrices


def _finite(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidProblemError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidProblemError(f"{name} must be finite, got {value}")


def _check_node(name: str, node: object, n: int) -> None:
    if isinstance(node, bool) or not isinstance(node, int | np.integer) or not 0 <= node < n:
        raise InvalidProblemError(f"{name} must be a node number in 0..{n - 1}, got {node!r}")


def _check_units(units: tuple[Unit, ...], n: int, matrices: Mapping[str, FloatArray]) -> None:
    seen: set[str] = set()
    for unit in units:
        where = f"unit {unit.id!r}"
        if unit.id in seen:
            raise InvalidProblemError(f"unit ids must be unique; {unit.id!r} appears twice")
        seen.add(unit.id)
        _check_node(f"{where} start_node", unit.start_node, n)
        _check_node(f"{where} end_node", unit.end_node, n)
        _finite(f"{where} shift_start_s", unit.shift_start_s)
        _finite(f"{where} shift_end_s", unit.shift_end_s)
        if unit.shift_end_s < unit.shift_start_s:
            raise InvalidProblemError(
                f"{where} shift ends ({unit.shift_end_s}) before it starts ({unit.shift_start_s})"
            )
        if unit.mode not in matrices:
            raise InvalidProblemError(
                f"{where} mode {unit.mode!r} has no travel_time_s matrix (have {sorted(matrices)})"
            )
        pause = unit.rest_break
        if pause is not None:
            for attr in ("earliest_start_s", "latest_start_s", "duration_s"):
                _finite(f"{where} rest_break.{attr}", getattr(pause, attr))
            if pause.latest_start_s < pause.earliest_start_s or pause.duration_s < 0:
                raise InvalidProblemError(
                    f"{where} rest_break needs earliest_start_s <= latest_start_s and "
                    f"duration_s >= 0, got {pause}"
                )


def _check_stop(number: int, stop: Stop, n: int) -> None:
    where = f"stop {number}" + (f" (cell {stop.cell})" if stop.cell is not None else "")
    _check_node(f"{where} node", stop.node, n)
    for attr in ("value", "dwell_s", "min_gap_s"):
        _finite(f"{where} {attr}", getattr(stop, attr))
        if getattr(stop, attr) < 0:
            raise InvalidProblemError(f"{where} {attr} must be >= 0, got {getattr(stop, attr)}")
    if (
        isinstance(stop.max_visits, bool)
        or not isinstance(stop.max_visits, int | np.integer)
        or not 1 <= stop.max_visits <= MAX_VISITS_PER_STOP
    ):
        raise InvalidProblemError(
            f"{where} max_visits must be an integer in 1..{MAX_VISITS_PER_STOP}, "
            f"got {stop.max_visits!r}"
        )
    previous_end = -math.inf
    for window in stop.windows:
        for attr in ("start_s", "end_s", "weight"):
            _finite(f"{where} window {attr}", getattr(window, attr))
        if window.end_s < window.start_s or window.weight < 0:
            raise InvalidProblemError(
                f"{where} window needs start_s <= end_s and weight >= 0, got {window}"
            )
        if window.start_s < previous_end:
            raise InvalidProblemError(
                f"{where} windows must be sorted and must not overlap; {window} starts before "
                f"the previous one ends ({previous_end})"
            )
        previous_end = window.end_s


def windows_from_hourly_risk(
    risk_by_hour: Sequence[float],
    start_s: float,
    end_s: float,
    *,
    min_risk: float = 0.0,
    day_start_s: float = 0.0,
) -> tuple[TimeWindow, ...]:
    """Turn a 24-hour risk profile into weighted windows covering ``start_s``..``end_s``.

    Consecutive hours of equal risk merge into one window; hours whose risk is at most
    ``min_risk`` are left out (the cell is not hot then). A shift past midnight wraps
    around the profile.

    Parameters
    ----------
    risk_by_hour
        24 relative risks, hour 0 first (e.g. the cell's share of incidents by hour times 24).
    start_s, end_s
        Span to cover (typically the shift), seconds on the problem's clock.
    min_risk
        Hours with risk at or below this are not hot.
    day_start_s
        Clock time of hour 0 of the profile.

    Returns
    -------
    tuple of TimeWindow
        Sorted windows, each clipped to ``start_s``..``end_s``, weight = the hour's risk.
        When no hour of the span is hot, one window of weight 0 over the whole span (an
        empty tuple would mean "any time, weight 1"), so a visit gains nothing.

    Raises
    ------
    InvalidProblemError
        When the profile does not have 24 finite non-negative values or ``end_s < start_s``.

    Examples
    --------
    >>> risk = [1.0] * 20 + [2.0] * 4
    >>> windows_from_hourly_risk(risk, 19 * 3600, 21 * 3600)  # doctest: +NORMALIZE_WHITESPACE
    (TimeWindow(start_s=68400.0, end_s=72000.0, weight=1.0),
     TimeWindow(start_s=72000.0, end_s=75600.0, weight=2.0))
    """
    risks = np.asarray(risk_by_hour, dtype=np.float64)
    if risks.shape != (24,) or not np.isfinite(risks).all() or (risks < 0).any():
        raise InvalidProblemError(
            f"risk_by_hour must be 24 finite values >= 0, got shape {risks.shape}"
        )
    if end_s < start_s:
        raise InvalidProblemError(f"end_s ({end_s}) must not be before start_s ({start_s})")
    windows: list[TimeWindow] = []
    first_hour = math.floor((start_s - day_start_s) / 3600.0)
    last_hour = max(first_hour + 1, math.ceil((end_s - day_start_s) / 3600.0))
    for hour in range(first_hour, last_hour):
        lo = max(start_s, day_start_s + hour * 3600.0)
        hi = min(end_s, day_start_s + (hour + 1) * 3600.0)
        risk = float(risks[hour % 24])
        if risk <= min_risk or hi < lo:
            continue
        if windows and windows[-1].weight == risk and windows[-1].end_s == lo:
            windows[-1] = TimeWindow(windows[-1].start_s, float(hi), risk)
        else:
            windows.append(TimeWindow(float(lo), float(hi), risk))
    return tuple(windows) or (TimeWindow(float(start_s), float(end_s), 0.0),)


def visit_weight(stop: Stop, start_s: float) -> float | None:
    """Return the weight of a visit of ``stop`` starting at ``start_s``, None outside windows.

    Where two windows touch, the start belongs to the heavier one.
    """
    if not stop.windows:
        return 1.0
    best: float | None = None
    for window in stop.windows:
        if window.start_s <= start_s <= window.end_s:
            best = window.weight if best is None else max(best, window.weight)
    return best


def reachable_stops(problem: Problem) -> npt.NDArray[np.bool_]:
    """Mark the stops that at least one unit could visit alone within its shift.

    A stop is reachable when some unit can leave its start at shift start, travel to the stop,
    start a visit inside a window, dwell and reach its end node by the shift end (its break,
    if any, included). Exact float arithmetic is not needed here: this is a screen, and the
    plans are checked exactly afterwards.
    """
    reachable = np.zeros(len(problem.stops), dtype=bool)
    for unit in problem.units:
        matrix = problem.travel_time_s[unit.mode]
        pause = unit.rest_break.duration_s if unit.rest_break is not None else 0.0
        for number, stop in enumerate(problem.stops):
            if reachable[number]:
                continue
            arrival = unit.shift_start_s + matrix[unit.start_node, stop.node]
            back = matrix[stop.node, unit.end_node] + stop.dwell_s + pause
            windows = stop.windows or (TimeWindow(-math.inf, math.inf),)
            for window in windows:
                start = max(arrival, window.start_s)
                if start <= window.end_s and start + back <= unit.shift_end_s:
                    reachable[number] = True
                    break
    return reachable


def ticks_per_second(problem: Problem) -> float:
    """Return the power of two the solver multiplies seconds by to get integer ticks.

    The largest one that keeps the problem's time horizon (shifts, windows, breaks) within
    2**31 ticks, capped at 2**30: fine enough that rounding each trip up costs nothing
    visible, coarse enough that OR-Tools' costs and penalties never overflow.
    """
    horizon = 1.0
    for unit in problem.units:
        horizon = max(horizon, abs(unit.shift_start_s), abs(unit.shift_end_s))
    for stop in problem.stops:
        for window in stop.windows:
            horizon = max(horizon, abs(window.start_s), abs(window.end_s))
    exponent = math.floor(math.log2(_MAX_HORIZON_TICKS / horizon))
    return float(2.0 ** min(_MAX_TICKS_EXPONENT, exponent))


def ceil_ticks(seconds: npt.ArrayLike, scale: float) -> IntArray:
    """Scale seconds to ticks rounding up (costs: travel, dwell, releases); inf -> INF_TICKS.

    With ``scale`` a power of two the product is exact, so the ceiling is the true one.
    """
    values = np.asarray(seconds, dtype=np.float64) * scale
    finite = np.isfinite(values)
    out = np.full(values.shape, INF_TICKS, dtype=np.int64)
    out[finite] = np.minimum(np.ceil(values[finite]), INF_TICKS).astype(np.int64)
    out[~finite & (values < 0)] = -INF_TICKS
    return out


def floor_ticks(seconds: npt.ArrayLike, scale: float) -> IntArray:
    """Scale seconds to ticks rounding down (deadlines: window ends, shift ends, caps)."""
    values = np.asarray(seconds, dtype=np.float64) * scale
    finite = np.isfinite(values)
    out = np.full(values.shape, INF_TICKS, dtype=np.int64)
    out[finite] = np.maximum(np.floor(values[finite]), -INF_TICKS).astype(np.int64)
    out[~finite & (values < 0)] = -INF_TICKS
    return out
