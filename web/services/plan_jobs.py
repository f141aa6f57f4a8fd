"""Plan jobs: a day's plan solved in a background thread while the planner's page polls it.

A job is solved and stored by one of a few worker threads (the solver runs for the site's
``PLAN_TIME_LIMIT_S``); its state, phase and result are read by the progress page. Jobs live
in this process only: a restart forgets running ones (their plans are not stored), never a
stored plan.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from geo.errors import GeoError
from planner.errors import PlannerError
from web import storage
from web.services.patrol_plans import PlanRequest, plan_day, plan_record

__all__ = ["JOB_KEEP_S", "MAX_OPEN_JOBS_PER_USER", "PlanJob", "Requester", "find", "open_jobs",
           "submit"]  # fmt: skip

log = logging.getLogger(__name__)

# One plan at a time per worker keeps a solve's time limit honest on a small server; two
# workers let a second planner start while the first solve runs.
_EXECUTOR = ThreadPoolExecutor(max_workers=2, thread_name_prefix="plan-solve")
_JOBS: dict[str, PlanJob] = {}
_JOBS_LOCK = threading.Lock()
# Finished jobs are kept this long for the progress page to pick up, then forgotten.
JOB_KEEP_S = 3600
MAX_OPEN_JOBS_PER_USER = 2


@dataclass(frozen=True)
class Requester:
    """Who asked for a plan, as the audit log records it."""

    user_id: int
    username: str
    ip: str


@dataclass
class PlanJob:
    """A plan being solved: who asked, for what, and how far it got."""

    id: str
    owner_id: int
    request: PlanRequest
    time_limit_s: float
    created: float = field(default_factory=time.monotonic)
    phase: str = "queued"
    started: float | None = None
    finished: float | None = None
    plan_id: int | None = None
    error: str | None = None
    future: Future | None = None

    def state(self) -> str:
        if self.plan_id is not None:
            return "done"
        if self.error is not None or (self.future is not None and self.future.done()):
            return "failed"
        return "running"

    def elapsed_s(self) -> float:
        """Seconds since the solve started (0 while queued), up to its end."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started


def submit(engine, request: PlanRequest, who: Requester, secret: str) -> PlanJob:
    """Start solving ``request`` for ``who``; the job is returned at once, queued."""
    job = PlanJob(id=secrets.token_urlsafe(12), owner_id=who.user_id, request=request,
                  time_limit_s=request.time_limit_s)  # fmt: skip
    _forget_old_jobs()
    with _JOBS_LOCK:
        _JOBS[job.id] = job
    job.future = _EXECUTOR.submit(_run_job, job, engine, secret, who)
    job.future.add_done_callback(_log_crash)
    return job


def find(job_id: str) -> PlanJob | None:
    """The job with this id, if it is still kept."""
    with _JOBS_LOCK:
        return _JOBS.get(job_id)


def open_jobs(user_id: int) -> int:
    """How many of a user's jobs are still running."""
    with _JOBS_LOCK:
        return sum(1 for j in _JOBS.values() if j.owner_id == user_id and j.state() == "running")


def _forget_old_jobs() -> None:
    cutoff = time.monotonic() - JOB_KEEP_S
    with _JOBS_LOCK:
        for job_id in [k for k, j in _JOBS.items() if j.finished and j.finished < cutoff]:
            del _JOBS[job_id]


def _run_job(job: PlanJob, engine, secret: str, who: Requester) -> None:
    """Solve and store one plan (runs in the executor's thread, outside any request)."""
    job.started = time.monotonic()

    def on_phase(phase: str) -> None:
        job.phase = phase

    try:
        planned = plan_day(engine, job.request, secret, on_phase=on_phase)
        job.phase = "storing"
        record = plan_record(planned, job.request)
        plan_id = storage.store_plan(engine, created_by=who.user_id, **record)
    except (GeoError, PlannerError, ValueError) as err:
        job.error = str(err)
        job.phase = "failed"
        return
    finally:
        job.finished = time.monotonic()
    summary = record["summary"]
    storage.audit(
        engine,
        "plan_generated",
        user_id=who.user_id,
        username=who.username,
        ip=who.ip,
        detail=f"plan {plan_id}: {job.request.date} {job.request.shift}, "
        f"{summary['visits']} visits, status {summary['status']}",
    )
    job.plan_id = plan_id
    job.phase = "done"


def _log_crash(future: Future) -> None:
    error = future.exception()
    if error is not None:
        log.error("plan job crashed", exc_info=(type(error), error, error.__traceback__))
