"""Pieces of the random patrol problems the planner's tests solve."""

from __future__ import annotations

import numpy as np


def asymmetric_travel(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds between a station (node 0) and ``n`` stops placed at random within 600 m:
    straight-line time at 5 m/s times 1.00-1.25 per direction (so the matrix is asymmetric),
    and 5 % of the pairs between stops unreachable (inf)."""
    xy = rng.uniform(-600, 600, size=(n + 1, 2))
    base = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2)) / 5.0
    travel = base * rng.uniform(1.0, 1.25, size=base.shape)
    cut = rng.random(travel.shape) < 0.05
    cut[0, :] = cut[:, 0] = False
    travel[cut] = np.inf
    np.fill_diagonal(travel, 0.0)
    return travel


def seeded_travel(seed: int, n: int) -> tuple[np.random.Generator, np.ndarray]:
    """A generator seeded with ``seed`` and the :func:`asymmetric_travel` of ``n`` stops drawn
    from it first: the start of every random patrol problem."""
    rng = np.random.default_rng(seed)
    return rng, asymmetric_travel(rng, n)


def kernel_routes(travel: np.ndarray, n_routes: int) -> dict[str, np.ndarray]:
    """The compiled search's route arrays over one mode's ``travel`` ticks (nodes, nodes):
    ``n_routes`` routes from node 0 to the last node, one option at each node between."""
    n_nodes = travel.shape[0]
    return {
        "travel": travel[None],
        "mode": np.zeros(n_routes, dtype=np.int64),
        "start": np.zeros(n_routes, dtype=np.int64),
        "end": np.full(n_routes, n_nodes - 1, dtype=np.int64),
        "node": np.arange(1, n_nodes - 1, dtype=np.int64),
    }
