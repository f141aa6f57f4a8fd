"""Plan jobs as rows taken by workers (web/storage/jobs.py, web/services/plan_jobs.py,
``hotspot worker``): two workers never take the same job; a job queued by one site process
is run by a worker of another and its plan is stored (a restart loses nothing); ``kill -9``
of a worker mid-job gives the job to another worker once, then fails it with its reason,
and other jobs are unaffected. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.web.conftest import PASSWORDS, days_ahead, login, wait_until
from web import create_app, storage
from web.services import plan_jobs
from web.services.accounts import hash_password
from web.services.patrol_plans import PlanRequest
from web.storage import jobs as job_store
from web.storage.schema import jobs as jobs_table

pytestmark = pytest.mark.databases(demo=True)

# Small problems keep each solve to a few seconds.
SMALL = {"shift": "night", "units_per_station": 1, "candidates": 30, "time_limit_s": 4.0}


def _planners(engine, n: int, prefix: str) -> list[plan_jobs.Requester]:
    """``n`` planner accounts (one open job per user): their requesters."""
    secret = hash_password("job-workers-pass-1")
    return [
        plan_jobs.Requester(
            storage.create_user(engine, f"{prefix}{i}", secret, "planner"),
            f"{prefix}{i}",
            "127.0.0.1",
        )  # fmt: skip
        for i in range(n)
    ]


def _queue(engine, who: plan_jobs.Requester, day: int) -> str:
    """Queue a small plan job for ``days_ahead(day)``; its id."""
    request = PlanRequest(date=days_ahead(day), **SMALL)
    return plan_jobs.submit(engine, request, who, "test-secret").id


def _row(engine, job_id: str) -> job_store.JobRecord:
    record = job_store.get_job(engine, job_id)
    assert record is not None
    return record


class Workers:
    """``hotspot worker`` processes on one database, each in its own process group (so the
    solver children of a killed worker can be ended after the test)."""

    def __init__(self, url: str, moment, logs: Path) -> None:
        self.logs = logs
        self.env = os.environ | {
            "HOTSPOT_DATABASE_URL": url,
            "HOTSPOT_TIMEZONE": moment.timezone,
            "HOTSPOT_NOW": moment.local.strftime("%Y-%m-%dT%H:%M:%S"),
            "HOTSPOT_WORKERS": "external",
        }
        self.started: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        command = [sys.executable, "-c", "from web.cli import cli; cli()", "worker", "--name", name,
                   "--heartbeat", "0.5", "--stale-after", "3"]  # fmt: skip
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO, env=self.env, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
        log.close()  # the worker has its own copy
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            try:  # what a killed worker left: its forkserver and solver children
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def workers(demo_copy_url, moment, monkeypatch, tmp_path):
    """Jobs queued here wait for the ``hotspot worker`` processes the test starts."""
    monkeypatch.setenv(plan_jobs.WORKERS_SETTING, "external")
    started = Workers(demo_copy_url, moment, tmp_path)
    yield started
    started.stop()


@pytest.fixture
def copy_engine(demo_copy_url):
    engine = storage.make_engine(demo_copy_url)
    yield engine
    engine.dispose()


# --- the table ------------------------------------------------------------------------------


def test_two_workers_never_take_the_same_job(copy_engine) -> None:
    """Two workers (threads, each with its own connections) take 40 jobs as fast as they
    can: every job is taken once, by the worker the row names, on its first attempt."""
    ids = [f"race-{n:02d}" for n in range(40)]
    for job_id in ids:
        job_store.create_job(copy_engine, job_id, "plan", "{}", 5.0)
    taken: dict[str, list[str]] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def take(name: str) -> None:
        start.wait()
        while (record := job_store.take_job(copy_engine, name, ("plan",))) is not None:
            taken[name].append(record.id)

    threads = [threading.Thread(target=take, args=(name,)) for name in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken["w1"] + taken["w2"]) == ids  # each once, none lost
    for name, mine in taken.items():
        for job_id in mine:
            row = _row(copy_engine, job_id)
            assert (row.state, row.worker, row.attempts) == ("running", name, 1)
            assert row.deadline_at == pytest.approx(row.started_at + 5.0)


def test_a_stale_job_is_retried_once_then_failed_with_its_reason(copy_engine) -> None:
    job_store.create_job(copy_engine, "stale", "plan", "{}", 5.0)
    job_store.create_job(copy_engine, "alive", "plan", "{}", 5.0)
    assert job_store.take_job(copy_engine, "dead-1", ("plan",)).id == "stale"
    assert job_store.take_job(copy_engine, "live", ("plan",)).id == "alive"
    # The first worker stops sending heartbeats; the other one goes on.
    _age_heartbeat(copy_engine, "stale", 60)
    assert job_store.heartbeat(copy_engine, "alive", "live", "solving")
    assert job_store.requeue_stale(copy_engine, 30) == [("stale", "queued")]
    row = _row(copy_engine, "stale")
    assert (row.state, row.worker, row.attempts) == ("queued", None, 1)
    assert "its worker dead-1 stopped" in row.error
    # The dead worker's late heartbeat or result counts for nothing: the job is not its own.
    assert not job_store.heartbeat(copy_engine, "stale", "dead-1")
    assert not job_store.finish_job(copy_engine, "stale", "dead-1", plan_id=1)
    # Taken again, and its second worker dies too: failed with the reason, never "running".
    assert job_store.take_job(copy_engine, "dead-2", ("plan",)).id == "stale"
    _age_heartbeat(copy_engine, "stale", 60)
    assert job_store.requeue_stale(copy_engine, 30) == [("stale", "failed")]
    row = _row(copy_engine, "stale")
    assert (row.state, row.attempts) == ("failed", 2)
    assert row.error == "failed after 2 attempts: its worker dead-2 stopped (no heartbeat for 30 s)"
    assert row.finished_at is not None
    alive = _row(copy_engine, "alive")
    assert (alive.state, alive.worker, alive.phase) == ("running", "live", "solving")
    assert job_store.finish_job(copy_engine, "alive", "live", plan_id=7)
    assert (_row(copy_engine, "alive").state, _row(copy_engine, "alive").plan_id) == ("done", 7)


def test_a_cancelled_job_is_no_longer_its_workers(copy_engine) -> None:
    job_store.create_job(copy_engine, "c1", "plan", "{}", 5.0)
    job_store.create_job(copy_engine, "c2", "plan", "{}", 5.0)
    assert job_store.cancel_job(copy_engine, "c1")  # while queued: never taken
    assert job_store.take_job(copy_engine, "w", ("plan",)).id == "c2"
    assert job_store.cancel_job(copy_engine, "c2")  # while running
    assert not job_store.heartbeat(copy_engine, "c2", "w")  # the worker sees it and stops
    assert not job_store.finish_job(copy_engine, "c2", "w", plan_id=3)
    assert not job_store.cancel_job(copy_engine, "c2")  # ended already
    assert {_row(copy_engine, j).state for j in ("c1", "c2")} == {"cancelled"}
    assert job_store.take_job(copy_engine, "w", ("plan",)) is None


def test_one_open_job_per_owner_and_a_bounded_queue(copy_engine) -> None:
    before = job_store.job_counts(copy_engine)  # jobs other tests ran on the demo copied
    owners = _planners(copy_engine, 3, "queue")
    first = job_store.create_job(copy_engine, "q1", "plan", "{}", 5.0, owner_id=owners[0].user_id)
    assert first is None
    again = job_store.create_job(copy_engine, "q2", "plan", "{}", 5.0, owner_id=owners[0].user_id)
    assert again == "owner busy"
    full = job_store.create_job(copy_engine, "q3", "plan", "{}", 5.0,
                                owner_id=owners[1].user_id, max_queued=1)  # fmt: skip
    assert full == "queue full"
    job_store.cancel_job(copy_engine, "q1")
    assert job_store.create_job(copy_engine, "q4", "plan", "{}", 5.0,
                                owner_id=owners[0].user_id, max_queued=1) is None  # fmt: skip
    after = job_store.job_counts(copy_engine)
    added = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: n for k, n in added.items() if n} == {"cancelled": 1, "queued": 1}


def _age_heartbeat(engine, job_id: str, seconds: float) -> None:
    """Make a job's last heartbeat ``seconds`` older (as if its worker had stopped then)."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values(heartbeat_at=jobs_table.c.heartbeat_at - seconds)
        )


# --- site processes and worker processes ---------------------------------------------------


def test_a_job_queued_before_a_restart_is_run_after_it(demo_copy_url, moment) -> None:
    """A site process queues a job and stops before any worker runs it; a new site process
    (the embedded worker) runs it from the table and stores its plan; the login made in the
    first process is valid in the second (sessions are rows, the key is shared)."""
    settings = {"DATABASE_URL": demo_copy_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                "PLAN_TIME_LIMIT_S": 4.0, "SECRET_KEY": "k" * 64}  # fmt: skip
    first = create_app(settings | {"WORKERS": "external"})
    client = first.test_client()
    login(client, "planner")
    form = {"date": days_ahead(280), "shift": "night", "units_per_station": "1",
            "dwell_min": "15", "candidates": "30", "max_visits": "2"}  # fmt: skip
    page = client.post("/plans/new", data=form)
    assert page.status_code == 200
    job_id = page.get_data(as_text=True).split('data-job-url="')[1].split('"')[0].rsplit("/")[-1]
    engine = first.extensions["engine"]
    assert _row(engine, job_id).state == "queued"  # no worker in that process
    cookie = client.get_cookie("session")
    assert cookie is not None
    engine.dispose()
    del first

    second = create_app(settings)  # the embedded default
    client = second.test_client()
    client.set_cookie("session", cookie.value)
    job = wait_until(
        "the job to end", lambda: _ended(client.get(f"/plans/jobs/{job_id}").get_json())
    )
    assert job["state"] == "done", job
    stored = storage.get_plan(second.extensions["engine"], job["plan_id"])
    assert stored is not None and stored.plan_date == days_ahead(280)
    row = _row(second.extensions["engine"], job_id)
    assert (row.state, row.attempts, row.plan_id) == ("done", 1, job["plan_id"])
    second.extensions["engine"].dispose()


def _ended(job: dict) -> dict | None:
    return job if job["state"] != "running" else None


def _single_done(engine, since: float) -> job_store.JobRecord | None:
    """The first warning refresh job queued after ``since`` (real seconds) and done, if any."""
    query = sa.select(jobs_table.c.id).where(
        jobs_table.c.kind == "warnings",
        jobs_table.c.state == "done",
        jobs_table.c.created_at > since,
    )
    with engine.connect() as conn:
        job_id = conn.execute(query.limit(1)).scalar()
    return None if job_id is None else _row(engine, job_id)


def test_two_worker_processes_run_each_job_once(workers, copy_engine) -> None:
    owners = _planners(copy_engine, 4, "pair")
    ids = [_queue(copy_engine, who, 290 + n) for n, who in enumerate(owners)]
    workers.start("pair-a")
    workers.start("pair-b")
    try:
        wait_until("every job done", lambda: all(_row(copy_engine, j).state == "done" for j in ids))
    except AssertionError as err:  # say where each job and each worker stood
        states = [(r.state, r.phase, r.error) for r in (_row(copy_engine, j) for j in ids)]
        logs = {n: _log(workers, n)[-2000:] for n in ("pair-a", "pair-b")}
        raise AssertionError(f"{err}; jobs {states}; worker logs {logs}") from None
    rows = [_row(copy_engine, j) for j in ids]
    assert [row.attempts for row in rows] == [1, 1, 1, 1]
    assert len({row.plan_id for row in rows}) == 4
    assert {row.worker for row in rows} <= {"pair-a", "pair-b"}
    plans = storage.list_plans(copy_engine, limit=500)
    for n in range(4):  # one plan per job: none was solved and stored twice
        assert (plans["plan_date"] == days_ahead(290 + n)).sum() == 1
    audit = storage.list_audit(copy_engine, limit=200)
    generated = audit.loc[audit["action"] == "plan_generated", "detail"].tolist()
    for row in rows:  # one audit entry per plan, in the name of who asked
        assert sum(d.startswith(f"plan {row.plan_id}: ") for d in generated) == 1


def test_kill_9_of_a_worker_mid_job(workers, copy_engine) -> None:
    """A worker killed while it solves: another worker retries the job; killed again, the
    job fails with its reason; a job queued beside it is done, once."""
    victim, bystander = _planners(copy_engine, 2, "kill")
    doomed = _queue(copy_engine, victim, 300)

    def running_on(name: str):
        row = _row(copy_engine, doomed)
        return row.state == "running" and row.worker == name and row.phase == "solving"

    for attempt, name in enumerate(("kill-1", "kill-2"), start=1):
        process = workers.start(name)
        wait_until(f"{name} to solve the job", lambda name=name: running_on(name))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert _row(copy_engine, doomed).attempts == attempt
    other = _queue(copy_engine, bystander, 301)
    workers.start("kill-3")
    wait_until("the other job to end", lambda: _row(copy_engine, other).state in job_store.ENDED)
    wait_until("the killed job to end", lambda: _row(copy_engine, doomed).state in job_store.ENDED)
    row = _row(copy_engine, doomed)
    assert (row.state, row.attempts, row.plan_id) == ("failed", 2, None)
    assert row.error == "failed after 2 attempts: its worker kill-2 stopped (no heartbeat for 3 s)"
    done = _row(copy_engine, other)
    assert (done.state, done.attempts, done.worker) == ("done", 1, "kill-3")
    plans = storage.list_plans(copy_engine, limit=500)
    assert (plans["plan_date"] == days_ahead(300)).sum() == 0
    assert (plans["plan_date"] == days_ahead(301)).sum() == 1
    # The planner's page says why.
    job = plan_jobs.find(doomed, engine=copy_engine)
    assert job.state() == "failed" and "its worker kill-2 stopped" in job.error
    assert json.loads(row.request)["request"]["date"] == days_ahead(300)


def test_a_killed_workers_job_is_retried_and_done(workers, copy_engine) -> None:
    (who,) = _planners(copy_engine, 1, "retry")
    job_id = _queue(copy_engine, who, 305)
    first = workers.start("retry-1")
    wait_until("retry-1 to solve", lambda: _row(copy_engine, job_id).phase == "solving")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    workers.start("retry-2")
    wait_until("the job to end", lambda: _row(copy_engine, job_id).state in job_store.ENDED)
    row = _row(copy_engine, job_id)
    assert (row.state, row.attempts, row.worker, row.error) == ("done", 2, "retry-2", None)
    assert storage.get_plan(copy_engine, row.plan_id).plan_date == days_ahead(305)


# --- several server processes -----------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> set[int]:
    """The pids of a process's children (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def _csrf(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def _answer(session, url: str):
    """GET ``url`` on a new connection (so any server process may take it); None if refused."""
    import requests

    try:
        return session.get(url, headers={"Connection": "close"}, timeout=30)
    except requests.ConnectionError:
        return None


def test_several_server_processes_agree(demo_copy_url, moment, tmp_path) -> None:
    """``hotspot serve --processes 2`` without a configured secret: a login made by one
    process is valid in the other, each request on a new connection; a plan job queued by
    one is polled through both and done; a process killed with -9 is started again while
    the other one serves."""
    import requests

    port = _free_port()
    env = os.environ | {"HOTSPOT_DATABASE_URL": demo_copy_url,
                        "HOTSPOT_TIMEZONE": moment.timezone,
                        "HOTSPOT_NOW": moment.local.strftime("%Y-%m-%dT%H:%M:%S"),
                        "HOTSPOT_PLAN_TIME_LIMIT_S": "4"}  # fmt: skip
    env.pop("HOTSPOT_SECRET_KEY", None)
    env.pop(plan_jobs.WORKERS_SETTING, None)
    command = [sys.executable, "-c", "from web.cli import cli; cli()", "serve", "--port",
               str(port), "--processes", "2", "--threads", "4"]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    since = time.time()
    server = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    log.close()
    base = f"http://127.0.0.1:{port}"
    web = requests.Session()
    try:
        wait_until("the server to answer", lambda: _answer(web, f"{base}/login"))
        first = _children(server.pid)
        assert len(first) == 2
        login_page = web.get(f"{base}/login").text
        sent = web.post(f"{base}/login", allow_redirects=False,
                        data={"username": "planner", "password": PASSWORDS["planner"],
                              "csrf_token": _csrf(login_page)})  # fmt: skip
        assert sent.status_code == 302, sent.text[:300]
        pages = [_answer(web, f"{base}/plans/new") for _n in range(20)]
        assert [page.status_code for page in pages] == [200] * 20  # logged in everywhere
        form = {"date": days_ahead(310), "shift": "night", "units_per_station": "1",
                "dwell_min": "15", "candidates": "30", "max_visits": "2",
                "csrf_token": _csrf(pages[-1].text)}  # fmt: skip
        started = web.post(f"{base}/plans/new", data=form, headers={"Connection": "close"})
        assert started.status_code == 200, started.text[:300]
        job_url = base + started.text.split('data-job-url="')[1].split('"')[0]

        def ended():
            answer = _answer(web, job_url)
            return answer is not None and _ended(answer.json())

        assert wait_until("the plan job", ended)["state"] == "done"
        # The first process queued a warning refresh as it started; a worker thread of one
        # of the processes ran it.
        engine = storage.make_engine(demo_copy_url)
        try:
            refresh = wait_until("a warning refresh job done", lambda: _single_done(engine, since))
        finally:
            engine.dispose()
        assert refresh.kind == "warnings" and int(refresh.worker.split(":")[1]) in first
        # One server process is killed: the other serves; it is started again.
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until("a new server process", lambda: len(_children(server.pid) - {victim}) == 2)
        pages = [_answer(web, f"{base}/plans/new") for _n in range(10)]
        assert [page and page.status_code for page in pages] == [200] * 10
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        finally:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()[-2000:]


# --- the database restarted while the site serves -------------------------------------------


@pytest.mark.databases("postgresql", demo=True)
def test_a_database_restart_gives_503_then_the_site_recovers(
    demo_copy_url, postgres_cluster
) -> None:
    """PostgreSQL stopped under a serving site (its pooled connections dropped): pages answer
    503 with a message in the reader's language, the API 503 as JSON; once the server is
    back the same site (no restart) answers again, with the same login."""
    app = create_app({"DATABASE_URL": demo_copy_url, "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "SECRET_KEY": "r" * 64})  # fmt: skip
    client = app.test_client()
    login(client, "commander")
    pages = ("/plans/", "/api/plans", "/api/session")
    assert [client.get(url).status_code for url in pages] == [200, 200, 200]
    with postgres_cluster.stopped():
        page = client.get("/plans/")
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        text = page.get_data(as_text=True)
        assert "503 · Service unavailable" in text
        assert "The database cannot be reached just now." in text
        assert "Traceback" not in text and "psycopg" not in text
        api = client.get("/api/plans")
        assert api.status_code == 503
        assert api.get_json() == {
            "error": "the database is unavailable just now; retry in a few seconds",
            "status": 503,
        }
        with client.session_transaction() as session:
            session["lang"] = "zh"
        chinese = client.get("/plans/")
        assert chinese.status_code == 503
        assert '<html lang="zh-CN">' in chinese.get_data(as_text=True)
        with client.session_transaction() as session:
            session["lang"] = "en"
    assert [client.get(url).status_code for url in pages] == [200, 200, 200]
    assert client.get("/api/session").get_json()["username"] == "commander"
    app.extensions["engine"].dispose()


def test_a_job_this_version_cannot_read_fails_at_once(copy_engine) -> None:
    """A queued request an older or newer version wrote (an unknown field): failed by the
    first worker with the reason in the row; the page shows its own message for it."""
    body = json.dumps({"request": {"date": days_ahead(320), "colour": "red"}})
    job_store.create_job(copy_engine, "odd", "plan", body, 5.0)
    assert plan_jobs.Worker(copy_engine, name="reader").run_one()
    row = _row(copy_engine, "odd")
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.error.startswith("internal error: unreadable request:") and "colour" in row.error
    job = plan_jobs.find("odd", engine=copy_engine)
    assert job.state() == "failed" and job.error is None


def test_a_server_stopped_on_purpose_gives_its_jobs_back(workers, copy_engine, tmp_path) -> None:
    """SIGTERM to ``hotspot serve`` while its embedded worker solves: the job goes back to
    the queue at once, its attempt not counted, and a worker started later makes its plan."""
    (who,) = _planners(copy_engine, 1, "release")
    request = PlanRequest(date=days_ahead(330), **SMALL | {"time_limit_s": 20.0})
    job_id = plan_jobs.submit(copy_engine, request, who, "test-secret").id
    env = workers.env | {"HOTSPOT_WORKERS": ""}  # this server runs the jobs itself
    command = [sys.executable, "-c", "from web.cli import cli; cli()", "serve", "--port",
               str(_free_port())]  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    log.close()
    workers.started.append(server)  # ended after the test whatever happens
    wait_until("the server to solve the job", lambda: _row(copy_engine, job_id).phase == "solving")
    assert _row(copy_engine, job_id).worker.split(":")[1] == str(server.pid)
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) == 0
    row = _row(copy_engine, job_id)
    assert (row.state, row.attempts, row.worker) == ("queued", 0, None)
    assert "1 plan job(s) given back to the queue" in (tmp_path / "serve.log").read_text()
    workers.start("after-stop")
    wait_until("the job to end", lambda: _row(copy_engine, job_id).state in job_store.ENDED)
    row = _row(copy_engine, job_id)
    assert (row.state, row.attempts, row.worker) == ("done", 1, "after-stop")


@pytest.mark.databases("postgresql", demo=True)
def test_a_worker_outlives_a_database_restart(workers, copy_engine, postgres_cluster) -> None:
    """A ``hotspot worker`` waiting for jobs while PostgreSQL stops and starts again goes on
    by itself: a job queued afterwards is done."""
    (who,) = _planners(copy_engine, 1, "outage")
    process = workers.start("outlives")
    wait_until("the worker to start", lambda: "waiting for jobs" in _log(workers, "outlives"))
    copy_engine.dispose()
    with postgres_cluster.stopped():
        # The worker polls in vain (about once a second) and says why in its log.
        wait_until(
            "the worker to notice", lambda: "database unavailable" in _log(workers, "outlives")
        )
    assert process.poll() is None
    job_id = _queue(copy_engine, who, 340)
    wait_until("the job to end", lambda: _row(copy_engine, job_id).state in job_store.ENDED)
    row = _row(copy_engine, job_id)
    assert (row.state, row.worker, row.attempts) == ("done", "outlives", 1)


def _log(workers: Workers, name: str) -> str:
    return (workers.logs / f"{name}.log").read_text(errors="replace")
