"""Plan jobs: a day's plan (or a re-plan) built and solved by a worker while the planner's
page polls.

A job is a row of the ``jobs`` table (web/storage/jobs.py): the site queues it, a
:class:`Worker` takes it, builds the problem (scoring, travel times), solves it in a child
process stopped at the job's limit plus :data:`GRACE_S` (the solver itself stops at the
limit and returns its best plan), and writes its phase, heartbeats and result to the row.
Every server process sees the same jobs, and a job's plan is stored whichever process or
worker made it, so a restart of the site loses no job. Workers also run the score runs and
warning refreshes queued as jobs (:data:`ALL_KINDS`; web.services.score_runs and
web.services.warnings queue them).

Workers run as ``hotspot worker`` processes, or (the embedded default, ``make run``) as
threads of the site's own process: ``hotspot serve`` keeps :data:`WORKERS` of them running
for plans and one more per process for score runs and warning refreshes (so those never wait
behind a solve), and a site served otherwise starts them when a job is queued or polled. With
``HOTSPOT_WORKERS=external`` (or the app setting ``WORKERS``) the site only queues jobs and
separate ``hotspot worker`` processes take them.

A worker that dies mid-job stops sending heartbeats: after :data:`STALE_S` another worker
(or the next poll of the progress page) puts the job back in the queue once, and fails it
with the reason the second time. A planner can cancel a job: the row says so, and the worker
running it stops its solver at its next heartbeat. Each user has one open job at a time and
at most :data:`MAX_WAITING` jobs wait for a worker; more are refused with a message.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from geo.errors import GeoError
from planner.errors import PlannerError
from web import storage
from web.services.patrol_plans import (
    MAX_UNIT_OPTIONS,
    PlanRequest,
    daily_seed,
    plan_day,
    plan_record,
)
from web.services.replans import ReplanError, ReplanRequest, replan_day
from web.storage import jobs as job_store

if TYPE_CHECKING:
    from planner.plan import PatrolPlan

__all__ = [
    "ALL_KINDS",
    "GRACE_S",
    "HEARTBEAT_S",
    "JOB_KEEP_S",
    "MAX_WAITING",
    "STALE_S",
    "WORKERS",
    "JobRefused",
    "PlanJob",
    "Requester",
    "Worker",
    "cancel",
    "external_workers",
    "find",
    "open_jobs",
    "release_jobs",
    "start_background_worker",
    "start_embedded_workers",
    "submit",
    "wake",
]

log = logging.getLogger(__name__)

# Solves run in children forked from a process that has the planner loaded already.
_CHILDREN = multiprocessing.get_context("forkserver")
_CHILDREN.set_forkserver_preload(["planner.solver"])
KINDS = ("plan", "replan")
#: Every kind a worker can run: plans, then score runs and warning refreshes.
ALL_KINDS = KINDS + job_store.SINGLE_KINDS
WORKERS = 2  # jobs a site process builds and solves side by side (one solver per core)
# Ended jobs are kept this long (the progress page, monitoring), then deleted.
JOB_KEEP_S = 7 * 86400
MAX_WAITING = 4  # jobs queued for a worker; more are refused
# Seconds past its time limit a solve may take to hand back its plan before it is stopped.
GRACE_S = 5.0
MIN_SOLVE_S = 1.0  # the solver gets at least this, even when building took the whole limit
HEARTBEAT_S = 2.0  # a running job's worker writes its heartbeat (and sees a cancel) this often
STALE_S = 30.0  # a running job without a heartbeat this long lost its worker (SQLite: > its
# 10 s busy timeout twice, so a long import holding the write lock does not count as a death)
POLL_S = 1.0  # an idle worker looks for jobs this often (a job queued here wakes it at once)
#: The setting (environment variable, or the app's ``WORKERS``) that leaves jobs to separate
#: ``hotspot worker`` processes: ``external``; anything else runs them in the site's process.
WORKERS_SETTING = "HOTSPOT_WORKERS"
# An unexpected error is stored with this prefix (for the log and monitoring); the page shows
# its own message for it.
INTERNAL_ERROR = "internal error: "


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
    """A plan being made: who asked, for what, and how far it got (as read from its row;
    a worker's own copy also holds its solver child and whether it was cancelled)."""

    id: str
    owner_id: int | None
    request: PlanRequest
    time_limit_s: float
    kind: str = "plan"  # or replan; a worker's copy of another kind's job says that kind
    phase: str = "queued"
    stored_state: str = "queued"
    started: float | None = None  # real seconds since the epoch
    finished: float | None = None
    plan_id: int | None = None
    stored_error: str | None = None
    attempts: int = 0
    # A re-plan: the plan it revises and what changed (web.services.replans).
    revision_of: int | None = None
    change: ReplanRequest | None = None
    cancelled: bool = False
    child: multiprocessing.process.BaseProcess | None = field(default=None, repr=False)
    engine: Any = field(default=None, repr=False, compare=False)
    beat_at: float = field(default=0.0, repr=False)  # the worker's last heartbeat (monotonic)
    worker_name: str | None = field(default=None, repr=False)  # the worker running it here

    def state(self) -> str:
        """running (queued or running), done, failed or cancelled."""
        return "running" if self.stored_state in job_store.OPEN else self.stored_state

    @property
    def error(self) -> str | None:
        """Why the job failed, for the planner (None while it runs, or for an internal error:
        the page says that one in its own words)."""
        if self.stored_state not in ("failed", "cancelled") or not self.stored_error:
            return None
        return None if self.stored_error.startswith(INTERNAL_ERROR) else self.stored_error

    def elapsed_s(self) -> float:
        """Seconds since the job (its current attempt) started, 0 while queued, up to its end."""
        if self.started is None or self.stored_state == "queued":
            return 0.0
        return max(0.0, (self.finished or time.time()) - self.started)


# --- the site's side: queue, look up, cancel --------------------------------------------


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
    time (``request`` names its date and shift) and stores a draft revision of it. The day's
    seed is worked out here from ``secret``, so workers never need the site's secret.
    """
    limit = change.time_limit_s if change is not None else request.time_limit_s
    if request.seed is None:
        request = replace(request, seed=daily_seed(request.date, secret))
    job_id = secrets.token_urlsafe(12)
    body = {"request": asdict(request), "revision_of": revision_of,
            "change": asdict(change) if change is not None else None}  # fmt: skip
    try:
        job_store.forget_jobs(engine, time.time() - JOB_KEEP_S)
    except sa.exc.OperationalError:  # the database is busy: forget them next time
        pass
    refused = job_store.create_job(
        engine, job_id, "replan" if change is not None else "plan", json.dumps(body), limit,
        owner_id=who.user_id, owner_name=who.username, owner_ip=who.ip,
        max_queued=MAX_WAITING,
    )  # fmt: skip
    if refused == "owner busy":
        raise JobRefused("your earlier plan is still being made: wait for it or cancel it")
    if refused is not None:
        raise JobRefused(
            f"{MAX_WAITING} plans are waiting for the solver already; try again in a minute"
        )
    _wake(engine)
    found = find(job_id, engine=engine)
    assert found is not None
    return found


def find(job_id: str, *, engine=None) -> PlanJob | None:
    """The job with this id, if it is still kept (``engine``: the current app's by default).

    A running job whose worker stopped sending heartbeats is handed to another worker (or
    failed) here too, so a page that polls it sees it move on."""
    engine = engine if engine is not None else _app_engine()
    if not job_id or len(job_id) > 32:
        return None
    record = job_store.get_job(engine, job_id)
    if record is None or record.kind not in KINDS:
        return None
    stale = record.heartbeat_at is not None and record.heartbeat_at < time.time() - STALE_S
    if record.state == "running" and stale:
        job_store.requeue_stale(engine, STALE_S)
        record = job_store.get_job(engine, job_id) or record
    if record.state == "queued":
        _wake(engine)
    try:
        return _job_of(record, engine)
    except (TypeError, ValueError, KeyError):  # a request this version cannot read
        return PlanJob(id=record.id, owner_id=record.owner_id, request=PlanRequest(date=""),
                       time_limit_s=record.time_limit_s, phase=record.phase,
                       stored_state=record.state, stored_error=record.error,
                       engine=engine)  # fmt: skip


def open_jobs(user_id: int, *, engine=None) -> int:
    """How many of a user's jobs are still queued or running."""
    engine = engine if engine is not None else _app_engine()
    return job_store.count_open_jobs(engine, user_id)


def cancel(job: PlanJob) -> bool:
    """Stop a queued or running job (its plan is not stored); False if it had ended. The
    worker running it stops its solver at once in this process, at its next heartbeat in
    another."""
    engine = job.engine if job.engine is not None else _app_engine()
    if not job_store.cancel_job(engine, job.id):
        return False
    job.stored_state = job.phase = "cancelled"
    with _running_lock:
        running = _running.get(job.id)
    if running is not None:
        _stop(running)
    return True


def _app_engine():
    from flask import current_app

    return current_app.extensions["engine"]


def _job_of(record: job_store.JobRecord, engine) -> PlanJob:
    body = json.loads(record.request)
    change = None
    if body.get("change") is not None:
        tuples = ("called_away", "back", "urgent")
        given: dict[str, Any] = {k: tuple(v) if k in tuples else v
                                 for k, v in body["change"].items()}  # fmt: skip
        change = ReplanRequest(**given)
    return PlanJob(
        id=record.id, owner_id=record.owner_id, request=PlanRequest(**body["request"]),
        time_limit_s=record.time_limit_s, kind=record.kind, phase=record.phase,
        stored_state=record.state, started=record.started_at, finished=record.finished_at,
        plan_id=record.plan_id, stored_error=record.error, attempts=record.attempts,
        revision_of=body.get("revision_of"), change=change, engine=engine,
    )  # fmt: skip


def external_workers() -> bool:
    """Whether separate ``hotspot worker`` processes take the jobs (``WORKERS=external``)."""
    setting = os.environ.get(WORKERS_SETTING, "")
    try:
        from flask import current_app, has_app_context

        if has_app_context():
            setting = str(current_app.config.get("WORKERS", setting))
    except ImportError:  # pragma: no cover - flask is a dependency
        pass
    return setting.strip().lower() == "external"


# --- workers -------------------------------------------------------------------------------

# Jobs this process runs now (id -> the worker's copy), so a cancel here stops them at once.
_running: dict[str, PlanJob] = {}
_running_lock = threading.Lock()
# Embedded worker threads per database; woken when a job is queued in this process.
_embedded: dict[str, list[threading.Thread]] = {}
_persistent: set[str] = set()  # databases whose embedded workers run until the process ends
_embedded_lock = threading.Lock()
_queued = threading.Condition()


def wake(engine) -> None:
    """Tell this process's idle workers a job is queued (starting embedded ones if none run
    here and workers are not external)."""
    _wake(engine)


def _wake(engine) -> None:
    """Tell this process's idle workers a job is queued; start the embedded ones if none run
    (unless workers are external)."""
    with _queued:
        _queued.notify_all()
    if external_workers():
        return
    with _embedded_lock:
        if storage.database_key(engine) in _persistent:
            return  # this process's own workers (hotspot serve) take it
    start_embedded_workers(engine, persistent=False)


def start_embedded_workers(
    engine,
    count: int = WORKERS,
    *,
    persistent: bool = True,
    kinds: tuple[str, ...] = ALL_KINDS,
) -> None:
    """Run ``count`` worker threads in this process for ``engine``'s database, taking jobs
    of ``kinds``.

    Persistent ones (``hotspot serve``) run until the process ends; the others stop when no
    job is left queued (a site served by another WSGI server starts them as jobs come)."""
    key = storage.database_key(engine)
    with _embedded_lock:
        if persistent:
            _persistent.add(key)
        alive = [t for t in _embedded.get(key, []) if t.is_alive()]
        for _n in range(count - len(alive)):
            worker = Worker(engine, stop_when_idle=key not in _persistent, kinds=kinds)
            thread = threading.Thread(target=worker.run, name="plan-worker", daemon=True)
            thread.start()
            alive.append(thread)
        _embedded[key] = alive


# The background worker thread of this process per database (score runs, warning refreshes).
_background: dict[str, threading.Thread] = {}


def start_background_worker(engine) -> None:
    """Run one worker thread in this process for the score runs and warning refreshes of
    ``engine``'s database, until the process ends (``hotspot serve``: those jobs never wait
    behind a plan's solve)."""
    key = storage.database_key(engine)
    with _embedded_lock:
        _persistent.add(key)
        running = _background.get(key)
        if running is not None and running.is_alive():
            return
        worker = Worker(engine, kinds=job_store.SINGLE_KINDS)
        thread = threading.Thread(target=worker.run, name="background-worker", daemon=True)
        thread.start()
        _background[key] = thread


class Worker:
    """Takes jobs from the table and runs them, one at a time, until stopped.

    ``stop_when_idle``: return once no job is queued (embedded workers started on demand).
    ``stale_after_s``: a running job without a heartbeat this long lost its worker; this
    worker puts it back in the queue (or fails it) when it looks for work.
    ``kinds``: the kinds of job it takes (default every kind).
    """

    def __init__(
        self,
        engine,
        *,
        name: str | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        stale_after_s: float = STALE_S,
        stop_when_idle: bool = False,
        kinds: tuple[str, ...] = ALL_KINDS,
    ) -> None:
        unknown = set(kinds) - set(ALL_KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be among {', '.join(ALL_KINDS)}, got {kinds!r}")
        self.kinds = tuple(kinds)
        self.engine = engine
        suffix = secrets.token_hex(3)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{suffix}"
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.stop_when_idle = stop_when_idle
        self.stopping = threading.Event()

    def run(self) -> None:
        """Take and run jobs until :attr:`stopping` is set (or, idle, if it stops then)."""
        while not self.stopping.is_set():
            try:
                ran = self.run_one()
            except (sa.exc.OperationalError, sa.exc.DisconnectionError) as err:
                log.warning("worker %s: database unavailable (%s); retrying", self.name, err)
                ran = False
            except Exception:  # a bug: keep the worker, the job is failed or retried
                log.exception("worker %s crashed on a job", self.name)
                ran = False
            if ran:
                continue
            if self.stop_when_idle:
                return
            with _queued:
                _queued.wait(POLL_S)

    def run_one(self) -> bool:
        """Take one job and run it to its end; False when none was queued."""
        for job_id, state in job_store.requeue_stale(self.engine, self.stale_after_s):
            log.warning("job %s lost its worker: %s", job_id, state)
        record = job_store.take_job(self.engine, self.name, self.kinds)
        if record is None:
            return False
        if record.kind not in KINDS:
            self._run_task(record)
            return True
        try:
            job = _job_of(record, self.engine)
        except (TypeError, ValueError, KeyError) as err:  # a request this version cannot read
            job_store.finish_job(self.engine, record.id, self.name,
                                 error=f"{INTERNAL_ERROR}unreadable request: {err}")  # fmt: skip
            return True
        job.stored_state = "running"
        job.worker_name = self.name
        # The job's deadline on this process's monotonic clock.
        deadline = time.monotonic() + ((record.deadline_at or time.time()) - time.time())
        with _running_lock:
            _running[job.id] = job
        beat = threading.Thread(target=self._heartbeats, args=(job,), daemon=True,
                                name=f"heartbeat-{job.id}")  # fmt: skip
        beat.start()
        try:
            self._run(job, record, deadline)
        finally:
            job.stored_state = "ended"
            with _running_lock:
                _running.pop(job.id, None)
            beat.join()
        return True

    def _run_task(self, record: job_store.JobRecord) -> None:
        """Run a score run or warning refresh with heartbeats; its result (or why it failed)
        goes to the row."""
        task = PlanJob(id=record.id, owner_id=record.owner_id, request=PlanRequest(date=""),
                       time_limit_s=record.time_limit_s, kind=record.kind, phase="starting",
                       stored_state="running", engine=self.engine,
                       worker_name=self.name)  # fmt: skip
        with _running_lock:
            _running[task.id] = task
        beat = threading.Thread(target=self._heartbeats, args=(task,), daemon=True,
                                name=f"heartbeat-{task.id}")  # fmt: skip

        def on_phase(phase: str) -> None:
            task.phase = phase
            self._beat(task, phase)

        beat.start()
        try:
            result = _task_runner(record.kind)(self.engine, record, on_phase)
        except (sa.exc.OperationalError, sa.exc.DisconnectionError):
            raise  # the database went away: the job is retried once it is back
        except (GeoError, ValueError) as err:
            job_store.finish_job(self.engine, task.id, self.name, error=str(err))
        except Exception as err:
            log.exception("%s job %s crashed", record.kind, task.id)
            job_store.finish_job(self.engine, task.id, self.name,
                                 error=f"{INTERNAL_ERROR}{type(err).__name__}: {err}")  # fmt: skip
        else:
            if not job_store.finish_job(self.engine, task.id, self.name,
                                        result=json.dumps(result)):  # fmt: skip
                log.warning("%s job %s ended elsewhere (cancelled)", record.kind, task.id)
        finally:
            task.stored_state = "ended"
            with _running_lock:
                _running.pop(task.id, None)
            beat.join()

    def _heartbeats(self, job: PlanJob) -> None:
        """Write the job's heartbeat and phase until it ends; stop it when the row says it is
        no longer this worker's (cancelled)."""
        while job.stored_state == "running":
            time.sleep(self.heartbeat_s / 4)
            if job.stored_state != "running" or job.cancelled:
                return
            if time.monotonic() - job.beat_at < self.heartbeat_s:
                continue
            self._beat(job)

    def _beat(self, job: PlanJob, phase: str | None = None) -> None:
        job.beat_at = time.monotonic()
        try:
            mine = job_store.heartbeat(self.engine, job.id, self.name, phase or job.phase)
        except (sa.exc.OperationalError, sa.exc.DisconnectionError) as err:
            log.warning("job %s: heartbeat not written (%s)", job.id, err)
            return
        if not mine and job.stored_state == "running":
            _stop(job)

    def _run(self, job: PlanJob, record: job_store.JobRecord, deadline: float) -> None:
        """Build, solve and store one plan; its result or error goes to the row."""

        def on_phase(phase: str) -> None:
            job.phase = phase
            self._beat(job, phase)

        def solve(problem, options):
            # The time limit is the whole job's: what building the problem took is deducted,
            # and the solver stops a little early to build, check and send back its plan.
            remaining = deadline - time.monotonic() - solver_margin_s(problem)
            limited = replace(options, time_limit_s=max(MIN_SOLVE_S, remaining))
            # Stopped a moment before limit + GRACE_S, so that stopping it fits too.
            return _solve_in_child(job, problem, limited, stop_at=deadline + GRACE_S - 0.5)

        try:
            if job.cancelled:
                return
            extra: dict = {}
            if job.change is None:
                # The seed was worked out when the job was queued: no secret needed here.
                planned = plan_day(self.engine, job.request, "", on_phase=on_phase, solve=solve)
                request = job.request
            else:
                stored = storage.get_plan(self.engine, int(job.revision_of or 0))
                if stored is None:
                    raise ReplanError(f"plan {job.revision_of} no longer exists")
                planned, request, why = replan_day(self.engine, stored, job.change, on_phase,
                                                   solve)  # fmt: skip
                extra = {"revision_of": stored.id, "replan": why}
            on_phase("storing")
            if job.cancelled:
                return
            record_ = plan_record(planned, request)
            plan_id = storage.store_plan(self.engine, created_by=record.owner_id,
                                         **record_, **extra)  # fmt: skip
        except (GeoError, PlannerError, ValueError) as err:
            if not job.cancelled:
                job_store.finish_job(self.engine, job.id, self.name, error=str(err))
            return
        except (sa.exc.OperationalError, sa.exc.DisconnectionError):
            raise  # the database went away: the job is retried once it is back
        except Exception as err:
            log.exception("plan job %s crashed", job.id)
            job_store.finish_job(self.engine, job.id, self.name,
                                 error=f"{INTERNAL_ERROR}{type(err).__name__}: {err}")  # fmt: skip
            return
        if not job_store.finish_job(self.engine, job.id, self.name, plan_id=plan_id):
            log.warning("job %s ended elsewhere (cancelled) after its plan %s", job.id, plan_id)
            return
        summary = record_["summary"]
        revision = f" (re-plan of plan {job.revision_of})" if job.change is not None else ""
        storage.audit(
            self.engine,
            "plan_replanned" if job.change is not None else "plan_generated",
            user_id=record.owner_id,
            username=record.owner_name,
            ip=record.owner_ip,
            detail=f"plan {plan_id}{revision}: {job.request.date} {job.request.shift}, "
            f"{summary['visits']} visits, status {summary['status']}",
        )


def release_jobs() -> int:
    """Give the jobs this process runs back to the queue (their attempts not counted) and
    stop their solvers: for a server process that is stopping on purpose, so its jobs are
    run again at once by another worker instead of after :data:`STALE_S`. Returns how many
    plan jobs (a score run or warning refresh given back is not counted)."""
    with _running_lock:
        running = list(_running.values())
    released = 0
    for job in running:
        if job.engine is None or job.worker_name is None:
            continue
        try:
            given = job_store.release_job(job.engine, job.id, job.worker_name)
            released += given and job.kind in KINDS
        except sa.exc.SQLAlchemyError as err:  # the database is gone: STALE_S will do it
            log.warning("job %s not released: %s", job.id, err)
        _stop(job)
    return released


def _task_runner(kind: str):
    """The function that runs a job of one of the kinds other than plans:
    ``runner(engine, record, on_phase) -> result`` (JSON-able)."""
    if kind == "scores":
        from web.services.score_runs import run_score_job

        return run_score_job
    if kind == "warnings":
        from web.services.warnings import run_warning_job

        return run_warning_job
    raise ValueError(f"no runner for jobs of kind {kind!r}")


def _stop(job: PlanJob) -> None:
    """Stop a running job of this process: no plan will be stored, its solver is killed."""
    job.cancelled = True
    child = job.child
    if child is not None and child.is_alive():
        child.kill()


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
        if job.cancelled:
            raise PlannerError("the job was cancelled")
        while not receive.poll(min(0.5, max(0.0, stop_at - time.monotonic()))):
            if job.cancelled:
                raise PlannerError("the job was cancelled")
            if time.monotonic() >= stop_at:
                raise PlanTimeout(
                    f"the solver did not finish within the job's {job.time_limit_s:g} s "
                    f"limit (+{GRACE_S:g} s) and was stopped: plan fewer cells or units"
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
