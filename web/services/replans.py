"""Re-planning a shift while it runs: units called away or back, cells that became urgent.

A stored plan keeps its shift's problem (:func:`problem_text`: the problem document without
its travel matrices, which are rebuilt from the node positions, the modes and the road
network file). :func:`replan_day` re-plans the rest of the shift from a time: the visits
already done come from grid workers' check-ins (or, asked for, the plan as followed), each
unit still on duty starts where the plan puts it, a unit back from a call starts at its
station, urgent cells must be visited; the merged plan (what could not change, then the new
routes) is stored as a draft revision of the plan (:mod:`web.storage.patrols`). Publishing it
replaces the plan in force; grid workers then see what changed in their cells
(:func:`revision_changes`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import h3
import numpy as np
import pandas as pd

from geo.cells import cells_from_hex, hex_from_cells
from web import storage
from web.services.patrol_plans import PlannedDay, PlanRequest, _travel_matrices

if TYPE_CHECKING:
    from planner.problem import Problem
    from planner.travel import TravelMatrix

__all__ = [
    "MAX_URGENT",
    "ReplanError",
    "ReplanRequest",
    "parse_replan_time",
    "problem_text",
    "replan_day",
    "revision_changes",
    "stored_problem",
]

MAX_URGENT = 20  # urgent cells in one re-plan
MAX_REASON = 200  # characters of the reason a planner gives
DONE_FROM = ("checkins", "plan")
DEFAULT_TIME_LIMIT_S = 10.0


class ReplanError(ValueError):
    """A re-plan that cannot be made as asked (the message says which field and why)."""


@dataclass(frozen=True)
class ReplanRequest:
    """What changed during the shift and when.

    ``at_s`` is the UTC second the rest of the shift is planned from; ``called_away`` and
    ``back`` are unit ids; ``urgent`` H3 cells (int64) that must be visited; ``done_from``
    says where the visits already done come from: grid workers' check-ins (``"checkins"``)
    or the plan as followed (``"plan"``).
    """

    at_s: int
    called_away: tuple[str, ...] = ()
    back: tuple[str, ...] = ()
    urgent: tuple[int, ...] = ()
    done_from: str = "checkins"
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    reason: str = ""
    # A planner's edits (web.services.plan_edits): locks, moves, excluded cells (JSON-ready).
    edits: dict | None = None

    def __post_init__(self) -> None:
        if self.done_from not in DONE_FROM:
            raise ReplanError(f"done_from must be one of {', '.join(DONE_FROM)}")
        if len(self.urgent) > MAX_URGENT:
            raise ReplanError(f"urgent: at most {MAX_URGENT} cells, got {len(self.urgent)}")
        if not 1.0 <= self.time_limit_s <= 120.0:
            raise ReplanError("time_limit_s must be between 1 and 120 seconds")
        if len(self.reason) > MAX_REASON:
            raise ReplanError(f"reason: at most {MAX_REASON} characters")
        both = set(self.called_away) & set(self.back)
        if both:
            raise ReplanError(f"units both called away and back: {', '.join(sorted(both))}")


def problem_text(problem: Problem, road_network_file: str | None) -> str:
    """The problem a plan answers, as stored with it: the problem document without travel
    matrices, with what rebuilds them (modes, road network file)."""
    from planner.problem_json import problem_to_json

    document = problem_to_json(problem, travel=False)
    document["travel"] = {
        "modes": sorted(problem.travel_time_s),
        "road_network_file": road_network_file,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def stored_problem(
    stored: storage.StoredPlan, extra: Iterable[dict] = ()
) -> tuple[Problem, dict[str, TravelMatrix], str | None]:
    """The problem ``stored`` answers, its travel matrices and road network file.

    ``extra`` appends stops at new nodes (dicts of a node's document fields: ``lon_lat``,
    ``name``, ``value``, ``dwell_s``, ``max_visits``, ``cell``, ``area``, ``mandatory``); the
    plan's stop numbers stay valid.
    """
    from planner.problem_json import load_problem_json

    if not stored.problem:
        raise ReplanError(
            f"plan {stored.id} was made before plans kept their problem: generate the "
            "shift's plan again to re-plan it"
        )
    document = json.loads(stored.problem)
    travel_spec = document.pop("travel")
    for node in extra:
        document["lon_lat"].append(node["lon_lat"])
        document["names"].append(node["name"])
        for key, default in (("value", 0.0), ("dwell_s", 900.0), ("windows", None),
                             ("mandatory", False), ("max_visits", 1), ("min_gap_s", 0.0),
                             ("cell", None), ("area", None)):  # fmt: skip
            document[key].append(node.get(key, default))
    lon_lat = np.asarray(document["lon_lat"], dtype=np.float64)
    road_network_file = travel_spec.get("road_network_file")
    travel = _travel_matrices(lon_lat[:, 0], lon_lat[:, 1], travel_spec["modes"],
                              road_network_file)  # fmt: skip
    matrices = {mode: matrix.seconds for mode, matrix in travel.items()}
    problem = load_problem_json(document, travel_time_s=matrices).problem
    return problem, travel, road_network_file


def parse_replan_time(text: str, stored: storage.StoredPlan, timezone: str, now_s: int) -> int:
    """The UTC second of ``text``: "now", "HH:MM" (local, within the plan's shift, which may
    run past midnight) or "YYYY-MM-DD HH:MM" (local)."""
    from web.services.patrol_plans import shift_window

    text = text.strip()
    start, end = shift_window(stored.plan_date, stored.shift, timezone)
    if text.lower() == "now":
        at = now_s
    else:
        try:
            if len(text) <= 5:
                clock = pd.Timestamp(f"{stored.plan_date} {text}").tz_localize(timezone)
                at = int(clock.timestamp())
                if at < start:
                    at += 86_400  # a night shift's hours after midnight
            else:
                parsed = pd.Timestamp(text)
                if not 1 <= parsed.year <= 9999:  # pandas reads year 0, then cannot print it
                    raise ValueError(text)
                at = int(parsed.tz_localize(timezone).timestamp())
        except (ValueError, TypeError):
            raise ReplanError(f"at: {text!r} is not now, HH:MM or YYYY-MM-DD HH:MM") from None
    if not start <= at < end:
        local = pd.Timestamp(at, unit="s", tz="UTC").tz_convert(timezone)
        raise ReplanError(
            f"at: {local:%Y-%m-%d %H:%M} is outside the plan's shift "
            f"({pd.Timestamp(start, unit='s', tz='UTC').tz_convert(timezone):%H:%M}-"
            f"{pd.Timestamp(end, unit='s', tz='UTC').tz_convert(timezone):%H:%M})"
        )
    return at


def replan_day(
    engine,
    stored: storage.StoredPlan,
    change: ReplanRequest,
    on_phase: Callable[[str], None] | None = None,
    solve: Callable | None = None,
) -> tuple[PlannedDay, PlanRequest, dict]:
    """Re-plan the rest of ``stored``'s shift; returns the merged plan, the request it is
    stored with and the revision's ``replan`` record (why, for the pages).

    Raises :class:`ReplanError` for a change that does not fit the plan (unknown unit, a
    unit back that was not away, a time outside the shift).
    """
    from planner.plan import problem_after
    from planner.problem import TimeWindow
    from planner.problem_json import plan_from_json
    from planner.replan import merge_replan
    from planner.solver import SolverOptions, plan_patrols

    report = on_phase or (lambda _phase: None)
    report("scoring")
    document = json.loads(stored.plan_json)
    origin = pd.Timestamp(document["date_start_utc"])
    now_s = float(change.at_s - int(origin.timestamp()))
    earlier = stored.replan or {}
    base, _travel, _road = stored_problem(stored)
    unit_ids = [u.id for u in base.units]
    _known(change.called_away, unit_ids, "called_away")
    _known(change.back, unit_ids, "back")
    away = set(earlier.get("off_duty", [])) | set(change.called_away)
    not_away = sorted(set(change.back) - away)
    if not_away:
        raise ReplanError(f"back: {', '.join(not_away)} were not called away")
    off_duty = away - set(change.back)
    _check_urgent(engine, base, change.urgent)
    problem, travel, road_network_file = stored_problem(stored, _urgent_nodes(base, change))
    urgent_stops = _urgent_stops(problem, change.urgent)
    problem = _with_one_more_visit(problem, urgent_stops)
    plan = plan_from_json(document, problem)
    if change.edits:
        from web.services.plan_edits import apply_edits

        problem = apply_edits(problem, plan, change.edits)
    visited = None
    if change.done_from == "checkins":
        visited = _checked_in(engine, problem, stored, change.at_s)
    remaining = problem_after(problem, plan, now_s, visited=visited, dropped_units=off_duty)
    remaining = _back_at_station(remaining, problem, change.back, now_s)
    day_end = max(u.shift_end_s for u in problem.units)
    top = max((s.value for s in remaining.stops), default=1.0)
    remaining = replace(
        remaining,
        stops=tuple(
            replace(stop, mandatory=True, value=max(stop.value, top),
                    windows=(TimeWindow(now_s, max(now_s, day_end), 1.0),))
            if number in urgent_stops else stop
            for number, stop in enumerate(remaining.stops)
        ),
    )  # fmt: skip
    steady = prefer_planned_times(remaining, plan, now_s)
    report("solving")
    options = SolverOptions(time_limit_s=change.time_limit_s, seed=stored.seed)
    after = _valued(remaining, (solve or plan_patrols)(steady, options))
    merged = merge_replan(problem, plan, after, now_s, dropped_units=off_duty)
    request = _request_of(stored, change, road_network_file)
    planned = PlannedDay(problem, merged, origin, str(document["timezone"]), stored.seed,
                         travel, stored.request.get("road_network"))  # fmt: skip
    record = {
        "at": change.at_s,
        "called_away": sorted(change.called_away),
        "back": sorted(change.back),
        "off_duty": sorted(off_duty),
        "urgent": [problem.stops[n].cell for n in sorted(urgent_stops)],
        "done_from": change.done_from,
        "done_visits": None if visited is None else len(visited),
        "reason": change.reason,
    }
    if change.edits:
        record["edits"] = change.edits
    return planned, request, record


STEADY_BONUS = 1.15  # a visit near its planned time is worth this much more in a re-plan
STEADY_SLACK_S = 15 * 60  # "near": within this of the planned start


def prefer_planned_times(remaining: Problem, plan, now_s: float) -> Problem:  # noqa: ANN001
    """``remaining`` with each stop's windows raised by :data:`STEADY_BONUS` within
    :data:`STEADY_SLACK_S` of the times ``plan`` visits it after ``now_s``: a re-plan then
    keeps a visit at its time unless moving it gains more, so grid workers see fewer
    changes. Windows are split at those times; their order and weights elsewhere stay."""
    from planner.problem import TimeWindow

    planned: dict[int, list[float]] = {}
    for route in plan.routes:
        for visit in route.visits:
            if visit.start_s > now_s:
                planned.setdefault(visit.stop, []).append(visit.start_s)
    if not planned:
        return remaining
    day = (min(u.shift_start_s for u in remaining.units) if remaining.units else now_s,
           max(u.shift_end_s for u in remaining.units) if remaining.units else now_s)  # fmt: skip
    stops = list(remaining.stops)
    for number, starts in planned.items():
        stop = stops[number]
        if stop.value <= 0:
            continue
        windows = list(stop.windows) or [TimeWindow(day[0], max(day))]
        for start in sorted(starts):
            low, high = start - STEADY_SLACK_S, start + STEADY_SLACK_S
            split: list[TimeWindow] = []
            for w in windows:
                if w.end_s <= low or w.start_s >= high:
                    split.append(w)
                    continue
                if w.start_s < low:
                    split.append(TimeWindow(w.start_s, low, w.weight))
                split.append(TimeWindow(max(w.start_s, low), min(w.end_s, high),
                                        w.weight * STEADY_BONUS))  # fmt: skip
                if w.end_s > high:
                    split.append(TimeWindow(high, w.end_s, w.weight))
            windows = split
        stops[number] = replace(stop, windows=tuple(windows))
    return replace(remaining, stops=tuple(stops))


def _valued(problem: Problem, plan):  # noqa: ANN001, ANN202
    """``plan`` (solved with the steadiness bonus) valued and checked on ``problem`` itself."""
    from planner.plan import RouteSchedule, plan_from_schedules

    schedules = [
        RouteSchedule(
            r.unit_id, r.departure_s, tuple(v.stop for v in r.visits),
            tuple(v.start_s for v in r.visits),
            None if r.rest_break is None else r.rest_break.after_visits,
            None if r.rest_break is None else r.rest_break.start_s,
        )
        for r in plan.routes
    ]  # fmt: skip
    return plan_from_schedules(problem, schedules, plan.stats, plan.idle_units)


def _known(ids: Sequence[str], unit_ids: list[str], field: str) -> None:
    unknown = sorted(set(ids) - set(unit_ids))
    if unknown:
        raise ReplanError(
            f"{field}: unknown unit {', '.join(unknown)}; the plan's units are "
            f"{', '.join(unit_ids[:12])}{' ...' if len(unit_ids) > 12 else ''}"
        )


def _check_urgent(engine, problem: Problem, cells: Sequence[int]) -> None:
    """Urgent cells are cells of the plan's resolution inside the jurisdiction (when one is
    stored)."""
    if not cells:
        return
    hexes = hex_from_cells(np.asarray(cells, dtype=np.int64))
    resolution = h3.get_resolution(problem.stops[0].cell) if problem.stops else None
    inside = storage.load_area_cells(engine, "jurisdiction")
    allowed = set(inside["cell"].astype("int64").tolist()) if not inside.empty else None
    for cell, hex_id in zip(cells, hexes, strict=True):
        if resolution is not None and h3.get_resolution(hex_id) != resolution:
            raise ReplanError(f"urgent: {hex_id} is not a cell of resolution {resolution}")
        if allowed is not None and int(cell) not in allowed:
            raise ReplanError(f"urgent: {hex_id} is outside the jurisdiction")


def _urgent_nodes(problem: Problem, change: ReplanRequest) -> list[dict]:
    """New stops for urgent cells the plan has no stop for (worth its best stop)."""
    have = {stop.cell for stop in problem.stops}
    best = max((s.value for s in problem.stops), default=1.0)
    dwell = problem.stops[0].dwell_s if problem.stops else 900.0
    nodes = []
    for hex_id in hex_from_cells(np.asarray(change.urgent, dtype=np.int64)):
        if hex_id in have:
            continue
        lat, lon = h3.cell_to_latlng(hex_id)
        nodes.append({"lon_lat": [lon, lat], "name": hex_id, "value": best, "dwell_s": dwell,
                      "max_visits": 1, "cell": hex_id, "mandatory": True})  # fmt: skip
        have.add(hex_id)
    return nodes


def _urgent_stops(problem: Problem, cells: Sequence[int]) -> set[int]:
    wanted = set(hex_from_cells(np.asarray(cells, dtype=np.int64)))
    return {n for n, stop in enumerate(problem.stops) if stop.cell in wanted}


def _with_one_more_visit(problem: Problem, urgent: set[int]) -> Problem:
    """Urgent stops are mandatory and may be visited once more than planned (a new node's
    stop was made with its one visit)."""
    if not urgent:
        return problem
    stops = list(problem.stops)
    for number in urgent:
        stop = stops[number]
        more = stop.max_visits + (0 if stop.mandatory and stop.max_visits == 1 else 1)
        stops[number] = replace(stop, mandatory=True, max_visits=more)
    return replace(problem, stops=tuple(stops))


def _checked_in(engine, problem: Problem, stored: storage.StoredPlan, at_s: int) -> list[int]:
    """The plan's stops visited by ``at_s`` according to check-ins since the shift started
    (one per check-in, up to the stop's visits allowed)."""
    hexes = [str(stop.cell) for stop in problem.stops]
    cells = cells_from_hex(hexes)
    checkins = storage.checkins_frame(engine, cells=cells, start=stored.shift_start, end=at_s + 1)
    counts = Counter(int(c) for c in checkins["cell"])
    visited = []
    for number, (cell, stop) in enumerate(zip(cells.tolist(), problem.stops, strict=True)):
        visited += [number] * min(counts.get(int(cell), 0), stop.max_visits)
    return visited


def _back_at_station(remaining: Problem, problem: Problem, back: Sequence[str],
                     now_s: float) -> Problem:  # fmt: skip
    """Units back from a call start again at their station at ``now_s``."""
    if not back:
        return remaining
    home = {u.id: u for u in problem.units}
    units = tuple(
        replace(u, start_node=home[u.id].start_node,
                shift_start_s=min(max(now_s, home[u.id].shift_start_s), u.shift_end_s),
                rest_break=None)
        if u.id in back else u
        for u in remaining.units
    )  # fmt: skip
    return replace(remaining, units=units)


def _request_of(stored: storage.StoredPlan, change: ReplanRequest, road: str | None) -> PlanRequest:
    known = {f.name for f in fields(PlanRequest)}
    values = {k: v for k, v in stored.request.items() if k in known}
    values |= {"date": stored.plan_date, "shift": stored.shift, "seed": stored.seed,
               "time_limit_s": change.time_limit_s, "road_network_file": road}  # fmt: skip
    return PlanRequest(**values)


def revision_changes(engine, plan_id: int, cells: np.ndarray | None = None) -> dict | None:
    """What a revision changed after its re-plan time against the plan it re-planned,
    optionally only in ``cells``; None when the plan is not a revision.

    Per cell, each visit of the revision is matched with the earlier plan's nearest visit
    within :data:`SAME_VISIT_S` (whatever the unit): matched visits are unchanged for the
    people at the cell. ``added`` and ``cancelled`` list the visits (cell, unit, start) left
    unmatched in cells that only gained or only lost visits; ``moved`` lists the cells with
    both, as (cell, [(unit, start) before], [(unit, start) now]).
    """
    stored = storage.get_plan(engine, plan_id)
    if stored is None or stored.revision_of is None or not stored.replan:
        return None
    at = int(stored.replan["at"])
    now = storage.plan_visits_frame(engine, plan_id, cells=cells, start=at)
    before = storage.plan_visits_frame(engine, stored.revision_of, cells=cells, start=at)
    gained, lost = _unmatched(now, before), _unmatched(before, now)
    moved = sorted(set(gained) & set(lost))
    return {
        "plan_id": stored.id,
        "revision": stored.revision,
        "revision_of": stored.revision_of,
        "replan": stored.replan,
        "added": [(c, *v) for c in sorted(set(gained) - set(lost)) for v in gained[c]],
        "cancelled": [(c, *v) for c in sorted(set(lost) - set(gained)) for v in lost[c]],
        "moved": [(c, lost[c], gained[c]) for c in moved],
    }


SAME_VISIT_S = 15 * 60  # a visit moved by less is the same visit for the people at the cell


def _unmatched(visits: pd.DataFrame, others: pd.DataFrame) -> dict[int, list[tuple[str, int]]]:
    """Per cell, the (unit, start) of ``visits`` no visit of ``others`` matches (nearest start
    within SAME_VISIT_S, each matched once)."""
    theirs: dict[int, list[int]] = {}
    for cell, start in zip(others["cell"].astype("int64"), others["start_at"].astype("int64"),
                           strict=True):  # fmt: skip
        theirs.setdefault(int(cell), []).append(int(start))
    out: dict[int, list[tuple[str, int]]] = {}
    ordered = visits.sort_values("start_at", kind="stable")
    for cell, unit, start in zip(ordered["cell"].astype("int64"), ordered["unit_id"].astype(str),
                                 ordered["start_at"].astype("int64"), strict=True):  # fmt: skip
        free = theirs.get(int(cell), [])
        near = [t for t in free if abs(t - int(start)) <= SAME_VISIT_S]
        if near:
            free.remove(min(near, key=lambda t: abs(t - int(start))))
        else:
            out.setdefault(int(cell), []).append((unit, int(start)))
    return out
