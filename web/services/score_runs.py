"""Score runs: forecast scores recomputed on a schedule and on demand, never on the request
path of a feed batch.

Incidents fed in while the site runs change counts at once; the forecast scores (and the
other slow values keyed by :attr:`~web.services.site_data.SiteData.scores_key`) change at
the next score run. :func:`run_scores` records a run in the database (every server process
sees it within a second and keys its scores by it) and computes the default hotspot map's
layers in this process, so the first map after a run does not wait, then refreshes the early
warnings.

On the site a score run is a job (web/storage/jobs.py, kind ``scores``): :func:`request_scores`
queues it (at most one waits at a time; a second request while one waits is folded into it)
and a worker runs it (:func:`run_score_job`: a thread of ``hotspot serve`` or a ``hotspot
worker`` process), with its phase, heartbeats and result (the score run's id) in the row; a
worker killed mid-run leaves it to be retried once, then failed with the reason.
:class:`ScoreSchedule`, a thread of ``hotspot serve``, queues one every ``SCORE_INTERVAL_MIN``
minutes unless a score run was queued less than that ago by any process (several servers
queue one run per interval between them). ``hotspot score-run`` runs one at once, itself.
"""

from __future__ import annotations

import json
import logging
import secrets
import time

from web import clock, storage
from web.services.background import Periodic
from web.storage import jobs as job_store

__all__ = [
    "KIND",
    "ScoreSchedule",
    "request_scores",
    "run_score_job",
    "run_scores",
    "wait_for_job",
]

log = logging.getLogger(__name__)

KIND = "scores"
#: A score run's limit in the job row (a worker does not stop one: it is the deadline a
#: monitor may compare with; the demo's run takes seconds, Chicago's under a minute).
TIME_LIMIT_S = 600.0
#: Ended score-run and warning jobs are kept this long (the schedule reads when the last one
#: was queued; monitoring), then deleted when another is queued, at most once every
#: FORGET_EVERY_S per process (the refresher queues one a minute, and more with a busy feed).
KEEP_S = 86_400.0
FORGET_EVERY_S = 600.0
_forgotten_at: float | None = None  # time.monotonic() of this process's last deletion
#: The schedule's tolerance: a run queued this share of an interval ago counts as this
#: interval's (two servers whose timers are a little apart queue one run between them).
DUE_SHARE = 0.9


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


def request_scores(
    engine, trigger: str, *, user_id: int | None = None, username: str = "", ip: str = ""
) -> tuple[str, bool]:
    """Queue a score run (``schedule`` or ``demand``) for a worker; returns the id of the
    queued job and whether it is a new one (False: one was waiting, and this request is
    folded into it)."""
    from web.services import plan_jobs

    if trigger not in ("schedule", "demand"):
        raise ValueError(f"trigger must be schedule or demand, got {trigger!r}")
    forget_ended(engine)
    body = json.dumps({"trigger": trigger, "requested_by": user_id})
    queued = job_store.enqueue_once(engine, secrets.token_urlsafe(12), KIND, body, TIME_LIMIT_S,
                                    owner_id=user_id, owner_name=username,
                                    owner_ip=ip)  # fmt: skip
    plan_jobs.wake(engine)
    return queued


def forget_ended(engine) -> None:
    """Delete the score-run and warning jobs that ended more than :data:`KEEP_S` ago, unless
    this process did so less than :data:`FORGET_EVERY_S` ago."""
    import sqlalchemy as sa

    global _forgotten_at
    now = time.monotonic()
    if _forgotten_at is not None and now - _forgotten_at < FORGET_EVERY_S:
        return
    _forgotten_at = now
    try:
        job_store.forget_jobs(engine, time.time() - KEEP_S, job_store.SINGLE_KINDS)
    except sa.exc.OperationalError:  # the database is busy: forget them next time
        pass


def run_score_job(engine, record: job_store.JobRecord, on_phase) -> dict:
    """A worker runs a queued score run: returns its result for the row (the score run's id
    and the import run its data reach)."""
    body = json.loads(record.request)
    on_phase("scoring")
    run = run_scores(engine, str(body.get("trigger", "schedule")), body.get("requested_by"))
    return {"score_run": run.id, "data_run_id": run.data_run_id}


def wait_for_job(engine, job_id: str, timeout_s: float, poll_s: float = 0.2):
    """The job's row once it ended, or as it stands after ``timeout_s`` (None if gone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = job_store.get_job(engine, job_id)
        if record is None or record.state in job_store.ENDED or time.monotonic() >= deadline:
            return record
        time.sleep(poll_s)


def _refresh_warnings(engine) -> None:
    """Early warnings on the score schedule too (the emerging rule follows the week's
    classes); a failure here is logged and leaves the score run done."""
    from web.services.warnings import refresh_warnings

    try:
        refresh_warnings(engine)
    except Exception:  # noqa: BLE001 - scores stand; the next refresh tries again
        log.exception("warning refresh after score run failed")


class ScoreSchedule(Periodic):
    """A background thread that queues a score run every ``interval_min`` minutes (of the
    real clock) until :meth:`stop`, unless one was queued less than that ago (by any
    process: the job table says when)."""

    def __init__(self, engine, interval_min: float) -> None:
        if not interval_min > 0:
            raise ValueError(f"interval_min must be > 0, got {interval_min!r}")
        self._engine = engine
        self._interval_s = float(interval_min) * 60.0
        super().__init__("score-schedule", self._interval_s, self._run)

    def _run(self) -> None:
        last = job_store.last_created(self._engine, KIND)
        if last is not None and time.time() - last < DUE_SHARE * self._interval_s:
            return  # another server (or a commander) asked for one this interval
        job_id, new = request_scores(self._engine, "schedule")
        log.info("score run %s at %s (job %s)", "queued" if new else "queued already",
                 clock.now_s(), job_id)  # fmt: skip
