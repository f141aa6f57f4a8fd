"""Plan jobs: a day's plan built and solved in the background while the planner's page polls.

A job's problem is built in one of a few worker threads (scoring, travel times); the solver
then runs in a child process, so the job ends by its time limit whatever the problem: the
child is stopped at the limit plus :data:`GRACE_S` (the solver itself stops at the limit and
returns its best plan). A planner can cancel a job. Each user has one open job at a time and
at most :data:`MAX_WAITING` jobs wait for a worker; more are refused with a message.

Jobs live in this process only: a restart forgets running ones (their plans are not stored),
never a stored plan.
"""

from __future__ import annotations

import logging
import multiprocessing
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from geo.errors import GeoError
from planner.errors import PlannerError
from web import storage
from web.services.patrol_plans import MAX_UNIT_OPTIONS, PlanRequest, plan_day, plan_record
from web.services.replans import ReplanError, ReplanRequest, replan_day

if TYPE_CHECKING:
    from planner.plan import PatrolPlan

__all__ = [
    "GRACE_S",
    "JOB_KEEP_S",
    "MAX_WAITING",
    "JobRefused",
    "PlanJob",
    "Requester",
    "cancel",
    "find",
    "open_jobs",
    "submit",
]

log = logging.getLogger(__name__)

# Solves run in children forked from a server process that has the planner loaded already.
_CHILDREN = multiprocessing.get_context("forkserver")
_CHILDREN.set_forkserver_preload(["planner.solver"])
WORKERS = 2  # jobs built and solved side by side (one solver per core on a small server)
_EXECUTOR = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="plan-job")
_JOBS: dict[str, PlanJob] = {}
_JOBS_LOCK = threading.Lock()
# Finished jobs are kept this long for the progress page to pick up, then forgotten.
JOB_KEEP_S = 3600
MAX_WAITING = 4  # jobs queued behind the workers; more are refused
# Seconds past its time limit a solve may take to hand back its plan before it is stopped.
GRACE_S = 5.0
MIN_SOLVE_S = 1.0  # the solver gets at least this, even when building took the whole limit


def solver_margin_s(problem) -> float:
    """Seconds the solver stops before the job's limit, to build its tables, check its plan
    and hand it back: 2 s, up to 8 s for the largest problems a job takes (measured: the
    form's largest values need 4-7 s on a busy 2-core server)."""
    options = sum(stop.max_visits for stop in problem.stops) * max(1, len(problem.units))
    return 2.0 + 6.0 * min(1.0, options / MAX_UNIT_OPTIONS)


class JobRefused(RuntimeError):
    """A job that cannot start now (the user has one open, or the queue is full)."""


@dataclass(frozen=True)
class Requester:
    """Who asked for a plan, as the audit log records it."""

    user_id: int
    username: str
    ip: str


@dataclass
class PlanJob:
    """A plan being made: who asked, for what, and how far it got."""

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
    cancelled: bool = False
    future: Future | None = None
    child: multiprocessing.process.BaseProcess | None = None
    # A re-plan: the plan it revises and what changed (web.services.replans).
    revision_of: int | None = None
    change: ReplanRequest | None = None

    def state(self) -> str:
        if self.plan_id is not None:
            return "done"
        if self.cancelled:
            return "cancelled"
        if self.error is not None or (self.future is not None and self.future.done()):
            return "failed"
        return "running"

    def deadline(self) -> float:
        """When the job's time limit ends (monotonic clock), counted from its start."""
        return (self.started or time.monotonic()) + self.time_limit_s

    def elapsed_s(self) -> float:
        """Seconds since the job started (0 while queued), up to its end."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started


def submit(
    engine,
    request: PlanRequest,
    who: Requester,
    secret: str,
    *,
    revision_of: int | None = None,
    change: ReplanRequest | None = None,
) -> PlanJob:
    """Queue ``request`` for ``who``; raises :class:`JobRefused` when it cannot start now.

    With ``revision_of`` and ``change`` the job re-plans that stored plan from the change's
    time (``request`` names its date and shift) and stores a draft revision of it.
    """
    limit = change.time_limit_s if change is not None else request.time_limit_s
    job = PlanJob(id=secrets.token_urlsafe(12), owner_id=who.user_id, request=request,
                  time_limit_s=limit, revision_of=revision_of, change=change)  # fmt: skip
    _forget_old_jobs()
    with _JOBS_LOCK:
        running = [j for j in _JOBS.values() if j.state() == "running"]
        if any(j.owner_id == who.user_id for j in running):
            raise JobRefused("your earlier plan is still being made: wait for it or cancel it")
        waiting = sum(1 for j in running if j.started is None)
        if len(running) >= WORKERS and waiting >= MAX_WAITING:
            raise JobRefused(
                f"{waiting} plans are waiting for the solver already; try again in a minute"
            )
        _JOBS[job.id] = job
    job.future = _EXECUTOR.submit(_run_job, job, engine, secret, who)
    job.future.add_done_callback(_log_crash)
    return job


def find(job_id: str) -> PlanJob | None:
    """The job with this id, if it is still kept."""
    with _JOBS_LOCK:
        return _JOBS.get(job_id)


def open_jobs(user_id: int) -> int:
    """How many of a user's jobs are still queued or running."""
    with _JOBS_LOCK:
        return sum(1 for j in _JOBS.values() if j.owner_id == user_id and j.state() == "running")


def cancel(job: PlanJob) -> bool:
    """Stop a queued or running job (its plan is not stored); False if it had ended."""
    if job.state() != "running":
        return False
    job.cancelled = True
    job.phase = "cancelled"
    if job.future is not None:
        job.future.cancel()  # a queued job never starts
    child = job.child
    if child is not None and child.is_alive():
        child.kill()
    if job.finished is None:
        job.finished = time.monotonic()
    return True


def _forget_old_jobs() -> None:
    cutoff = time.monotonic() - JOB_KEEP_S
    with _JOBS_LOCK:
        for job_id in [k for k, j in _JOBS.items() if j.finished and j.finished < cutoff]:
            del _JOBS[job_id]


def _run_job(job: PlanJob, engine, secret: str, who: Requester) -> None:
    """Build, solve and store one plan (runs in a worker thread, outside any request)."""
    if job.cancelled:
        return
    job.started = time.monotonic()

    def on_phase(phase: str) -> None:
        job.phase = phase

    def solve(problem, options):
        # The time limit is the whole job's: what building the problem took is deducted, and
        # the solver stops a little early to build, check and send back its plan in time.
        deadline = job.deadline()
        remaining = deadline - time.monotonic() - solver_margin_s(problem)
        limited = replace(options, time_limit_s=max(MIN_SOLVE_S, remaining))
        # Stopped a moment before limit + GRACE_S, so that stopping it fits too.
        return _solve_in_child(job, problem, limited, stop_at=deadline + GRACE_S - 0.5)

    try:
        extra: dict = {}
        if job.change is None:
            planned = plan_day(engine, job.request, secret, on_phase=on_phase, solve=solve)
            request = job.request
        else:
            stored = storage.get_plan(engine, int(job.revision_of or 0))
            if stored is None:
                raise ReplanError(f"plan {job.revision_of} no longer exists")
            planned, request, why = replan_day(engine, stored, job.change, on_phase, solve)
            extra = {"revision_of": stored.id, "replan": why}
        if job.cancelled:
            return
        job.phase = "storing"
        record = plan_record(planned, request)
        plan_id = storage.store_plan(engine, created_by=who.user_id, **record, **extra)
    except (GeoError, PlannerError, ValueError) as err:
        job.error = str(err)
        job.phase = "failed"
        return
    finally:
        if job.finished is None:
            job.finished = time.monotonic()
    summary = record["summary"]
    revision = f" (re-plan of plan {job.revision_of})" if job.change is not None else ""
    storage.audit(
        engine,
        "plan_replanned" if job.change is not None else "plan_generated",
        user_id=who.user_id,
        username=who.username,
        ip=who.ip,
        detail=f"plan {plan_id}{revision}: {job.request.date} {job.request.shift}, "
        f"{summary['visits']} visits, status {summary['status']}",
    )
    job.plan_id = plan_id
    job.phase = "done"


class PlanTimeout(PlannerError):
    """A solve that did not hand back its plan by its time limit plus the grace."""


def _solve_in_child(job: PlanJob, problem, options, target=None, stop_at: float | None = None):
    """Solve in a child process; stop it at ``stop_at`` (monotonic; default the solver's
    limit plus :data:`GRACE_S` from now).

    ``target(send, problem, options)`` runs in the child (default :func:`_child_solve`).
    """
    if stop_at is None:
        stop_at = time.monotonic() + options.time_limit_s + GRACE_S
    receive, send = _CHILDREN.Pipe(duplex=False)
    child = _CHILDREN.Process(target=target or _child_solve, args=(send, problem, options),
                              daemon=True)  # fmt: skip
    job.child = child
    child.start()
    send.close()
    try:
        if job.cancelled or not receive.poll(max(0.0, stop_at - time.monotonic())):
            if job.cancelled:
                raise PlannerError("the job was cancelled")
            raise PlanTimeout(
                f"the solver did not finish within the job's {job.time_limit_s:g} s limit "
                f"(+{GRACE_S:g} s) and was stopped: plan fewer cells or units"
            )
        outcome = receive.recv()
    except EOFError as err:  # the child died (killed on cancel, or out of memory)
        why = "the job was cancelled" if job.cancelled else "the solver stopped unexpectedly"
        raise PlannerError(why) from err
    finally:
        if child.is_alive():
            child.kill()
        child.join(timeout=1)
        receive.close()
        job.child = None
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _child_solve(send, problem, options) -> None:
    """In the child: solve and send the plan (or the planner's error) back."""
    from planner.solver import plan_patrols

    outcome: PatrolPlan | PlannerError
    try:
        outcome = plan_patrols(problem, options)
    except PlannerError as err:
        outcome = err
    send.send(outcome)
    send.close()


def _log_crash(future: Future) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if error is not None:
        log.error("plan job crashed", exc_info=(type(error), error, error.__traceback__))
