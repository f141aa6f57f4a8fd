"""The planner's pages: generate a plan through the form and its job, view, export, brief,
publish, compare with the day before, and delivered against planned patrol time.

The demo database is shared with other tests: plans here use dates in 2027 that nothing
else plans for, and every check filters by the plan ids made here.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from geo.cells import hex_from_cells
from tests.web.conftest import days_ahead, logged_in_client, login
from web import create_app, storage
from web.services.accounts import hash_password
from web.services.patrol_plans import cell_focus, compare_plans, delivered_vs_planned

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

# Small problems keep each solve to a few seconds (the app's limit is 3 s).
FORM = {"shift": "night", "units_per_station": "1", "dwell_min": "15", "candidates": "30",
        "max_visits": "2"}  # fmt: skip
JOB_WAIT_S = 180
# Dates nothing else plans for, within the year ahead the form accepts.
DAY, NEXT_DAY = days_ahead(100), days_ahead(101)
GPX = "{http://www.topografix.com/GPX/1/1}"


def start_job(client, **fields) -> str:
    """Post the form; return the job URL the progress page polls."""
    response = client.post("/plans/new", data=FORM | fields)
    assert response.status_code == 200, response.data[:500]
    match = re.search(r'data-job-url="([^"]+)"', response.data.decode())
    assert match, "no progress page"
    return match.group(1)


def wait_for(client, job_url: str) -> dict:
    """Poll the job until it stops running (the progress page does the same)."""
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        response = client.get(job_url)
        assert response.status_code == 200, response.data[:300]
        job = response.get_json()
        assert set(job) >= {"state", "elapsed_s", "time_limit_s", "plan_id", "error"}
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, "plan job did not finish"
        time.sleep(0.2)


def generate(client, **fields) -> int:
    job = wait_for(client, start_job(client, **fields))
    assert job["state"] == "done", job
    return int(job["plan_id"])


@pytest.fixture(scope="module")
def planner_client(app, moment):
    return logged_in_client(app, moment, "planner")


@pytest.fixture(scope="module")
def plan_id(planner_client) -> int:
    """A draft night plan for DAY made through the form."""
    return generate(planner_client, date=DAY)


def test_the_form_makes_a_plan_through_a_background_job(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]
    form = planner_client.get("/plans/new")
    assert form.status_code == 200
    assert b'name="csrf_token"' in form.data
    assert re.search(rb'name="date" id="date" value="\d{4}-\d\d-\d\d"', form.data)  # tomorrow

    stored = storage.get_plan(engine, plan_id)
    assert stored is not None
    assert (stored.plan_date, stored.shift, stored.status) == (DAY, "night", "draft")
    assert stored.summary["status"] in ("ok", "partial")
    assert stored.summary["units"] == 5  # one unit at each of the five demo stations
    visits = storage.plan_visits_frame(engine, plan_id)
    assert len(visits) == stored.summary["visits"] > 0
    # Night shift 00:00-08:00 local: every patrol lies inside it.
    assert (visits["start_at"] >= stored.shift_start).all()
    assert (visits["end_at"] <= stored.shift_start + 8 * 3600).all()
    assert (visits["end_at"] - visits["start_at"] == 15 * 60).all()
    # The secret daily seed, not a fixed one.
    from web.services.patrol_plans import daily_seed

    assert stored.seed == daily_seed(DAY, str(app.config["SECRET_KEY"]))

    entries = storage.list_audit(engine, limit=500, action="plan_generated")
    assert any(d.startswith(f"plan {plan_id}: {DAY} night") for d in entries["detail"])
    listing = planner_client.get("/plans/")
    assert f'href="/plans/{plan_id}"'.encode() in listing.data


def test_the_plan_page_shows_map_units_totals_and_solver(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]
    stored = storage.get_plan(engine, plan_id)
    page = planner_client.get(f"/plans/{plan_id}")
    assert page.status_code == 200
    text = page.data.decode()
    assert "folium-map" in text and "L.geoJson" in text
    for unit in ("S01-1", "S02-1", "S03-1", "S04-1", "S05-1"):
        assert f'id="unit-{unit}"' in text
    assert f'id="total-visits">{stored.summary["visits"]}<' in text
    assert "Solver" in text and "Delivered against planned" in text
    # Popups carry local times: the first visit of the night starts after 00:00 local.
    first = storage.plan_visits_frame(engine, plan_id).sort_values("start_at").iloc[0]
    local = pd.Timestamp(int(first["start_at"]), unit="s", tz="UTC").tz_convert("Asia/Shanghai")
    assert f'"start": "{local:%H:%M}"' in text
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text)  # offline
    assert planner_client.get("/plans/999999").status_code == 404


def test_exports_parse_and_are_named_after_the_plan(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]
    visits = storage.plan_visits_frame(engine, plan_id)
    response = planner_client.get(f"/plans/{plan_id}/export/geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    # Date, shift and plan number: two plans of one date and shift never share a name.
    disposition = response.headers["Content-Disposition"]
    assert f'filename="plan-{DAY}-night-{plan_id}.geojson"' in disposition
    features = json.loads(response.data)["features"]
    points = [f for f in features if f["properties"]["kind"] == "visit"]
    assert len(points) == len(visits)
    assert {f["properties"]["cell"] for f in points} == set(hex_from_cells(visits["cell"]))

    response = planner_client.get(f"/plans/{plan_id}/export/gpx")
    assert response.mimetype == "application/gpx+xml"
    assert f"plan-{DAY}-night-{plan_id}.gpx" in response.headers["Content-Disposition"]
    gpx = ET.fromstring(response.data)
    routes = gpx.findall(f"{GPX}rte")
    assert {r.find(f"{GPX}name").text for r in routes} == set(visits["unit_id"])
    # Each route: station, its visits, station.
    assert sum(len(r.findall(f"{GPX}rtept")) - 2 for r in routes) == len(visits)

    response = planner_client.get(f"/plans/{plan_id}/export/csv")
    assert response.mimetype == "text/csv" and "charset=utf-8" in response.content_type
    assert f"plan-{DAY}-night-{plan_id}.csv" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel and WPS
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert len(rows) == len(visits)
    assert {r["Cell"] for r in rows} == set(hex_from_cells(visits["cell"]))
    assert set(rows[0]) == {"Date", "Unit", "Station", "Stop", "Grid", "Place", "Cell", "Arrive",
                            "Patrol from", "Leave", "Minutes on the spot", "Value"}  # fmt: skip
    # Local date and hh:mm of each patrol, as the database has it; grid and station filled.
    grids = storage.load_area_cells(engine, "grid")
    grid_of = dict(zip(hex_from_cells(grids["cell"].to_numpy()), grids["area_id"], strict=True))
    expected = set()
    for row in visits.itertuples():
        local = pd.Timestamp(int(row.start_at), unit="s", tz="UTC").tz_convert("Asia/Shanghai")
        cell = hex_from_cells(np.array([row.cell]))[0]
        expected.add((row.unit_id, cell, f"{local:%Y-%m-%d}", f"{local:%H:%M}"))
    got = {(r["Unit"], r["Cell"], r["Date"], r["Patrol from"]) for r in rows}
    assert got == expected
    assert all(re.fullmatch(r"\d\d:\d\d", r[k]) for r in rows for k in ("Arrive", "Leave"))
    assert all(r["Station"] for r in rows)
    assert all(r["Grid"] == grid_of.get(r["Cell"], "") for r in rows)
    assert any(r["Grid"] for r in rows)
    # The place is the cell's name for people: its grid and a number where a grid has it.
    assert all(r["Place"].startswith(f"{r['Grid']}-") for r in rows if r["Grid"])

    response = planner_client.get(f"/plans/{plan_id}/export/json")
    assert response.mimetype == "application/json"
    document = json.loads(response.data)
    assert document["seed"] == storage.get_plan(engine, plan_id).seed
    assert sum(len(u["stops"]) for u in document["units"]) == len(visits)

    unknown = planner_client.get(f"/plans/{plan_id}/export/kml")
    assert unknown.status_code == 404
    assert unknown.mimetype == "text/html" and b"kml" in unknown.data
    # Each download is in the audit log (who took which plan in which form).
    exported = storage.list_audit(engine, limit=50, action="plan_exported")
    details = set(exported[exported["username"] == "planner"]["detail"])
    for fmt in ("geojson", "gpx", "csv", "json"):
        assert f"plan {plan_id} ({DAY} night) as {fmt}" in details


def test_a_briefing_lists_every_stop_of_its_unit(app, planner_client, plan_id) -> None:
    visits = storage.plan_visits_frame(app.extensions["engine"], plan_id)
    unit = visits["unit_id"].value_counts().index[0]  # the unit with the most stops
    mine = visits[visits["unit_id"] == unit].sort_values("seq")
    page = planner_client.get(f"/plans/{plan_id}/briefing/{unit}")
    assert page.status_code == 200
    text = page.data.decode()
    assert "@media print" in text and "page-break-after" in text
    assert "<svg" in text and f'id="briefing-{unit}"' in text
    assert DAY in text and "DRAFT" in text
    listed = re.findall(r'<tr class="stop" data-cell="([0-9a-f]+)">', text)
    assert listed == hex_from_cells(mine["cell"].to_numpy())  # every stop, in order
    assert text.count('<g class="stop">') == len(mine)  # one numbered circle each

    everyone = planner_client.get(f"/plans/{plan_id}/briefing").data.decode()
    assert everyone.count('<article class="briefing"') == visits["unit_id"].nunique()
    assert len(re.findall(r'<tr class="stop"', everyone)) == len(visits)
    assert planner_client.get(f"/plans/{plan_id}/briefing/NO-SUCH-UNIT").status_code == 404


def test_publishing_changes_the_status_and_is_audited(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]
    before = planner_client.get(f"/plans/{plan_id}").data.decode()
    assert 'id="publish"' in before
    # Publishing asks for confirmation: a required box, checked again by the server.
    assert re.search(r'<input type="checkbox" name="confirm" value="yes" id="confirm-publish"'
                     r" required>", before)  # fmt: skip
    assert "<script>" not in before.split('id="publish-form"')[1].split("</form>")[0]
    unconfirmed = planner_client.post(f"/plans/{plan_id}/publish", follow_redirects=True)
    assert "I have checked this plan" in unconfirmed.data.decode()
    assert storage.get_plan(engine, plan_id).status == "draft"
    response = planner_client.post(f"/plans/{plan_id}/publish", data={"confirm": "yes"})
    assert response.status_code == 302 and response.location.endswith(f"/plans/{plan_id}")
    stored = storage.get_plan(engine, plan_id)
    assert stored.status == "published" and stored.published_at is not None
    after = planner_client.get(f"/plans/{plan_id}").data
    assert b'id="publish"' not in after and b'class="badge published"' in after
    entries = storage.list_audit(engine, limit=500, action="plan_published")
    assert f"plan {plan_id}: {DAY} night" in set(entries["detail"])
    # Published visits are what grid workers see.
    assert len(storage.plan_visits_frame(engine, plan_id, published_only=True)) > 0


def test_the_next_day_is_compared_with_the_published_plan_before(
    app, planner_client, plan_id
) -> None:
    engine = app.extensions["engine"]
    storage.publish_plan(engine, plan_id, None)  # whether or not the publish test ran
    next_day = generate(planner_client, date=NEXT_DAY)
    page = planner_client.get(f"/plans/{next_day}").data.decode()
    assert f'href="/plans/{plan_id}" id="previous-plan">{DAY}<' in page
    now = storage.plan_visits_frame(engine, next_day)
    before = storage.plan_visits_frame(engine, plan_id)
    both = len(set(now["cell"]) & set(before["cell"]))
    assert f"Cells in both: {both}" in page
    assert f"only now: {len(set(now['cell']) - set(before['cell']))}" in page
    # The earlier plan is never its own previous plan.
    first = planner_client.get(f"/plans/{plan_id}").data.decode()
    assert f'href="/plans/{plan_id}" id="previous-plan"' not in first


def test_delivered_time_counts_check_ins_in_the_shift(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]

    def delivered() -> float:
        page = planner_client.get(f"/plans/{plan_id}").data.decode()
        return float(re.search(r'id="delivered-minutes">([\d.]+)<', page).group(1))

    visit = storage.plan_visits_frame(engine, plan_id).iloc[0]
    worker = storage.get_user_by_name(engine, "grid1")
    start = delivered()
    storage.add_checkin(engine, worker.id, int(visit["cell"]), int(visit["start_at"]) + 60, 12)
    # A day earlier is outside the plan's shift: it does not count.
    storage.add_checkin(engine, worker.id, int(visit["cell"]), int(visit["start_at"]) - 86_400, 30)
    assert delivered() == start + 12
    page = planner_client.get(f"/plans/{plan_id}").data.decode()
    assert f'data-cell="{hex_from_cells(np.array([visit["cell"]]))[0]}"' in page


def test_delivered_vs_planned_and_comparison_by_hand() -> None:
    visits = pd.DataFrame({"cell": [1, 1, 2], "start_at": [0, 3600, 0],
                           "end_at": [900, 4500, 600], "value": [2.0, 1.0, 3.0]})  # fmt: skip
    checkins = pd.DataFrame({"cell": [2, 3], "minutes": [15.0, 5.0]})
    table = delivered_vs_planned(visits, checkins).set_index("cell")
    assert table.loc[1, "planned_min"] == 30 and table.loc[1, "delivered_min"] == 0
    assert table.loc[2, "share"] == pytest.approx(1.5)
    assert table.loc[3, "planned_min"] == 0 and np.isnan(table.loc[3, "share"])
    empty = delivered_vs_planned(visits, checkins.iloc[:0])
    assert empty["delivered_min"].sum() == 0 and len(empty) == 2
    result = compare_plans(visits, visits[visits["cell"] == 2])
    assert (result["both"], result["only_now"], result["only_before"]) == ([2], [1], [])
    assert result["now"]["minutes"] == 40 and result["before"]["value"] == 3.0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"date": "27/03/2027"}, "date", "YYYY-MM-DD"),
        ({"date": "2031-01-01"}, "date", "within a year"),
        ({"date": days_ahead(-1)}, "date", f"Date: {days_ahead(-1)} is in the past"),
        ({"date": DAY, "shift": "lunch"}, "shift", "Pick one of the shifts"),
        ({"date": DAY, "dwell_min": "0"}, "dwell_min", "from 5.0 to 120.0"),
        ({"date": DAY, "candidates": "many"}, "candidates", "from 10 to 2000"),
        ({"date": DAY, "units_per_station": "99"}, "units_per_station", "1 to 20"),
    ],
)
def test_bad_form_values_are_shown_on_the_form(planner_client, fields, field, message) -> None:
    response = planner_client.post("/plans/new", data=FORM | fields)
    assert response.status_code == 400
    text = response.data.decode()
    assert f'id="error-{field}"' in text and message in text
    assert "data-job-url" not in text  # no job started


def test_jobs_are_for_their_owner_and_admins(app, planner_client) -> None:
    engine = app.extensions["engine"]
    job_url = start_job(planner_client, date=days_ahead(120), shift="day")
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get(job_url).status_code == 200
    name = f"planner-{time.time_ns()}"
    storage.create_user(engine, name, hash_password("another-planner"), "planner")
    other = app.test_client()
    login(other, name, "another-planner")
    response = other.get(job_url)
    assert response.status_code == 403 and response.is_json
    assert response.get_json()["error"]
    missing = planner_client.get("/plans/jobs/no-such-job")
    assert missing.status_code == 404 and missing.get_json()["status"] == 404
    assert wait_for(planner_client, job_url)["state"] == "done"


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("commander", "get", "/plans/", 200),
        ("commander", "get", "/plans/{id}", 200),
        ("commander", "get", "/plans/{id}/briefing", 200),
        ("commander", "get", "/plans/new", 403),
        ("commander", "post", "/plans/new", 403),
        ("commander", "post", "/plans/{id}/publish", 403),
        ("commander", "get", "/plans/{id}/export/gpx", 403),
        ("grid_worker", "get", "/plans/", 403),
        ("grid_worker", "get", "/plans/{id}", 403),
        ("grid_worker", "get", "/plans/{id}/briefing/S01-1", 403),
        ("grid_worker", "get", "/plans/{id}/export/csv", 403),
        ("grid_worker", "post", "/plans/new", 403),
        ("grid_worker", "post", "/plans/{id}/publish", 403),
        ("admin", "get", "/plans/new", 200),
        ("admin", "get", "/plans/{id}/export/json", 200),
    ],
)
def test_who_may_do_what(client_as, plan_id, role, method, path, status) -> None:
    client = client_as(role)
    response = getattr(client, method)(
        path.format(id=plan_id), data=FORM | {"date": days_ahead(150)}
    )
    assert response.status_code == status


def test_commanders_see_plans_without_planning_controls(client_as, plan_id) -> None:
    page = client_as("commander").get(f"/plans/{plan_id}").data
    assert b'id="publish"' not in page and b'id="exports"' not in page
    assert b'id="new-plan"' not in client_as("commander").get("/plans/").data


def test_a_job_that_fails_reports_why(demo_db, tmp_path) -> None:
    missing = tmp_path / "no-such-city.osm"
    app = create_app({"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "PLAN_TIME_LIMIT_S": 2.0, "ROAD_NETWORK_FILE": str(missing)})  # fmt: skip
    client = app.test_client()
    login(client, "planner")
    job = wait_for(client, start_job(client, date=days_ahead(180)))
    assert job["state"] == "failed" and job["plan_id"] is None
    assert "no-such-city.osm" in job["error"]


def _grid_osm(path, west, south, east, north, step_deg=0.003) -> None:
    """Write a street grid (residential ways every ``step_deg``) as OSM XML."""
    lons = np.arange(west, east + step_deg, step_deg)
    lats = np.arange(south, north + step_deg, step_deg)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    node_id = {}
    for i, lat in enumerate(lats):
        for j, lon in enumerate(lons):
            node_id[i, j] = len(node_id) + 1
            lines.append(f'<node id="{node_id[i, j]}" lat="{lat:.6f}" lon="{lon:.6f}"/>')
    way = 0
    for i in range(len(lats)):
        way += 1
        refs = "".join(f'<nd ref="{node_id[i, j]}"/>' for j in range(len(lons)))
        lines.append(f'<way id="{way}">{refs}<tag k="highway" v="residential"/></way>')
    for j in range(len(lons)):
        way += 1
        refs = "".join(f'<nd ref="{node_id[i, j]}"/>' for i in range(len(lats)))
        lines.append(f'<way id="{way}">{refs}<tag k="highway" v="residential"/></way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_with_a_road_network_routes_follow_the_streets(demo_db, tmp_path) -> None:
    engine = storage.make_engine(demo_db)
    stations = storage.list_stations(engine)
    core = storage.load_areas_table(engine, "urban_core")
    west, south, east, north = core.total_bounds if len(core) else (0, 0, 0, 0)
    west, east = min(west, stations["lon"].min()) - 0.01, max(east, stations["lon"].max()) + 0.01
    south = min(south, stations["lat"].min()) - 0.01
    north = max(north, stations["lat"].max()) + 0.01
    osm = tmp_path / "grid.osm"
    _grid_osm(osm, west, south, east, north)
    app = create_app({"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "PLAN_TIME_LIMIT_S": 2.0, "ROAD_NETWORK_FILE": str(osm)})  # fmt: skip
    client = app.test_client()
    login(client, "planner")
    plan_id = generate(client, date=days_ahead(181), candidates="15")
    stored = storage.get_plan(engine, plan_id)
    assert stored.summary["road_network"] == "grid.osm"
    routes = [f for f in json.loads(stored.geojson)["features"]
              if f["properties"]["kind"] == "route" and f["properties"]["visits"]]  # fmt: skip
    assert routes and all(f["properties"]["streets"] for f in routes)
    # Along a grid of streets a leg bends at corners: more vertices than stops.
    assert any(len(f["geometry"]["coordinates"]) > f["properties"]["visits"] + 2 for f in routes)
    page = client.get(f"/plans/{plan_id}").data.decode()
    assert "travel along the streets (grid.osm)" in page
    engine.dispose()


def test_a_plan_without_routes_is_shown_but_cannot_be_published(app, planner_client) -> None:
    from planner.problem import Problem, Stop, Unit
    from planner.solver import SolverOptions, plan_patrols
    from web.services.patrol_plans import PlannedDay, PlanRequest, plan_record

    engine = app.extensions["engine"]
    hex_cell = "8924aecd963ffff"
    # The only cell cannot be reached from the station: the plan is "unreachable".
    problem = Problem(
        travel_time_s=np.array([[0.0, np.inf], [np.inf, 0.0]]),
        units=(Unit(id="U1", start_node=0, end_node=0, shift_start_s=28_800.0,
                    shift_end_s=57_600.0),),
        stops=(Stop(node=1, value=1.0, cell=hex_cell),),
        node_lon_lat=np.array([[98.28, 39.80], [98.29, 39.81]]),
        node_names=("Station", hex_cell),
    )  # fmt: skip
    plan = plan_patrols(problem, SolverOptions(time_limit_s=1.0, seed=1))
    assert plan.status == "unreachable"
    day = pd.Timestamp("2027-07-01", tz="Asia/Shanghai").tz_convert("UTC")
    record = plan_record(PlannedDay(problem, plan, day, "Asia/Shanghai", 1),
                         PlanRequest(date="2027-07-01", shift="day"))  # fmt: skip
    plan_id = storage.store_plan(engine, created_by=None, **record)

    page = planner_client.get(f"/plans/{plan_id}").data.decode()
    assert plan.message in page
    assert 'id="publish"' not in page and 'id="not-publishable"' in page
    assert "out of reach in the shift" in page  # the skipped cell's reason
    response = planner_client.post(
        f"/plans/{plan_id}/publish", data={"confirm": "yes"}, follow_redirects=True
    )
    assert b"cannot be published" in response.data
    assert storage.get_plan(engine, plan_id).status == "draft"


def test_what_to_check_leaves_out_police_initiated_categories(app) -> None:
    engine = app.extensions["engine"]
    categories = storage.load_categories_table(engine)
    police = tuple(categories.loc[categories["police_initiated"], "code"])
    incidents = storage.load_incidents(engine)
    searched = incidents[incidents["category"].isin(police)].iloc[-1]
    cell, end_s = int(searched["cell"]), int(searched["occurred_at"]) + 1
    everything = dict(cell_focus(engine, [cell], end_s=end_s, top=20)[cell])
    assert everything[searched["category"]] >= 1
    kept = cell_focus(engine, [cell], end_s=end_s, top=20, exclude=police).get(cell, [])
    assert not {code for code, _n in kept} & set(police)
    assert sum(n for _c, n in kept) == sum(n for c, n in everything.items() if c not in police)


@pytest.mark.dates
def test_shifts_follow_the_city_clock_on_the_day(app, planner_client, moment) -> None:
    """At each moment: the form offers the city's tomorrow, and a night plan for the city's
    today starts at its local 00:00 and lasts what the clocks say (7 or 9 hours on the days
    they change), every visit inside it."""
    from datetime import timedelta

    from web.services.patrol_plans import PlanRequest, plan_day, plan_record

    engine = app.extensions["engine"]
    today = moment.local.date()
    form = planner_client.get("/plans/new").data.decode()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert f'name="date" id="date" value="{tomorrow}"' in form
    request = PlanRequest(date=today.isoformat(), shift="night", candidates=20, time_limit_s=2.0,
                          work_s=0.5, seed=3)  # fmt: skip
    record = plan_record(plan_day(engine, request, "secret"), request)
    zone = moment.timezone
    start = pd.Timestamp(today).tz_localize(zone)
    end = (pd.Timestamp(today) + pd.Timedelta(hours=8)).tz_localize(zone)
    assert record["shift_start"] == int(start.timestamp())
    visits = record["visits"]
    assert len(visits) > 0
    assert (visits["start_at"] >= start.timestamp()).all()
    assert (visits["end_at"] <= end.timestamp()).all()
    # The plan's clock reads local time: the first visit's popup time is its local time.
    document = json.loads(record["plan_json"])
    first = min(visits["start_at"])
    origin = pd.Timestamp(document["date_start_utc"])
    seconds = min(s for unit in document["units"] for s in unit["start_s"])
    assert round((origin + pd.Timedelta(seconds=seconds)).timestamp()) == int(first)


def _copy_plan(engine, plan_id: int, plan_date: str | None = None) -> int:
    """Store a draft copy of a plan (its visits too), optionally for another date."""
    stored = storage.get_plan(engine, plan_id)
    visits = storage.plan_visits_frame(engine, plan_id).drop(columns=["plan_id"])
    return storage.store_plan(
        engine, plan_date=plan_date or stored.plan_date, shift=stored.shift, created_by=None,
        shift_start=stored.shift_start, seed=stored.seed, request=stored.request,
        summary=stored.summary, plan_json=stored.plan_json, geojson=stored.geojson,
        gpx=stored.gpx, csv=stored.csv, visits=visits,
    )  # fmt: skip


def _zh_client(app, moment):
    client = logged_in_client(app, moment, "planner")
    with client.session_transaction() as session:
        session["lang"] = "zh"
    return client


def test_a_replaced_plan_keeps_its_publication_and_shows_as_replaced(
    app, moment, planner_client, plan_id
) -> None:
    engine = app.extensions["engine"]
    first = _copy_plan(engine, plan_id, days_ahead(103))
    second = _copy_plan(engine, plan_id, days_ahead(103))
    assert planner_client.post(f"/plans/{first}/publish", data={"confirm": "yes"}).status_code
    published_at = storage.get_plan(engine, first).published_at
    assert published_at is not None
    page = planner_client.get(f"/plans/{second}").data.decode()
    assert f"It replaces the published plan {first}" in page
    planner_client.post(f"/plans/{second}/publish", data={"confirm": "yes"})

    # The first plan keeps its status and publication time, and is shown as replaced.
    old = storage.get_plan(engine, first)
    assert (old.status, old.published_at) == ("published", published_at)
    assert storage.get_plan(engine, second).status == "published"
    page = planner_client.get(f"/plans/{first}").data.decode()
    assert re.search(r'class="badge replaced" id="plan-status">replaced<', page)
    assert f'href="/plans/{second}">plan {second}</a>' in page
    assert 'id="publish"' not in page
    current = planner_client.get(f"/plans/{second}").data.decode()
    assert 'class="badge published" id="plan-status"' in current
    listing = planner_client.get("/plans/").data.decode()
    row = listing.split(f'data-plan-id="{first}"')[1].split("</tr>")[0]
    assert f'data-replaced-by="{second}"' in row and "by plan" in row
    briefing = planner_client.get(f"/plans/{first}/briefing").data.decode()
    assert f"REPLACED by plan {second}" in briefing
    # Grid workers see the plan in force only; the history lists the replaced one.
    shown = storage.plan_visits_frame(engine, published_only=True)
    assert second in set(shown["plan_id"]) and first not in set(shown["plan_id"])
    assert first in set(storage.list_plans(engine, 500, status="replaced")["id"])
    assert first not in set(storage.list_plans(engine, 500, status="published")["id"])
    # Publishing the replaced plan again does not bring it back.
    again = planner_client.post(
        f"/plans/{first}/publish", data={"confirm": "yes"}, follow_redirects=True
    )
    assert f"replaced by plan {second}" in again.data.decode()
    assert storage.get_plan(engine, first).published_at == published_at
    # Their downloads are told apart by the plan number.
    names = {planner_client.get(f"/plans/{i}/export/csv").headers["Content-Disposition"]
             for i in (first, second)}  # fmt: skip
    assert len(names) == 2
    # In Chinese the statuses show in Chinese where translated.
    zh = _zh_client(app, moment).get(f"/plans/{second}").data.decode()
    assert "已发布" in zh


def test_a_plan_for_a_past_date_cannot_be_published(app, planner_client, plan_id) -> None:
    engine = app.extensions["engine"]
    past = _copy_plan(engine, plan_id, days_ahead(-2))
    page = planner_client.get(f"/plans/{past}").data.decode()
    assert 'id="past-date"' in page and 'id="publish"' not in page
    response = planner_client.post(
        f"/plans/{past}/publish", data={"confirm": "yes"}, follow_redirects=True
    )
    assert "a past date, and cannot be published" in response.data.decode()
    assert storage.get_plan(engine, past).status == "draft"


def test_past_dates_are_refused_in_chinese_too(app, moment) -> None:
    client = _zh_client(app, moment)
    yesterday = days_ahead(-1)
    response = client.post("/plans/new", data=FORM | {"date": yesterday})
    assert response.status_code == 400
    text = response.data.decode()
    assert 'id="error-date"' in text and yesterday in text
    assert 'aria-invalid="true" aria-describedby="error-date"' in text
    assert "data-job-url" not in text
    # Today (in the city) is accepted.
    today = moment.local.date().isoformat()
    started = client.post("/plans/new", data=FORM | {"date": today, "candidates": "10"})
    assert started.status_code == 200 and "data-job-url" in started.data.decode()
    assert wait_for(client, re.search(r'data-job-url="([^"]+)"', started.data.decode())
                    .group(1))["state"] == "done"  # fmt: skip


def test_the_csv_headers_follow_the_language(app, moment, plan_id) -> None:
    response = _zh_client(app, moment).get(f"/plans/{plan_id}/export/csv")
    header = response.data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:4] == ["日期", "警组", "派出所", "巡逻点"] and "网格" in header


def test_the_stop_list_is_grouped_by_station_and_names_cells(app, planner_client, plan_id) -> None:
    from web.services.cell_names import cell_names
    from web.services.site_data import site_data

    engine = app.extensions["engine"]
    stored = storage.get_plan(engine, plan_id)
    stations = json.loads(stored.plan_json)["unit_stations"]
    station_of = {unit: where["start"] for unit, where in stations.items()}
    text = planner_client.get(f"/plans/{plan_id}").data.decode()
    groups = re.findall(
        r'<section class="station-group" data-station="([^"]*)">(.*?)</section>', text, re.S
    )
    assert len(groups) == len(set(station_of.values())) >= 2
    listed = []
    for station, body in groups:
        units = re.findall(r'<details class="unit unit-group" id="unit-[^"]+" data-unit="([^"]+)"',
                           body)  # fmt: skip
        assert units and all(station_of[u] == station for u in units)
        listed += units
        # The selector offers the station and each of its units.
        assert f'<option value="station:{station}">' in text
        assert all(f'<option value="unit:{u}">' in text for u in units)
    assert sorted(listed) == sorted(station_of)  # every unit once
    # Each stop: the cell's readable name, then its H3 id; local hh:mm arrival and departure.
    names = cell_names(engine, site_data(engine))
    rows = re.findall(
        r'<tr class="stop" data-cell="([0-9a-f]+)"><td class="num">\d+</td>\s*'
        r'<td><span class="stop-name">([^<]+)</span> <span class="stop-hex">([0-9a-f]+)</span>'
        r'.*?<td class="time">(\d\d:\d\d).*?<td class="time">(\d\d:\d\d)</td>',
        text,
        re.S,
    )
    assert len(rows) == stored.summary["visits"]
    assert all(name == names.name(h) and h == shown for h, name, shown, _a, _d in rows)
    assert all(re.fullmatch(r"G\d+-\d+", name) for _h, name, *_rest in rows)
    # The briefing names them the same way.
    briefing = planner_client.get(f"/plans/{plan_id}/briefing").data.decode()
    named = re.findall(r'<tr class="stop" data-cell="([0-9a-f]+)">.*?'
                       r'<strong class="cell-name">([^<]+)</strong>', briefing, re.S)  # fmt: skip
    assert len(named) == len(rows)
    assert all(name == names.name(h) for h, name in named)


def test_units_and_hours_per_station_from_the_form(app, planner_client) -> None:
    engine = app.extensions["engine"]
    stations = storage.list_stations(engine)["station_id"].tolist()
    rows = {f"station_{i}": sid for i, sid in enumerate(stations)}
    day = days_ahead(102)
    # Hours outside the shift, a count out of range, hours that are not hours: the form again.
    bad = planner_client.post("/plans/new", data=FORM | rows | {
        "date": day, "shift": "day", "units_per_station": "", "hours_0": "06:00-12:00",
        "units_1": "99", "hours_2": "noon"})  # fmt: skip
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert 'id="error-units_1"' in page and 'id="error-hours_2"' in page
    assert 'id="station-rows" open' in page
    early = {"date": day, "shift": "day", "units_per_station": "", "hours_0": "06:00-12:00"}
    outside = planner_client.post("/plans/new", data=FORM | rows | early)
    assert outside.status_code == 400
    assert "Station hours must lie within the shift (08:00-16:00)" in outside.get_data(as_text=True)
    # No units at the first station, three at the second working 10:00-14:00, the rest as
    # stored.
    plan_id = generate(planner_client, **rows, date=day, shift="day", units_per_station="",
                       units_0="0", units_1="3", hours_1="10:00-14:00")  # fmt: skip
    stored = storage.get_plan(engine, plan_id)
    units = json.loads(stored.problem)["units"]
    by_station: dict[str, list] = {}
    for unit in units:
        by_station.setdefault(unit["id"].rsplit("-", 1)[0], []).append(unit)
    assert stations[0] not in by_station
    assert len(by_station[stations[1]]) == 3
    assert all(u["shift_start_s"] == 10 * 3600 and u["max_duration_s"] == 4 * 3600
               for u in by_station[stations[1]])  # fmt: skip
    stored_units = dict(zip(stations, storage.list_stations(engine)["units"], strict=True))
    for sid in stations[2:]:
        assert len(by_station.get(sid, [])) == stored_units[sid]
        assert all(u["shift_start_s"] == 8 * 3600 for u in by_station.get(sid, []))
    assert stored.request["station_units"] == {stations[0]: 0, stations[1]: 3}
