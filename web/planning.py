"""A day's patrol problem from the database: top-scored cells, their risky hours, stations
and units, travel times; solved by planner.solver.

Times inside the problem are seconds since local midnight of the planning date.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import pandas as pd

from geo.errors import FileFormatError
from web import storage

__all__ = ["SHIFTS", "PlanRequest", "PlannedDay", "read_units", "daily_seed", "plan_day"]

#: Named shifts, local time. Any "HH:MM-HH:MM" works too (an end before the start ends the
#: next day).
SHIFTS = {"day": "08:00-16:00", "evening": "16:00-24:00", "night": "00:00-08:00"}
UNIT_COLUMNS = ("unit_id", "station_id")
DAY_S = 86_400


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
    seed: int | None = None
    model: str = "default"


@dataclass(frozen=True)
class PlannedDay:
    """The problem, its plan and what the exports need to put it on a map and a clock."""

    problem: object
    plan: object
    day_start_utc: pd.Timestamp
    timezone: str
    seed: int


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
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise FileFormatError(f"{path}: cannot read the units file: {err}") from err
    missing = [c for c in UNIT_COLUMNS if c not in frame.columns]
    if missing:
        raise FileFormatError(f"{path}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise FileFormatError(f"{path}: no units")
    for column, default in (("mode", "car"), ("end_station_id", ""), ("break_min", "0")):
        if column not in frame.columns:
            frame[column] = default
    for offset, mode in enumerate(frame["mode"]):
        if (mode or "car") not in ("car", "foot"):
            raise FileFormatError(
                f"{path}: line {offset + 2}, field mode: car or foot, got {mode!r}"
            )
    frame["mode"] = frame["mode"].replace("", "car")
    return frame


def _units_frame(engine, request: PlanRequest, stations: pd.DataFrame) -> pd.DataFrame:
    if request.units_file:
        units = read_units(request.units_file)
        unknown = sorted(set(units["station_id"]) - set(stations["station_id"]))
        if unknown:
            raise FileFormatError(
                f"{request.units_file}: unknown station_id {', '.join(unknown)}; "
                f"stations are {', '.join(stations['station_id'])}"
            )
        return units
    rows = []
    for station in stations.itertuples():
        count = request.units_per_station or int(station.units)
        for number in range(1, count + 1):
            rows.append(
                {
                    "unit_id": f"{station.station_id}-{number}",
                    "station_id": station.station_id,
                    "mode": "car",
                    "end_station_id": "",
                    "break_min": "0",
                }
            )
    return pd.DataFrame(rows)


def plan_day(engine, request: PlanRequest, secret: str):
    """Build and solve the day's problem; returns a :class:`PlannedDay`."""
    from geo.cells import hex_from_cells
    from geo.scoring import score_cells
    from geo.temporal import hour_weekday_profile
    from planner.problem import (
        Problem,
        RestBreak,
        Stop,
        Unit,
        windows_from_hourly_risk,
    )
    from planner.solver import SolverOptions, plan_patrols
    from planner.travel import great_circle_matrix
    from web.analysis import scoring_data_from_db

    data = scoring_data_from_db(engine)
    stations = storage.list_stations(engine)
    if stations.empty:
        raise FileFormatError("no stations stored: `hotspot stations --load FILE`")
    start_s, end_s = shift_seconds(request.shift)
    day = pd.Timestamp(request.date).tz_localize(data.timezone)
    as_of_s = int((day + pd.Timedelta(seconds=start_s)).tz_convert("UTC").timestamp())

    scores = score_cells(data.incidents, data.cells, as_of_s, model=request.model,
                         category_weights=data.category_weights)  # fmt: skip
    ranked = scores[scores["score"] > 0].sort_values("score", ascending=False)
    top = ranked.head(request.candidates)
    cells = top["cell"].to_numpy(dtype=np.int64)
    profile = hour_weekday_profile(data.incidents, cells, as_of_s, data.timezone)
    weekday = int(day.weekday())
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
    modes = sorted(set(units_frame["mode"]))
    matrices = {mode: great_circle_matrix(lon, lat, mode=mode).seconds for mode in modes}

    node_of_station = {sid: i for i, sid in enumerate(stations["station_id"])}
    units = []
    for row in units_frame.itertuples():
        end_station = row.end_station_id or row.station_id
        rest = None
        if float(row.break_min or 0) > 0:
            middle = (start_s + end_s) / 2
            rest = RestBreak(earliest_start_s=middle - 3600, latest_start_s=middle + 3600,
                             duration_s=float(row.break_min) * 60)  # fmt: skip
        units.append(
            Unit(id=str(row.unit_id), start_node=node_of_station[row.station_id],
                 end_node=node_of_station[end_station], shift_start_s=float(start_s),
                 shift_end_s=float(end_s), mode=row.mode, rest_break=rest)
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
    plan = plan_patrols(
        problem,
        SolverOptions(time_limit_s=request.time_limit_s, seed=seed, value_jitter=0.02),
    )
    return PlannedDay(problem, plan, day.tz_convert("UTC"), data.timezone, seed)
