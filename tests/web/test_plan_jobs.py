"""Plan jobs hold under careless and hostile use: they end by their time limit whatever the
solver does, can be cancelled (on the page, or through the job's row from another process),
one per user, a bounded queue, and enormous problems are refused. Worker processes, restarts
and kill -9: tests/web/test_job_workers.py."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest

from planner.problem import Problem, Stop, Unit
from planner.solver import SolverOptions
from tests.web.conftest import days_ahead
from tests.web.test_planner_pages import FORM, start_job, wait_for
from web import storage
from web.services import plan_jobs
from web.services.patrol_plans import PlanRequest, check_problem_size, daily_seed
from web.storage import jobs as job_store

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)


def _tiny_problem() -> Problem:
    return Problem(
        travel_time_s={"car": np.array([[0.0, 60.0], [60.0, 0.0]])},
        units=(Unit(id="u", start_node=0, end_node=0, shift_start_s=0, shift_end_s=3600),),
        stops=(Stop(node=1, value=1.0, dwell_s=60),),
    )


def test_a_solver_that_never_finishes_is_stopped_at_the_limit() -> None:
    from tests.web.slow_solver import never_finishes

    job = plan_jobs.PlanJob(id="t", owner_id=0, request=PlanRequest(date="2027-01-01"),
                            time_limit_s=1.0)  # fmt: skip
    started = time.monotonic()
    with pytest.raises(plan_jobs.PlanTimeout, match="did not finish within the job's 1 s limit"):
        plan_jobs._solve_in_child(job, _tiny_problem(), SolverOptions(time_limit_s=1.0),
                                  target=never_finishes)  # fmt: skip
    took = time.monotonic() - started
    assert took < 1.0 + plan_jobs.GRACE_S + 2.0
    assert job.child is None  # the child was stopped and reaped


def test_a_plan_solved_in_the_child_comes_back() -> None:
    job = plan_jobs.PlanJob(id="t2", owner_id=0, request=PlanRequest(date="2027-01-01"),
                            time_limit_s=20.0)  # fmt: skip
    # A small work budget ends the solve at once; the generous limit allows a slow start.
    options = SolverOptions(time_limit_s=20.0, work_s=0.2)
    plan = plan_jobs._solve_in_child(job, _tiny_problem(), options)
    assert [v.node for v in plan.routes[0].visits] == [1]


def test_one_open_job_per_user_and_cancel(app, client_as) -> None:
    planner = client_as("planner")
    job_url = start_job(planner, date=days_ahead(240), shift="day", candidates="30")
    second = planner.post("/plans/new", data=FORM | {"date": days_ahead(241)})
    assert second.status_code == 429
    assert "still being made" in second.get_data(as_text=True)
    # Another planner's job is not theirs to cancel; the owner's cancel stops it.
    job_id = job_url.rstrip("/").rsplit("/", 1)[-1]
    page = planner.get(f"/plans/new?job={job_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]*)"', page)
    data = {"csrf_token": token.group(1)} if token else {}
    assert client_as("commander").post(f"/plans/jobs/{job_id}/cancel").status_code == 403
    response = planner.post(f"/plans/jobs/{job_id}/cancel", data=data)
    assert response.status_code == 302
    job = wait_for(planner, job_url)
    assert job["state"] == "cancelled" and job["plan_id"] is None
    engine = app.extensions["engine"]
    assert not (storage.list_plans(engine, limit=500)["plan_date"] == days_ahead(240)).any()
    assert "plan_cancelled" in set(storage.list_audit(engine, limit=50)["action"])
    # With the first one ended, a new job starts.
    third = start_job(planner, date=days_ahead(242), shift="day", candidates="30")
    assert wait_for(planner, third)["state"] == "done"


@pytest.mark.parametrize(
    ("units", "options", "figure"),
    [(201, 10, "201 units"), (10, 12_001, "12001 visit options"),
     (150, 9_000, "= 1350000")],
)  # fmt: skip
def test_enormous_problems_are_refused_with_the_figure(units, options, figure) -> None:
    with pytest.raises(ValueError, match=re.escape(figure)):
        check_problem_size(units, options)
    check_problem_size(100, 12_000)  # the form's largest values fit


def test_a_job_cancelled_in_the_table_stops_its_worker(demo_copy_url, monkeypatch) -> None:
    """Another process cancels (a write to the job's row): the worker solving it sees that
    at its next heartbeat, stops its solver long before the job's limit, stores nothing."""
    monkeypatch.setenv(plan_jobs.WORKERS_SETTING, "external")
    engine = storage.make_engine(demo_copy_url)
    who = plan_jobs.Requester(storage.get_user_by_name(engine, "planner").id, "planner", "::1")
    request = PlanRequest(date=days_ahead(250), shift="night", units_per_station=1,
                          candidates=30, time_limit_s=120.0)  # fmt: skip
    job = plan_jobs.submit(engine, request, who, "secret")
    assert plan_jobs.find(job.id, engine=engine).state() == "running"  # queued: no worker here
    worker = plan_jobs.Worker(engine, name="canceller", heartbeat_s=0.5)
    thread = threading.Thread(target=worker.run_one)
    thread.start()
    deadline = time.monotonic() + 120
    while job_store.get_job(engine, job.id).phase != "solving":
        assert time.monotonic() < deadline and thread.is_alive(), "the job never solved"
        time.sleep(0.1)
    assert job_store.cancel_job(engine, job.id)
    thread.join(timeout=60)  # the limit is 120 s: only the cancel ends it this soon
    assert not thread.is_alive()
    found = plan_jobs.find(job.id, engine=engine)
    assert (found.state(), found.plan_id, found.error) == ("cancelled", None, None)
    plans = storage.list_plans(engine, limit=500)
    assert not (plans["plan_date"] == days_ahead(250)).any()
    engine.dispose()


def test_a_full_queue_refuses_more_jobs(demo_copy_url, monkeypatch) -> None:
    monkeypatch.setenv(plan_jobs.WORKERS_SETTING, "external")
    monkeypatch.setattr(plan_jobs, "MAX_WAITING", 1)
    engine = storage.make_engine(demo_copy_url)
    first, second = (
        plan_jobs.Requester(storage.get_user_by_name(engine, name).id, name, "::1")
        for name in ("planner", "admin")
    )
    request = PlanRequest(date=days_ahead(251), shift="night", candidates=30)
    queued = plan_jobs.submit(engine, request, first, "secret")
    with pytest.raises(plan_jobs.JobRefused, match="1 plans are waiting for the solver"):
        plan_jobs.submit(engine, request, second, "secret")
    with pytest.raises(plan_jobs.JobRefused, match="still being made"):
        plan_jobs.submit(engine, request, first, "secret")
    assert plan_jobs.open_jobs(first.user_id, engine=engine) == 1
    assert plan_jobs.cancel(queued) and not plan_jobs.cancel(queued)
    assert plan_jobs.open_jobs(first.user_id, engine=engine) == 0
    # The day's seed was worked out from the site's secret when the job was queued.
    assert queued.request.seed == daily_seed(days_ahead(251), "secret")
    engine.dispose()
