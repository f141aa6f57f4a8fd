"""Matrix-level problems as JSON, for benchmarks and integration (docs/problem-schema.md).

:func:`load_problem_json` reads a problem document (a path, JSON text or an already parsed
dict) into a :class:`ProblemDocument`; :func:`problem_to_json` writes one back;
:func:`plan_to_json` turns a plan into the documented output and :func:`plan_from_json`
reads it back against its problem; :func:`plan_problem_json`
does all three for ``hotspot plan-problem``. :func:`top_to_json` converts a Team
Orienteering Problem instance (Chao, Golden & Wasil format) into a problem document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner.errors import PlannerError, ProblemFormatError
from planner.plan import BreakTaken, IdleUnit, PatrolPlan, Route, SkippedStop, SolverStats, Visit
from planner.plan_check import check_plan, visit_value
from planner.problem import DEFAULT_DWELL_S, Problem, RestBreak, Stop, TimeWindow, Unit

__all__ = [
    "SCHEMA_ID",
    "ProblemDocument",
    "load_problem_json",
    "plan_from_json",
    "plan_problem_json",
    "plan_to_json",
    "problem_to_json",
    "top_to_json",
]

SCHEMA_ID = "hotspot-patrol/problem/1"
PLAN_SCHEMA_ID = "hotspot-patrol/plan/1"
DEFAULT_TIME_LIMIT_S = 30.0
# A document may ask for at most an hour of solving: every solve has a deadline.
MAX_TIME_LIMIT_S = 3600.0
# The largest problem file read: a 5,000-node matrix written as JSON is about 200 MB.
MAX_PROBLEM_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ProblemDocument:
    """A loaded problem document: the problem and the solver settings it asks for."""

    problem: Problem
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    seed: int = 0
    engine: str = "auto"
    value_jitter: float = 0.0
    workers: int = 1


def load_problem_json(
    source: str | Path | Mapping[str, Any],
    *,
    travel_time_s: Mapping[str, np.ndarray] | None = None,
) -> ProblemDocument:
    """Read a problem document.

    Parameters
    ----------
    source
        A path to a ``.json`` file, JSON text, or the parsed mapping.
    travel_time_s
        Travel matrices per mode for a document written without them
        (``problem_to_json(..., travel=False)``: the site rebuilds them from the node
        positions); they take the place of the document's ``travel_time_s``.

    Returns
    -------
    ProblemDocument
        The problem (stops = the nodes with a value above 0 or marked mandatory, in node
        order) and the time limit, seed, engine and jitter.

    Raises
    ------
    ProblemFormatError
        When the file cannot be read or the document does not follow the schema; the message
        names the field.
    """
    data = _read(source)
    try:
        return _document(data, travel_time_s)
    except ProblemFormatError:
        raise
    except PlannerError as err:
        raise ProblemFormatError(f"problem document: {err}") from err


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    text: str
    where: str
    if isinstance(source, Path) or not str(source).lstrip().startswith("{"):
        path = Path(source)
        where = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_PROBLEM_BYTES:
                raise ProblemFormatError(
                    f"problem file {path} is {size / 2**20:.0f} MB, more than the "
                    f"{MAX_PROBLEM_BYTES // 2**20} MB read"
                )
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ProblemFormatError(f"cannot read problem file {path}: {err}") from err
    else:
        text, where = str(source), "JSON text"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProblemFormatError(
            f"{where} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from err
    if not isinstance(data, dict):
        raise ProblemFormatError(f"{where} must hold a JSON object, got {type(data).__name__}")
    return data


def _field(data: Mapping[str, Any], name: str) -> Any:
    if name not in data:
        raise ProblemFormatError(f"problem document needs the field {name!r}")
    return data[name]


def _per_node(data: Mapping[str, Any], name: str, n: int, default: Any) -> list[Any]:
    """A per-node field: absent (default), one value for all nodes, or a list of n."""
    value = data.get(name, default)
    if isinstance(value, list):
        if len(value) != n:
            raise ProblemFormatError(f"{name} must list {n} nodes, got {len(value)}")
        return value
    return [value] * n


def _number(name: str, value: Any) -> float:
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemFormatError(f"{name} must be a number, got {value!r}")
    return float(value)


def _matrix(name: str, rows: Any) -> np.ndarray:
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise ProblemFormatError(f"{name} must be a non-empty list of rows")
    n = len(rows)
    if any(len(r) != n for r in rows):
        raise ProblemFormatError(f"{name} must be square: {n} rows, each of {n} numbers")
    return np.array(
        [
            [_number(f"{name}[{i}][{j}]", v) for j, v in enumerate(row)]
            for i, row in enumerate(rows)
        ],
        dtype=np.float64,
    )


def _lon_lat(raw: Any) -> np.ndarray:
    try:
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ProblemFormatError(f"lon_lat must list [lon, lat] numbers per node ({err})") from err


def _windows(node: int, raw: Any) -> tuple[TimeWindow, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ProblemFormatError(f"windows[{node}] must be a list of [start_s, end_s(, weight)]")
    windows = []
    for item in raw:
        if isinstance(item, Mapping):
            start, end = item.get("start_s"), item.get("end_s")
            weight = item.get("weight", 1.0)
        elif isinstance(item, list) and len(item) in (2, 3):
            start, end = item[0], item[1]
            weight = item[2] if len(item) == 3 else 1.0
        else:
            raise ProblemFormatError(
                f"windows[{node}] entries must be [start_s, end_s] or [start_s, end_s, weight], "
                f"got {item!r}"
            )
        windows.append(
            TimeWindow(
                _number(f"windows[{node}] start_s", start),
                _number(f"windows[{node}] end_s", end),
                _number(f"windows[{node}] weight", weight),
            )
        )
    return tuple(windows)


def _unit(position: int, raw: Any) -> Unit:
    if not isinstance(raw, Mapping):
        raise ProblemFormatError(f"units[{position}] must be an object")
    where = f"units[{position}]"
    shift_start = _number(f"{where}.shift_start_s", raw.get("shift_start_s", 0.0))
    if "max_duration_s" in raw:
        shift_end = shift_start + _number(f"{where}.max_duration_s", raw["max_duration_s"])
    elif "shift_end_s" in raw:
        shift_end = _number(f"{where}.shift_end_s", raw["shift_end_s"])
    else:
        raise ProblemFormatError(f"{where} needs max_duration_s (or shift_end_s)")
    pause = raw.get("break")
    rest_break = None
    if pause is not None:
        if not isinstance(pause, Mapping):
            raise ProblemFormatError(f"{where}.break must be an object")
        rest_break = RestBreak(
            _number(f"{where}.break.earliest_start_s", pause.get("earliest_start_s")),
            _number(f"{where}.break.latest_start_s", pause.get("latest_start_s")),
            _number(f"{where}.break.duration_s", pause.get("duration_s")),
        )
    for key in ("start", "end"):
        if key not in raw:
            raise ProblemFormatError(f"{where} needs {key!r} (a node number)")
    return Unit(
        id=str(raw.get("id", f"unit-{position + 1}")),
        start_node=raw["start"],
        end_node=raw["end"],
        shift_start_s=shift_start,
        shift_end_s=shift_end,
        mode=str(raw.get("mode", "car")),
        rest_break=rest_break,
    )


def _document(
    data: Mapping[str, Any], matrices: Mapping[str, np.ndarray] | None = None
) -> ProblemDocument:
    schema = data.get("schema", SCHEMA_ID)
    if schema != SCHEMA_ID:
        raise ProblemFormatError(f"schema must be {SCHEMA_ID!r}, got {schema!r}")
    raw_travel = None if matrices else _field(data, "travel_time_s")
    if matrices:
        travel = {str(m): np.asarray(a, dtype=np.float64) for m, a in matrices.items()}
    elif isinstance(raw_travel, Mapping):
        if not raw_travel:
            raise ProblemFormatError("travel_time_s: an object of travel modes needs one at least")
        travel = {str(m): _matrix(f"travel_time_s.{m}", rows) for m, rows in raw_travel.items()}
    else:
        travel = {"car": _matrix("travel_time_s", raw_travel)}
    n = next(iter(travel.values())).shape[0]
    values = _per_node(data, "value", n, None)
    if any(v is None for v in values):
        raise ProblemFormatError("problem document needs 'value': a number per node")
    dwell = _per_node(data, "dwell_s", n, DEFAULT_DWELL_S)
    windows = _per_node(data, "windows", n, None)
    mandatory = _per_node(data, "mandatory", n, False)
    max_visits = _per_node(data, "max_visits", n, 1)
    min_gap = _per_node(data, "min_gap_s", n, 0.0)
    cells = _per_node(data, "cell", n, None)
    areas = _per_node(data, "area", n, None)
    locks = _per_node(data, "unit", n, None)
    listed = _stop_nodes(data, n)
    stops = []
    for node in range(n):
        value = _number(f"value[{node}]", values[node])
        if not isinstance(mandatory[node], bool):
            raise ProblemFormatError(f"mandatory[{node}] must be true or false")
        if (value <= 0 and not mandatory[node]) if listed is None else node not in listed:
            continue
        stops.append(
            Stop(
                node=node,
                value=value,
                dwell_s=_number(f"dwell_s[{node}]", dwell[node]),
                windows=_windows(node, windows[node]),
                mandatory=mandatory[node],
                max_visits=max_visits[node],
                min_gap_s=_number(f"min_gap_s[{node}]", min_gap[node]),
                cell=None if cells[node] is None else str(cells[node]),
                area=None if areas[node] is None else str(areas[node]),
                unit=None if locks[node] is None else str(locks[node]),
            )
        )
    raw_units = _field(data, "units")
    if not isinstance(raw_units, list):
        raise ProblemFormatError("units must be a list of objects")
    lon_lat = data.get("lon_lat")
    names = data.get("names")
    problem = Problem(
        travel_time_s=travel,
        units=tuple(_unit(i, u) for i, u in enumerate(raw_units)),
        stops=tuple(stops),
        node_lon_lat=None if lon_lat is None else _lon_lat(lon_lat),
        node_names=None if names is None else tuple(str(x) for x in names),
        repeat_decay=_number("repeat_decay", data.get("repeat_decay", 0.5)),
        max_cell_share=None
        if data.get("max_cell_share") is None
        else _number("max_cell_share", data["max_cell_share"]),
        max_area_share=None
        if data.get("max_area_share") is None
        else _number("max_area_share", data["max_area_share"]),
    )
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ProblemFormatError(f"seed must be an integer >= 0, got {seed!r}")
    workers = data.get("workers", 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ProblemFormatError(f"workers must be an integer >= 1, got {workers!r}")
    time_limit_s = _number("time_limit_s", data.get("time_limit_s", DEFAULT_TIME_LIMIT_S))
    if time_limit_s > MAX_TIME_LIMIT_S:
        raise ProblemFormatError(
            f"time_limit_s must be at most {MAX_TIME_LIMIT_S:g} seconds, got {time_limit_s:g}"
        )
    return ProblemDocument(
        problem=problem,
        time_limit_s=time_limit_s,
        seed=seed,
        engine=str(data.get("engine", "auto")),
        value_jitter=_number("value_jitter", data.get("value_jitter", 0.0)),
        workers=workers,
    )


def _stop_nodes(data: Mapping[str, Any], n: int) -> set[int] | None:
    """The nodes listed as stops (``stop_nodes``), or None: then every node with a value above
    0 or marked mandatory is a stop."""
    raw = data.get("stop_nodes")
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) and 0 <= x < n for x in raw
    ):
        raise ProblemFormatError(f"stop_nodes must be a list of node numbers from 0 to {n - 1}")
    return set(raw)


def _json_number(value: float) -> float | None:
    return None if math.isinf(value) else float(value)


def problem_to_json(
    problem: Problem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    seed: int = 0,
    engine: str = "auto",
    value_jitter: float = 0.0,
    workers: int = 1,
    travel: bool = True,
) -> dict[str, Any]:
    """Write a problem as a document :func:`load_problem_json` reads back to an equal problem.

    ``travel=False`` leaves the travel matrices out (the reader passes them back in).

    Raises
    ------
    ProblemFormatError
        When two stops share a node (the document has one stop per node).
    """
    n = problem.n_nodes
    by_node: dict[int, Stop] = {}
    for number, stop in enumerate(problem.stops):
        if stop.node in by_node:
            raise ProblemFormatError(f"stop {number} shares node {stop.node} with another stop")
        by_node[stop.node] = stop
    if [s.node for s in problem.stops] != sorted(by_node):
        raise ProblemFormatError("stops must be in node order to be written per node")

    def column(attr: str, default: Any) -> list[Any]:
        return [getattr(by_node[i], attr) if i in by_node else default for i in range(n)]

    doc: dict[str, Any] = {"schema": SCHEMA_ID}
    if travel:
        doc["travel_time_s"] = {
            mode: [[_json_number(v) for v in row] for row in matrix.tolist()]
            for mode, matrix in problem.travel_time_s.items()
        }
    doc |= {
        "value": column("value", 0.0),
        "dwell_s": column("dwell_s", 0.0),
        "windows": [
            [[w.start_s, w.end_s, w.weight] for w in by_node[i].windows]
            if i in by_node and by_node[i].windows
            else None
            for i in range(n)
        ],
        "mandatory": column("mandatory", False),
        "max_visits": column("max_visits", 1),
        "min_gap_s": column("min_gap_s", 0.0),
        "cell": column("cell", None),
        "area": column("area", None),
        "units": [_unit_json(u) for u in problem.units],
        "repeat_decay": problem.repeat_decay,
        "max_cell_share": problem.max_cell_share,
        "max_area_share": problem.max_area_share,
        "time_limit_s": time_limit_s,
        "seed": seed,
        "engine": engine,
        "value_jitter": value_jitter,
        "workers": workers,
    }
    if any(stop.unit is not None for stop in problem.stops):
        doc["unit"] = column("unit", None)
    if any(stop.value <= 0 and not stop.mandatory for stop in problem.stops):
        # A stop worth nothing now (excluded by a planner, spent when re-planning) stays a
        # stop, so that plans keep their stop numbers.
        doc["stop_nodes"] = [stop.node for stop in problem.stops]
    if problem.node_lon_lat is not None:
        doc["lon_lat"] = problem.node_lon_lat.tolist()
    if problem.node_names is not None:
        doc["names"] = list(problem.node_names)
    return doc


def _unit_json(unit: Unit) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": unit.id,
        "start": unit.start_node,
        "end": unit.end_node,
        "shift_start_s": unit.shift_start_s,
        "max_duration_s": unit.shift_end_s - unit.shift_start_s,
        "mode": unit.mode,
    }
    if unit.rest_break is not None:
        out["break"] = {
            "earliest_start_s": unit.rest_break.earliest_start_s,
            "latest_start_s": unit.rest_break.latest_start_s,
            "duration_s": unit.rest_break.duration_s,
        }
    return out


def plan_to_json(plan: PatrolPlan) -> dict[str, Any]:
    """Write a plan as the documented output: per unit nodes, times and value, then totals.

    ``nodes`` runs start station, visited nodes, end station; ``arrival_s`` is aligned with
    it (the departure time for the start station); ``start_s`` holds the visits' dwell
    starts.
    """
    units = []
    checks = {c.unit_id: c for c in plan.check.routes}
    for route in plan.routes:
        check = checks[route.unit_id]
        units.append(
            {
                "id": route.unit_id,
                "nodes": [route.start_node, *(v.node for v in route.visits), route.end_node],
                "arrival_s": [
                    route.departure_s,
                    *(v.arrival_s for v in route.visits),
                    route.arrival_s,
                ],
                "start_s": [v.start_s for v in route.visits],
                "departure_s": [v.departure_s for v in route.visits],
                "stops": [v.stop for v in route.visits],
                "visit_number": [v.visit_number for v in route.visits],
                "value": route.value,
                "travel_s": route.travel_s,
                "dwell_s": route.dwell_s,
                "wait_s": route.wait_s,
                "break": None
                if route.rest_break is None
                else {
                    "after_visits": route.rest_break.after_visits,
                    "start_s": route.rest_break.start_s,
                    "end_s": route.rest_break.end_s,
                },
                "feasible": check.feasible,
                "feasible_scaled": check.feasible_scaled,
                "violations": list(check.violations),
            }
        )
    stats = plan.stats
    return {
        "schema": PLAN_SCHEMA_ID,
        "status": plan.status,
        "message": plan.message,
        "feasible": plan.feasible,
        "total_value": plan.total_value,
        "total_travel_s": plan.total_travel_s,
        "total_dwell_s": plan.total_dwell_s,
        "units": units,
        "idle_units": [{"id": u.unit_id, "reason": u.reason} for u in plan.idle_units],
        "skipped": [
            {
                "stop": s.stop,
                "node": s.node,
                "cell": s.cell,
                "mandatory": s.mandatory,
                "reason": s.reason,
                "detail": s.detail,
            }
            for s in plan.skipped
        ],
        "violations": list(plan.check.violations),
        "missed_mandatory": list(plan.check.missed_mandatory),
        "stats": {
            "engine": stats.engine,
            "seed": stats.seed,
            "time_limit_s": stats.time_limit_s,
            "wall_time_s": stats.wall_time_s,
            "iterations": stats.iterations,
            "stopped_by": stats.stopped_by,
            "ticks_per_second": stats.ticks_per_second,
            "subproblems": stats.subproblems,
            "ortools_status": stats.ortools_status,
        },
    }


def plan_from_json(document: Mapping[str, Any], problem: Problem) -> PatrolPlan:
    """Read a plan written by :func:`plan_to_json` back against the problem it answers.

    Times are those stored; each visit's travel is read from the problem's matrix of its
    unit's mode and its value recomputed from the stop, start and visit number; the routes
    are checked again exactly.

    Raises
    ------
    ProblemFormatError
        When a unit or stop of the document is not in the problem, or its lists disagree.
    """
    routes = []
    try:
        for raw in document["units"]:
            unit = problem.units[problem.unit_index(str(raw["id"]))]
            matrix = problem.travel_time_s[unit.mode]
            nodes, arrivals = list(raw["nodes"]), list(raw["arrival_s"])
            numbers, starts = list(raw["stops"]), list(raw["start_s"])
            departures, ranks = list(raw["departure_s"]), list(raw["visit_number"])
            if not (len(numbers) == len(starts) == len(departures) == len(ranks)
                    == len(nodes) - 2 == len(arrivals) - 2):  # fmt: skip
                raise ProblemFormatError(f"plan unit {raw['id']}: lists of different lengths")
            visits, place = [], nodes[0]
            for i, number in enumerate(numbers):
                stop = problem.stops[int(number)]
                start = float(starts[i])
                visits.append(
                    Visit(stop=int(number), node=stop.node, cell=stop.cell,
                          visit_number=int(ranks[i]), arrival_s=float(arrivals[i + 1]),
                          start_s=start, departure_s=float(departures[i]),
                          travel_s=float(matrix[place, stop.node]),
                          wait_s=start - float(arrivals[i + 1]),
                          value=visit_value(problem, stop, start, int(ranks[i])))
                )  # fmt: skip
                place = stop.node
            pause = raw.get("break")
            routes.append(
                Route(
                    unit_id=unit.id, start_node=int(nodes[0]), end_node=int(nodes[-1]),
                    departure_s=float(arrivals[0]), arrival_s=float(arrivals[-1]),
                    visits=tuple(visits),
                    rest_break=None if pause is None else BreakTaken(
                        int(pause["after_visits"]), float(pause["start_s"]), float(pause["end_s"])
                    ),
                    travel_s=float(raw["travel_s"]), dwell_s=float(raw["dwell_s"]),
                    wait_s=float(raw["wait_s"]), value=float(sum(v.value for v in visits)),
                )
            )  # fmt: skip
        stats = document["stats"]
        skipped = tuple(
            SkippedStop(int(s["stop"]), int(s["node"]), s["cell"], bool(s["mandatory"]),
                        str(s["reason"]), str(s["detail"]))
            for s in document.get("skipped", [])
        )  # fmt: skip
        idle = tuple(IdleUnit(str(u["id"]), str(u["reason"])) for u in document["idle_units"])
        solver = SolverStats(
            engine=str(stats["engine"]), seed=int(stats["seed"]),
            time_limit_s=float(stats["time_limit_s"]), wall_time_s=float(stats["wall_time_s"]),
            iterations=int(stats["iterations"]), stopped_by=str(stats["stopped_by"]),
            ticks_per_second=float(stats["ticks_per_second"]),
            subproblems=int(stats.get("subproblems", 1)),
            ortools_status=stats.get("ortools_status"),
        )  # fmt: skip
    except (KeyError, IndexError, TypeError, ValueError, PlannerError) as err:
        if isinstance(err, ProblemFormatError):
            raise
        raise ProblemFormatError(f"plan document does not fit its problem: {err}") from err
    return PatrolPlan.of_routes(
        routes,
        skipped=skipped,
        idle_units=idle,
        status=str(document["status"]),
        message=str(document["message"]),
        check=check_plan(problem, routes),
        stats=solver,
    )


def plan_problem_json(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Load a problem document, solve it with its own settings and return the plan JSON.

    Raises
    ------
    ProblemFormatError
        When the document does not follow the schema.
    """
    from planner.solver import SolverOptions, plan_patrols

    doc = load_problem_json(source)
    try:
        options = SolverOptions(
            time_limit_s=doc.time_limit_s,
            seed=doc.seed,
            engine=doc.engine,
            value_jitter=doc.value_jitter,
            workers=doc.workers,
        )
    except PlannerError as err:
        raise ProblemFormatError(f"problem document: {err}") from err
    return plan_to_json(plan_patrols(doc.problem, options))


def top_to_json(
    text: str, *, time_limit_s: float = 2.0, seed: int = 0, workers: int = 1
) -> dict[str, Any]:
    """Convert a Team Orienteering Problem instance (Chao et al. format) to a document.

    The format is ``n N``, ``m P``, ``tmax T``, then ``x y score`` per vertex; the first
    vertex is the start, the last the end. Travel is the real-valued Euclidean distance;
    every one of the ``m`` units gets the budget ``tmax``; dwell is 0.

    Raises
    ------
    ProblemFormatError
        When the header or a vertex line is malformed.
    """
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    try:
        header = {key: value for key, value in (lines[i][:2] for i in range(3))}
        n, m, tmax = int(header["n"]), int(header["m"]), float(header["tmax"])
        points = np.array([[float(x) for x in line[:3]] for line in lines[3 : 3 + n]])
    except (KeyError, ValueError, IndexError) as err:
        raise ProblemFormatError(f"TOP instance: bad header or vertex line ({err})") from err
    if points.shape != (n, 3):
        raise ProblemFormatError(f"TOP instance: expected {n} vertices, got {points.shape[0]}")
    xy = points[:, :2]
    travel = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    return {
        "schema": SCHEMA_ID,
        "travel_time_s": travel.tolist(),
        "value": points[:, 2].tolist(),
        "dwell_s": 0.0,
        "units": [
            {"id": f"route-{k + 1}", "start": 0, "end": n - 1, "max_duration_s": tmax}
            for k in range(m)
        ],
        "time_limit_s": time_limit_s,
        "seed": seed,
        "workers": workers,
    }
