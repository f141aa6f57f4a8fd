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
