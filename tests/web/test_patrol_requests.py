"""Commanders' patrol requests (web/views/requests.py, web/services/patrol_requests.py): asking
for a patrol of a cell, the checks on what is asked, withdrawing, what became of a request
(planned, visited, ended) and the re-plan form's urgent cells.

Each test works on its own copy of the demo.
"""

from __future__ import annotations

import h3
import numpy as np
import pytest

from geo.cells import hex_from_cells
from tests.web.conftest import login
from web import clock, storage
from web.services import patrol_requests
from web.services.cell_names import cell_names
from web.services.site_data import site_data

pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture
def site(demo_copy_site):
    return demo_copy_site


def client_of(site, username: str):
    client = site.test_client()
    login(client, username)
    return client


def study_cell(engine, index: int = 0) -> tuple[int, str]:
    """A study cell with a readable name: (cell, its name such as G001-3)."""
    names = cell_names(engine, site_data(engine))
    named = sorted(names.by_cell.items())
    cell, name = named[index * 7 % len(named)]
    return int(cell), name


def replannable_plan(engine) -> int:
    """A plan in force that keeps its problem (the demo's own; other tests may publish plans
    made without one)."""
    plans = storage.list_plans(engine, status="published")
    return next(int(i) for i in plans["id"] if storage.get_plan(engine, int(i)).problem)


def requests_of(engine) -> list[storage.PatrolRequest]:
    now = int(clock.now_s())
    return storage.list_patrol_requests(engine, since=now - 86400)


def test_a_commander_asks_for_a_patrol_and_everyone_who_plans_sees_it(site) -> None:
    engine = site.extensions["engine"]
    cell, name = study_cell(engine)
    commander = client_of(site, "commander")
    response = commander.post(
        "/requests/", data={"cell": name.lower(), "reason": "Broken street lights", "hours": "8"}
    )
    assert response.status_code == 302
    [stored] = requests_of(engine)
    assert stored.cell == cell and stored.status == "open" and stored.username == "commander"
    assert stored.until_at - stored.requested_at == 8 * 3600
    audit = storage.list_audit(engine, action="patrol_request")
    assert len(audit) == 1 and name in audit.iloc[0]["detail"]
    page = client_of(site, "planner").get("/requests/").get_data(as_text=True)
    assert f'id="request-{stored.id}"' in page and "Broken street lights" in page
    assert 'data-state="waiting"' in page or 'data-state="planned"' in page
    assert 'id="request-form"' not in page  # planners answer requests, they do not make them
    assert client_of(site, "planner").post("/requests/", data={"cell": name}).status_code == 403
    assert client_of(site, "grid1").get("/requests/").status_code == 403


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"cell": "G999-999"}, "cell", "No cell is named"),
        ({"cell": ""}, "cell", "No cell is named"),
        ({"cell": "8928308280fffff"}, "cell", "outside the area"),
        ({"reason": ""}, "reason", "Say why"),
        ({"reason": "x" * 201}, "reason", "At most 200"),
        ({"reason": "call 13812345678 about it"}, "reason", "phone number"),
        ({"reason": "bad\x07bell"}, "reason", "control characters"),
        ({"hours": "5"}, "hours", "how long"),
        ({"hours": "9" * 5000}, "hours", "how long"),
    ],
)
def test_a_bad_request_is_refused_with_the_form_kept_and_nothing_stored(
    site, form, field, message
) -> None:
    engine = site.extensions["engine"]
    _cell, name = study_cell(engine)
    data = {"cell": name, "reason": "Fights after the night market closes", "hours": "4", **form}
    response = client_of(site, "commander").post("/requests/", data=data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="error-{field}"' in page and message in page
    if field != "reason":
        assert "Fights after the night market closes" in page  # what was typed stays
    assert requests_of(engine) == []
    assert storage.list_audit(engine, action="patrol_request").empty


def test_stored_text_is_escaped(site) -> None:
    engine = site.extensions["engine"]
    _cell, name = study_cell(engine)
    commander = client_of(site, "commander")
    reason = '<script>alert("x")</script> near the gate'
    commander.post("/requests/", data={"cell": name, "reason": reason, "hours": "4"})
    page = commander.get("/requests/").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_one_account_has_at_most_twenty_open_requests(site) -> None:
    engine = site.extensions["engine"]
    commander = client_of(site, "commander")
    for i in range(patrol_requests.MAX_OPEN_PER_USER):
        _cell, name = study_cell(engine, i)
        assert (
            commander.post(
                "/requests/", data={"cell": name, "reason": f"event {i}", "hours": "2"}
            ).status_code
            == 302
        )
    _cell, name = study_cell(engine, 99)
    refused = commander.post("/requests/", data={"cell": name, "reason": "one more", "hours": "2"})
    assert refused.status_code == 400 and "withdraw one" in refused.get_data(as_text=True)
    assert len(requests_of(engine)) == patrol_requests.MAX_OPEN_PER_USER
    # Withdrawing one makes room again.
    first = requests_of(engine)[-1]
    assert commander.post(f"/requests/{first.id}/withdraw").status_code == 302
    again = commander.post("/requests/", data={"cell": name, "reason": "one more", "hours": "2"})
    assert again.status_code == 302


def test_withdrawing_is_for_the_author_or_an_administrator(site) -> None:
    engine = site.extensions["engine"]
    _cell, name = study_cell(engine)
    client_of(site, "admin").post("/requests/", data={"cell": name, "reason": "by admin"})
    [by_admin] = requests_of(engine)
    commander = client_of(site, "commander")
    assert commander.post(f"/requests/{by_admin.id}/withdraw").status_code == 404
    assert client_of(site, "planner").post(f"/requests/{by_admin.id}/withdraw").status_code == 403
    assert storage.get_patrol_request(engine, by_admin.id).status == "open"
    commander.post("/requests/", data={"cell": name, "reason": "by commander"})
    mine = next(r for r in requests_of(engine) if r.username == "commander")
    admin = client_of(site, "admin")
    assert admin.post(f"/requests/{mine.id}/withdraw").status_code == 302  # an administrator may
    withdrawn = storage.get_patrol_request(engine, mine.id)
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_at is not None
    # A second withdrawal changes nothing and says so.
    second = admin.post(f"/requests/{mine.id}/withdraw", follow_redirects=True)
    assert "not open any more" in second.get_data(as_text=True)
    assert len(storage.list_audit(engine, action="patrol_request_withdrawn")) == 1
    assert commander.post("/requests/999999/withdraw").status_code == 404


def test_what_became_of_a_request_is_read_from_plans_and_check_ins(site) -> None:
    engine = site.extensions["engine"]
    plans = storage.list_plans(engine, status="published")
    plan_id = int(plans.iloc[0]["id"])
    visits = storage.plan_visits_frame(engine, plan_id)
    visit = visits.iloc[len(visits) // 2]
    planned_cell, start = int(visit["cell"]), int(visit["start_at"])
    user = storage.get_user_by_name(engine, "commander")
    busy = set(storage.checkins_frame(engine)["cell"].astype("int64"))
    for other in plans["id"]:
        busy |= set(storage.plan_visits_frame(engine, int(other))["cell"].astype("int64"))
    quiet_cell = next(int(c) for c in site_data(engine).cells if int(c) not in busy)

    def ask(cell: int, at: int, hours: int = 2, reason: str = "r") -> int:
        return storage.add_patrol_request(
            engine, cell=cell, reason=reason, user_id=user.id, requested_at=at,
            until_at=at + hours * 3600,
        )  # fmt: skip

    planned = ask(planned_cell, start - 1)  # the first visit in its time is this one
    too_late = ask(planned_cell, start + 60)  # asked after the planned visit: not planned
    ended = ask(quiet_cell, start - 10 * 3600)
    visited = ask(quiet_cell, start - 600, reason="checked")
    storage.add_checkin(engine, user.id, quiet_cell, start - 300, 15.0)
    records = [storage.get_patrol_request(engine, i) for i in (planned, too_late, ended, visited)]
    outcomes = storage.request_outcomes(engine, records)
    assert outcomes[planned].planned_at == start
    in_force = set(storage.list_plans(engine, status="published")["id"].astype(int))
    assert outcomes[planned].plan_id in in_force  # plan_id's, or another's at that second
    assert outcomes[too_late].plan_id is None or outcomes[too_late].planned_at > start
    assert outcomes[ended] == storage.RequestOutcome()
    assert outcomes[visited].checked_in_at == start - 300
    with site.test_request_context():
        views = {
            v["id"]: v
            for v in patrol_requests.request_views(
                engine, cell_names(engine, site_data(engine)), str, start + 3 * 3600
            )
        }
    assert views[planned]["state"] == "planned"
    assert views[visited]["state"] == "visited"
    assert views[ended]["state"] == "expired"


def test_open_requests_are_urgent_cells_of_the_re_plan_form(site) -> None:
    engine = site.extensions["engine"]
    cell, name = study_cell(engine, 3)
    commander = client_of(site, "commander")
    commander.post("/requests/", data={"cell": name, "reason": "Crowd after the match"})
    plan_id = replannable_plan(engine)
    page = client_of(site, "planner").get(f"/plans/{plan_id}/replan").get_data(as_text=True)
    hex_id = h3.int_to_str(cell)
    assert f'value="{hex_id}"' in page and "Crowd after the match" in page
    assert "Request from a commander, until" in page
    # Once a check-in answers it, it is no longer suggested.
    user = storage.get_user_by_name(engine, "commander")
    storage.add_checkin(engine, user.id, cell, int(clock.now_s()), 10.0)
    page = client_of(site, "planner").get(f"/plans/{plan_id}/replan").get_data(as_text=True)
    assert "Crowd after the match" not in page


def test_requested_cells_are_named_for_people(site) -> None:
    engine = site.extensions["engine"]
    cell, name = study_cell(engine, 5)
    hex_id = hex_from_cells(np.array([cell], dtype=np.int64))[0]
    commander = client_of(site, "commander")
    commander.post("/requests/", data={"cell": hex_id, "reason": "by id", "hours": "24"})
    page = commander.get("/requests/").get_data(as_text=True)
    assert f"{name} ({hex_id})" in page


def test_planners_are_told_of_open_requests_and_commanders_find_the_form(site) -> None:
    engine = site.extensions["engine"]
    cell, name = study_cell(engine, 4)
    planner = client_of(site, "planner")
    assert 'id="open-requests"' not in planner.get("/plans/").get_data(as_text=True)
    commander = client_of(site, "commander")
    found = commander.get(f"/command/find?q={name}").get_data(as_text=True)
    assert f'href="/requests/?cell={name}"' in found
    form = commander.get(f"/requests/?cell={name}").get_data(as_text=True)
    assert f'value="{name}"' in form
    commander.post("/requests/", data={"cell": name, "reason": "Market day", "hours": "4"})
    notice = planner.get("/plans/").get_data(as_text=True)
    assert 'id="open-requests"' in notice and "1 patrol request from commanders" in notice
    assert "Request a patrol here" not in planner.get(f"/command/find?q={name}").get_data(
        as_text=True
    )
    # A check-in answers it: the requests page says visited, the plans list counts none.
    user = storage.get_user_by_name(engine, "commander")
    storage.add_checkin(engine, user.id, cell, int(clock.now_s()), 10.0)
    assert 'id="open-requests"' not in planner.get("/plans/").get_data(as_text=True)
    cards = commander.get("/requests/").get_data(as_text=True)
    assert f'data-state="visited" data-cell="{h3.int_to_str(cell)}"' in cards
