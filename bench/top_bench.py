"""Route-quality and city-scale benchmark of the patrol planner (issue #4).

TOP: every Team Orienteering Problem instance of Chao, Golden & Wasil in
../shared/bench/top/ goes through the matrix-level path (TOP text -> problem JSON ->
``plan_problem_json`` -> plan JSON), and is compared with the best-known score. Per instance
it prints score, best known, gap, seconds and the exact feasibility check; then the summary
against the targets (every route feasible, mean gap <= 0.5 %, max gap <= 3 %, <= 2 s each).

Unreachable best-known values. The table's values come from papers that did not all use
exact real-valued distances (some truncated distances to one decimal or rounded travel times
down), so a few of them cannot be reached when routes are checked with exact Euclidean
lengths, as here. ``EXACT_OPTIMA`` lists the instances where an exact method proved that.
Where one route can only visit a limited number of customer sets (up to a few million
dynamic-programming states), every set that fits is enumerated with its shortest route
(Held-Karp, exact floats) and CP-SAT picks the m disjoint sets of highest score: that is the
optimum. Otherwise a CP-SAT model (one circuit per route, route length as the sum of its
arcs, every distance rounded *down* to 1e-4, tmax rounded down too) is a relaxation of the
exact-distance problem, so its proven optimum is an upper bound under exact distances; the
routes it returns are then re-measured with exact floats, and where they fit, the bound is
the exact optimum. Only instances with such a proof are listed (the proofs are in
top_proofs.py; re-run one with ``--prove NAME``). For those, the ``ref`` column holds the
proven value and ``gap %`` is measured against it; ``table %`` is the gap to the published
value, shown for every instance. The targets are judged on the gap to ``ref``; the summary
prints the figures against the table as well.

OPTW: the Solomon c1 and r1 instances of orienteering with time windows in
../shared/bench/optw/ (one unit, each customer's window for the start of service, its service
time, the depot's closing time as the budget; distances truncated to one decimal as the
format requires), through the same problem-JSON path, compared with the proven optima of
Righini & Salani (targets: every route feasible, mean gap <= 0.3 %, max <= 2 %, <= 2 s each).

City: Chicago's 22 district stations, the 1,500 H3 resolution-9 cells with the most incidents
in the 2018 months, great-circle travel x 1.3 at 30 km/h, 60 cars on an 8-hour shift with
15-minute visits; prints the time and value of the plan (target <= 60 s). Then the problem
the site solves (issue #16): the same cells with the risk windows of their 2018 incidents by
hour, up to two visits an hour apart worth half the second time, no cell above 10 % of the
patrol time (target <= 30 s, feasible in the exact check), and a re-plan of that shift three
hours in with two cars called away and one cell urgent (target <= 5 s, feasible). Last, the
Jiayuguan demo's day plan as the site makes it, with a 5 s limit against 30 s (target: the
plan in <= 5 s; printed with the share of the 30 s plan's value it reaches).

Run with `make bench` or `python bench/top_bench.py [--subset N] [--time-limit S]
[--workers W] [--skip-city] [--skip-top] [--skip-optw] [--skip-rules] [--skip-demo]
[--prove NAME ...]`.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import h3  # noqa: E402

from bench.top_proofs import TOP, prove_top  # noqa: E402
from geo.cells import cells_from_points, hex_from_cells  # noqa: E402
from planner.plan import problem_after  # noqa: E402
from planner.problem import Problem, Stop, Unit, windows_from_hourly_risk  # noqa: E402
from planner.problem_json import SCHEMA_ID, plan_problem_json, top_to_json  # noqa: E402
from planner.replan import merge_replan  # noqa: E402
from planner.solver import SolverOptions, plan_patrols  # noqa: E402
from planner.travel import great_circle_matrix  # noqa: E402

SHARED = REPO.parent / "shared"
OPTW = SHARED / "bench" / "optw"
STATIONS = SHARED / "data" / "boundaries" / "chicago" / "police_stations.csv"
INCIDENTS = SHARED / "data" / "incidents" / "chicago"
TARGET_MEAN_GAP = 0.1
TARGET_MAX_GAP = 2.0
TARGET_OPTW_MEAN_GAP = 0.3
TARGET_OPTW_MAX_GAP = 2.0
TARGET_SECONDS = 2.0
TARGET_CITY_SECONDS = 60.0
TARGET_RULES_CITY_SECONDS = 30.0
TARGET_REPLAN_SECONDS = 5.0
CITY_CELLS = 1500
CITY_UNITS = 60
SHIFT_START_S = 8 * 3600.0
SHIFT_S = 8 * 3600.0
DWELL_S = 15 * 60.0


# Instances whose published best-known value is unreachable with exact distances, with the
# optimum proven under exact distances (see the module docstring; `--prove NAME` repeats it).
# Checked, and the table's value is the optimum: p3.2.h 410, p3.3.m 520, p3.4.o 500. Not
# settled (compared with the table): p1.2.l (enumeration over 5 min), p3.3.t (too many sets;
# CP-SAT bound 800 after 100 s against the table's 760).
EXACT_OPTIMA: dict[str, tuple[float, str]] = {
    "p1.3.h": (70.0, "the best 3 of the 80 visit sets that fit; CP-SAT circuits agree"),
    "p1.3.o": (205.0, "the best 3 of the 22,942 visit sets that fit"),
    "p2.3.h": (165.0, "the best 3 of the 233 visit sets that fit; CP-SAT circuits agree"),
    "p5.3.e": (95.0, "the best 3 of the 67 visit sets that fit; CP-SAT circuits agree"),
    "p6.4.k": (528.0, "the best 4 of the 102,335 visit sets that fit; CP-SAT circuits agree"),
}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def instance_paths(subset: int) -> list[Path]:
    """All instance files in set order; every ``subset``-th one when subset > 1."""

    def key(path: Path) -> tuple[int, int, str]:
        family, routes, letter = path.stem.split(".")
        return (int(family[1:]), int(routes), letter)

    paths = sorted((TOP / "instances" / "chao").glob("Set_*/p*.txt"), key=key)
    return paths[::subset] if subset > 1 else paths


def gap_percent(score: float, best: float) -> float:
    return 0.0 if best == 0 else 100.0 * (best - score) / best


def seconds_and_targets(
    label: str,
    seconds: list[float],
    infeasible: list[str],
    gap_array: np.ndarray,
    *,
    mean_gap: float = TARGET_MEAN_GAP,
    max_gap: float = TARGET_MAX_GAP,
) -> bool:
    """Print the seconds per instance; whether every route was feasible and the gaps and
    seconds are within their targets."""
    print(
        f"{label}: mean {np.mean(seconds):.2f}, max {np.max(seconds):.2f} "
        f"(target <= {TARGET_SECONDS}) -> {verdict(max(seconds) <= TARGET_SECONDS)}"
    )
    return (
        not infeasible
        and gap_array.mean() <= mean_gap
        and gap_array.max() <= max_gap
        and max(seconds) <= TARGET_SECONDS
    )


def run_top(subset: int, time_limit_s: float, workers: int) -> bool:
    best_known = {
        row["instance"]: float(row["best_known"])
        for row in csv.DictReader((TOP / "best_known.csv").open(encoding="utf-8"))
    }
    paths = instance_paths(subset)
    print(f"TOP (Chao et al.): {len(paths)} instances, {time_limit_s} s each, {workers} worker(s)")
    print("ref: the published best known, or the proven optimum under exact distances (*)")
    print(
        f"{'instance':10s} {'score':>7s} {'best':>7s} {'ref':>8s} {'gap %':>7s} {'table %':>7s}"
        f" {'s':>6s}  feasible  stopped_by"
    )
    gaps: list[float] = []
    table_gaps: list[float] = []
    seconds: list[float] = []
    infeasible: list[str] = []
    at_best = 0
    for path in paths:
        name = path.stem
        doc = top_to_json(path.read_text(), time_limit_s=time_limit_s, seed=0, workers=workers)
        started = time.perf_counter()
        out = plan_problem_json(doc)
        elapsed = time.perf_counter() - started
        score = float(out["total_value"])
        best = best_known[name]
        ref = EXACT_OPTIMA[name][0] if name in EXACT_OPTIMA else best
        gap = gap_percent(score, ref)
        feasible = bool(out["feasible"]) and all(
            u["feasible"] and u["feasible_scaled"] for u in out["units"]
        )
        gaps.append(gap)
        table_gaps.append(gap_percent(score, best))
        seconds.append(elapsed)
        at_best += score >= ref
        if not feasible:
            infeasible.append(name)
        mark = "*" if name in EXACT_OPTIMA else " "
        print(
            f"{name:10s} {score:7.0f} {best:7.0f} {ref:7.0f}{mark} {gap:7.2f} {table_gaps[-1]:7.2f}"
            f" {elapsed:6.2f}  {'yes' if feasible else 'NO':8s}  {out['stats']['stopped_by']}",
            flush=True,
        )
    gap_array = np.array(gaps)
    table_array = np.array(table_gaps)
    worst = int(np.argmax(gap_array))
    print()
    print(f"instances: {len(paths)}; at or above ref: {at_best}")
    for name, (value, proof) in EXACT_OPTIMA.items():
        if name in {p.stem for p in paths}:
            print(f"  * {name}: table {best_known[name]:.0f} unreachable, ref {value:.0f}: {proof}")
    feasible = len(paths) - len(infeasible)
    print(
        f"routes feasible (exact and integer check): {feasible} of {len(paths)} instances"
        f" -> {verdict(not infeasible)} {infeasible[:5]}"
    )
    print(
        f"mean gap to ref: {gap_array.mean():.2f} % (target <= {TARGET_MEAN_GAP} %) -> "
        f"{verdict(gap_array.mean() <= TARGET_MEAN_GAP)}"
    )
    print(
        f"max gap to ref: {gap_array.max():.2f} % at {paths[worst].stem}"
        f" (target <= {TARGET_MAX_GAP} %) -> {verdict(gap_array.max() <= TARGET_MAX_GAP)}"
    )
    above = [p.stem for p, g in zip(paths, gaps, strict=True) if g > TARGET_MAX_GAP]
    print(f"instances above {TARGET_MAX_GAP} % to ref: {above}")
    table_worst = int(np.argmax(table_array))
    table_above = [p.stem for p, g in zip(paths, table_gaps, strict=True) if g > TARGET_MAX_GAP]
    print(
        f"against the published table: mean gap {table_array.mean():.2f} %, max"
        f" {table_array.max():.2f} % at {paths[table_worst].stem}, above {TARGET_MAX_GAP} %:"
        f" {table_above}"
    )
    by_set: dict[str, list[float]] = {}
    for path, gap in zip(paths, gaps, strict=True):
        by_set.setdefault(path.stem.split(".")[0], []).append(gap)
    per_set = ", ".join(f"{f} {np.mean(g):.2f}" for f, g in by_set.items())
    print(f"mean gap to ref by set (%): {per_set}")
    return seconds_and_targets("seconds per instance", seconds, infeasible, gap_array)


def optw_to_json(
    text: str, *, time_limit_s: float, seed: int = 0, workers: int = 1
) -> dict[str, Any]:
    """A TOPTW instance (``TOPTW_format.txt``, Solomon family) as a one-unit problem document.

    Distances are Euclidean truncated to one decimal: the coordinates are whole numbers, so
    ``isqrt(100 * d2) / 10`` is the exact truncation, free of float rounding.
    """
    rows = [line.split() for line in text.strip().splitlines()[2:] if line.strip()]
    xy = np.array([[round(float(r[1])), round(float(r[2]))] for r in rows], dtype=np.int64)
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    travel = [[math.isqrt(100 * int(v)) / 10 for v in row] for row in d2]
    return {
        "schema": SCHEMA_ID,
        "travel_time_s": travel,
        "value": [float(r[4]) for r in rows],
        "dwell_s": [float(r[3]) for r in rows],
        "windows": [None] + [[[float(r[-2]), float(r[-1])]] for r in rows[1:]],
        "units": [{"id": "route-1", "start": 0, "end": 0, "max_duration_s": float(rows[0][-1])}],
        "time_limit_s": time_limit_s,
        "seed": seed,
        "workers": workers,
    }


def run_optw(time_limit_s: float, workers: int) -> bool:
    """The OPTW set against its proven optima; True when every target is met."""
    optima = {
        row["instance"]: float(row["optimal_prize"])
        for row in csv.DictReader((OPTW / "optima.csv").open(encoding="utf-8"))
    }
    print(
        f"OPTW (Solomon c1, r1): {len(optima)} instances, {time_limit_s} s each, "
        f"{workers} worker(s)"
    )
    print(
        f"{'instance':10s} {'score':>7s} {'optimum':>7s} {'gap %':>7s} {'s':>6s}  feasible  engine"
    )
    gaps: list[float] = []
    seconds: list[float] = []
    infeasible: list[str] = []
    for name, optimum in optima.items():
        text = (OPTW / "instances" / f"{name}.txt").read_text()
        doc = optw_to_json(text, time_limit_s=time_limit_s, workers=workers)
        started = time.perf_counter()
        out = plan_problem_json(doc)
        elapsed = time.perf_counter() - started
        score = float(out["total_value"])
        feasible = bool(out["feasible"]) and all(
            u["feasible"] and u["feasible_scaled"] for u in out["units"]
        )
        stats = out["stats"]
        gaps.append(gap_percent(score, optimum))
        seconds.append(elapsed)
        if not feasible:
            infeasible.append(name)
        print(
            f"{name:10s} {score:7.0f} {optimum:7.0f} {gaps[-1]:7.2f} {elapsed:6.2f}  "
            f"{'yes' if feasible else 'NO':8s}  {stats['engine']}, {stats['stopped_by']}",
            flush=True,
        )
    gap_array = np.array(gaps)
    worst = list(optima)[int(np.argmax(gap_array))]
    print()
    print(
        f"OPTW routes feasible (exact and integer check): {len(gaps) - len(infeasible)} of "
        f"{len(gaps)} -> {verdict(not infeasible)} {infeasible[:5]}"
    )
    print(
        f"OPTW mean gap to optimum: {gap_array.mean():.2f} % (target <= {TARGET_OPTW_MEAN_GAP} %)"
        f" -> {verdict(gap_array.mean() <= TARGET_OPTW_MEAN_GAP)}"
    )
    print(
        f"OPTW max gap to optimum: {gap_array.max():.2f} % at {worst} (target <= "
        f"{TARGET_OPTW_MAX_GAP} %) -> {verdict(gap_array.max() <= TARGET_OPTW_MAX_GAP)}"
    )
    return seconds_and_targets(
        "OPTW seconds per instance",
        seconds,
        infeasible,
        gap_array,
        mean_gap=TARGET_OPTW_MEAN_GAP,
        max_gap=TARGET_OPTW_MAX_GAP,
    )


def chicago_stations() -> pd.DataFrame:
    """The 22 numeric district stations (the headquarters row dropped)."""
    stations = pd.read_csv(STATIONS)
    stations = stations[pd.to_numeric(stations["DISTRICT"], errors="coerce").notna()]
    return stations.reset_index(drop=True)


def chicago_top_cells(n_cells: int) -> pd.DataFrame:
    """The ``n_cells`` res-9 cells with most incidents in the 2018 months, with centres and
    their incidents by hour of day (``hours``, 24 counts)."""
    frames = [
        pd.read_csv(path, usecols=["Date", "Latitude", "Longitude"])
        for path in sorted(INCIDENTS.glob("chicago_crimes_2018-*.csv.gz"))
    ]
    points = pd.concat(frames).dropna()
    cells = cells_from_points(
        points["Latitude"].to_numpy(), points["Longitude"].to_numpy(), resolution=9
    )
    hours = pd.to_datetime(points["Date"], format="%m/%d/%Y %I:%M:%S %p").dt.hour.to_numpy()
    counts = pd.Series(cells).value_counts().head(n_cells)
    by_hour = pd.crosstab(cells, hours).reindex(counts.index, fill_value=0)
    hexes = hex_from_cells(counts.index.to_numpy())
    centres = np.array([h3.cell_to_latlng(c) for c in hexes])
    return pd.DataFrame(
        {"cell": hexes, "incidents": counts.to_numpy(), "lat": centres[:, 0], "lon": centres[:, 1],
         "hours": list(by_hour.reindex(columns=range(24), fill_value=0).to_numpy())}
    )  # fmt: skip


def chicago_rules_problem(problem: Problem, cells: pd.DataFrame) -> Problem:
    """``problem`` with the site's rules: each cell's risk windows (its share of incidents by
    hour x 24), two visits an hour apart, no cell above 10 % of the patrol time."""
    stops = []
    for stop, hours in zip(problem.stops, cells["hours"], strict=True):
        risk = 24 * np.asarray(hours, dtype=float) / max(1, int(np.sum(hours)))
        windows = windows_from_hourly_risk(risk, SHIFT_START_S, SHIFT_START_S + SHIFT_S)
        stops.append(replace(stop, windows=windows, max_visits=2, min_gap_s=3600.0))
    return Problem(
        travel_time_s=problem.travel_time_s,
        units=problem.units,
        stops=tuple(stops),
        node_lon_lat=problem.node_lon_lat,
        node_names=problem.node_names,
        max_cell_share=0.1,
    )


def chicago_problem(cells: pd.DataFrame | None = None) -> Problem:
    stations = chicago_stations()
    cells = chicago_top_cells(CITY_CELLS) if cells is None else cells
    lon = np.concatenate([stations["LONGITUDE"].to_numpy(float), cells["lon"].to_numpy()])
    lat = np.concatenate([stations["LATITUDE"].to_numpy(float), cells["lat"].to_numpy()])
    travel = great_circle_matrix(lon, lat, mode="car", circuity=1.3)
    n_stations = len(stations)
    # Units go to stations in proportion to the cells nearest each station (at least one).
    nearest = np.argmin(travel.seconds[:n_stations, n_stations:], axis=0)
    demand = np.bincount(nearest, minlength=n_stations).astype(float)
    share = 1 + (CITY_UNITS - n_stations) * demand / demand.sum()
    units_per_station = np.floor(share).astype(int)
    for k in np.argsort(-(share - units_per_station))[: CITY_UNITS - units_per_station.sum()]:
        units_per_station[k] += 1
    units = tuple(
        Unit(
            id=f"D{stations['DISTRICT'][s]}-{k + 1}",
            start_node=s,
            end_node=s,
            shift_start_s=SHIFT_START_S,
            shift_end_s=SHIFT_START_S + SHIFT_S,
        )
        for s in range(n_stations)
        for k in range(units_per_station[s])
    )
    stops = tuple(
        Stop(node=n_stations + i, value=float(row.incidents), dwell_s=DWELL_S, cell=row.cell)
        for i, row in enumerate(cells.itertuples())
    )
    names = [f"District {d} station" for d in stations["DISTRICT"]] + list(cells["cell"])
    return Problem(
        travel_time_s={"car": travel.seconds},
        units=units,
        stops=stops,
        node_lon_lat=np.column_stack([lon, lat]),
        node_names=tuple(names),
    )


def run_city(time_limit_s: float, workers: int) -> bool:
    started = time.perf_counter()
    problem = chicago_problem()
    built = time.perf_counter() - started
    print(
        f"City: Chicago, {len({u.start_node for u in problem.units})} stations, "
        f"{len(problem.units)} cars, {len(problem.stops)} cells, 8-hour shift, "
        f"15-minute visits (problem built in {built:.1f} s)"
    )
    started = time.perf_counter()
    plan = plan_patrols(problem, SolverOptions(time_limit_s=time_limit_s, seed=0, workers=workers))
    elapsed = time.perf_counter() - started
    visits = sum(len(r.visits) for r in plan.routes)
    total = sum(s.value for s in problem.stops)
    busy = plan.total_dwell_s / problem.total_shift_s
    print(
        f"plan in {elapsed:.1f} s (limit {time_limit_s} s, target <= {TARGET_CITY_SECONDS} s) "
        f"-> {verdict(elapsed <= TARGET_CITY_SECONDS)}"
    )
    print(
        f"value {plan.total_value:.0f} of {total:.0f} ({plan.total_value / total:.1%}); "
        f"{visits} visits; {len(plan.skipped)} cells left out; dwell {busy:.1%} of shift time; "
        f"travel {plan.total_travel_s / 3600:.1f} h"
    )
    print(
        f"status {plan.status}; feasible (exact and integer check): {plan.feasible}; "
        f"{plan.stats.subproblems} parts; stopped by {plan.stats.stopped_by}"
    )
    return plan.feasible and elapsed <= TARGET_CITY_SECONDS


def run_rules_city(time_limit_s: float, workers: int) -> bool:
    """The site's problem at city scale, then a re-plan of the running shift."""
    cells = chicago_top_cells(CITY_CELLS)
    problem = chicago_rules_problem(chicago_problem(cells), cells)
    windows = sum(len(s.windows) for s in problem.stops)
    print(
        f"City with the site's rules: {len(problem.units)} cars, {len(problem.stops)} cells, "
        f"{windows} risk windows, up to 2 visits an hour apart, cell cap 10 %"
    )
    started = time.perf_counter()
    options = SolverOptions(time_limit_s=time_limit_s, seed=0, workers=workers)
    plan = plan_patrols(problem, options)
    elapsed = time.perf_counter() - started
    visits = sum(len(r.visits) for r in plan.routes)
    print(
        f"plan in {elapsed:.1f} s (limit {time_limit_s} s, target <= "
        f"{TARGET_RULES_CITY_SECONDS} s) -> {verdict(elapsed <= TARGET_RULES_CITY_SECONDS)}; "
        f"value {plan.total_value:.0f}, {visits} visits, engine {plan.stats.engine}, "
        f"feasible {plan.feasible}"
    )
    ok = plan.feasible and elapsed <= TARGET_RULES_CITY_SECONDS
    now_s = SHIFT_START_S + 3 * 3600.0
    away = [problem.units[0].id, problem.units[len(problem.units) // 2].id]
    started = time.perf_counter()
    remaining = problem_after(problem, plan, now_s, dropped_units=away)
    urgent = max(range(len(remaining.stops)), key=lambda n: remaining.stops[n].value)
    stops = list(remaining.stops)
    stops[urgent] = replace(stops[urgent], mandatory=True)
    remaining = replace(remaining, stops=tuple(stops))
    # One worker, as the site's plan jobs: with a few seconds, starting processes per
    # station's part costs more than it brings.
    after = plan_patrols(remaining, SolverOptions(time_limit_s=TARGET_REPLAN_SECONDS - 1.0,
                                                  seed=0))  # fmt: skip
    merged = merge_replan(problem, plan, after, now_s, dropped_units=away)
    replan_s = time.perf_counter() - started
    urgent_visited = any(v.stop == urgent for r in after.routes for v in r.visits)
    print(
        f"re-plan 3 h in, 2 cars called away, 1 cell urgent: {replan_s:.1f} s (target <= "
        f"{TARGET_REPLAN_SECONDS} s) -> {verdict(replan_s <= TARGET_REPLAN_SECONDS)}; "
        f"value after {after.total_value:.0f} (shift {merged.total_value:.0f}), urgent cell "
        f"visited {urgent_visited}, feasible {after.feasible}"
    )
    return ok and after.feasible and urgent_visited and replan_s <= TARGET_REPLAN_SECONDS


TARGET_DEMO_SECONDS = 5.0


def run_demo_day(workers: int) -> bool:
    """The Jiayuguan demo's day plan as the site makes it (14 units, 300 cells, risk windows,
    two visits, cell cap), solved with 5 s against 30 s: the value the short solve reaches."""
    import tempfile

    from click.testing import CliRunner

    from web import storage
    from web.cli import cli
    from web.services.patrol_plans import PlanRequest, plan_day

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        result = CliRunner().invoke(cli, ["demo", "--seed", "7"], env={"HOTSPOT_DATABASE_URL": url})
        if result.exit_code != 0:
            print(result.output)
            return False
        engine = storage.make_engine(url)
        date = pd.Timestamp.now(tz="Asia/Shanghai").strftime("%Y-%m-%d")
        found = {}
        for limit in (TARGET_DEMO_SECONDS, 30.0):
            request = PlanRequest(date=date, shift="day", time_limit_s=limit, seed=1)
            started = time.perf_counter()
            planned = plan_day(engine, request, "bench")
            found[limit] = (time.perf_counter() - started, planned)
        steadiness = _replan_steadiness(engine, found[TARGET_DEMO_SECONDS][1])
        engine.dispose()
    short_s, short = found[TARGET_DEMO_SECONDS]
    long_s, long = found[30.0]
    ratio = short.plan.total_value / max(long.plan.total_value, 1e-9)
    print(
        f"Demo day plan: {len(short.problem.units)} units, {len(short.problem.stops)} cells; "
        f"limit 5 s: {short_s:.1f} s (target <= {TARGET_DEMO_SECONDS} s of solving; scoring "
        f"included) value {short.plan.total_value:.1f} = {ratio:.1%} of the 30 s plan "
        f"({long.plan.total_value:.1f}, {long_s:.1f} s); feasible {short.plan.feasible}, "
        f"engine {short.plan.stats.engine}, stopped by {short.plan.stats.stopped_by}"
    )
    print(steadiness)
    return short.plan.feasible and short.plan.stats.wall_time_s <= TARGET_DEMO_SECONDS + 0.5


def _replan_steadiness(engine, planned) -> str:  # noqa: ANN001
    """The demo plan stored and published, re-planned at 12:00 with its first unit called
    away, without and with the bonus for planned times: cells whose visits moved, value."""
    from web import storage
    from web.services import replans
    from web.services.patrol_plans import PlanRequest, plan_record

    request = PlanRequest(date=planned.day_start_utc.tz_convert(planned.timezone).strftime(
        "%Y-%m-%d"), shift="day", seed=1)  # fmt: skip
    plan_id = storage.store_plan(engine, created_by=None, **plan_record(planned, request))
    storage.publish_plan(engine, plan_id, None)
    stored = storage.get_plan(engine, plan_id)
    at = replans.parse_replan_time("12:00", stored, planned.timezone, 0)
    away = (planned.problem.units[0].id,)
    parts = []
    default = replans.STEADY_BONUS
    try:
        for bonus in (1.0, default):
            replans.STEADY_BONUS = bonus
            change = replans.ReplanRequest(at_s=at, called_away=away, done_from="plan",
                                           time_limit_s=5.0)  # fmt: skip
            again, req, why = replans.replan_day(engine, stored, change)
            new_id = storage.store_plan(engine, created_by=None, **plan_record(again, req),
                                        revision_of=plan_id, replan=why)  # fmt: skip
            moved = len(replans.revision_changes(engine, new_id)["moved"])
            parts.append(
                f"bonus {bonus:g}: {moved} cells moved, value {again.plan.total_value:.1f}"
            )
    finally:
        replans.STEADY_BONUS = default
    return "Demo re-plan at 12:00, one unit called away: " + "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=1, help="run every N-th TOP instance")
    parser.add_argument("--time-limit", type=float, default=1.8, help="seconds per TOP instance")
    parser.add_argument("--workers", type=int, default=2, help="searches side by side (cores)")
    parser.add_argument("--city-time-limit", type=float, default=50.0)
    parser.add_argument("--skip-top", action="store_true")
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-optw", action="store_true")
    parser.add_argument("--skip-rules", action="store_true", help="skip the site's rules city")
    parser.add_argument("--rules-time-limit", type=float, default=25.0)
    parser.add_argument("--skip-demo", action="store_true", help="skip the demo's day plan")
    parser.add_argument(
        "--prove",
        nargs="+",
        metavar="NAME",
        help="bound these TOP instances with CP-SAT under exact distances, then stop",
    )
    parser.add_argument("--prove-time-limit", type=float, default=120.0)
    args = parser.parse_args()
    if args.prove:
        for name in args.prove:
            prove_top(name, args.prove_time_limit, args.workers)
        return
    if not args.skip_top:
        run_top(args.subset, args.time_limit, args.workers)
        print()
    if not args.skip_optw:
        run_optw(args.time_limit, args.workers)
        print()
    if not args.skip_city:
        run_city(args.city_time_limit, args.workers)
        print()
    if not args.skip_rules:
        run_rules_city(args.rules_time_limit, args.workers)
        print()
    if not args.skip_demo:
        run_demo_day(args.workers)


if __name__ == "__main__":
    main()
