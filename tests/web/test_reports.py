"""Grid workers' event reports: the rules (places in their grids, no personal numbers, times),
the phone page and the API, review by commanders, and an accepted report counted as an
incident; the report categories' command."""

from __future__ import annotations

import re
import uuid

import h3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from click.testing import CliRunner

from geo.cells import hex_from_cells
from geo.coords import gcj02_from_wgs84
from tests.web.conftest import login, user_cells, user_id
from web import clock, storage
from web.cli import cli
from web.services import reports as field_reports
from web.services import site_data
from web.storage import reports as report_store
from web.storage.schema import feed_runs, import_runs, incident_changes

# Every test runs on SQLite and on PostgreSQL (the demo too; tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture(scope="module")
def engine(app):
    return app.extensions["engine"]


@pytest.fixture
def grid1(app):
    client = app.test_client()
    login(client, "grid1")
    return client


@pytest.fixture
def commander(app):
    client = app.test_client()
    login(client, "commander")
    return client


def _centre(hex_id: str) -> tuple[float, float]:
    """(lon, lat) of a cell's centre, WGS-84."""
    lat, lon = h3.cell_to_latlng(hex_id)
    return lon, lat


def _own_cell(engine, n: int = 0) -> str:
    return user_cells(engine, "grid1")[n]


def _other_cell(engine) -> str:
    own = set(user_cells(engine, "grid1"))
    return next(c for c in user_cells(engine, "grid2") if c not in own)


def _local_input(engine, epoch_s: int) -> str:
    timezone = storage.get_meta(engine)["timezone"]
    return pd.Timestamp(epoch_s, unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%dT%H:%M")


def _form(engine, hex_id: str, **changes) -> dict[str, str]:
    lon, lat = _centre(hex_id)
    form = {
        "category": "hazard",
        "occurred_at": _local_input(engine, int(clock.now_s()) - 600),
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "crs": "wgs84",
        "accuracy_m": "12",
        "note": f"broken street light by the east gate {uuid.uuid4().hex[:8]}",
    }
    form.update(changes)
    return form


def _reports_with_note(engine, note: str) -> list[report_store.FieldReport]:
    return [r for r in report_store.list_field_reports(engine, limit=1000) if r.note == note]


def _api_report(client, engine, hex_id: str, **changes):
    form = _form(engine, hex_id)
    body = {
        "category": form["category"],
        "occurred_at": form["occurred_at"],
        "lon": float(form["lon"]),
        "lat": float(form["lat"]),
        "crs": "wgs84",
        "accuracy_m": 12,
        "note": form["note"],
    }
    body.update(changes)
    return client.post("/api/reports", json=body), body


# --- rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("note", "kind"),
    [
        ("owner 11010519491231002X runs it", "id_card"),
        ("ID 110105 19491231 002x", "id_card"),
        ("old card 110105491231002", "id_card"),
        ("call 13800138000", "phone"),
        ("call +86 138-0013-8000 after 8", "phone"),
        ("电话 138 0013 8000", "phone"),
        ("电话１３８００１３８０００", "phone"),
        ("0086 13912345678", "phone"),
        ("2 manhole covers missing near building 3", None),
        ("seen 2026-12-04 15:30, gate 12345", None),
        ("3号楼东侧井盖缺失，约 20 米", None),
        ("", None),
    ],
)
def test_personal_numbers_are_recognised(note, kind) -> None:
    assert field_reports.personal_number_kind(note) == kind


def test_gcj02_positions_are_converted_to_wgs84() -> None:
    lon, lat = 98.2901, 39.7731
    glon, glat = gcj02_from_wgs84([lon], [lat])
    back = field_reports.wgs84_position(float(glon[0]), float(glat[0]), "gcj02")
    assert abs(back[0] - lon) < 1e-5 and abs(back[1] - lat) < 1e-5
    assert field_reports.wgs84_position(lon, lat, "wgs84") == (lon, lat)
    with pytest.raises(ValueError, match="crs"):
        field_reports.wgs84_position(lon, lat, "bd09")


# --- the phone page -------------------------------------------------------------------------------


def test_the_page_offers_the_report_form(grid1) -> None:
    page = grid1.get("/grid/")
    assert page.status_code == 200
    soup = BeautifulSoup(page.data, "html.parser")
    form = soup.select_one("#report-form")
    assert form is not None
    options = [o["value"] for o in form.select("#report-category option") if o["value"]]
    assert options == ["dispute", "hazard", "gambling_fraud", "public_order"]
    assert "never people" in soup.select_one("#report-warning").text
    assert {o["value"] for o in form.select("#report-crs option")} == {"wgs84", "gcj02"}
    assert soup.select_one('script[src$="grid-report.js"]') is not None


def test_a_report_in_own_grid_is_stored(grid1, engine) -> None:
    form = _form(engine, _own_cell(engine))
    response = grid1.post("/grid/report", data=form)
    assert response.status_code == 302, response.data[:400]
    (stored,) = _reports_with_note(engine, form["note"])
    assert stored.status == "reported" and stored.category == "hazard"
    assert hex_from_cells(np.array([stored.cell]))[0] == _own_cell(engine)
    assert stored.accuracy_m == 12 and stored.crs == "wgs84"
    assert stored.user_id == user_id(engine, "grid1")
    # The same report sent twice (a double tap) is stored once.
    assert grid1.post("/grid/report", data=form).status_code == 302
    assert len(_reports_with_note(engine, form["note"])) == 1
    page = grid1.get("/grid/").get_data(as_text=True)
    assert "waiting for review" in page


def test_a_report_outside_own_grids_is_refused_on_the_page(grid1, engine) -> None:
    form = _form(engine, _other_cell(engine))
    response = grid1.post("/grid/report", data=form)
    assert response.status_code == 403
    assert not _reports_with_note(engine, form["note"])


@pytest.mark.parametrize(
    "note", ["the owner's mobile is 139 1234 5678", "身份证 11010519491231002X"]
)
def test_notes_with_personal_numbers_are_refused(grid1, engine, note) -> None:
    form = _form(engine, _own_cell(engine), note=note)
    response = grid1.post("/grid/report", data=form)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "never people" in text and "nothing was stored" in text
    assert not _reports_with_note(engine, note)


def test_future_and_old_times_and_long_notes_are_refused(grid1, engine) -> None:
    now = int(clock.now_s())
    for changes, message in [
        ({"occurred_at": _local_input(engine, now + 3 * 3600)}, "in the future"),
        ({"occurred_at": _local_input(engine, now - 8 * 86400)}, "days ago"),
        ({"occurred_at": "yesterday"}, "as date and time"),
        ({"note": "x" * (field_reports.NOTE_MAX_CHARS + 1)}, "longer than"),
        ({"category": "nonsense"}, "Choose a category"),
        ({"lon": "", "lat": ""}, "Choose the place"),
    ]:
        form = _form(engine, _own_cell(engine), **changes)
        response = grid1.post("/grid/report", data=form)
        assert response.status_code == 400, changes
        assert message in response.get_data(as_text=True), changes
        assert not _reports_with_note(engine, form["note"])


# --- the API --------------------------------------------------------------------------------------


def test_api_report_in_own_grid_and_gcj02_converted(grid1, engine) -> None:
    hex_id = _own_cell(engine, 1)
    lon, lat = _centre(hex_id)
    glon, glat = gcj02_from_wgs84([lon], [lat])
    response, body = _api_report(
        grid1, engine, hex_id, lon=float(glon[0]), lat=float(glat[0]), crs="gcj02"
    )
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["cell"] == hex_id and answer["crs"] == "gcj02"
    assert answer["status"] == "reported"
    (stored,) = _reports_with_note(engine, body["note"])
    # Stored in WGS-84: the GCJ-02 shift (hundreds of metres) is taken off.
    assert abs(stored.lon - lon) < 1e-5 and abs(stored.lat - lat) < 1e-5
    assert np.hypot(float(glon[0]) - lon, float(glat[0]) - lat) > 1e-3
    mine = grid1.get("/api/reports/mine").get_json()
    assert mine["reports"][0]["id"] == stored.id
    assert {c["code"] for c in mine["categories"]} >= {"dispute", "hazard"}


def test_api_refusals(grid1, engine, app) -> None:
    response, body = _api_report(grid1, engine, _other_cell(engine))
    assert response.status_code == 403
    assert "not in your grids" in response.get_json()["error"]
    assert not _reports_with_note(engine, body["note"])
    future = _local_input(engine, int(clock.now_s()) + 3 * 3600)
    response, body = _api_report(grid1, engine, _own_cell(engine), occurred_at=future)
    assert response.status_code == 400 and "future" in response.get_json()["error"]
    response, body = _api_report(grid1, engine, _own_cell(engine), note="tel 13800138000")
    assert response.status_code == 400 and "phone number" in response.get_json()["error"]
    response, body = _api_report(grid1, engine, _own_cell(engine), lon="98.3")
    assert response.status_code == 400 and "lon" in response.get_json()["error"]
    response, body = _api_report(grid1, engine, _own_cell(engine), crs="bd09")
    assert response.status_code == 400
    for role in ("commander", "planner", "admin"):
        other = app.test_client()
        login(other, role)
        response, body = _api_report(other, engine, _own_cell(engine))
        assert response.status_code == 403
        assert not _reports_with_note(engine, body["note"])


def test_a_grid_worker_sees_only_their_own_reports(app, engine) -> None:
    grid2 = app.test_client()
    login(grid2, "grid2")
    hex_id = user_cells(engine, "grid2")[0]
    response, body = _api_report(grid2, engine, hex_id)
    assert response.status_code == 201
    report_id = response.get_json()["id"]
    grid1 = app.test_client()
    login(grid1, "grid1")
    ids = [r["id"] for r in grid1.get("/api/reports/mine?limit=500").get_json()["reports"]]
    assert report_id not in ids
    assert body["note"] not in grid1.get("/grid/").get_data(as_text=True)
    ids2 = [r["id"] for r in grid2.get("/api/reports/mine").get_json()["reports"]]
    assert report_id in ids2


# --- review ---------------------------------------------------------------------------------------


def _new_report(client, engine, n: int = 0, **changes) -> int:
    response, _body = _api_report(client, engine, _own_cell(engine, n), **changes)
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["id"])


def test_only_commanders_and_admins_review(app, grid1, engine) -> None:
    report_id = _new_report(grid1, engine)
    planner = app.test_client()
    login(planner, "planner")
    url = f"/command/reports/{report_id}/review"
    assert planner.post(url, data={"decision": "accept"}).status_code == 403
    assert grid1.post(url, data={"decision": "accept"}).status_code == 403
    assert report_store.get_field_report(engine, report_id).status == "reported"


def test_reject_needs_a_reason_which_the_reporter_sees(grid1, commander, engine) -> None:
    report_id = _new_report(grid1, engine)
    url = f"/command/reports/{report_id}/review"
    json_headers = {"Accept": "application/json"}
    response = commander.post(url, data={"decision": "reject"}, headers=json_headers)
    assert response.status_code == 400 and "reason" in response.get_json()["error"]
    reason = f"already handled by the community office {uuid.uuid4().hex[:6]}"
    response = commander.post(url, data={"decision": "reject", "reason": reason})
    assert response.status_code == 302
    stored = report_store.get_field_report(engine, report_id)
    assert stored.status == "rejected" and stored.reason == reason
    assert stored.incident_id is None
    mine = grid1.get("/api/reports/mine?limit=500").get_json()["reports"]
    (shown,) = [r for r in mine if r["id"] == report_id]
    assert shown["status"] == "rejected" and shown["reason"] == reason
    assert reason in grid1.get("/grid/").get_data(as_text=True)
    # Reviewed once: a second decision is refused.
    again = commander.post(url, data={"decision": "accept"}, headers=json_headers)
    assert again.status_code == 409


def test_an_accepted_report_becomes_a_counted_incident(grid1, commander, engine) -> None:
    report_id = _new_report(grid1, engine, 2, category="gambling_fraud")
    before = site_data.site_data(engine)
    response = commander.post(
        f"/command/reports/{report_id}/review",
        data={"decision": "accept"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.get_json()
    stored = report_store.get_field_report(engine, report_id)
    assert stored.status == "accepted" and stored.reviewed_by == user_id(engine, "commander")
    incident_id = report_store.field_incident_id(report_id)
    assert stored.incident_id == incident_id
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(storage.incidents).where(storage.incidents.c.id == incident_id)
        ).one()
        run = conn.execute(
            sa.select(import_runs).where(import_runs.c.id == row.import_run_id)
        ).one()
        kind = conn.execute(
            sa.select(feed_runs.c.kind).where(feed_runs.c.import_run_id == run.id)
        ).scalar_one()
        change = conn.execute(
            sa.select(incident_changes).where(incident_changes.c.incident_id == incident_id)
        ).one()
    assert row.source_id == f"report-{report_id}" and row.cell == stored.cell
    assert row.occurred_at == stored.occurred_at
    assert run.source == "field" and run.file == "feed:field"
    assert (run.rows_read, run.inserted, run.duplicates, run.rejected) == (1, 1, 0, 0)
    assert kind == "field" and change.old_cell is None
    after = site_data.site_data(engine)
    assert after.version != before.version
    assert after.n_incidents == before.n_incidents + 1
    gambling = int(np.flatnonzero(after.categories["code"].to_numpy() == "GAMBLING")[0])
    rows = after.cell_rows(int(stored.cell))
    in_cell = after.category_index[rows]
    assert (in_cell == gambling).sum() >= 1
    # The live view lists it as a field incident, newest run first.
    live = commander.get(f"/command/live.json?after={run.id - 1}").get_json()
    assert live["incidents"][0]["id"] == str(incident_id)
    assert live["incidents"][0]["source"] == "field"
    # Named for people: the grid worker's cells lie in a grid (G001-3), the H3 id beside it.
    assert re.fullmatch(r"G\d+-\d+", live["incidents"][0]["cell_name"])
    assert all(r["id"] != report_id for r in live["waiting"])


# --- the live view --------------------------------------------------------------------------------


def test_live_view_lists_waiting_reports_and_news_only_after_the_cursor(
    grid1, commander, app, engine
) -> None:
    page = commander.get("/command/live")
    assert page.status_code == 200
    soup = BeautifulSoup(page.data, "html.parser")
    assert soup.select_one('script[src$="live.js"]') is not None
    assert soup.select_one("#live-config") is not None
    assert soup.select_one(".folium-map") is not None
    first = commander.get("/command/live.json").get_json()
    report_id = _new_report(grid1, engine)
    waiting = commander.get("/command/live.json").get_json()["waiting"]
    (mine,) = [r for r in waiting if r["id"] == report_id]
    assert mine["reporter"] == "grid1" and len(mine["ring"]) == 6
    again = commander.get(f"/command/live.json?after={first['run']}").get_json()
    assert again["run"] >= first["run"]
    latest = commander.get(f"/command/live.json?after={again['run']}").get_json()
    assert latest["incidents"] == []
    assert commander.get("/command/live.json?after=x").status_code == 400
    planner = app.test_client()
    login(planner, "planner")
    assert planner.get("/command/live").status_code == 200
    assert b'"canReview": false' in planner.get("/command/live").data
    menu = BeautifulSoup(commander.get("/command/live").data, "html.parser").select(".menu a")
    assert any(a["href"].endswith("/command/live") for a in menu)


# --- the report categories' command ---------------------------------------------------------------


def test_report_categories_command(db_url, cli_env) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init-db"], env=cli_env).exit_code == 0
    engine = storage.make_engine(db_url)
    listing = runner.invoke(cli, ["report-categories", "list"], env=cli_env)
    assert listing.exit_code == 0, listing.output
    assert listing.output.strip() == ""
    add = ["report-categories", "add", "litter", "--zh", "乱扔垃圾", "--en", "Litter",
           "--category", "PUBLIC PEACE VIOLATION"]  # fmt: skip
    result = runner.invoke(cli, add, env=cli_env)
    assert result.exit_code == 0, result.output
    again = runner.invoke(cli, add, env=cli_env)
    assert again.exit_code != 0 and "exists already" in again.output
    wrong = runner.invoke(cli, [*add[:-2], "--category", "NOPE"], env=cli_env)
    assert wrong.exit_code != 0 and "not an incident category" in wrong.output
    assert "litter" in runner.invoke(cli, ["report-categories"], env=cli_env).output
    disable = runner.invoke(cli, ["report-categories", "disable", "litter"], env=cli_env)
    assert disable.exit_code == 0
    assert not report_store.list_report_categories(engine, active_only=True)
    (litter,) = report_store.list_report_categories(engine)
    assert litter.code == "litter" and not litter.active
    unknown = runner.invoke(cli, ["report-categories", "disable", "nope"], env=cli_env)
    assert unknown.exit_code != 0
    engine.dispose()
