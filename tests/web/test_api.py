"""The JSON API: grid-worker scoping on every endpoint, JSON errors, hex ids, ISO times,
the OpenAPI document against the app's routes, the local Swagger UI and CSRF on POST."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import h3
import numpy as np
import pandas as pd
import pytest

from geo.cells import cells_from_hex, hex_from_cells
from tests.web.conftest import EXTERNAL_URL, PASSWORDS, user_cells, user_id
from web import clock, create_app, storage
from web.services import site_data as hotspot_data
from web.services.filters import Filters, select
from web.services.statistics import figure_area

# Check-in windows, today's plans and date filters depend on the date: run at every moment;
# on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = [pytest.mark.dates, pytest.mark.databases(demo=True)]


@pytest.fixture(scope="module")
def engine(app):
    return app.extensions["engine"]


@pytest.fixture(scope="module")
def grid1_cells(engine) -> set[str]:
    return set(user_cells(engine, "grid1"))


@pytest.fixture(scope="module")
def grid2_cells(engine) -> set[str]:
    return set(user_cells(engine, "grid2"))


def _plan(
    engine, visits: list[tuple[str, str, int]], status: str = "published", shift: str = ""
) -> int:
    """A plan with (unit, cell hex, start) visits of 15 minutes, on its own shift name
    (or ``shift``)."""
    rows = pd.DataFrame(
        {
            "unit_id": [v[0] for v in visits],
            "seq": list(range(1, len(visits) + 1)),
            "cell": cells_from_hex([v[1] for v in visits]),
            "start_at": [v[2] for v in visits],
            "end_at": [v[2] + 900 for v in visits],
            "value": [2.5] * len(visits),
        }
    )
    plan_id = storage.store_plan(
        engine,
        plan_date=clock.today(storage.get_meta(engine)["timezone"]).isoformat(),
        shift=shift or f"api-{uuid.uuid4().hex[:8]}",
        created_by=None,
        shift_start=min(v[2] for v in visits),
        seed=1,
        request={},
        summary={"units": 2, "note": "city-wide totals"},
        plan_json="{}",
        geojson="{}",
        gpx="",
        csv="",
        visits=rows,
    )
    if status == "published":
        assert storage.publish_plan(engine, plan_id, None)
    return plan_id


def _cells_in(payload: object) -> set[str]:
    """Every value that looks like an H3 hex id anywhere in a JSON payload."""
    found: set[str] = set()
    if isinstance(payload, dict):
        for value in payload.values():
            found |= _cells_in(value)
    elif isinstance(payload, list):
        for value in payload:
            found |= _cells_in(value)
    elif isinstance(payload, str) and re.fullmatch(r"8[0-9a-f]{14}", payload):
        found.add(payload)
    return found


# --- scoping ----------------------------------------------------------------------------------


SCOPED_URLS = [
    "/api/cells?limit=100000",
    "/api/cells?group=burglary&limit=100000",
    "/api/incidents/aggregate?by=cell",
    "/api/incidents/aggregate?by=day",
    "/api/plans",
    "/api/checkins?limit=5000",
    "/api/session",
]


@pytest.fixture(scope="module")
def shared_records(app, engine, grid1_cells, grid2_cells, moment):
    """A published plan and check-ins in both workers' cells (the data to keep apart), made
    at the tests' moment (a module fixture is set up before the clock is frozen per test)."""
    now = int(moment.at.timestamp())
    one, two = sorted(grid1_cells)[0], sorted(grid2_cells)[0]
    plan_id = _plan(
        engine, [("U1", one, now), ("U2", two, now), ("U2", sorted(grid2_cells)[1], now + 1800)]
    )
    for username, cell in (("grid1", one), ("grid2", two)):
        storage.add_checkin(
            engine,
            user_id(engine, username),
            cells_from_hex([cell])[0],
            now - 600,
            15,
            note=f"shared {username}",
            plan_id=plan_id,
        )
    return {"plan_id": plan_id, "grid1": one, "grid2": two}


@pytest.mark.parametrize("url", SCOPED_URLS)
def test_grid_worker_gets_only_their_cells(
    client_as, url, grid1_cells, grid2_cells, shared_records
) -> None:
    response = client_as("grid1").get(url)
    assert response.status_code == 200, response.get_json()
    cells = _cells_in(response.get_json())
    assert cells <= grid1_cells
    assert not cells & grid2_cells


def test_grid_worker_sees_all_their_cells_and_the_commander_the_city(
    client_as, engine, grid1_cells
) -> None:
    mine = client_as("grid1").get("/api/cells?limit=100000").get_json()
    data = hotspot_data.site_data(engine)
    study = set(hex_from_cells(data.cells))
    assert {c["cell"] for c in mine["cells"]} == grid1_cells & study
    assert mine["total"] == len(grid1_cells & study)
    city = client_as("commander").get("/api/cells?limit=100000").get_json()
    assert city["total"] == len(data.cells) == city["study_cells"]
    # Ranks are city-wide: the worker's cells keep the ranks the commander sees.
    ranks = {c["cell"]: c["rank"] for c in city["cells"]}
    assert all(ranks[c["cell"]] == c["rank"] for c in mine["cells"])
    assert [c["rank"] for c in city["cells"]] == sorted(c["rank"] for c in city["cells"])
    # Tiers: only cells with incidents in the dates, at most 5 % of the figure area.
    tagged = [c for c in city["cells"] if c["tier"]]
    assert tagged and all(c["count"] > 0 and c["score"] > 0 for c in tagged)
    area = len(figure_area(data))
    assert len(tagged) <= -(-5 * area // 100)
    assert sum(c["tier"] == "top1" for c in tagged) <= -(-area // 100)
    assert {c["tier"] for c in mine["cells"]} <= {c["tier"] for c in city["cells"]}


def test_aggregates_count_only_the_workers_cells(client_as, engine, grid1_cells) -> None:
    data = hotspot_data.site_data(engine)
    expected = select(data, Filters(cells=tuple(int(c) for c in cells_from_hex(grid1_cells))))
    for by in ("day", "week", "month", "hour", "weekday", "category", "cell"):
        payload = client_as("grid1").get(f"/api/incidents/aggregate?by={by}").get_json()
        assert payload["total"] == len(expected)
        assert sum(g["count"] for g in payload["groups"]) == len(expected), by
    hours = client_as("grid1").get("/api/incidents/aggregate?by=hour").get_json()["groups"]
    assert [g["key"] for g in hours] == list(range(24))
    city = client_as("commander").get("/api/incidents/aggregate?by=category").get_json()
    assert city["total"] == len(data.incidents) > len(expected)


def test_an_area_of_another_worker_gives_nothing(client_as, engine) -> None:
    other_grid = storage.user_grid_ids(engine, user_id(engine, "grid2"))[0]
    for url in (
        f"/api/cells?area=grid:{other_grid}",
        f"/api/incidents/aggregate?by=cell&area=grid:{other_grid}",
    ):
        payload = client_as("grid1").get(url).get_json()
        assert payload.get("cells", payload.get("groups")) == []
    assert client_as("commander").get(f"/api/cells?area=grid:{other_grid}").get_json()["cells"]


def test_one_cell_outside_the_grid_is_404(client_as, grid1_cells, grid2_cells) -> None:
    client = client_as("grid1")
    inside = client.get(f"/api/cells/{sorted(grid1_cells)[0]}")
    assert inside.status_code == 200
    outside = client.get(f"/api/cells/{sorted(grid2_cells)[0]}")
    assert outside.status_code == 404
    assert outside.get_json() == {
        "error": f"no cell {sorted(grid2_cells)[0]} in your grids",
        "status": 404,
    }
    assert client_as("commander").get(f"/api/cells/{sorted(grid2_cells)[0]}").status_code == 200


def test_one_cell_counts_match_the_stored_incidents(client_as, engine, grid1_cells) -> None:
    data = hotspot_data.site_data(engine)
    busiest = (
        storage.cell_counts(engine)
        .set_index("cell")["n"]
        .reindex(cells_from_hex(grid1_cells))
        .fillna(0)
        .idxmax()
    )
    hex_id = hex_from_cells(np.array([busiest]))[0]
    payload = client_as("grid1").get(f"/api/cells/{hex_id}").get_json()
    incidents = storage.load_incidents(engine, cells=[busiest])
    end_s = int(data.last_s) + 1
    assert payload["as_of_s"] == end_s
    for days in (7, 28, 91, 365, None):  # geo.explain's windows, then "all"
        times = incidents["occurred_at"]
        window = f"{days}d" if days else "all"
        start = end_s - days * 86400 if days else times.min()
        expected = int(((times >= start) & (times < end_s)).sum())
        assert payload["counts"][window] == expected
        assert sum(c["counts"][window] for c in payload["categories"]) == expected
    assert payload["rank"] >= 1 and payload["score"] > 0
    assert payload["tier"] in ("top1", "top5", None) and -3 <= payload["gi_bin"] <= 3
    assert not {"lon", "lat", "source_id", "description"} & set(payload["categories"][0])


def test_plans_show_grid_workers_published_plans_and_their_visits(
    client_as, engine, shared_records
) -> None:
    plan_id = shared_records["plan_id"]
    mine = client_as("grid1").get(f"/api/plans/{plan_id}").get_json()
    assert [v["cell"] for v in mine["visits"]] == [shared_records["grid1"]]
    assert "summary" not in mine
    full = client_as("planner").get(f"/api/plans/{plan_id}").get_json()
    assert len(full["visits"]) == 3 and full["summary"]["units"] == 2
    listed = {p["id"]: p for p in client_as("grid1").get("/api/plans").get_json()["plans"]}
    assert listed[plan_id]["visits_in_your_cells"] == 1
    assert all(p["status"] == "published" for p in listed.values())
    draft = _plan(engine, [("U9", shared_records["grid1"], int(clock.now_s()))], status="draft")
    assert client_as("grid1").get(f"/api/plans/{draft}").status_code == 404
    assert draft not in {p["id"] for p in client_as("grid1").get("/api/plans").get_json()["plans"]}
    assert client_as("grid1").get("/api/plans?status=draft").get_json() == {"plans": []}
    assert client_as("commander").get(f"/api/plans/{draft}").status_code == 200


def test_a_replaced_plan_is_replaced_in_the_api_as_on_the_plan_pages(
    client_as, engine, grid1_cells
) -> None:
    cell, now = sorted(grid1_cells)[0], int(clock.now_s())
    shift = f"api-{uuid.uuid4().hex[:8]}"
    first = _plan(engine, [("U1", cell, now)], shift=shift)
    published_at = storage.get_plan(engine, first).published_at
    second = _plan(engine, [("U2", cell, now)], shift=shift)  # the same date and shift
    planner = client_as("planner")
    old = planner.get(f"/api/plans/{first}").get_json()
    assert old["status"] == "replaced" and old["published_at_s"] == published_at
    assert planner.get(f"/api/plans/{second}").get_json()["status"] == "published"
    listed = {p["id"]: p["status"] for p in planner.get("/api/plans?limit=500").get_json()["plans"]}
    assert (listed[first], listed[second]) == ("replaced", "published")
    in_force = planner.get("/api/plans?status=published&limit=500").get_json()["plans"]
    assert first not in {p["id"] for p in in_force}
    replaced = planner.get("/api/plans?status=replaced&limit=500").get_json()["plans"]
    assert first in {p["id"] for p in replaced} and second not in {p["id"] for p in replaced}
    assert all(p["status"] == "replaced" for p in replaced)
    assert all(p["revision"] == 1 and p["revision_of"] is None for p in replaced)
    # A grid worker opening the old plan is told it was replaced too.
    assert client_as("grid1").get(f"/api/plans/{first}").get_json()["status"] == "replaced"
    # The document says so.
    schemas = planner.get("/api/openapi.json").get_json()["components"]["schemas"]
    for name in ("Plan", "PlanSummary"):
        status = schemas[name]["properties"]["status"]
        assert status["enum"] == ["draft", "published", "replaced"]
        assert "replaced" in status["description"]


def test_checkins_list_filters_and_scope(client_as, engine, shared_records) -> None:
    mine = client_as("grid1").get("/api/checkins").get_json()["checkins"]
    assert any(c["note"] == "shared grid1" and c["mine"] for c in mine)
    assert not any(c["note"] == "shared grid2" for c in mine)
    assert all("username" not in c for c in mine)
    asked = client_as("grid1").get(f"/api/checkins?cell={shared_records['grid2']}").get_json()
    assert asked["checkins"] == []
    by_plan = (
        client_as("planner")
        .get(f"/api/checkins?plan_id={shared_records['plan_id']}")
        .get_json()["checkins"]
    )
    assert {c["username"] for c in by_plan} == {"grid1", "grid2"}
    yesterday = clock.local_now(storage.get_meta(engine)["timezone"]) - pd.Timedelta(days=1)
    today = yesterday.strftime("%Y-%m-%d")
    assert client_as("commander").get(f"/api/checkins?start={today}").status_code == 200


# --- posting check-ins -------------------------------------------------------------------


def _notes(engine, note: str) -> pd.DataFrame:
    frame = storage.checkins_frame(engine)
    return frame[frame["note"] == note]


def test_grid_worker_posts_a_check_in_for_their_cell(
    client_as, engine, grid1_cells, shared_records
) -> None:
    note = f"api {uuid.uuid4().hex[:6]}"
    visited = int(clock.now_s()) - 300
    local = pd.Timestamp(visited, unit="s", tz="UTC").tz_convert(
        storage.get_meta(engine)["timezone"]
    )
    response = client_as("grid1").post(
        "/api/checkins",
        json={
            "cell": shared_records["grid1"],
            "visited_at": local.strftime("%Y-%m-%dT%H:%M:%S"),
            "minutes": 25,
            "note": note,
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["cell"] == shared_records["grid1"] and body["visited_at_s"] == visited
    assert body["plan_id"] == shared_records["plan_id"]  # inside the published visit's window
    offset = local.utcoffset().total_seconds()
    assert datetime.fromisoformat(body["visited_at"]).utcoffset().total_seconds() == offset
    stored = _notes(engine, note)
    assert len(stored) == 1 and int(stored.iloc[0]["visited_at"]) == visited
    assert stored.iloc[0]["minutes"] == 25


@pytest.mark.parametrize(
    ("role", "body", "status", "message"),
    [
        ("grid1", {"cell": "GRID2"}, 403, "not in your grids"),
        ("grid1", {"cell": "8928308280fffff"}, 403, "not in your grids"),
        ("grid1", {"cell": "GRID1", "visited_at": "2001-01-01T00:00"}, 400, "7 days"),
        ("grid1", {"cell": "GRID1", "visited_at": "soon"}, 400, "visited_at"),
        ("grid1", {"cell": "GRID1", "minutes": 0}, 400, "Minutes"),
        ("grid1", {"cell": "GRID1", "minutes": "15"}, 400, "minutes"),
        ("grid1", {"cell": "nope"}, 400, "not an H3 cell"),
        ("grid1", {"cell": "8624ae197ffffff"}, 400, "resolution"),
        ("grid1", ["not", "an", "object"], 400, "JSON object"),
        ("commander", {"cell": "GRID1"}, 403, "read-only"),
        ("planner", {"cell": "8928308280fffff"}, 400, "study area"),
    ],
)
def test_bad_check_ins_are_refused_and_nothing_stored(
    client_as, engine, shared_records, role, body, status, message
) -> None:
    note = f"refused {uuid.uuid4().hex[:6]}"
    if isinstance(body, dict):
        body = {**body, "note": note}
        body["cell"] = {"GRID1": shared_records["grid1"], "GRID2": shared_records["grid2"]}.get(
            body["cell"], body["cell"]
        )
    response = client_as(role).post("/api/checkins", json=body)
    assert response.status_code == status
    payload = response.get_json()
    assert payload["status"] == status and message in payload["error"]
    assert _notes(engine, note).empty


def test_a_check_in_sent_again_with_its_client_id_is_stored_once(
    client_as, engine, shared_records
) -> None:
    note = f"queued offline {uuid.uuid4().hex[:6]}"
    client_id = uuid.uuid4().hex
    body = {"cell": shared_records["grid1"], "note": note, "client_id": client_id}
    first = client_as("grid1").post("/api/checkins", json=body)
    assert first.status_code == 201, first.get_json()
    # The answer was lost; the phone sends the visit again a minute "later".
    again = client_as("grid1").post("/api/checkins", json={**body, "minutes": 20})
    assert again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(_notes(engine, note)) == 1


@pytest.mark.parametrize("client_id", ["short", "has space in it", "x" * 41, 12345678])
def test_a_malformed_client_id_is_refused(client_as, engine, shared_records, client_id) -> None:
    note = f"bad id {uuid.uuid4().hex[:6]}"
    body = {"cell": shared_records["grid1"], "note": note, "client_id": client_id}
    response = client_as("grid1").post("/api/checkins", json=body)
    assert response.status_code == 400 and "client_id" in response.get_json()["error"]
    assert _notes(engine, note).empty


def test_planners_may_record_check_ins_for_any_study_cell(
    client_as, engine, shared_records
) -> None:
    note = f"by radio {uuid.uuid4().hex[:6]}"
    response = client_as("planner").post(
        "/api/checkins", json={"cell": shared_records["grid2"], "note": note}
    )
    assert response.status_code == 201
    assert response.get_json()["minutes"] == 15.0  # CHECKIN_MINUTES
    assert _notes(engine, note).iloc[0]["username"] == "planner"


# --- errors, ids and times ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/cells?start=yesterday", 400),
        ("/api/cells?limit=0", 400),
        ("/api/cells?model=astrology", 400),
        ("/api/cells?category=NOT-A-CODE", 400),
        ("/api/cells?hours=25", 400),
        ("/api/incidents/aggregate?by=year", 400),
        ("/api/checkins?cell=xyz", 400),
        ("/api/plans?status=old", 400),
        ("/api/cells/xyz", 400),
        ("/api/cells/8928308280fffff", 404),
        ("/api/plans/987654", 404),
        ("/api/no-such-thing", 404),
    ],
)
def test_errors_are_json_with_status_and_message(client_as, url, status) -> None:
    response = client_as("commander").get(url)
    assert response.status_code == status
    assert response.is_json
    payload = response.get_json()
    assert payload["status"] == status and isinstance(payload["error"], str) and payload["error"]


def test_anonymous_requests_get_401_json(app) -> None:
    client = app.test_client()
    for url in ("/api/cells", "/api/plans", "/api/openapi.json"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.get_json()["status"] == 401 and "log in" in response.get_json()["error"]
    assert client.post("/api/checkins", json={}).status_code == 401


def test_hex_ids_are_valid_h3_cells_and_times_carry_the_offset(
    client_as, engine, shared_records
) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(storage.get_meta(engine)["timezone"])
    client = client_as("commander")
    found: set[str] = set()
    for url in (
        "/api/cells?limit=50",
        "/api/incidents/aggregate?by=cell",
        f"/api/plans/{shared_records['plan_id']}",
        "/api/checkins",
    ):
        found |= _cells_in(client.get(url).get_json())
    assert len(found) > 50 and all(h3.is_valid_cell(c) for c in found)
    payload = client.get("/api/incidents/aggregate?by=day").get_json()
    assert len(payload["groups"]) > 30
    for group in payload["groups"]:  # local midnights, with the offset in force then
        start = datetime.fromisoformat(group["start"])
        assert start.utcoffset() == start.astimezone(zone).utcoffset()
        assert int(start.timestamp()) == group["start_s"]
        assert (start.hour, start.minute) == (0, 0)
    cells = client.get("/api/cells?limit=1").get_json()
    assert datetime.fromisoformat(cells["as_of"]).timestamp() == cells["as_of_s"]


# --- the document and its viewer -------------------------------------------------------------


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_document_lists_every_api_route(app, client_as) -> None:
    response = client_as("grid1").get("/api/openapi.json")
    assert response.status_code == 200 and response.is_json
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            routes.setdefault(_openapi_path(rule.rule), set()).update(methods)
    described = {path: set(ops) for path, ops in document["paths"].items()}
    assert described == routes
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (path, method)
            if path != "/api/docs":
                assert "401" in operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path
    for ref in _refs(document):
        node = document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]  # every $ref resolves
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "in": "cookie"}
    assert schemes["csrfHeader"]["name"] == "X-CSRFToken"
    post = document["paths"]["/api/checkins"]["post"]
    assert {"sessionCookie": [], "csrfHeader": []} in post["security"]
    assert "X-CSRFToken" in document["info"]["description"]


def test_docs_page_loads_swagger_from_this_server_only(client_as) -> None:
    client = client_as("commander")
    response = client.get("/api/docs")
    assert response.status_code == 200
    body = response.data
    assert not EXTERNAL_URL.search(body)
    sources = re.findall(rb'<script src="([^"]+)"', body)
    assert b"/static/vendor/swagger-ui-dist@5.35.0/swagger-ui-bundle.js" in sources
    assert b'href="/static/vendor/swagger-ui-dist@5.35.0/swagger-ui.css"' in body
    for source in sources:
        assert source.startswith(b"/static/")
        with client.get(source.decode()) as served:
            assert served.status_code == 200
    with client.get("/static/grid-api-docs.js") as served:
        script = served.data
    assert b"validatorUrl: null" in script and b"X-CSRFToken" in script
    assert b'href="/api/docs"' in body  # the menu links to it


def test_docs_page_sends_visitors_to_log_in(app) -> None:
    response = app.test_client().get("/api/docs")
    assert response.status_code == 302 and "/login" in response.location


def test_csrf_is_enforced_on_posted_check_ins(demo_db, engine, shared_records) -> None:
    site = create_app({"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": True})
    client = site.test_client()
    page = client.get("/login").data.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"username": "grid1", "password": PASSWORDS["grid1"], "csrf_token": token},
    )
    assert response.status_code == 302
    session = client.get("/api/session").get_json()
    assert session["username"] == "grid1" and session["scoped"] is True
    note = f"csrf {uuid.uuid4().hex[:6]}"
    # A minute of its own (the clock is frozen: the same cell and minute is one check-in).
    minute = int(clock.now_s()) - 3600 - 60 * (int(note[-4:], 16) % 600)
    body = {"cell": shared_records["grid1"], "note": note, "visited_at": minute}
    refused = client.post("/api/checkins", json=body)
    assert refused.status_code == 400 and refused.get_json()["status"] == 400
    assert _notes(engine, note).empty
    stale = client.post("/api/checkins", json=body, headers={"X-CSRFToken": token})
    assert stale.status_code == 400  # the token from before logging in is gone
    accepted = client.post(
        "/api/checkins", json=body, headers={"X-CSRFToken": session["csrf_token"]}
    )
    assert accepted.status_code == 201
    assert len(_notes(engine, note)) == 1


# --- caches: answers per data version, plans, the data version itself -------------------------


def test_a_new_plan_shows_at_once_though_plan_lists_are_cached(client_as, engine, grid1_cells):
    client = client_as("grid_worker")
    before = {p["id"] for p in client.get("/api/plans").get_json()["plans"]}
    assert {p["id"] for p in client.get("/api/plans").get_json()["plans"]} == before
    plan_id = _plan(engine, [("U1", sorted(grid1_cells)[0], int(clock.now_s()))], status="draft")
    assert plan_id not in {p["id"] for p in client.get("/api/plans").get_json()["plans"]}
    assert storage.publish_plan(engine, plan_id, None)
    assert plan_id in {p["id"] for p in client.get("/api/plans").get_json()["plans"]}


def _add_incidents(tmp_path, url: str, name: str, n: int) -> None:
    """Import ``n`` THEFT incidents at the places of stored ones, through the CLI."""
    from click.testing import CliRunner

    from web.cli import cli

    engine = storage.make_engine(url)
    rows = storage.load_incidents(engine).head(n)
    engine.dispose()
    path = tmp_path / f"{name}.csv"
    pd.DataFrame({
        "incident_id": [f"{name}-{i}" for i in range(n)], "description": ["test"] * n,
        "occurred_at": ["2026-01-05T10:00:00"] * n, "category": ["THEFT"] * n,
        "lon": rows["lon"].to_numpy(), "lat": rows["lat"].to_numpy(),
    }).to_csv(path, index=False)  # fmt: skip
    env = {"HOTSPOT_DATABASE_URL": url}
    result = CliRunner().invoke(cli, ["import", str(path), "--preset", "generic"], env=env)
    assert result.exit_code == 0, result.output


@pytest.fixture
def small_site(tmp_path):
    """A site on its own small demo database (these tests import into it)."""
    from click.testing import CliRunner

    from web.cli import cli

    url = f"sqlite:///{tmp_path / 'small.db'}"
    result = CliRunner().invoke(
        cli, ["demo", "--days", "10", "--seed", "3"], env={"HOTSPOT_DATABASE_URL": url}
    )
    assert result.exit_code == 0, result.output
    site = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = site.test_client()
    response = client.post(
        "/login", data={"username": "commander", "password": PASSWORDS["commander"]}
    )
    assert response.status_code == 302
    return url, client


def _total(client) -> int:
    return client.get("/api/incidents/aggregate?by=hour").get_json()["total"]


def test_an_import_shows_at_once_though_answers_are_cached(small_site, tmp_path) -> None:
    url, client = small_site
    before = _total(client)
    assert _total(client) == before  # the second answer comes from the cache
    _add_incidents(tmp_path, url, "first", 3)
    assert _total(client) == before + 3


def test_an_import_by_another_process_shows_once_the_version_check_is_due(
    small_site, tmp_path, monkeypatch
) -> None:
    url, client = small_site
    before = _total(client)
    monkeypatch.setattr(hotspot_data._versions, "ttl_s", 3600.0)
    # Seen from the site, an import by another process (`hotspot import` beside it) clears
    # nothing: no engine of this process watched it run.
    monkeypatch.setattr(storage.write_watch, "_watchers", [])
    _add_incidents(tmp_path, url, "elsewhere", 2)
    assert _total(client) == before  # within DATA_VERSION_TTL_S the old version is trusted
    monkeypatch.setattr(hotspot_data._versions, "ttl_s", 0.0)  # the check is due
    assert _total(client) == before + 2


def test_a_list_of_drafts_only_has_no_publication_times(client_as, engine, grid1_cells) -> None:
    """Found by the Schemathesis run: a list holding only drafts (no publication time at all)
    crashed the plan list."""
    _plan(engine, [("U7", sorted(grid1_cells)[0], int(clock.now_s()))], status="draft")
    plans = client_as("planner").get("/api/plans?status=draft&limit=1").get_json()["plans"]
    assert plans and plans[0]["published_at"] is None and plans[0]["published_at_s"] is None
