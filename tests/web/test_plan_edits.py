"""A planner's edits to a plan (web/services/plan_edits.py): lock a visit, move one to another
unit, exclude a cell, add a cell; checked as they stand, or the shift re-optimised around them.

Each test edits today's published evening plan of its own copy of the demo.
"""

from __future__ import annotations

import json
from collections import Counter

import h3
import numpy as np
import pytest

from geo.cells import hex_from_cells
from tests.web.conftest import login
from web import storage
from web.services import plan_edits, replans
from web.services.patrol_plans import plan_record

pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture
def site(demo_copy_site):
    return demo_copy_site


def evening_plan(engine) -> storage.StoredPlan:
    plans = storage.list_plans(engine, status="published")
    return storage.get_plan(engine, int(plans[plans["shift"] == "evening"]["id"].iloc[0]))


def routes(stored: storage.StoredPlan) -> dict[str, list[tuple[str, float]]]:
    """unit -> [(cell, start_s)] of a stored plan."""
    document = json.loads(stored.plan_json)
    problem = json.loads(stored.problem)
    cells = {node: cell for node, cell in enumerate(problem["cell"])}
    out = {}
    for unit in document["units"]:
        out[unit["id"]] = [(cells[node], start) for node, start in
                           zip(unit["nodes"][1:-1], unit["start_s"], strict=True)]  # fmt: skip
    return out


def unvisited_cell(engine, stored) -> str:
    """A cell of grid1's the plan does not visit."""
    user = storage.get_user_by_name(engine, "grid1")
    planned = set(storage.plan_visits_frame(engine, stored.id)["cell"].astype("int64").tolist())
    mine = [int(c) for c in storage.user_cells(engine, user.id) if int(c) not in planned]
    return hex_from_cells(np.array(mine[:1], dtype=np.int64))[0]


def the_edits(stored: storage.StoredPlan) -> tuple[dict, str, str, str, str]:
    """Lock u0's first visit, move u0's second to u1, exclude a cell of u2's third visit."""
    before = routes(stored)
    busy = [unit for unit, visits in before.items() if len(visits) >= 3]
    u0, u1, u2 = busy[:3]  # units with at least three stops
    excluded = h3.str_to_int(before[u2][2][0])
    edits = {"locks": [[u0, 1]], "moves": [[u0, 2, u1]], "exclude": [excluded],
             "reoptimise": False}  # fmt: skip
    return edits, u0, u1, before[u0][0][0], before[u0][1][0]


def test_edits_checked_as_they_stand_keep_the_routes_and_say_what_breaks(site) -> None:
    engine = site.extensions["engine"]
    stored = evening_plan(engine)
    before = routes(stored)
    edits, u0, u1, locked_cell, moved_cell = the_edits(stored)
    excluded = hex_from_cells(np.array(edits["exclude"]))[0]
    added = unvisited_cell(engine, stored)
    change = replans.ReplanRequest(at_s=stored.shift_start - 1, urgent=(h3.str_to_int(added),),
                                   done_from="plan", edits=edits)  # fmt: skip
    planned, request, why = plan_edits.check_edits(engine, stored, change)
    new_id = storage.store_plan(engine, created_by=None, **plan_record(planned, request),
                                revision_of=stored.id, replan=why)  # fmt: skip
    after = routes(storage.get_plan(engine, new_id))
    # Nothing else moved: the other units visit the cells they did, in the same order, but
    # the excluded cell (the added cell goes where it costs the least travel).
    for unit in [u for u in before if u not in (u0, u1)]:
        kept = [c for c, _t in after[unit] if c != added]
        assert kept == [c for c, _t in before[unit] if c != excluded]
    assert after[u0][0] == before[u0][0]  # the locked visit, untouched
    assert before[u0][1] not in after[u0] and moved_cell in [c for c, _t in after[u1]]
    assert excluded not in {c for visits in after.values() for c, _t in visits}
    assert added in {c for visits in after.values() for c, _t in visits}
    # The exact check ran on the edited routes: feasible or with the reasons, never silent.
    plan = planned.plan
    if not plan.feasible:
        assert any(c.violations for c in plan.check.routes) or plan.check.violations
    # The stored problem keeps the excluded stop (worth 0) and the locks.
    problem = json.loads(storage.get_plan(engine, new_id).problem)
    assert "stop_nodes" in problem and problem["unit"][problem["cell"].index(locked_cell)] == u0


def test_re_optimised_around_the_edits_the_locks_hold(site) -> None:
    engine = site.extensions["engine"]
    stored = evening_plan(engine)
    edits, u0, u1, locked_cell, moved_cell = the_edits(stored)
    edits["reoptimise"] = True
    excluded = hex_from_cells(np.array(edits["exclude"]))[0]
    added = unvisited_cell(engine, stored)
    locked_start = routes(stored)[u0][0][1]
    change = replans.ReplanRequest(at_s=stored.shift_start - 1, urgent=(h3.str_to_int(added),),
                                   done_from="plan", edits=edits, time_limit_s=3.0)  # fmt: skip
    planned, _request, why = replans.replan_day(engine, stored, change)
    plan = planned.plan
    assert plan.feasible, [c.violations for c in plan.check.routes]
    by_cell: dict[str, list[tuple[str, float]]] = {}
    for route in plan.routes:
        for visit in route.visits:
            by_cell.setdefault(visit.cell, []).append((route.unit_id, visit.start_s))
    assert by_cell[locked_cell] and all(u == u0 for u, _t in by_cell[locked_cell])
    assert all(
        abs(t - locked_start) <= plan_edits.LOCK_SLACK_S + 1 for _u, t in by_cell[locked_cell]
    )
    assert by_cell[moved_cell] and all(u == u1 for u, _t in by_cell[moved_cell])
    assert excluded not in by_cell
    assert added in by_cell
    assert why["edits"] == edits
    counts = Counter(v.stop for r in plan.routes for v in r.visits)
    assert all(counts[s] <= planned.problem.stops[s].max_visits for s in counts)


def test_the_edit_page_and_its_refusals(site) -> None:
    engine = site.extensions["engine"]
    stored = evening_plan(engine)
    edits, u0, u1, _locked, _moved = the_edits(stored)
    planner = site.test_client()
    login(planner, "planner")
    page = planner.get(f"/plans/{stored.id}")
    assert f'href="/plans/{stored.id}/edit"' in page.get_data(as_text=True)
    form = planner.get(f"/plans/{stored.id}/edit")
    assert form.status_code == 200 and f'name="move|{u0}|2"' in form.get_data(as_text=True)
    nothing = planner.post(f"/plans/{stored.id}/edit", data={"action": "check"})
    assert nothing.status_code == 400 and "Tick a lock" in nothing.get_data(as_text=True)
    ghost = planner.post(f"/plans/{stored.id}/edit", data={f"move|{u0}|2": "GHOST-9",
                                                           "action": "check"})  # fmt: skip
    assert ghost.status_code == 400 and "No unit GHOST-9" in ghost.get_data(as_text=True)
    nowhere = planner.post(f"/plans/{stored.id}/edit", data={"add": "Z999-1", "action": "check"})
    assert nowhere.status_code == 400 and "No cell is named Z999-1" in nowhere.get_data(
        as_text=True
    )
    # A real edit: a draft revision, its edits on the plan page, the audit log.
    done = planner.post(f"/plans/{stored.id}/edit",
                        data={"lock": f"{u0}|1", f"move|{u0}|2": u1, "action": "check",
                              "reason": "<b>swap</b>"})  # fmt: skip
    assert done.status_code == 302
    new_id = int(done.headers["Location"].rsplit("/", 1)[1])
    revision = storage.get_plan(engine, new_id)
    assert revision.revision_of == stored.id and revision.status == "draft"
    assert revision.replan["edits"]["locks"] == [[u0, 1]]
    text = planner.get(f"/plans/{new_id}").get_data(as_text=True)
    assert 'id="revision-edits"' in text and "<b>swap</b>" not in text
    if not revision.summary["feasible"]:
        assert 'id="check-findings"' in text and 'id="publish-form"' not in text
    assert storage.list_audit(engine, action="plan_edited")["detail"].iloc[0].startswith(
        f"plan {new_id} (edit of plan {stored.id})")  # fmt: skip
    worker = site.test_client()
    login(worker, "grid1")
    assert worker.get(f"/plans/{stored.id}/edit").status_code == 403
