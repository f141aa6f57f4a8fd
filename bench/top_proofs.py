"""Optima of TOP instances under exact Euclidean distances: ``top_bench.py --prove NAME``.

A few best-known values of the Chao, Golden & Wasil instances cannot be reached when routes
are measured with exact distances (see the ``top_bench`` docstring). :func:`prove_top`
settles such an instance: every set of customers one route can visit is enumerated with its
shortest route and CP-SAT picks the best disjoint ones (:func:`prove_by_enumeration`), or,
when there are too many sets, a CP-SAT circuit model with every distance rounded down bounds
the optimum and its routes are re-measured exactly. ``top_bench.EXACT_OPTIMA`` records the
results.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

TOP = Path(__file__).resolve().parents[2] / "shared" / "bench" / "top"
# Float rounding allowance of the visit-set enumeration (far below any TOP distance).
_FLOAT_SLACK = 1e-9


def instance_path(name: str) -> Path:
    found = sorted((TOP / "instances" / "chao").glob(f"Set_*/{name}.txt"))
    if not found:
        raise SystemExit(f"no TOP instance named {name}")
    return found[0]


def read_top(name: str) -> tuple[int, int, float, np.ndarray, np.ndarray]:
    """n, m, tmax, the vertices (x, y, score) and exact Euclidean distances of an instance."""
    lines = [line.split() for line in instance_path(name).read_text().splitlines() if line.strip()]
    n, m, tmax = int(lines[0][1]), int(lines[1][1]), float(lines[2][1])
    points = np.array([[float(x) for x in line[:3]] for line in lines[3 : 3 + n]])
    xy = points[:, :2]
    exact = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    return n, m, tmax, points, exact


def fitting_visit_sets(
    exact: np.ndarray, customers: list[int], tmax: float, max_states: int
) -> dict[int, float] | None:
    """Every set of customers one route can visit within ``tmax``, with its shortest length.

    Held-Karp dynamic programme over (set, last customer), grown one customer at a time
    from vertex 0 and closed at the last vertex; a path is extended only while it can
    still reach the end within ``tmax`` (Euclidean distances obey the triangle inequality,
    so no completion of a cut path could fit). Sets are bit masks over ``customers``. Paths
    up to ``_FLOAT_SLACK`` over ``tmax`` are kept, so float rounding cannot drop a set that
    fits; the caller re-checks the sets it uses against ``tmax`` itself.
    Returns None when the states would exceed ``max_states``.
    """
    k, start, end = len(customers), 0, len(exact) - 1
    sub = exact[np.ix_(customers, customers)]
    to_end = exact[customers, end]
    level: dict[int, dict[int, float]] = {
        1 << i: {i: float(exact[start, customers[i]])} for i in range(k)
    }
    lengths: dict[int, float] = {}
    states = 0
    while level:
        states += sum(len(ends) for ends in level.values())
        if states > max_states:
            return None
        for mask, ends in level.items():
            lengths[mask] = min(length + to_end[j] for j, length in ends.items())
        grown: dict[int, dict[int, float]] = {}
        for mask, ends in level.items():
            for j, length in ends.items():
                for q in range(k):
                    if mask >> q & 1:
                        continue
                    path = length + sub[j, q]
                    if path + to_end[q] > tmax + _FLOAT_SLACK:
                        continue
                    ends_q = grown.setdefault(mask | 1 << q, {})
                    if path < ends_q.get(q, math.inf):
                        ends_q[q] = path
        level = grown
    return lengths


def solve_cp(model, time_limit_s: float, workers: int):  # noqa: ANN001, ANN201
    """Solve a CP-SAT model under a time limit; (solver, status)."""
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    return solver, solver.Solve(model)


def prove_by_enumeration(name: str, time_limit_s: float, workers: int) -> bool:
    """Exact optimum under exact distances from every visit set that fits; False if too many.

    A TOP solution is m disjoint sets of customers, each visitable within tmax. The sets
    that fit come from ``fitting_visit_sets`` (exact floats, no rounding), and CP-SAT picks
    the m disjoint ones of highest total score: with every fitting set in the model, its
    optimum bounds the instance's optimum, and it is the optimum when the chosen sets'
    shortest routes are within tmax.
    """
    from ortools.sat.python import cp_model

    n, m, tmax, points, exact = read_top(name)
    customers = [
        i for i in range(1, n - 1) if points[i, 2] > 0 and exact[0, i] + exact[i, n - 1] <= tmax
    ]
    lengths = fitting_visit_sets(exact, customers, tmax, max_states=3_000_000)
    if lengths is None:
        print(f"{name}: too many visit sets to enumerate; CP-SAT circuit model instead")
        return False
    masks = list(lengths)
    score = [round(points[v, 2]) for v in customers]
    value = [sum(score[i] for i in range(len(customers)) if mask >> i & 1) for mask in masks]
    model = cp_model.CpModel()
    take = [model.NewBoolVar(f"s{j}") for j in range(len(masks))]
    for i in range(len(customers)):
        model.AddAtMostOne([take[j] for j, mask in enumerate(masks) if mask >> i & 1])
    model.Add(sum(take) <= m)
    model.Maximize(sum(v * t for v, t in zip(value, take, strict=True)))
    solver, status = solve_cp(model, time_limit_s, workers)
    print(
        f"{name}: n {n}, m {m}, tmax {tmax}; {len(masks)} visit sets fit one route (exact"
        f" distances); CP-SAT over them: {solver.StatusName(status)}, best"
        f" {solver.ObjectiveValue():.0f}, bound {solver.BestObjectiveBound():.0f}"
        f" ({solver.WallTime():.1f} s)"
    )
    if status == cp_model.OPTIMAL:
        fits = True
        for j, mask in enumerate(masks):
            if solver.Value(take[j]):
                chosen = [customers[i] for i in range(len(customers)) if mask >> i & 1]
                fits &= lengths[mask] <= tmax
                print(f"  visits {chosen}: score {value[j]}, shortest route {lengths[mask]:.6f}")
        print(
            f"  exact optimum = {solver.ObjectiveValue():.0f}"
            if fits
            else f"  upper bound {solver.ObjectiveValue():.0f} (a chosen route is over tmax)"
        )
    return True


def prove_top(name: str, time_limit_s: float, workers: int, scale: float = 1e4) -> None:
    """Bound a TOP instance's optimum under exact distances and print the proof.

    Small instances go through ``prove_by_enumeration``. Otherwise a CP-SAT circuit model:
    every distance and tmax are scaled by ``scale`` and rounded *down*, so every route that
    fits with exact distances fits in the model: the model's optimum (or its proven bound) is
    an upper bound for exact distances. Its routes are re-measured with exact floats; when
    they fit, the model's optimum is reachable and hence the exact optimum.
    """
    from ortools.sat.python import cp_model

    if prove_by_enumeration(name, time_limit_s, workers):
        return
    n, m, tmax, points, exact = read_top(name)
    start, end = 0, n - 1
    reachable = [
        i for i in range(1, n - 1) if points[i, 2] > 0 and exact[start, i] + exact[i, end] <= tmax
    ]
    floored = np.floor(exact * scale).astype(np.int64)
    budget = math.floor(tmax * scale)
    nodes = [start, *reachable]  # model node 0: leave from start, come back to end

    def dist(a: int, b: int) -> int:
        return int(floored[nodes[a], end if b == 0 else nodes[b]])

    score = [0] + [round(points[v, 2]) for v in reachable]
    model = cp_model.CpModel()
    visit: dict[tuple[int, int], cp_model.IntVar] = {}
    used: list[dict[tuple[int, int], cp_model.IntVar]] = []
    route_value = []
    k = len(nodes)
    for r in range(m):
        arcs: list[tuple[int, int, cp_model.LiteralT]] = []
        arc_var: dict[tuple[int, int], cp_model.IntVar] = {}
        for a in range(k):
            for b in range(k):
                if a == b or (a and b and dist(0, a) + dist(a, b) + dist(b, 0) > budget):
                    continue
                arc_var[a, b] = model.NewBoolVar(f"x{r}_{a}_{b}")
                arcs.append((a, b, arc_var[a, b]))
        for a in range(1, k):
            visit[r, a] = model.NewBoolVar(f"y{r}_{a}")
            arcs.append((a, a, visit[r, a].Not()))
        empty = model.NewBoolVar(f"empty{r}")  # the route stays at its station
        arcs.append((0, 0, empty))
        for a in range(1, k):  # (else the visits could form a circuit without the station)
            model.AddImplication(empty, visit[r, a].Not())
        model.AddCircuit(arcs)
        model.Add(sum(dist(a, b) * v for (a, b), v in arc_var.items()) <= budget)
        used.append(arc_var)
        route_value.append(sum(score[a] * visit[r, a] for a in range(1, k)))
    for a in range(1, k):
        model.AddAtMostOne([visit[r, a] for r in range(m)])
    for r in range(m - 1):  # routes in order of value: removes the routes' symmetry
        model.Add(route_value[r] >= route_value[r + 1])
    model.Maximize(sum(route_value))
    solver, status = solve_cp(model, time_limit_s, workers)
    print(
        f"{name}: n {n}, m {m}, tmax {tmax}; CP-SAT with distances rounded down (x{scale:g}):"
        f" {solver.StatusName(status)}, upper bound {solver.BestObjectiveBound():.0f}"
        f" ({solver.WallTime():.1f} s)"
    )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return
    lengths = []
    for arc_var in used:
        succ = {a: b for (a, b), v in arc_var.items() if solver.Value(v)}
        route = [start]
        at = succ.get(0, 0)
        while at != 0:
            route.append(nodes[at])
            at = succ[at]
        route.append(end)
        lengths.append(sum(exact[a, b] for a, b in zip(route, route[1:], strict=False)))
        print(f"  route {route}: exact length {lengths[-1]:.6f} (tmax {tmax})")
    fits = all(length <= tmax for length in lengths)
    print(
        f"  its routes score {solver.ObjectiveValue():.0f} and "
        + ("fit with exact distances" if fits else "do NOT all fit with exact distances")
        + (
            f": exact optimum = {solver.ObjectiveValue():.0f}"
            if fits and status == cp_model.OPTIMAL
            else ""
        )
    )
