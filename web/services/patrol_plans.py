"""A day's patrol problem from the database: top-scored cells, their risky hours, stations
and units, travel times; solved by planner.solver. Also what the site keeps of a plan and
reads back from it: the stored record, street geometry, comparisons with the day before and
delivered against planned patrol time.

Times inside the problem are seconds on the plan's clock: the shift starts at its local start
time ("day" at 08:00 = 28,800 s) and runs in real seconds from there, so a shift on the day
clocks change lasts what it really lasts (7 or 9 hours for a night shift across the change).
:func:`shift_bounds` gives the true UTC start and end; times stored with a plan are UTC seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import h3
import numpy as np
import pandas as pd

from geo.checks import DAY_S
from geo.errors import FileFormatError
from geo.tables import check_text_column, check_unique, read_text_table
from web import storage
from web.services.caches import Cache

if TYPE_CHECKING:
    from planner.plan import PatrolPlan
    from planner.problem import Problem
    from planner.travel import TravelMatrix

__all__ = [
    "PUBLISHABLE_STATUSES",
    "SHIFTS",
    "PlanRequest",
    "PlannedDay",
    "cell_focus",
    "compare_plans",
    "daily_seed",
    "delivered_vs_planned",
    "plan_day",
    "plan_geojson",
    "plan_record",
    "read_units",
    "shift_seconds",
    "shift_window",
    "unit_schedules",
    "units_by_station",
    "warned_scores",
]

#: Named shifts, local time. Any "HH:MM-HH:MM" works too (an end before the start ends the
#: next day).
SHIFTS = {"day": "08:00-16:00", "evening": "16:00-24:00", "night": "00:00-08:00"}
UNIT_COLUMNS = ("unit_id", "station_id")
#: Longest rest break of a unit, in minutes (it is taken around mid-shift).
MAX_BREAK_MIN = 240
#: Plan statuses that may be published: "partial" still has routes worth driving; "empty",
#: "unreachable" and "invalid" have none (or broken ones).
PUBLISHABLE_STATUSES = ("ok", "partial")
# Street graphs per (file, mode, modification time): reading a city's streets takes seconds.
_street_graphs = Cache("street graphs", max_entries=4, max_bytes=1024 * 2**20)


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: the date, the shift and the knobs a planner sets on the form."""

    date: str
    shift: str = "day"
    units_file: str | None = None
    units_per_station: int | None = None
    candidates: int = 300
    dwell_min: float = 15.0
    max_visits: int = 2
    min_gap_min: float = 60.0
    max_cell_share: float | None = 0.1
    time_limit_s: float = 30.0
    work_s: float | None = None  # solver work budget (default: the time limit)
    seed: int | None = None
    model: str = "default"
    road_network_file: str | None = None
    # Open early warnings multiply their cells' value (the site passes WARNING_VALUE_FACTOR).
    warning_value_factor: float = 1.5
    # Per station (station_id -> value), from the form: units on this shift (0 for none),
    # and working hours "HH:MM-HH:MM" within the shift. They take the place of
    # units_per_station and of the stations' stored numbers and hours for this shift.
    station_units: dict[str, int] | None = None
    station_hours: dict[str, str] | None = None


@dataclass(frozen=True)
class PlannedDay:
    """The problem, its plan and what the exports need to put it on a map and a clock."""

    problem: Problem
    plan: PatrolPlan
    day_start_utc: pd.Timestamp  # the plan clock's zero: shift start (UTC) minus its local start
    timezone: str
    seed: int
    travel: Mapping[str, TravelMatrix] | None = None  # mode -> its travel matrix
    road_network: str | None = None  # file name of the street network used, if any


def shift_seconds(shift: str) -> tuple[int, int]:
    """Return (start, end) seconds since local midnight for a shift name or "HH:MM-HH:MM"."""
    text = SHIFTS.get(shift, shift)
    try:
        start_text, end_text = text.split("-")
        start = _clock_seconds(start_text)
        end = _clock_seconds(end_text)
    except ValueError:
        raise ValueError(
            f"shift must be one of {', '.join(SHIFTS)} or HH:MM-HH:MM, got {shift!r}"
        ) from None
    if end <= start:
        end += DAY_S
    return start, end


def shift_bounds(date: str, shift: str, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start and end of a shift on a local date, as the city's clocks read them.

    A wall time that never happens (clocks go forward) moves forward by the gap; one that
    happens twice is the first, so a shift across the change lasts its real length.
    """
    start_s, end_s = shift_seconds(shift)
    day = pd.Timestamp(date)
    if day.tzinfo is not None or day != day.normalize():
        raise ValueError(f"date: expected YYYY-MM-DD, got {date!r}")

    def at(seconds: int) -> pd.Timestamp:
        wall = day + pd.Timedelta(seconds=seconds)
        local = wall.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
        return local.tz_convert("UTC")

    return at(start_s), at(end_s)


def _clock_seconds(text: str) -> int:
    hours, minutes = (int(part) for part in text.strip().split(":"))
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(text)
    return hours * 3600 + minutes * 60


def daily_seed(date: str, secret: str) -> int:
    """A seed that changes every day and cannot be guessed without the site's secret."""
    digest = hmac.new(secret.encode(), date.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big")


def read_units(path: str | Path) -> pd.DataFrame:
    """Read a units file: CSV with ``unit_id, station_id`` and optional ``mode`` (car or
    foot), ``end_station_id``, ``break_min`` (minutes of rest, taken mid-shift)."""
    path = Path(path)
    frame = read_text_table(path, "units", UNIT_COLUMNS)
    if frame.empty:
        raise FileFormatError(f"{path}: no units")
    for column, default in (("mode", "car"), ("end_station_id", ""), ("break_min", "0")):
        if column not in frame.columns:
            frame[column] = default
    for column, required in (("unit_id", True), ("station_id", True), ("end_station_id", False)):
        check_text_column(path, frame, column, 80, required=required)
    check_unique(path, frame, "unit_id")
    for offset, (mode, rest) in enumerate(zip(frame["mode"], frame["break_min"], strict=True)):
        if (mode or "car") not in ("car", "foot"):
            raise FileFormatError(
                f"{path}: line {offset + 2}, field mode: car or foot, got {mode!r}"
            )
        try:
            minutes = float(rest or 0)
        except ValueError:
            minutes = math.nan
        if not 0 <= minutes <= MAX_BREAK_MIN:
            raise FileFormatError(
                f"{path}: line {offset + 2}, field break_min: minutes from 0 to "
                f"{MAX_BREAK_MIN}, got {rest!r}"
            )
    frame["mode"] = frame["mode"].replace("", "car")
    return frame


def _units_frame(engine, request: PlanRequest, stations: pd.DataFrame) -> pd.DataFrame:
    if request.units_file:
        units = read_units(request.units_file)
        named = set(units["station_id"]) | (set(units["end_station_id"]) - {""})
        unknown = sorted(named - set(stations["station_id"]))
        if unknown:
            raise FileFormatError(
                f"{request.units_file}: unknown station_id {', '.join(unknown)}; "
                f"stations are {', '.join(stations['station_id'])}"
            )
        return units
    rows = []
    chosen = request.station_units or {}
    unknown = sorted(set(chosen) - set(stations["station_id"]))
    if unknown:
        raise ValueError(f"station_units: unknown station {', '.join(unknown)}")
    for station_id, stored_units, shifts in zip(
        stations["station_id"], stations["units"], _shifts_column(stations), strict=True
    ):
        own = shift_setting(shifts, request.shift).get("units")
        count = chosen.get(station_id)
        if count is None:
            count = request.units_per_station or (
                int(own) if own is not None else int(stored_units)
            )
        for number in range(1, int(count) + 1):
            rows.append(
                {
                    "unit_id": f"{station_id}-{number}",
                    "station_id": station_id,
                    "mode": "car",
                    "end_station_id": "",
                    "break_min": "0",
                }
            )
    return pd.DataFrame(rows, columns=["unit_id", "station_id", "mode", "end_station_id",
                                       "break_min"])  # fmt: skip


def _shifts_column(stations: pd.DataFrame) -> list:
    return list(stations["shifts"]) if "shifts" in stations.columns else [None] * len(stations)


def shift_setting(shifts: object, shift: str) -> dict:
    """A station's own setting for a named shift (``units``, ``hours``) from its stored
    ``shifts`` JSON (empty when it has none)."""
    if not shifts or not isinstance(shifts, str):
        return {}
    try:
        value = json.loads(shifts).get(shift, {})
    except (ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


def station_hours(request: PlanRequest, stations: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Working hours per station that differ from the shift's, as (start, end) seconds on the
    plan's clock: the form's, else the station's stored hours for the named shift. Hours must
    lie within the shift (ValueError naming the station otherwise)."""
    start_s, end_s = shift_seconds(request.shift)
    hours = {
        sid: shift_setting(shifts, request.shift).get("hours")
        for sid, shifts in zip(stations["station_id"], _shifts_column(stations), strict=True)
    }
    hours |= request.station_hours or {}
    out = {}
    for station_id, text in hours.items():
        if not text:
            continue
        if station_id not in set(stations["station_id"]):
            raise ValueError(f"station_hours: unknown station {station_id}")
        begin, end = shift_seconds(str(text))
        if begin < start_s:  # a night shift's hours after midnight
            begin, end = begin + DAY_S, end + DAY_S
        if not (start_s <= begin < end <= end_s):
            raise ValueError(
                f"station {station_id}: hours {text} are not within the shift "
                f"{SHIFTS.get(request.shift, request.shift)}"
            )
        out[station_id] = (begin, end)
    return out


# The largest day problem made: units, visit options (cells x visits allowed) and their
# product (the solver's tables grow with it; the form's largest values, 100 units and
# 2,000 cells x 6 visits, fit and solve within the time limit using about 0.8 GB).
MAX_UNITS = 200
MAX_VISIT_OPTIONS = 12_000
MAX_UNIT_OPTIONS = 1_200_000


def check_problem_size(units: int, visit_options: int) -> None:
    """Raise ValueError, naming the figure that is too large, for a problem too big to solve
    within a plan job's time and memory."""
    if units > MAX_UNITS:
        raise ValueError(f"{units} units is more than {MAX_UNITS}: plan fewer units per station")
    if visit_options > MAX_VISIT_OPTIONS:
        raise ValueError(
            f"{visit_options} visit options (cells x visits per cell) is more than "
            f"{MAX_VISIT_OPTIONS}: plan fewer cells or fewer visits per cell"
        )
    if units * visit_options > MAX_UNIT_OPTIONS:
        raise ValueError(
            f"{units} units x {visit_options} visit options = {units * visit_options} is more "
            f"than {MAX_UNIT_OPTIONS}: plan fewer units or fewer cells"
        )


def plan_day(
    engine,
    request: PlanRequest,
    secret: str,
    on_phase: Callable[[str], None] | None = None,
    solve: Callable | None = None,
):
    """Build and solve the day's problem; returns a :class:`PlannedDay`.

    ``on_phase`` is told "scoring", then "solving" (when the solver's time limit starts).
    ``solve(problem, options)`` solves it (default :func:`planner.solver.plan_patrols` in
    this process; the site's plan jobs solve in a child process they can stop).
    """
    from geo.cells import hex_from_cells
    from geo.temporal import hour_weekday_profile
    from planner.problem import (
        Problem,
        RestBreak,
        Stop,
        Unit,
        windows_from_hourly_risk,
    )
    from planner.solver import SolverOptions, plan_patrols
    from web.services.filters import Filters
    from web.services.scores import cell_scores
    from web.services.site_data import site_data

    report = on_phase or (lambda _phase: None)
    report("scoring")
    # The site's incidents, scored as the map scores them (one path, one copy in memory).
    data = site_data(engine)
    stations = storage.list_stations(engine)
    if stations.empty:
        raise FileFormatError("no stations stored: `hotspot stations --load FILE`")
    start_s, _wall_end_s = shift_seconds(request.shift)
    shift_start, shift_end = shift_bounds(request.date, request.shift, data.timezone)
    # The plan's clock: zero is the shift start minus its local start time; the shift ends
    # after its real length (an hour shorter or longer on the day clocks change).
    end_s = start_s + int((shift_end - shift_start).total_seconds())
    as_of_s = int(shift_start.timestamp())

    scores = cell_scores(data, Filters(), model=request.model, as_of_s=as_of_s)
    scores = warned_scores(engine, scores, as_of_s, request.warning_value_factor)
    ranked = scores[scores["score"] > 0].sort_values("score", ascending=False)
    top = ranked.head(request.candidates)
    cells = top["cell"].to_numpy(dtype=np.int64)
    profile = hour_weekday_profile(data.incidents, cells, as_of_s, data.timezone)
    weekday = int(pd.Timestamp(request.date).weekday())
    hexes = hex_from_cells(cells)
    districts = storage.load_area_cells(engine, "grid")
    if districts.empty:
        districts = storage.load_area_cells(engine, "district")
    area_of = dict(zip(districts["cell"], districts["area_id"], strict=True))

    n_stations = len(stations)
    centres = np.array([h3.cell_to_latlng(c) for c in hexes]).reshape(-1, 2)
    lon = np.concatenate([stations["lon"].to_numpy(dtype=float), centres[:, 1]])
    lat = np.concatenate([stations["lat"].to_numpy(dtype=float), centres[:, 0]])
    units_frame = _units_frame(engine, request, stations)
    check_problem_size(len(units_frame), len(cells) * request.max_visits)
    modes = sorted(set(units_frame["mode"]))
    travel = _travel_matrices(lon, lat, modes, request.road_network_file)
    matrices = {mode: matrix.seconds for mode, matrix in travel.items()}

    node_of_station = {sid: i for i, sid in enumerate(stations["station_id"])}
    own_hours = station_hours(request, stations)
    units = []
    unit_rows = units_frame[["unit_id", "station_id", "end_station_id", "mode", "break_min"]]
    for unit_id, station_id, end_station_id, mode, break_min in unit_rows.itertuples(
        index=False, name=None
    ):
        end_station = end_station_id or station_id
        begin, finish = own_hours.get(station_id, (start_s, end_s))
        rest = None
        if float(break_min or 0) > 0:
            middle = (begin + finish) / 2
            rest = RestBreak(earliest_start_s=middle - 3600, latest_start_s=middle + 3600,
                             duration_s=float(break_min) * 60)  # fmt: skip
        units.append(
            Unit(id=str(unit_id), start_node=node_of_station[station_id],
                 end_node=node_of_station[end_station], shift_start_s=float(begin),
                 shift_end_s=float(finish), mode=mode, rest_break=rest)
        )  # fmt: skip
    stops = []
    for i, (hex_id, cell, value) in enumerate(zip(hexes, cells, top["score"], strict=True)):
        # Visits are worth the cell's score times its risk at the hour they start (the
        # planning day's weekday profile; hours past midnight wrap around it).
        windows = windows_from_hourly_risk(profile[i, weekday], float(start_s), float(end_s))
        stops.append(
            Stop(node=n_stations + i, value=float(value), dwell_s=request.dwell_min * 60,
                 windows=windows, max_visits=request.max_visits,
                 min_gap_s=request.min_gap_min * 60, cell=hex_id,
                 area=area_of.get(int(cell)))
        )  # fmt: skip
    names = tuple(stations["name"].astype(str)) + tuple(hexes)
    problem = Problem(
        travel_time_s=matrices, units=tuple(units), stops=tuple(stops),
        node_lon_lat=np.column_stack([lon, lat]), node_names=names,
        max_cell_share=request.max_cell_share,
    )  # fmt: skip
    seed = request.seed if request.seed is not None else daily_seed(request.date, secret)
    report("solving")
    plan = (solve or plan_patrols)(
        problem,
        SolverOptions(
            time_limit_s=request.time_limit_s, work_s=request.work_s, seed=seed, value_jitter=0.02
        ),  # fmt: skip
    )
    road_network = Path(request.road_network_file).name if request.road_network_file else None
    origin = shift_start - pd.Timedelta(seconds=start_s)
    return PlannedDay(problem, plan, origin, data.timezone, seed, travel,
                      road_network)  # fmt: skip


def warned_scores(engine, scores: pd.DataFrame, shift_start_s: int, factor: float) -> pd.DataFrame:
    """``scores`` (``cell``, ``score``) with the score of every cell under an open early
    warning that lasts past the shift's start multiplied by ``factor`` (before the candidates
    are chosen, so a warned cell can also enter the plan). A new frame; 1 changes nothing."""
    if factor == 1 or scores.empty:
        return scores
    if not factor > 0:
        raise ValueError(f"warning_value_factor must be > 0, got {factor!r}")
    warned = storage.open_warning_cells(engine, after_s=shift_start_s)["cell"].unique()
    if not len(warned):
        return scores
    out = scores.copy()
    hit = out["cell"].isin(warned).to_numpy()
    out.loc[hit, "score"] = out.loc[hit, "score"] * factor
    return out


def _travel_matrices(lon, lat, modes, road_network_file: str | None) -> dict[str, TravelMatrix]:
    """Travel matrices per mode: along the streets of the file, else great-circle x circuity."""
    from planner.travel import great_circle_matrix

    if not road_network_file:
        return {mode: great_circle_matrix(lon, lat, mode=mode) for mode in modes}
    from planner.roads import road_matrix

    return {mode: road_matrix(_street_graph(road_network_file, mode), lon, lat) for mode in modes}


def _street_graph(path: str, mode: str):
    """The street graph of a file, read once per file version (reading a city takes seconds)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError as err:
        from planner.errors import RoadNetworkError

        raise RoadNetworkError(f"road network file {path}: {err.strerror}") from err
    from planner.roads import load_street_graph

    def load():
        _street_graphs.discard(lambda key: key[:2] == (str(path), mode))  # an older version
        return load_street_graph(path, mode=mode)

    return _street_graphs.get_or_load((str(path), mode, stamp), load)


# --- what the site stores of a plan ------------------------------------------------------


def plan_geojson(planned: PlannedDay) -> dict:
    """The plan as GeoJSON; route lines follow the streets when the plan used a road network.

    Route features get ``streets`` (true for street geometry, false for straight legs).
    """
    from planner.plan import plan_to_geojson

    document = plan_to_geojson(planned.plan, planned.problem)
    routes = {route.unit_id: route for route in planned.plan.routes}
    units = {unit.id: unit for unit in planned.problem.units}
    for feature in document["features"]:
        properties = feature["properties"]
        if properties.get("kind") != "route":
            continue
        matrix = (planned.travel or {}).get(units[properties["unit_id"]].mode)
        streets = getattr(matrix, "method", None) == "road"
        properties["streets"] = streets
        if streets:
            route = routes[properties["unit_id"]]
            nodes = [route.start_node, *(v.node for v in route.visits), route.end_node]
            feature["geometry"]["coordinates"] = _street_line(matrix, nodes)
    return document


def _street_line(matrix, nodes: list[int]) -> list[list[float]]:
    """Chain the street paths of consecutive legs into one line (joints kept once)."""
    line: list[list[float]] = []
    for a, b in zip(nodes[:-1], nodes[1:], strict=True):
        for lon, lat in matrix.path(a, b):
            vertex = [round(lon, 6), round(lat, 6)]
            if not line or line[-1] != vertex:
                line.append(vertex)
    return line


def plan_record(planned: PlannedDay, request: PlanRequest) -> dict:
    """Everything :func:`web.storage.store_plan` needs except who made the plan.

    The visits frame has ``unit_id, seq, cell`` (int64), ``start_at, end_at`` (UTC seconds
    of the patrol on the spot) and ``value``.
    """
    from geo.cells import cells_from_hex
    from planner.plan import plan_to_csv, plan_to_gpx
    from planner.problem_json import plan_to_json
    from web.services.replans import problem_text

    plan, problem = planned.plan, planned.problem
    origin_s = int(planned.day_start_utc.timestamp())
    start_s, _end_s = shift_seconds(request.shift)
    rows = [
        {"unit_id": route.unit_id, "seq": seq, "cell": visit.cell,
         "start_at": origin_s + round(visit.start_s), "end_at": origin_s + round(visit.departure_s),
         "value": visit.value}
        for route in plan.routes
        for seq, visit in enumerate(route.visits, start=1)
    ]  # fmt: skip
    visits = pd.DataFrame(rows, columns=["unit_id", "seq", "cell", "start_at", "end_at", "value"])
    visits["cell"] = cells_from_hex(visits["cell"]) if len(visits) else visits["cell"]
    document = plan_to_json(plan)
    document["date_start_utc"] = planned.day_start_utc.isoformat()
    document["timezone"] = planned.timezone
    document["seed"] = planned.seed
    names = problem.node_names or ()
    document["unit_stations"] = {
        unit.id: {
            "start": names[unit.start_node] if names else "",
            "end": names[unit.end_node] if names else "",
            "mode": unit.mode,
        }
        for unit in problem.units
    }
    summary = {
        "status": plan.status,
        "message": plan.message,
        "feasible": bool(plan.feasible),
        "total_value": float(plan.total_value),
        "travel_s": float(plan.total_travel_s),
        "dwell_s": float(plan.total_dwell_s),
        "units": len(problem.units),
        "routes": sum(1 for route in plan.routes if route.visits),
        "visits": len(visits),
        "cells": int(visits["cell"].nunique()),
        "candidates": len(problem.stops),
        "skipped": len(plan.skipped),
        "road_network": planned.road_network,
        "timezone": planned.timezone,
        "stats": document["stats"],
    }
    return {
        "plan_date": request.date,
        "shift": request.shift,
        "shift_start": origin_s + start_s,
        "seed": planned.seed,
        "request": {
            key: value
            for key, value in asdict(request).items()
            if key not in ("seed", "units_file", "road_network_file")
        }
        | {"road_network": planned.road_network},
        "summary": summary,
        "plan_json": json.dumps(document, ensure_ascii=False),
        "geojson": json.dumps(plan_geojson(planned), ensure_ascii=False),
        "gpx": plan_to_gpx(plan, problem, clock_origin=planned.day_start_utc.to_pydatetime()),
        "csv": plan_to_csv(plan, problem),
        "visits": visits,
        "problem": problem_text(problem, request.road_network_file),
    }


def shift_window(plan_date: str, shift: str, timezone: str) -> tuple[int, int]:
    """UTC seconds [start, end) of a stored plan's shift."""
    start, end = shift_bounds(plan_date, shift, timezone)
    return int(start.timestamp()), int(end.timestamp())


def compare_plans(now: pd.DataFrame, before: pd.DataFrame) -> dict:
    """Compare two plans' visits (``plan_visits_frame`` frames): cells in both, only in
    ``now``, only in ``before``, with the total value and patrol minutes of each."""

    def totals(frame: pd.DataFrame) -> dict:
        minutes = float((frame["end_at"] - frame["start_at"]).sum()) / 60 if len(frame) else 0.0
        return {
            "value": float(frame["value"].sum()) if len(frame) else 0.0,
            "minutes": minutes,
            "visits": len(frame),
            "cells": int(frame["cell"].nunique()),
        }

    cells_now, cells_before = set(now["cell"].tolist()), set(before["cell"].tolist())
    return {
        "both": sorted(cells_now & cells_before),
        "only_now": sorted(cells_now - cells_before),
        "only_before": sorted(cells_before - cells_now),
        "now": totals(now),
        "before": totals(before),
    }


def delivered_vs_planned(visits: pd.DataFrame, checkins: pd.DataFrame) -> pd.DataFrame:
    """Planned patrol minutes per cell against delivered ones from check-ins.

    ``visits`` as from ``plan_visits_frame``, ``checkins`` as from ``checkins_frame`` (each
    check-in counts its ``minutes``). Returns ``cell, planned_min, delivered_min, checkins,
    share`` (delivered over planned; NaN for a cell without planned time), one row per cell
    with planned or delivered time, most planned first.
    """
    planned = (
        visits.assign(minutes=(visits["end_at"] - visits["start_at"]) / 60.0)
        .groupby("cell")["minutes"]
        .sum()
        .rename("planned_min")
    )
    delivered = checkins.groupby("cell")["minutes"].agg(["sum", "count"])
    delivered.columns = ["delivered_min", "checkins"]
    frame = pd.concat([planned, delivered], axis=1).fillna(0.0)
    frame.index.name = "cell"
    frame = frame.reset_index()
    frame["checkins"] = frame["checkins"].astype(int)
    frame["cell"] = frame["cell"].astype(np.int64)
    frame["share"] = frame["delivered_min"] / frame["planned_min"].where(frame["planned_min"] > 0)
    frame = frame.sort_values(
        ["planned_min", "delivered_min", "cell"], ascending=[False, False, True]
    )
    return frame.reset_index(drop=True)[
        ["cell", "planned_min", "delivered_min", "checkins", "share"]
    ]


def cell_focus(
    engine, cells, end_s: int, days: int = 28, top: int = 3, exclude: tuple[str, ...] = ()
) -> dict[int, list]:
    """The most frequent incident categories of each cell in the ``days`` before ``end_s``:
    ``{cell: [(category code, count), ...]}`` (what a unit should look out for there).

    ``exclude`` leaves categories out: the site passes the police-initiated ones, which the
    scoring guardrail also leaves out, so briefings do not send units back to search.
    """
    cells = [int(c) for c in cells]
    if not cells:
        return {}
    incidents = storage.load_incidents(engine, start_s=end_s - days * DAY_S, end_s=end_s,
                                       cells=cells)  # fmt: skip
    incidents = incidents[~incidents["category"].isin(list(exclude))]
    counts = incidents.groupby(["cell", "category"]).size().rename("n").reset_index()
    counts = counts.sort_values(["cell", "n", "category"], ascending=[True, False, True])
    # Sorted by cell: the first ``top`` rows of each cell, cell after cell.
    kept = counts.groupby("cell").head(top)
    focus: dict[int, list] = {}
    for cell, category, n in zip(
        kept["cell"], kept["category"], kept["n"].astype(int), strict=True
    ):
        focus.setdefault(int(cell), []).append((category, n))
    return focus


def unit_schedules(document: Mapping, geojson: Mapping) -> list[dict]:
    """Each unit's day from a stored plan's JSON and GeoJSON documents, in plan order.

    Every entry has the unit's ``id``, ``start`` and ``end`` station names, ``mode``, its
    totals (``departure_s, arrival_s, travel_s, dwell_s, wait_s, value``, seconds since
    local midnight), ``feasible``, ``break`` and ``stops``: ``order, cell`` (hex),
    ``visit_number, arrival_s, start_s, departure_s, dwell_s, value, lon, lat`` (the cell's
    centre) in visiting order.
    """
    stops: dict[str, list[dict]] = {}
    for feature in geojson.get("features", []):
        properties = feature["properties"]
        if properties.get("kind") != "visit":
            continue
        stops.setdefault(properties["unit_id"], []).append(
            {
                "order": int(properties["order"]),
                "cell": properties["cell"],
                "visit_number": int(properties["visit_number"]),
                "arrival_s": float(properties["arrival_s"]),
                "start_s": float(properties["start_s"]),
                "departure_s": float(properties["departure_s"]),
                "dwell_s": float(properties["departure_s"]) - float(properties["start_s"]),
                "value": float(properties["value"]),
                "lon": float(feature["geometry"]["coordinates"][0]),
                "lat": float(feature["geometry"]["coordinates"][1]),
            }
        )
    stations = document.get("unit_stations", {})
    units = []
    for unit in document.get("units", []):
        where = stations.get(unit["id"], {})
        units.append(
            {
                "id": unit["id"],
                "start": where.get("start", ""),
                "end": where.get("end", ""),
                "mode": where.get("mode", "car"),
                "departure_s": float(unit["arrival_s"][0]),
                "arrival_s": float(unit["arrival_s"][-1]),
                "travel_s": float(unit["travel_s"]),
                "dwell_s": float(unit["dwell_s"]),
                "wait_s": float(unit["wait_s"]),
                "value": float(unit["value"]),
                "feasible": bool(unit["feasible"] and unit["feasible_scaled"]),
                "break": unit.get("break"),
                "stops": sorted(stops.get(unit["id"], []), key=lambda s: s["order"]),
            }
        )
    return units


def units_by_station(units: list[dict]) -> list[dict]:
    """Units (as from :func:`unit_schedules`) grouped by the station they start from:
    ``[{"station": name, "units": [...], "stops": n}, ...]``, stations in the order of their
    first unit (a plan lists units station by station), units in plan order within each."""
    groups: dict[str, dict] = {}
    for unit in units:
        station = str(unit.get("start", ""))
        group = groups.setdefault(station, {"station": station, "units": [], "stops": 0})
        group["units"].append(unit)
        group["stops"] += len(unit.get("stops", []))
    return list(groups.values())
