"""Score runs: forecast scores recomputed on a schedule and on demand, never on the request
path of a feed batch.

Incidents fed in while the site runs change counts at once; the forecast scores (and the
other slow values keyed by :attr:`~web.services.site_data.SiteData.scores_key`) change at
the next score run. :func:`run_scores` records a run in the database (every server process
sees it within a second and keys its scores by it) and computes the default hotspot map's
layers in this process, so the first map after a run does not wait, then refreshes the early
warnings. :class:`ScoreSchedule` runs it every ``SCORE_INTERVAL_MIN`` minutes in a background
thread of ``hotspot serve``.
"""

from __future__ import annotations

import logging

from web import clock, storage
from web.services.background import Periodic

__all__ = ["ScoreSchedule", "run_scores"]

log = logging.getLogger(__name__)


def run_scores(engine, trigger: str, requested_by: int | None = None) -> storage.ScoreRun:
    """Record a score run (``schedule`` or ``demand``) and compute the map's default scores
    with it; returns the finished run. A failure marks the run failed and is raised."""
    from web.services.map_layers import map_layers, parse_map_query
    from web.services.site_data import site_data

    run_id = storage.start_score_run(engine, trigger, requested_by)
    try:
        storage.finish_score_run(engine, run_id)
        data = site_data(engine)
        map_layers(data, parse_map_query({}, data, engine))  # the map most users open
    except Exception as err:
        storage.finish_score_run(engine, run_id, failed=f"{type(err).__name__}: {err}")
        raise
    _refresh_warnings(engine)
    run = storage.latest_score_run(engine)
    assert run is not None
    return run


def _refresh_warnings(engine) -> None:
    """Early warnings on the score schedule too (the emerging rule follows the week's
    classes); a failure here is logged and leaves the score run done."""
    from web.services.warnings import refresh_warnings

    try:
        refresh_warnings(engine)
    except Exception:  # noqa: BLE001 - scores stand; the next refresh tries again
        log.exception("warning refresh after score run failed")


class ScoreSchedule(Periodic):
    """A background thread that runs :func:`run_scores` every ``interval_min`` minutes (of
    the real clock) until :meth:`stop`."""

    def __init__(self, engine, interval_min: float) -> None:
        if not interval_min > 0:
            raise ValueError(f"interval_min must be > 0, got {interval_min!r}")
        self._engine = engine
        super().__init__("score-schedule", float(interval_min) * 60.0, self._run)

    def _run(self) -> None:
        run = run_scores(self._engine, "schedule")
        log.info("score run %s at %s", run.id, clock.now_s())
