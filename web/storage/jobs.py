"""Background jobs as rows: queued by the site, taken by workers, with their progress.

A job is ``queued`` until a worker takes it (:func:`take_job`: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, an atomic ``UPDATE ... WHERE state = 'queued'`` on SQLite), then ``running``
while that worker sends heartbeats (:func:`heartbeat`), and ends ``done``, ``failed`` or
``cancelled``. A running job whose worker stopped sending heartbeats (killed, its machine
gone) is put back in the queue once (:func:`requeue_stale`) and failed with the reason the
second time, so no job stays ``running`` for ever. Cancelling is a write to the row: the
worker sees it at its next heartbeat and stops.

Score runs and warning refreshes (:data:`SINGLE_KINDS`) are queued by :func:`enqueue_once`:
at most one of each kind waits at a time (a partial unique index, so whichever server
process asks, on SQLite and PostgreSQL), and a further request while one waits is folded
into it. One of them runs at a time: :func:`take_job` leaves them queued while another runs.

Times here are real seconds since the epoch (``time.time()``), not the site's clock: they
measure liveness and elapsed time, which a demo's "as of" moment must not change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from web.storage._shared import record_from_row
from web.storage.schema import jobs

__all__ = [
    "ENDED",
    "MAX_ATTEMPTS",
    "OPEN",
    "SINGLE_KINDS",
    "JobOwner",
    "JobRecord",
    "cancel_job",
    "count_open_jobs",
    "create_job",
    "enqueue_once",
    "finish_job",
    "forget_jobs",
    "get_job",
    "heartbeat",
    "job_counts",
    "last_created",
    "release_job",
    "requeue_stale",
    "take_job",
]

OPEN = ("queued", "running")
ENDED = ("done", "failed", "cancelled")
#: A job is run at most this many times: a worker that dies while running it gives it to
#: another worker once; the second death fails it with the reason.
MAX_ATTEMPTS = 2
#: Kinds with at most one job queued at a time (the index ``ux_jobs_one_queued``, migration
#: 0011, names them too), run one at a time: score runs and warning refreshes.
SINGLE_KINDS = ("scores", "warnings")
# PostgreSQL's transaction-level advisory lock a worker holds while it takes one of them.
SINGLE_LOCK = 0x6A6F6273  # "jobs"


@dataclass(frozen=True)
class JobRecord:
    """One job as stored (times in real seconds since the epoch)."""

    id: str
    kind: str
    owner_id: int | None
    owner_name: str
    owner_ip: str
    request: str  # JSON
    state: str
    phase: str
    attempts: int
    worker: str | None
    heartbeat_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    time_limit_s: float
    deadline_at: float | None
    plan_id: int | None
    error: str | None
    result: str | None  # JSON: what a job other than a plan produced


class JobOwner(TypedDict, total=False):
    """Who asked for a job (all optional): a user's id, name and address; the name and the
    address are cut to 64 characters."""

    owner_id: int | None
    owner_name: str
    owner_ip: str


def create_job(
    engine: Engine,
    job_id: str,
    kind: str,
    request: str,
    time_limit_s: float,
    *,
    max_queued: int | None = None,
    **owner: Unpack[JobOwner],
) -> str | None:
    """Queue a job; returns None when it was stored, or why not: the owner has an open job
    (``"owner busy"``), or ``max_queued`` jobs wait already (``"queue full"``). Score runs
    and warning refreshes count for neither (they are queued by :func:`enqueue_once`)."""
    owner_id = owner.get("owner_id")
    with engine.begin() as conn:
        if owner_id is not None and _count(conn, _owned(owner_id), OPEN):
            return "owner busy"
        if max_queued is not None and _count(conn, _not_single, ("queued",)) >= max_queued:
            return "queue full"
        _insert_queued(conn, job_id, kind, request, time_limit_s, owner)
    return None


def _insert_queued(
    conn: Connection, job_id: str, kind: str, request: str, time_limit_s: float, owner: JobOwner
) -> None:
    """Store a new queued job (an :class:`~sqlalchemy.exc.IntegrityError` when a second
    queued job of one of :data:`SINGLE_KINDS` would wait)."""
    conn.execute(
        sa.insert(jobs).values(
            id=job_id, kind=kind, owner_id=owner.get("owner_id"),
            owner_name=owner.get("owner_name", "")[:64], owner_ip=owner.get("owner_ip", "")[:64],
            request=request, state="queued", phase="queued", attempts=0, created_at=time.time(),
            time_limit_s=float(time_limit_s),
        )
    )  # fmt: skip


_not_single = jobs.c.kind.not_in(SINGLE_KINDS)


def _owned(owner_id: int):
    """An owner's jobs other than score runs and warning refreshes (asked for on a page)."""
    return sa.and_(jobs.c.owner_id == owner_id, _not_single)


def enqueue_once(
    engine: Engine,
    job_id: str,
    kind: str,
    request: str,
    time_limit_s: float,
    **owner: Unpack[JobOwner],
) -> tuple[str, bool]:
    """Queue a job of one of :data:`SINGLE_KINDS` unless one of that kind waits already:
    returns (the id of the queued job, whether it is this new one). Safe across processes:
    the unique index on the queued row decides, and the loser reads the winner's id."""
    if kind not in SINGLE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(SINGLE_KINDS)}, got {kind!r}")
    waiting = sa.select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.state == "queued")
    for _try in range(5):
        with engine.connect() as conn:
            found = conn.execute(waiting).scalar()
        if found is not None:
            return str(found), False
        try:
            with engine.begin() as conn:
                _insert_queued(conn, job_id, kind, request, time_limit_s, owner)
            return job_id, True
        except sa.exc.IntegrityError:  # another process queued one just now: fold into it
            continue
    raise RuntimeError(f"could not queue a {kind} job: the queue kept changing")


def last_created(engine: Engine, kind: str) -> float | None:
    """When the newest job of ``kind`` was queued (real seconds), None if none is kept."""
    query = sa.select(sa.func.max(jobs.c.created_at)).where(jobs.c.kind == kind)
    with engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else float(value)


def _count(conn: Connection, where, states: tuple[str, ...]) -> int:
    query = sa.select(sa.func.count()).select_from(jobs).where(where, jobs.c.state.in_(states))
    return int(conn.execute(query).scalar_one())


def get_job(engine: Engine, job_id: str) -> JobRecord | None:
    """The job with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    return record_from_row(JobRecord, row)


def count_open_jobs(engine: Engine, owner_id: int) -> int:
    """How many of an owner's jobs are queued or running (score runs and warning refreshes
    not counted)."""
    with engine.connect() as conn:
        return _count(conn, _owned(owner_id), OPEN)


def job_counts(engine: Engine) -> dict[str, int]:
    """Jobs per state (what to monitor: a queue that grows, running jobs without workers)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state))
        return {state: int(n) for state, n in rows}


def take_job(engine: Engine, worker: str, kinds: tuple[str, ...]) -> JobRecord | None:
    """Take the oldest queued job of ``kinds`` for ``worker`` (now ``running``, one more
    attempt, its deadline from now); None when none waits. Two workers never take the same
    job: on PostgreSQL the row is locked and skipped by the others, on SQLite the update
    takes it only if it is still queued (SQLite has one writer at a time). A score run or
    warning refresh waits while another of :data:`SINGLE_KINDS` runs (on PostgreSQL the
    workers taking one hold a transaction lock, so two cannot start one each at once; a
    worker that does not get it takes only the other kinds this time)."""
    free = ~_single_busy()
    for _try in range(5):
        with engine.begin() as conn:
            wanted = kinds
            if conn.dialect.name == "postgresql" and set(kinds) & set(SINGLE_KINDS):
                got = conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(SINGLE_LOCK)))
                if not got.scalar():
                    wanted = tuple(kind for kind in kinds if kind not in SINGLE_KINDS)
            if not wanted:
                return None
            oldest = (
                sa.select(jobs.c.id)
                .where(jobs.c.state == "queued", jobs.c.kind.in_(wanted), free)
                .order_by(jobs.c.created_at, jobs.c.id)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                oldest = oldest.with_for_update(skip_locked=True)
            job_id = conn.execute(oldest).scalar()
            if job_id is None:
                return None
            now = time.time()
            taken = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state == "queued", free)
                .values(
                    state="running",
                    phase="starting",
                    worker=worker[:120],
                    attempts=jobs.c.attempts + 1,
                    heartbeat_at=now,
                    started_at=now,
                    deadline_at=now + jobs.c.time_limit_s,
                    finished_at=None,
                )  # fmt: skip
            ).rowcount
        if taken:
            return get_job(engine, job_id)
    return None  # others kept taking the jobs first: the caller polls again


def _single_busy():
    """True for a job of :data:`SINGLE_KINDS` while another of them runs."""
    other = jobs.alias("other")
    running = (
        sa.select(other.c.id)
        .where(other.c.state == "running", other.c.kind.in_(SINGLE_KINDS))
        .exists()
    )
    return sa.and_(jobs.c.kind.in_(SINGLE_KINDS), running)


def heartbeat(engine: Engine, job_id: str, worker: str, phase: str | None = None) -> bool:
    """Record that ``worker`` still runs the job (and its phase); False when the job is no
    longer this worker's to run (cancelled, or given to another worker after a stall)."""
    values: dict[str, object] = {"heartbeat_at": time.time()}
    if phase is not None:
        values["phase"] = phase[:40]
    with engine.begin() as conn:
        return bool(conn.execute(_mine(job_id, worker).values(**values)).rowcount)


def _mine(job_id: str, worker: str):
    return sa.update(jobs).where(
        jobs.c.id == job_id, jobs.c.worker == worker[:120], jobs.c.state == "running"
    )


def finish_job(
    engine: Engine,
    job_id: str,
    worker: str,
    *,
    plan_id: int | None = None,
    error: str | None = None,
    result: str | None = None,
) -> bool:
    """End a running job of ``worker``: done with its plan (or its ``result``, JSON), or
    failed with ``error``; False when it was no longer this worker's (cancelled meanwhile)."""
    state = "failed" if error is not None else "done"
    values = {"state": state, "phase": state, "plan_id": plan_id, "error": error,
              "result": result, "finished_at": time.time()}  # fmt: skip
    with engine.begin() as conn:
        return bool(conn.execute(_mine(job_id, worker).values(**values)).rowcount)


def release_job(engine: Engine, job_id: str, worker: str) -> bool:
    """Give a running job of ``worker`` back to the queue without counting its attempt (the
    worker is stopping on purpose); False when it was no longer this worker's. A score run
    or warning refresh whose kind has another one queued already is folded into that one
    (cancelled, saying so)."""
    values = {"state": "queued", "phase": "queued", "worker": None, "heartbeat_at": None,
              "attempts": jobs.c.attempts - 1}  # fmt: skip
    try:
        with engine.begin() as conn:
            return bool(conn.execute(_mine(job_id, worker).values(**values)).rowcount)
    except sa.exc.IntegrityError:
        pass
    with engine.begin() as conn:
        folded = {"state": "cancelled", "phase": "cancelled", "finished_at": time.time(),
                  "error": "its worker stopped; a job of its kind was queued already"}  # fmt: skip
        return bool(conn.execute(_mine(job_id, worker).values(**folded)).rowcount)


def cancel_job(engine: Engine, job_id: str) -> bool:
    """Cancel a queued or running job (its worker stops at its next heartbeat); False if it
    had ended."""
    with engine.begin() as conn:
        return bool(
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_(OPEN))
                .values(state="cancelled", phase="cancelled", finished_at=time.time())
            ).rowcount
        )


def requeue_stale(engine: Engine, stale_after_s: float) -> list[tuple[str, str]]:
    """Running jobs without a heartbeat for ``stale_after_s``: queued again when they have
    attempts left, failed with the reason otherwise. Returns (job id, new state) pairs.

    A score run or warning refresh whose kind has another one queued already is not queued
    again: it is failed, naming the queued one that will do its work."""
    for _try in range(5):
        try:
            return _requeue_stale(engine, stale_after_s)
        except sa.exc.IntegrityError:  # a job of its kind was queued meanwhile: look again
            continue
    return []


def _requeue_stale(engine: Engine, stale_after_s: float) -> list[tuple[str, str]]:
    now = time.time()
    stale = sa.and_(jobs.c.state == "running", jobs.c.heartbeat_at < now - stale_after_s)
    changed: list[tuple[str, str]] = []
    with engine.begin() as conn:
        query = sa.select(jobs.c.id, jobs.c.kind, jobs.c.attempts, jobs.c.worker).where(stale)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for job_id, kind, attempts, worker in conn.execute(query).all():
            why = f"its worker {worker} stopped (no heartbeat for {stale_after_s:g} s)"
            waiting = None
            if kind in SINGLE_KINDS:
                waiting = conn.execute(
                    sa.select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.state == "queued")
                ).scalar()
            values: dict[str, object]
            if attempts < MAX_ATTEMPTS and waiting is None:
                values = {"state": "queued", "phase": "queued", "worker": None,
                          "heartbeat_at": None, "error": f"retried: {why}"}  # fmt: skip
            elif waiting is not None:
                folded = f"{why}; job {waiting}, queued already, does its work"
                values = {"state": "failed", "phase": "failed", "finished_at": now,
                          "error": folded}  # fmt: skip
            else:
                values = {"state": "failed", "phase": "failed", "finished_at": now,
                          "error": f"failed after {attempts} attempts: {why}"}  # fmt: skip
            done = conn.execute(
                sa.update(jobs).where(jobs.c.id == job_id, stale).values(**values)
            ).rowcount
            if done:
                changed.append((job_id, str(values["state"])))
    return changed


def forget_jobs(engine: Engine, ended_before: float, kinds: tuple[str, ...] | None = None) -> int:
    """Delete the jobs (of ``kinds``; default every kind) that ended before this time (real
    seconds); returns how many."""
    where = sa.and_(jobs.c.state.in_(ENDED), jobs.c.finished_at < ended_before)
    if kinds is not None:
        where = sa.and_(where, jobs.c.kind.in_(kinds))
    with engine.begin() as conn:
        return conn.execute(sa.delete(jobs).where(where)).rowcount
