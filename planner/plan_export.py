"""Plan exports: GeoJSON (routes and numbered stops), GPX 1.1 (one ``rte`` per unit) and CSV.

:func:`plan_to_geojson`, :func:`plan_to_gpx`, :func:`plan_to_frame` (one row per visit) and
:func:`plan_to_csv` turn a :class:`planner.plan.PatrolPlan` into what maps, in-car devices
and spreadsheets read; ``planner.plan`` re-exports them. :func:`visits_csv_for_people` writes
a stored plan's visits for people: local date and hh:mm times, grid and station, UTF-8 with a
byte-order mark so Excel and WPS open it with the right characters.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

import numpy as np
import pandas as pd

from planner.errors import InvalidPlanError, InvalidProblemError
from planner.problem import Problem

if TYPE_CHECKING:
    from planner.plan import PatrolPlan

__all__ = [
    "GPX_NAMESPACE",
    "PEOPLE_CSV_COLUMNS",
    "plan_to_csv",
    "plan_to_frame",
    "plan_to_geojson",
    "plan_to_gpx",
    "visits_csv_for_people",
]

GPX_NAMESPACE = "http://www.topografix.com/GPX/1/1"


def _lon_lat(problem: Problem) -> np.ndarray:
    if problem.node_lon_lat is None:
        raise InvalidProblemError("exports need node_lon_lat: the problem has no coordinates")
    return problem.node_lon_lat


def plan_to_frame(plan: PatrolPlan, problem: Problem | None = None) -> pd.DataFrame:
    """One row per visit: unit, order, stop, cell, node, (lon, lat), times, travel, value.

    Columns: ``unit_id, order, stop, cell, node, visit_number, arrival_s, start_s, dwell_s,
    departure_s, travel_s, wait_s, value``, plus ``lon, lat`` when ``problem`` has
    coordinates.
    """
    rows = [
        {
            "unit_id": route.unit_id,
            "order": order,
            "stop": v.stop,
            "cell": v.cell,
            "node": v.node,
            "visit_number": v.visit_number,
            "arrival_s": v.arrival_s,
            "start_s": v.start_s,
            "dwell_s": v.dwell_s,
            "departure_s": v.departure_s,
            "travel_s": v.travel_s,
            "wait_s": v.wait_s,
            "value": v.value,
        }
        for route in plan.routes
        for order, v in enumerate(route.visits, start=1)
    ]
    columns = [
        "unit_id", "order", "stop", "cell", "node", "visit_number", "arrival_s", "start_s",
        "dwell_s", "departure_s", "travel_s", "wait_s", "value",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    if problem is not None and problem.node_lon_lat is not None:
        nodes = frame["node"].to_numpy(dtype=np.int64)
        frame["lon"] = problem.node_lon_lat[nodes, 0]
        frame["lat"] = problem.node_lon_lat[nodes, 1]
    return frame


def plan_to_csv(plan: PatrolPlan, problem: Problem | None = None) -> str:
    """Return :func:`plan_to_frame` as CSV text (header first, one row per visit)."""
    return str(plan_to_frame(plan, problem).to_csv(index=False, lineterminator="\n"))


#: The columns of :func:`visits_csv_for_people`, in order (headers come from the caller, in
#: the reader's language).
PEOPLE_CSV_COLUMNS = ("date", "unit", "station", "stop", "grid", "place", "cell", "arrive",
                      "start", "leave", "minutes", "value")  # fmt: skip


def visits_csv_for_people(
    visits: pd.DataFrame, origin: pd.Timestamp, headers: Mapping[str, str] | None = None
) -> str:
    """A plan's visits as CSV for people, with a UTF-8 byte-order mark.

    ``visits`` has ``unit, station, stop, grid, cell, arrival_s, start_s, departure_s, value``
    (times in seconds on the plan's clock) and optionally ``place``, the cell's name for
    people (e.g. G061-12; the cell id when missing); ``origin`` is the timezone-aware moment
    of second 0 (local midnight of the plan's date). Each row gets the local ``date`` of its
    patrol and ``arrive``, ``start``, ``leave`` as local hh:mm (a night shift's visits after
    midnight carry the next date; clock changes are followed), ``minutes`` on the spot and the
    value to one decimal. ``headers`` names the columns (default: the column keys).
    """
    if origin.tzinfo is None:
        raise InvalidPlanError("origin must be timezone-aware, e.g. 2027-03-05T00:00+08:00")
    names = dict(headers or {})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([names.get(column, column) for column in PEOPLE_CSV_COLUMNS])

    def local(seconds: float) -> pd.Timestamp:
        return origin + pd.Timedelta(seconds=round(float(seconds)))

    for row in visits.to_dict("records"):
        start = local(row["start_s"])
        writer.writerow(
            [
                f"{start:%Y-%m-%d}",
                row["unit"],
                row["station"],
                int(row["stop"]),
                row["grid"],
                row.get("place") or row["cell"],
                row["cell"],
                f"{local(row['arrival_s']):%H:%M}",
                f"{start:%H:%M}",
                f"{local(row['departure_s']):%H:%M}",
                round((float(row["departure_s"]) - float(row["start_s"])) / 60),
                f"{float(row['value']):.1f}",
            ]
        )
    return "\ufeff" + buffer.getvalue()


def plan_to_geojson(plan: PatrolPlan, problem: Problem) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection: a LineString per route and a Point per visit.

    The route line runs station, visits, station (straight legs between node coordinates);
    its properties hold the unit's totals. Each visit point carries its times and value.

    Raises
    ------
    InvalidProblemError
        When the problem has no ``node_lon_lat``.
    """
    lon_lat = _lon_lat(problem)

    def point(node: int) -> list[float]:
        return [float(lon_lat[node, 0]), float(lon_lat[node, 1])]

    features: list[dict[str, Any]] = []
    for route in plan.routes:
        nodes = [route.start_node, *(v.node for v in route.visits), route.end_node]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [point(n) for n in nodes]},
                "properties": {
                    "kind": "route",
                    "unit_id": route.unit_id,
                    "departure_s": route.departure_s,
                    "arrival_s": route.arrival_s,
                    "visits": len(route.visits),
                    "travel_s": route.travel_s,
                    "dwell_s": route.dwell_s,
                    "value": route.value,
                },
            }
        )
        for order, v in enumerate(route.visits, start=1):
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": point(v.node)},
                    "properties": {
                        "kind": "visit",
                        "unit_id": route.unit_id,
                        "order": order,
                        "stop": v.stop,
                        "cell": v.cell,
                        "visit_number": v.visit_number,
                        "arrival_s": v.arrival_s,
                        "start_s": v.start_s,
                        "departure_s": v.departure_s,
                        "value": v.value,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def plan_to_gpx(plan: PatrolPlan, problem: Problem, *, clock_origin: datetime | None = None) -> str:
    """Return GPX 1.1 text with one ``rte`` per unit for in-car devices.

    Each route lists its start station, visits and end station as ``rtept``. With
    ``clock_origin`` (the timezone-aware moment of second 0 on the problem's clock) every
    point also gets its planned ``time`` in UTC.

    Raises
    ------
    InvalidProblemError
        When the problem has no ``node_lon_lat``.
    """
    lon_lat = _lon_lat(problem)
    if clock_origin is not None and clock_origin.utcoffset() is None:
        raise InvalidPlanError("clock_origin must be timezone-aware, e.g. 2018-07-01T00:00-05:00")
    ElementTree.register_namespace("", GPX_NAMESPACE)
    ns = f"{{{GPX_NAMESPACE}}}"
    root = ElementTree.Element(f"{ns}gpx", {"version": "1.1", "creator": "hotspot-patrol planner"})

    def add_point(rte: ElementTree.Element, node: int, name: str, desc: str, at: float) -> None:
        point = ElementTree.SubElement(
            rte,
            f"{ns}rtept",
            {"lat": f"{lon_lat[node, 1]:.7f}", "lon": f"{lon_lat[node, 0]:.7f}"},
        )
        if clock_origin is not None:
            moment = (clock_origin + timedelta(seconds=at)).astimezone(UTC)
            ElementTree.SubElement(point, f"{ns}time").text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        ElementTree.SubElement(point, f"{ns}name").text = name
        ElementTree.SubElement(point, f"{ns}desc").text = desc

    names = problem.node_names
    for route in plan.routes:
        rte = ElementTree.SubElement(root, f"{ns}rte")
        ElementTree.SubElement(rte, f"{ns}name").text = route.unit_id
        ElementTree.SubElement(rte, f"{ns}number").text = str(problem.unit_index(route.unit_id) + 1)
        station = names[route.start_node] if names else f"node {route.start_node}"
        add_point(
            rte, route.start_node, station, f"leave {_clock(route.departure_s)}", route.departure_s
        )
        for order, v in enumerate(route.visits, start=1):
            label = v.cell or (names[v.node] if names else f"node {v.node}")
            patrol = f"{_clock(v.start_s)}-{_clock(v.departure_s)}"
            desc = f"{order}: arrive {_clock(v.arrival_s)}, patrol {patrol}"
            add_point(rte, v.node, label, desc, v.start_s)
        station = names[route.end_node] if names else f"node {route.end_node}"
        add_point(rte, route.end_node, station, f"back {_clock(route.arrival_s)}", route.arrival_s)
    ElementTree.indent(root)
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _clock(seconds: float) -> str:
    """Seconds on the clock as H:MM (hours may pass 24 for shifts past midnight)."""
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60}:{minutes % 60:02d}"
