"""Re-planning a published plan during its shift: `hotspot replan`, the planner's form, the
revision's pages and what grid workers see (web/services/replans.py).

Each test works on its own copy of the demo (its plans are published for today's day and
evening shifts), so the revisions made here do not reach other tests.
"""

from __future__ import annotations

import json
import re
import time

import h3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from geo.cells import hex_from_cells
from tests.web.conftest import login
from web import clock, storage
from web.cli import cli
from web.services import replans
from web.storage import patrols as patrol_store

pytestmark = pytest.mark.databases(demo=True)

JOB_WAIT_S = 180
AT = "11:00"  # within the day shift (08:00-16:00)


@pytest.fixture
def site(demo_copy_site):
    return demo_copy_site


def day_plan(engine) -> storage.StoredPlan:
    """The demo's published plan for today's day shift."""
    plans = storage.list_plans(engine, status="published")
    row = plans[plans["shift"] == "day"].iloc[0]
    stored = storage.get_plan(engine, int(row["id"]))
    assert stored is not None and stored.problem
    return stored


def at_seconds(engine, stored: storage.StoredPlan) -> int:
    timezone = storage.get_meta(engine)["timezone"]
    return replans.parse_replan_time(AT, stored, timezone, 0)


def busy_unit(engine, plan_id: int, at_s: int) -> str:
    """A unit of the plan with visits planned after ``at_s``."""
    visits = storage.plan_visits_frame(engine, plan_id)
    later = visits[visits["start_at"] > at_s + 1800]
    return str(later["unit_id"].value_counts().index[0])


def unplanned_cell_of(engine, username: str, plan_id: int) -> str:
    """A cell of ``username``'s grids the plan does not visit."""
    user = storage.get_user_by_name(engine, username)
    mine = storage.user_cells(engine, user.id)
    planned = set(storage.plan_visits_frame(engine, plan_id)["cell"].astype("int64").tolist())
    return hex_from_cells(np.array([c for c in mine if int(c) not in planned][:1]))[0]


def test_the_command_re_plans_keeps_what_was_done_and_publishes_a_revision(site) -> None:
    engine = site.extensions["engine"]
    stored = day_plan(engine)
    at_s = at_seconds(engine, stored)
    away = busy_unit(engine, stored.id, at_s)
    urgent = unplanned_cell_of(engine, "grid1", stored.id)
    env = {"HOTSPOT_DATABASE_URL": site.config["DATABASE_URL"]}
    args = ["replan", str(stored.id), "--at", AT, "--away", away, "--urgent", urgent,
            "--done-from", "plan", "--time-limit", "3", "--reason", "unit called to a crash",
            "--publish"]  # fmt: skip
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    new_id = int(re.search(r"^plan (\d+): revision 2 of plan (\d+)", result.output, re.M)[1])
    assert f"plan {new_id} published: it replaces plan {stored.id}" in result.output
    revision = storage.get_plan(engine, new_id)
    assert revision.revision == 2 and revision.revision_of == stored.id
    assert revision.status == "published"
    assert patrol_store.replaced_by(engine, stored.id) == new_id
    assert revision.replan["called_away"] == [away] and revision.replan["urgent"] == [urgent]
    assert revision.replan["reason"] == "unit called to a crash"
    # The API names the revision and the plan it re-plans.
    api = site.test_client()
    login(api, "commander")
    shown = api.get(f"/api/plans/{new_id}").get_json()
    assert (shown["revision"], shown["revision_of"], shown["status"]) == (2, stored.id, "published")
    listed = {p["id"]: p for p in api.get("/api/plans?status=replaced").get_json()["plans"]}
    assert listed[stored.id]["revision"] == 1 and listed[stored.id]["status"] == "replaced"

    before = storage.plan_visits_frame(engine, stored.id)
    after = storage.plan_visits_frame(engine, new_id)
    # Every visit begun by the re-plan time is still there, at the same place and time.
    begun = before[before["start_at"] <= at_s]
    keys = set(zip(after["unit_id"], after["cell"], after["start_at"], strict=True))
    assert set(zip(begun["unit_id"], begun["cell"], begun["start_at"], strict=True)) <= keys
    # The unit called away has nothing after the re-plan; the urgent cell is visited.
    assert after[(after["unit_id"] == away) & (after["start_at"] > at_s)].empty
    cell = h3.str_to_int(urgent)
    assert (after[after["cell"] == cell]["start_at"] >= at_s).any()
    assert (after["start_at"] >= at_s - 3600).sum() > 0

    # The planner sees the revision and what changed; the briefings mark new stops.
    planner = site.test_client()
    login(planner, "planner")
    page = planner.get(f"/plans/{new_id}").get_data(as_text=True)
    assert "Revision 2 of plan" in page and "unit called to a crash" in page
    assert 'id="revision-changes"' in page and "★" in page
    # Editing the revision (at 11:01, while its shift runs, whatever the test's moment): the
    # unit called away is not offered and takes no visit.
    with clock.frozen(pd.Timestamp(at_s + 60, unit="s", tz="UTC")):
        edit = planner.get(f"/plans/{new_id}/edit")
        assert edit.status_code == 200
        assert f'<option value="{away}">' not in edit.get_data(as_text=True)
        some = next(
            u for u in json.loads(revision.plan_json)["units"] if u["id"] != away and u["stops"]
        )
        refused = planner.post(f"/plans/{new_id}/edit",
                               data={f"move|{some['id']}|1": away, "action": "check"})  # fmt: skip
    assert refused.status_code == 400 and f"No unit {away} in this plan" in refused.get_data(
        as_text=True
    )
    briefing = planner.get(f"/plans/{new_id}/briefing").get_data(as_text=True)
    assert f'id="revision-mark-{away}"' in briefing
    assert "This unit was called away" in briefing and "★" in briefing
    # The grid worker of the urgent cell sees the new visit on the first screen.
    worker = site.test_client()
    login(worker, "grid1")
    home = worker.get("/grid/").get_data(as_text=True)
    assert 'id="plan-changes"' in home and "The plan was changed at 11:00" in home
    assert "New visit:" in home or "Moved:" in home


def test_visits_done_come_from_check_ins(site) -> None:
    engine = site.extensions["engine"]
    stored = day_plan(engine)
    at_s = at_seconds(engine, stored)
    before = storage.plan_visits_frame(engine, stored.id)
    # Cells visited before the re-plan time without a check-in yet (the demo has some).
    seen = storage.checkins_frame(engine, start=stored.shift_start, end=at_s + 1)
    planned = storage.plan_visits_frame(engine, stored.id)["cell"].astype("int64")
    per_cell = seen["cell"].astype("int64")[lambda c: c.isin(set(planned))].value_counts()
    counted_before = int(per_cell.clip(upper=int(stored.request["max_visits"])).sum())
    early = before[(before["start_at"] < at_s) & ~before["cell"].isin(set(seen["cell"]))]
    early = early.drop_duplicates("cell").head(3)
    assert len(early) == 3
    worker = storage.get_user_by_name(engine, "grid1")
    for cell, start in zip(early["cell"], early["start_at"], strict=True):
        storage.add_checkin(engine, worker.id, int(cell), int(start) + 60, 15.0)
    change = replans.ReplanRequest(at_s=at_s, called_away=(busy_unit(engine, stored.id, at_s),),
                                   time_limit_s=2.0)  # fmt: skip
    planned, _request, why = replans.replan_day(engine, stored, change)
    assert why["done_from"] == "checkins"
    # One visit done per check-in (each cell once here); the begun visits without one are
    # not counted as done.
    assert why["done_visits"] == counted_before + len(early)
    assert planned.plan.routes
    # From the plan as followed instead: nothing is read from check-ins.
    followed = replace_change(change, done_from="plan")
    _planned, _request, why = replans.replan_day(engine, stored, followed)
    assert why["done_visits"] is None


def replace_change(change: replans.ReplanRequest, **values) -> replans.ReplanRequest:
    from dataclasses import replace

    return replace(change, **values)


def test_changes_that_do_not_fit_the_plan_are_refused_clearly(site) -> None:
    engine = site.extensions["engine"]
    stored = day_plan(engine)
    timezone = storage.get_meta(engine)["timezone"]
    with pytest.raises(replans.ReplanError, match="outside the plan's shift"):
        replans.parse_replan_time("23:30", stored, timezone, 0)
    with pytest.raises(replans.ReplanError, match="not now, HH:MM"):
        replans.parse_replan_time("half past", stored, timezone, 0)
    at_s = at_seconds(engine, stored)
    with pytest.raises(replans.ReplanError, match="unknown unit GHOST-1"):
        replans.replan_day(engine, stored, replans.ReplanRequest(at_s, called_away=("GHOST-1",)))
    unit = busy_unit(engine, stored.id, at_s)
    with pytest.raises(replans.ReplanError, match="were not called away"):
        replans.replan_day(engine, stored, replans.ReplanRequest(at_s, back=(unit,)))
    with pytest.raises(replans.ReplanError, match="both called away and back"):
        replans.ReplanRequest(at_s, called_away=(unit,), back=(unit,))
    far = 0x8929A1C5B37FFFF  # a cell in Chicago
    with pytest.raises(replans.ReplanError, match="outside the jurisdiction"):
        replans.replan_day(engine, stored, replans.ReplanRequest(at_s, urgent=(far,)))
    # A plan stored before plans kept their problem cannot be re-planned.
    with engine.begin() as conn:
        conn.execute(sa.update(storage.schema.plans).where(
            storage.schema.plans.c.id == stored.id).values(problem=None))  # fmt: skip
    old = storage.get_plan(engine, stored.id)
    with pytest.raises(replans.ReplanError, match="generate the shift's plan again"):
        replans.replan_day(engine, old, replans.ReplanRequest(at_s, called_away=(unit,)))
    env = {"HOTSPOT_DATABASE_URL": site.config["DATABASE_URL"]}
    result = CliRunner().invoke(
        cli, ["replan", str(stored.id), "--at", AT, "--away", unit], env=env
    )
    assert result.exit_code == 2 and "generate the shift's plan again" in result.output


def wait_for(client, job_url: str) -> dict:
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        job = client.get(job_url).get_json()
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, "re-plan job did not finish"
        time.sleep(0.2)


def test_the_planner_re_plans_through_the_form_and_checks_the_draft(site) -> None:
    engine = site.extensions["engine"]
    stored = day_plan(engine)
    at_s = at_seconds(engine, stored)
    unit = busy_unit(engine, stored.id, at_s)
    planner = site.test_client()
    login(planner, "planner")
    plan_page = planner.get(f"/plans/{stored.id}").get_data(as_text=True)
    assert f'href="/plans/{stored.id}/replan"' in plan_page
    form = planner.get(f"/plans/{stored.id}/replan")
    assert form.status_code == 200
    assert f'name="away" value="{unit}"' in form.get_data(as_text=True)
    # Nothing changed, a time outside the shift, a cell that does not exist: the form again.
    empty = planner.post(f"/plans/{stored.id}/replan", data={"at": AT, "done_from": "checkins"})
    assert empty.status_code == 400 and "Say what changed" in empty.get_data(as_text=True)
    late = planner.post(f"/plans/{stored.id}/replan", data={"at": "23:30", "away": unit})
    assert late.status_code == 400 and 'id="error-at"' in late.get_data(as_text=True)
    assert "within the shift, 08:00 to 16:00" in late.get_data(as_text=True)
    nowhere = planner.post(f"/plans/{stored.id}/replan", data={"at": AT, "urgent": "X999-1"})
    assert nowhere.status_code == 400 and "No cell is named X999-1" in nowhere.get_data(
        as_text=True
    )
    long_reason = planner.post(f"/plans/{stored.id}/replan",
                               data={"at": AT, "away": unit, "reason": "x" * 201})  # fmt: skip
    assert long_reason.status_code == 400
    # A valid change: a job, then a draft revision the planner checks before publishing.
    started = planner.post(f"/plans/{stored.id}/replan",
                           data={"at": AT, "away": unit, "done_from": "plan",
                                 "reason": "<script>alert(1)</script>"})  # fmt: skip
    assert started.status_code == 200
    job_url = re.search(r'data-job-url="([^"]+)"', started.get_data(as_text=True))[1]
    job = wait_for(planner, job_url)
    assert job["state"] == "done", job
    revision = storage.get_plan(engine, int(job["plan_id"]))
    assert revision.status == "draft" and revision.revision_of == stored.id
    page = planner.get(f"/plans/{revision.id}").get_data(as_text=True)
    assert "Revision 2 of plan" in page and 'id="publish-form"' in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    # Only the plan in force is re-planned: not the draft, not as a grid worker.
    draft = planner.get(f"/plans/{revision.id}/replan")
    assert draft.status_code == 302
    worker = site.test_client()
    login(worker, "grid1")
    assert worker.get(f"/plans/{stored.id}/replan").status_code == 403
    replanned = storage.list_audit(engine, action="plan_replanned")
    assert f"plan {revision.id} (re-plan of plan {stored.id})" in replanned["detail"].iloc[0]
    assert replanned["username"].iloc[0] == "planner"


def test_a_revision_of_a_revision_counts_on(site) -> None:
    engine = site.extensions["engine"]
    stored = day_plan(engine)
    at_s = at_seconds(engine, stored)
    unit = busy_unit(engine, stored.id, at_s)
    first, request, why = replans.replan_day(
        engine, stored, replans.ReplanRequest(at_s, called_away=(unit,), done_from="plan",
                                              time_limit_s=2.0))  # fmt: skip
    from web.services.patrol_plans import plan_record

    first_id = storage.store_plan(engine, created_by=None, **plan_record(first, request),
                                  revision_of=stored.id, replan=why)  # fmt: skip
    storage.publish_plan(engine, first_id, None)
    revised = storage.get_plan(engine, first_id)
    # The unit comes back an hour later: it is on duty again, from its station at that time.
    later = replans.ReplanRequest(at_s + 3600, back=(unit,), done_from="plan", time_limit_s=2.0)
    solved = []

    def solve(problem, options):
        from planner.solver import plan_patrols

        solved.append(problem)
        return plan_patrols(problem, options)

    second, _request, why2 = replans.replan_day(engine, revised, later, solve=solve)
    assert why2["off_duty"] == [] and why2["back"] == [unit]
    origin = json.loads(revised.plan_json)["date_start_utc"]
    now_s = at_s + 3600 - pd.Timestamp(origin).timestamp()
    home = second.problem.units[second.problem.unit_index(unit)]
    again = solved[0].units[solved[0].unit_index(unit)]
    assert again.start_node == home.start_node and again.shift_start_s >= now_s
    second_id = storage.store_plan(engine, created_by=None, **plan_record(second, request),
                                   revision_of=first_id, replan=why2)  # fmt: skip
    assert storage.get_plan(engine, second_id).revision == 3


def test_a_re_plan_prefers_the_planned_times() -> None:
    """Windows near the times the plan visits a stop after the re-plan time are worth
    STEADY_BONUS more; the rest of each window keeps its weight and the windows stay sorted
    and cover the same time."""
    from planner.plan import PatrolPlan, Route, Visit
    from planner.problem import Problem, Stop, TimeWindow, Unit

    windows = (TimeWindow(0.0, 3600.0, 1.0), TimeWindow(3600.0, 7200.0, 2.0))
    problem = Problem(
        travel_time_s=np.zeros((3, 3)),
        units=(Unit("u", 0, 0, 0.0, 7200.0),),
        stops=(Stop(1, 5.0, windows=windows), Stop(2, 3.0)),
    )
    visits = tuple(
        Visit(stop=s, node=s + 1, cell=None, visit_number=1, arrival_s=t, start_s=t,
              departure_s=t + 900, travel_s=0.0, wait_s=0.0, value=1.0)
        for s, t in ((0, 3000.0), (1, 500.0))
    )  # fmt: skip
    route = Route("u", 0, 0, 0.0, 7200.0, visits, None, 0.0, 1800.0, 0.0, 2.0)
    plan = PatrolPlan((route,), (), (), 2.0, 0.0, 1800.0, "ok", "", None, None)  # type: ignore[arg-type]
    steady = replans.prefer_planned_times(problem, plan, now_s=1000.0)
    slack, bonus = replans.STEADY_SLACK_S, replans.STEADY_BONUS
    assert steady.stops[0].windows == (
        TimeWindow(0.0, 3000.0 - slack, 1.0),
        TimeWindow(3000.0 - slack, 3600.0, bonus),
        TimeWindow(3600.0, 3000.0 + slack, 2.0 * bonus),
        TimeWindow(3000.0 + slack, 7200.0, 2.0),
    )
    assert steady.stops[1] == problem.stops[1]  # visited before the re-plan time: unchanged
