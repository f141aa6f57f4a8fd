"""Route-quality and city-scale benchmark of the patrol planner (issue #4).

TOP: every Team Orienteering Problem instance of Chao, Golden & Wasil in
../shared/bench/top/ goes through the matrix-level path (TOP text -> problem JSON ->
``plan_problem_json`` -> plan JSON), and is compared with the best-known score. Per instance
it prints score, best known, gap, seconds and the exact feasibility check; then the summary
against the targets (every route feasible, mean gap <= 0.5 %, max gap <= 3 %, <= 2 s each).

City: Chicago's 22 district stations, the 1,500 H3 resolution-9 cells with the most incidents
in the 2018 months, great-circle travel x 1.3 at 30 km/h, 60 cars on an 8-hour shift with
15-minute visits; prints the time and value of the plan (target <= 60 s).

Run with `make bench` or `python bench/top_bench.py [--subset N] [--time-limit S]
[--workers W] [--skip-city] [--skip-top]`.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import h3  # noqa: E402

from geo.cells import cells_from_points, hex_from_cells  # noqa: E402
from planner.problem import Problem, Stop, Unit  # noqa: E402
from planner.problem_json import plan_problem_json, top_to_json  # noqa: E402
from planner.solver import SolverOptions, plan_patrols  # noqa: E402
from planner.travel import great_circle_matrix  # noqa: E402

SHARED = REPO.parent / "shared"
TOP = SHARED / "bench" / "top"
STATIONS = SHARED / "data" / "boundaries" / "chicago" / "police_stations.csv"
INCIDENTS = SHARED / "data" / "incidents" / "chicago"
TARGET_MEAN_GAP = 0.5
TARGET_MAX_GAP = 3.0
TARGET_SECONDS = 2.0
TARGET_CITY_SECONDS = 60.0
CITY_CELLS = 1500
CITY_UNITS = 60
SHIFT_START_S = 8 * 3600.0
SHIFT_S = 8 * 3600.0
DWELL_S = 15 * 60.0


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def instance_paths(subset: int) -> list[Path]:
    """All instance files in set order; every ``subset``-th one when subset > 1."""

    def key(path: Path) -> tuple[int, int, str]:
        family, routes, letter = path.stem.split(".")
        return (int(family[1:]), int(routes), letter)

    paths = sorted((TOP / "instances" / "chao").glob("Set_*/p*.txt"), key=key)
    return paths[::subset] if subset > 1 else paths


def run_top(subset: int, time_limit_s: float, workers: int) -> bool:
    best_known = {
        row["instance"]: float(row["best_known"])
        for row in csv.DictReader((TOP / "best_known.csv").open(encoding="utf-8"))
    }
    paths = instance_paths(subset)
    print(f"TOP (Chao et al.): {len(paths)} instances, {time_limit_s} s each, {workers} worker(s)")
    print(
        f"{'instance':10s} {'score':>7s} {'best':>7s} {'gap %':>7s} {'s':>6s}  feasible  stopped_by"
    )
    gaps: list[float] = []
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
        gap = 0.0 if best == 0 else 100.0 * (best - score) / best
        feasible = bool(out["feasible"]) and all(
            u["feasible"] and u["feasible_scaled"] for u in out["units"]
        )
        gaps.append(gap)
        seconds.append(elapsed)
        at_best += score >= best
        if not feasible:
            infeasible.append(name)
        print(
            f"{name:10s} {score:7.0f} {best:7.0f} {gap:7.2f} {elapsed:6.2f}  "
            f"{'yes' if feasible else 'NO':8s}  {out['stats']['stopped_by']}",
            flush=True,
        )
    gap_array = np.array(gaps)
    worst = int(np.argmax(gap_array))
    print()
    print(f"instances: {len(paths)}; at or above best known: {at_best}")
    feasible = len(paths) - len(infeasible)
    print(
        f"routes feasible (exact and integer check): {feasible} of {len(paths)} instances"
        f" -> {verdict(not infeasible)} {infeasible[:5]}"
    )
    print(
        f"mean gap: {gap_array.mean():.2f} % (target <= {TARGET_MEAN_GAP} %) -> "
        f"{verdict(gap_array.mean() <= TARGET_MEAN_GAP)}"
    )
    print(
        f"max gap: {gap_array.max():.2f} % at {paths[worst].stem} (target <= {TARGET_MAX_GAP} %)"
        f" -> {verdict(gap_array.max() <= TARGET_MAX_GAP)}"
    )
    above = [p.stem for p, g in zip(paths, gaps, strict=True) if g > TARGET_MAX_GAP]
    print(f"instances above {TARGET_MAX_GAP} %: {above}")
    print(
        f"seconds per instance: mean {np.mean(seconds):.2f}, max {np.max(seconds):.2f} "
        f"(target <= {TARGET_SECONDS}) -> {verdict(max(seconds) <= TARGET_SECONDS)}"
    )
    return (
        not infeasible
        and gap_array.mean() <= TARGET_MEAN_GAP
        and gap_array.max() <= TARGET_MAX_GAP
        and max(seconds) <= TARGET_SECONDS
    )


def chicago_stations() -> pd.DataFrame:
    """The 22 numeric district stations (the headquarters row dropped)."""
    stations = pd.read_csv(STATIONS)
    stations = stations[pd.to_numeric(stations["DISTRICT"], errors="coerce").notna()]
    return stations.reset_index(drop=True)


def chicago_top_cells(n_cells: int) -> pd.DataFrame:
    """The ``n_cells`` res-9 cells with most incidents in the 2018 months, with centres."""
    frames = [
        pd.read_csv(path, usecols=["Latitude", "Longitude"])
        for path in sorted(INCIDENTS.glob("chicago_crimes_2018-*.csv.gz"))
    ]
    points = pd.concat(frames).dropna()
    cells = cells_from_points(
        points["Latitude"].to_numpy(), points["Longitude"].to_numpy(), resolution=9
    )
    counts = pd.Series(cells).value_counts().head(n_cells)
    hexes = hex_from_cells(counts.index.to_numpy())
    centres = np.array([h3.cell_to_latlng(c) for c in hexes])
    return pd.DataFrame(
        {"cell": hexes, "incidents": counts.to_numpy(), "lat": centres[:, 0], "lon": centres[:, 1]}
    )


def chicago_problem() -> Problem:
    stations = chicago_stations()
    cells = chicago_top_cells(CITY_CELLS)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=1, help="run every N-th TOP instance")
    parser.add_argument("--time-limit", type=float, default=1.8, help="seconds per TOP instance")
    parser.add_argument("--workers", type=int, default=2, help="searches side by side (cores)")
    parser.add_argument("--city-time-limit", type=float, default=50.0)
    parser.add_argument("--skip-top", action="store_true")
    parser.add_argument("--skip-city", action="store_true")
    args = parser.parse_args()
    if not args.skip_top:
        run_top(args.subset, args.time_limit, args.workers)
        print()
    if not args.skip_city:
        run_city(args.city_time_limit, args.workers)


if __name__ == "__main__":
    main()
