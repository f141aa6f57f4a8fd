"""Score runs and warning refreshes as jobs (web/storage/jobs.py ``enqueue_once``,
web/services/score_runs.py, web/services/warnings.py, web/services/plan_jobs.py ``Worker``):
at most one of each kind waits at a time, whichever process asks; one of them runs at a
time; workers run them with their result in the row; the schedule queues one run per
interval between several servers; a worker killed mid-run leaves the run retried once, then
failed with its reason; the map's button says how its run went. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from tests.conftest import REPO
from tests.web.conftest import login, wait_until
from web import create_app, storage
from web.services import plan_jobs, score_runs
from web.services import warnings as warning_service
from web.storage import jobs as job_store
from web.storage.schema import jobs as jobs_table

pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture
def copy_engine(demo_copy_url, monkeypatch):
    """A copy of the demo without score-run or warning jobs (other tests may have left one
    queued on the demo copied); jobs queued here wait for the workers the test runs."""
    monkeypatch.setenv(plan_jobs.WORKERS_SETTING, "external")
    engine = storage.make_engine(demo_copy_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(jobs_table).where(jobs_table.c.kind.in_(job_store.SINGLE_KINDS)))
    yield engine
    engine.dispose()


def _row(engine, job_id: str) -> job_store.JobRecord:
    record = job_store.get_job(engine, job_id)
    assert record is not None
    return record


def _single_jobs(engine, kind: str) -> list[tuple[str, str]]:
    query = sa.select(jobs_table.c.id, jobs_table.c.state).where(jobs_table.c.kind == kind)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query.order_by(jobs_table.c.created_at))]


def _age(engine, job_id: str, column: str, seconds: float) -> None:
    """Make a job's ``column`` time ``seconds`` older."""
    with engine.begin() as conn:
        conn.execute(
            sa.update(jobs_table)
            .where(jobs_table.c.id == job_id)
            .values({column: jobs_table.c[column] - seconds})
        )


# --- the table -------------------------------------------------------------------------------


def test_one_queued_job_per_kind_a_second_request_is_folded_into_it(copy_engine) -> None:
    first, new = job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60)
    assert (first, new) == ("s1", True)
    assert job_store.enqueue_once(copy_engine, "s2", "scores", "{}", 60) == ("s1", False)
    # Another kind has its own place in the queue; plan jobs are not limited.
    assert job_store.enqueue_once(copy_engine, "w1", "warnings", "{}", 60) == ("w1", True)
    for n in range(3):
        assert job_store.create_job(copy_engine, f"p{n}", "plan", "{}", 5.0) is None
    with pytest.raises(ValueError, match="kind"):
        job_store.enqueue_once(copy_engine, "x", "plan", "{}", 60)
    # Taken (running), the run no longer waits: a new request is queued, not folded.
    assert job_store.take_job(copy_engine, "w", ("scores",)).id == "s1"
    assert job_store.enqueue_once(copy_engine, "s3", "scores", "{}", 60) == ("s3", True)
    assert _single_jobs(copy_engine, "scores") == [("s1", "running"), ("s3", "queued")]


def test_ended_score_and_warning_jobs_are_forgotten_after_a_day_at_most_every_ten_minutes(
    copy_engine, monkeypatch
) -> None:
    for job_id, kind in (("old-s", "scores"), ("old-w", "warnings"), ("new-s", "scores")):
        job_store.enqueue_once(copy_engine, job_id, kind, "{}", 60)
        assert job_store.take_job(copy_engine, "w", (kind,)).id == job_id
        assert job_store.finish_job(copy_engine, job_id, "w", result="{}")
    job_store.create_job(copy_engine, "old-p", "plan", "{}", 5.0)
    job_store.enqueue_once(copy_engine, "queued-s", "scores", "{}", 60)
    for job_id in ("old-s", "old-w", "old-p", "queued-s"):
        _age(copy_engine, job_id, "created_at", score_runs.KEEP_S + 60)
    for job_id in ("old-s", "old-w"):
        _age(copy_engine, job_id, "finished_at", score_runs.KEEP_S + 60)
    monkeypatch.setattr(score_runs, "_forgotten_at", None)
    score_runs.request_scores(copy_engine, "demand")
    left = {job_id for job_id, _state in _single_jobs(copy_engine, "scores")}
    left |= {job_id for job_id, _state in _single_jobs(copy_engine, "warnings")}
    # The run that ended a day ago and the refresh go; a recent one and a waiting one stay
    # (the demand was folded into it), and plan jobs are not this rule's.
    assert left == {"new-s", "queued-s"}
    assert job_store.get_job(copy_engine, "old-p") is not None
    # Within ten minutes of that, queueing deletes nothing more.
    _age(copy_engine, "new-s", "finished_at", score_runs.KEEP_S + 60)
    warning_service.request_refresh(copy_engine)
    assert job_store.get_job(copy_engine, "new-s") is not None
    monkeypatch.setattr(score_runs, "_forgotten_at", None)
    warning_service.request_refresh(copy_engine)
    assert job_store.get_job(copy_engine, "new-s") is None


def test_one_score_run_or_warning_refresh_runs_at_a_time(copy_engine) -> None:
    job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60)
    job_store.enqueue_once(copy_engine, "w1", "warnings", "{}", 60)
    job_store.create_job(copy_engine, "p1", "plan", "{}", 5.0)
    kinds = plan_jobs.ALL_KINDS
    taken = job_store.take_job(copy_engine, "a", ("scores",))
    assert taken.id == "s1"
    # While the score run runs, the refresh waits; a plan job does not.
    assert job_store.take_job(copy_engine, "b", ("warnings",)) is None
    assert job_store.take_job(copy_engine, "b", kinds).id == "p1"
    assert job_store.take_job(copy_engine, "c", kinds) is None
    assert job_store.finish_job(copy_engine, "s1", "a", result='{"score_run": 1}')
    assert job_store.take_job(copy_engine, "c", kinds).id == "w1"
    assert _row(copy_engine, "s1").result == '{"score_run": 1}'


@pytest.mark.databases("postgresql", demo=True)
def test_a_worker_without_the_lock_leaves_score_runs_to_the_one_with_it(copy_engine) -> None:
    """PostgreSQL: while another worker holds the lock to take a score run or refresh (its
    "is one running?" may not yet see the other's), a worker takes only the other kinds."""
    job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60)
    job_store.create_job(copy_engine, "p1", "plan", "{}", 5.0)  # queued after s1
    with copy_engine.connect() as holder:
        holder.execute(sa.select(sa.func.pg_advisory_xact_lock(job_store.SINGLE_LOCK)))
        assert job_store.take_job(copy_engine, "w1", plan_jobs.ALL_KINDS).id == "p1"
        assert job_store.take_job(copy_engine, "w2", ("scores",)) is None
        holder.rollback()
    assert job_store.take_job(copy_engine, "w2", ("scores",)).id == "s1"


def test_requests_from_many_processes_at_once_queue_one_job(copy_engine) -> None:
    """Eight threads, each with its own connections (as server processes have), ask for a
    score run at the same moment: one job is queued and every one of them names it."""
    url = copy_engine.url.render_as_string(hide_password=False)
    engines = [storage.make_engine(url) for _n in range(8)]
    start = threading.Barrier(len(engines))
    answers: list[tuple[str, bool]] = []

    def ask(n: int) -> None:
        start.wait()
        answers.append(job_store.enqueue_once(engines[n], f"race-{n}", "scores", "{}", 60))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    queued = _single_jobs(copy_engine, "scores")
    assert len(queued) == 1 and queued[0][1] == "queued"
    assert sorted(answers) == sorted([(queued[0][0], True)] + [(queued[0][0], False)] * 7)


def test_a_dead_workers_score_run_is_retried_once_then_failed(copy_engine) -> None:
    job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60)
    assert job_store.take_job(copy_engine, "dead-1", ("scores",)).id == "s1"
    _age(copy_engine, "s1", "heartbeat_at", 60)
    assert job_store.requeue_stale(copy_engine, 30) == [("s1", "queued")]
    assert job_store.take_job(copy_engine, "dead-2", ("scores",)).id == "s1"
    _age(copy_engine, "s1", "heartbeat_at", 60)
    assert job_store.requeue_stale(copy_engine, 30) == [("s1", "failed")]
    row = _row(copy_engine, "s1")
    assert (row.state, row.attempts) == ("failed", 2)
    assert row.error == "failed after 2 attempts: its worker dead-2 stopped (no heartbeat for 30 s)"


def test_a_dead_workers_score_run_with_another_queued_is_folded_into_it(copy_engine) -> None:
    """The run queued after it (new data came while it ran) will do its work: it is failed
    naming that one, not queued a second time (the queue holds one per kind)."""
    job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60)
    assert job_store.take_job(copy_engine, "dead", ("scores",)).id == "s1"
    job_store.enqueue_once(copy_engine, "s2", "scores", "{}", 60)
    _age(copy_engine, "s1", "heartbeat_at", 60)
    assert job_store.requeue_stale(copy_engine, 30) == [("s1", "failed")]
    assert "job s2, queued already, does its work" in _row(copy_engine, "s1").error
    assert _single_jobs(copy_engine, "scores") == [("s1", "failed"), ("s2", "queued")]
    # A server stopping on purpose gives its run back the same way.
    assert job_store.take_job(copy_engine, "stopping", ("scores",)).id == "s2"
    job_store.enqueue_once(copy_engine, "s3", "scores", "{}", 60)
    assert job_store.release_job(copy_engine, "s2", "stopping")
    assert _row(copy_engine, "s2").state == "cancelled"
    assert _row(copy_engine, "s3").state == "queued"


def test_score_runs_and_refreshes_count_for_no_planners_limits(copy_engine) -> None:
    """A commander's score run does not make their own plan "busy", nor fill the plan queue."""
    owner = storage.create_user(copy_engine, "kinds-owner", "x" * 60, "planner")
    job_store.enqueue_once(copy_engine, "s1", "scores", "{}", 60, owner_id=owner)
    job_store.enqueue_once(copy_engine, "w1", "warnings", "{}", 60)
    assert job_store.count_open_jobs(copy_engine, owner) == 0
    queued = job_store.job_counts(copy_engine).get("queued", 0) - 2
    assert job_store.create_job(copy_engine, "p1", "plan", "{}", 5.0, owner_id=owner,
                                max_queued=queued + 1) is None  # fmt: skip


# --- workers run them ----------------------------------------------------------------------------


def test_a_worker_runs_a_score_run_and_a_warning_refresh(copy_engine) -> None:
    job_id, new = score_runs.request_scores(copy_engine, "demand")
    assert new and _row(copy_engine, job_id).state == "queued"  # workers are external here
    assert score_runs.request_scores(copy_engine, "schedule") == (job_id, False)
    worker = plan_jobs.Worker(copy_engine, name="kinds-worker", kinds=job_store.SINGLE_KINDS)
    assert worker.run_one()
    row = _row(copy_engine, job_id)
    assert (row.state, row.worker, row.attempts, row.error) == ("done", "kinds-worker", 1, None)
    run = storage.latest_score_run(copy_engine)
    assert json.loads(row.result) == {"score_run": run.id, "data_run_id": run.data_run_id}
    assert run.trigger == "demand" and run.status == "done"
    refresh_id, _new = warning_service.request_refresh(copy_engine)
    assert worker.run_one()
    refreshed = _row(copy_engine, refresh_id)
    assert refreshed.state == "done" and refreshed.owner_name == "system"
    assert set(json.loads(refreshed.result)) == {"raised", "extended", "expired"}
    assert not worker.run_one()  # nothing left for it
    # A plan job's page never shows these jobs.
    assert plan_jobs.find(job_id, engine=copy_engine) is None


def test_a_failed_score_run_says_why_in_its_row(copy_engine, monkeypatch) -> None:
    before = storage.latest_score_run(copy_engine)

    def broken(*_args, **_kwargs):
        raise ValueError("no jurisdiction boundary stored")

    monkeypatch.setattr("web.services.map_layers.map_layers", broken)
    job_id, _new = score_runs.request_scores(copy_engine, "schedule")
    assert plan_jobs.Worker(copy_engine, kinds=("scores",)).run_one()
    row = _row(copy_engine, job_id)
    assert (row.state, row.error, row.result) == ("failed", "no jurisdiction boundary stored",
                                                  None)  # fmt: skip
    after = storage.latest_score_run(copy_engine)
    assert (after and after.id) == (before and before.id)  # the last good run still counts


def test_workers_take_only_their_kinds(copy_engine) -> None:
    job_store.create_job(copy_engine, "p1", "plan", "{}", 5.0)
    job_id, _new = score_runs.request_scores(copy_engine, "schedule")
    assert not plan_jobs.Worker(copy_engine, kinds=("warnings",)).run_one()
    assert _row(copy_engine, job_id).state == "queued"
    with pytest.raises(ValueError, match="kinds"):
        plan_jobs.Worker(copy_engine, kinds=("sweeping",))


def test_the_schedule_queues_one_run_per_interval_between_servers(copy_engine) -> None:
    """Two servers' schedules (their steps called by hand): the first queues a run, the
    second finds it queued less than an interval ago and queues none; an interval later
    one is queued again."""
    first = score_runs.ScoreSchedule(copy_engine, interval_min=10)
    second = score_runs.ScoreSchedule(copy_engine, interval_min=10)
    first._run()
    second._run()
    (job_id, state), = _single_jobs(copy_engine, "scores")  # fmt: skip
    assert state == "queued" and json.loads(_row(copy_engine, job_id).request)["trigger"] == (
        "schedule"
    )
    assert plan_jobs.Worker(copy_engine, kinds=("scores",)).run_one()
    second._run()
    assert len(_single_jobs(copy_engine, "scores")) == 1
    _age(copy_engine, job_id, "created_at", 600)
    second._run()
    first._run()
    assert [state for _id, state in _single_jobs(copy_engine, "scores")] == ["done", "queued"]


def test_the_refresher_queues_a_refresh_per_new_data(copy_engine, monkeypatch) -> None:
    versions = iter([(1, 1), (1, 1), (2, 5)])
    monkeypatch.setattr(storage, "import_version", lambda _e: next(versions))
    refresher = warning_service.WarningRefresher(copy_engine, expire_every_s=3600)
    refresher._check()
    refresher._check()  # the same version: nothing queued
    (job_id, state), = _single_jobs(copy_engine, "warnings")  # fmt: skip
    assert state == "queued" and json.loads(_row(copy_engine, job_id).request) == {
        "reason": "new data"
    }
    refresher._check()  # new data while one waits: folded into it
    assert _single_jobs(copy_engine, "warnings") == [(job_id, "queued")]


# --- the map's button ----------------------------------------------------------------------------


def _commander(engine):
    app = create_app({"DATABASE_URL": str(engine.url.render_as_string(hide_password=False)),
                      "TESTING": True, "WTF_CSRF_ENABLED": False})  # fmt: skip
    client = app.test_client()
    assert login(client, "commander").status_code == 302
    return app, client


def _flash(client, answer) -> str:
    page = BeautifulSoup(client.get(answer.headers["Location"]).data, "html.parser")
    return " ".join(p.get_text(" ", strip=True) for p in page.select("p.flash"))


def test_the_button_says_a_run_goes_on_when_it_takes_longer(copy_engine, monkeypatch) -> None:
    monkeypatch.setattr("web.views.commander.SCORE_RUN_WAIT_S", 0.0)
    app, client = _commander(copy_engine)
    answer = client.post("/command/scores/run")
    assert answer.status_code == 302
    assert "Forecast scores are being recomputed" in _flash(client, answer)
    (job_id, state), = _single_jobs(copy_engine, "scores")  # fmt: skip
    row = _row(copy_engine, job_id)
    assert state == "queued" and row.owner_name == "commander"
    assert json.loads(row.request)["trigger"] == "demand"
    # Pressed again while it waits: the same run.
    client.post("/command/scores/run")
    assert len(_single_jobs(copy_engine, "scores")) == 1
    assert plan_jobs.Worker(copy_engine, kinds=("scores",)).run_one()
    run = storage.latest_score_run(copy_engine)
    with copy_engine.connect() as conn:
        requested_by = conn.execute(
            sa.text("SELECT requested_by FROM score_runs WHERE id = :id"), {"id": run.id}
        ).scalar()
    assert run.trigger == "demand" and requested_by == row.owner_id
    page = BeautifulSoup(client.get("/command/hotspots").data, "html.parser")
    note = page.select_one('[data-section="scores-computed"]').get_text(" ", strip=True)
    assert note.startswith("Forecast scores computed")
    app.extensions["engine"].dispose()


def test_the_button_says_why_a_run_failed(copy_engine, monkeypatch) -> None:
    monkeypatch.setattr("web.views.commander.SCORE_RUN_WAIT_S", 600.0)
    monkeypatch.setenv(plan_jobs.WORKERS_SETTING, "embedded")  # a worker thread runs it

    def broken(*_args, **_kwargs):
        raise ValueError("no jurisdiction boundary stored")

    monkeypatch.setattr("web.services.map_layers.map_layers", broken)
    app, client = _commander(copy_engine)
    answer = client.post("/command/scores/run")
    assert answer.status_code == 302
    text = _flash(client, answer)
    assert "Forecast scores were not recomputed: no jurisdiction boundary stored" in text
    app.extensions["engine"].dispose()


# --- a worker process killed mid-run --------------------------------------------------------------

# A `hotspot worker` whose score runs first sleep SLOW_SCORES_S seconds (so it can be killed
# mid-run whatever the machine's speed).
SLOW_WORKER = """
import os, time
import web.services.score_runs as runs
real = runs.run_scores
def slow(*args, **kwargs):
    time.sleep(float(os.environ.get("SLOW_SCORES_S", "0")))
    return real(*args, **kwargs)
runs.run_scores = slow
from web.cli import cli
cli()
"""


def _start_worker(url: str, moment, logs: Path, name: str, slow_s: float) -> subprocess.Popen:
    env = os.environ | {"HOTSPOT_DATABASE_URL": url, "HOTSPOT_TIMEZONE": moment.timezone,
                        "HOTSPOT_NOW": moment.local.strftime("%Y-%m-%dT%H:%M:%S"),
                        "HOTSPOT_WORKERS": "external", "SLOW_SCORES_S": str(slow_s)}  # fmt: skip
    command = [sys.executable, "-c", SLOW_WORKER, "worker", "--name", name, "--kinds",
               "scores,warnings", "--heartbeat", "0.5", "--stale-after", "3"]  # fmt: skip
    with (logs / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip


def test_kill_9_of_a_worker_mid_score_run(copy_engine, demo_copy_url, moment, tmp_path) -> None:
    """A worker killed while it runs a score run: the run is retried by another worker;
    killed again, failed with its reason (never left running); a run asked for afterwards is
    done by a third worker."""
    job_id, _new = score_runs.request_scores(copy_engine, "demand")
    started: list[subprocess.Popen] = []
    try:
        for attempt, name in enumerate(("score-kill-1", "score-kill-2"), start=1):
            process = _start_worker(demo_copy_url, moment, tmp_path, name, slow_s=600)
            started.append(process)

            def scoring(name=name):
                row = _row(copy_engine, job_id)
                return row.state == "running" and row.worker == name and row.phase == "scoring"

            wait_until(f"{name} to run the score run", scoring)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            assert _row(copy_engine, job_id).attempts == attempt
        # The next worker finds it without a heartbeat for 3 s: its second death fails it.
        done = _start_worker(demo_copy_url, moment, tmp_path, "score-kill-3", slow_s=0)
        started.append(done)
        wait_until("the killed run to end", lambda: _row(copy_engine, job_id).state != "running")
        row = _row(copy_engine, job_id)
        assert (row.state, row.attempts, row.result) == ("failed", 2, None)
        assert row.error == (
            "failed after 2 attempts: its worker score-kill-2 stopped (no heartbeat for 3 s)"
        )
        again, new = score_runs.request_scores(copy_engine, "demand")
        assert new and again != job_id
        wait_until("the new run to end", lambda: _row(copy_engine, again).state in job_store.ENDED)
        row = _row(copy_engine, again)
        assert (row.state, row.worker, row.attempts) == ("done", "score-kill-3", 1)
        assert json.loads(row.result)["score_run"] == storage.latest_score_run(copy_engine).id
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def test_hotspot_worker_refuses_unknown_kinds(copy_engine) -> None:
    from click.testing import CliRunner

    from web.cli import cli

    env = {"HOTSPOT_DATABASE_URL": copy_engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(cli, ["worker", "--kinds", "plan,sweeping"], env=env)
    assert result.exit_code == 2
    assert "--kinds: expected all or some of plan, replan, scores, warnings" in result.output
