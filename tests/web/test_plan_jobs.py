"""Plan jobs hold under careless and hostile use: they end by their time limit whatever the
solver does, can be cancelled, one per user, and enormous problems are refused."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from planner.problem import Problem, Stop, Unit
from planner.solver import SolverOptions
from tests.web.conftest import days_ahead
from tests.web.test_planner_pages import FORM, start_job, wait_for
from web import storage
from web.services import plan_jobs
from web.services.patrol_plans import PlanRequest, check_problem_size

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
