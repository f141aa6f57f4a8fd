"""Administrator pages (issue 15, item 8): least privilege by default, forms that keep what
was typed, grids picked from the stored ones, and the audit log's filters and CSV export."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from geo.cells import cells_from_hex
from tests.web.test_accounts import csrf_token
from web import clock, create_app, storage
from web.cli import cli

# Every test runs on SQLite and on PostgreSQL (the demo too; tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture
def site(db_url):
    """A demo-less site with one admin (boss) and two stored grids (G1, G2)."""
    import geopandas as gpd
    from shapely.geometry import box

    url = db_url
    env = {"HOTSPOT_DATABASE_URL": url}
    result = CliRunner().invoke(
        cli, ["users", "add", "boss", "--role", "admin", "--password", "correct-horse"], env=env
    )
    assert result.exit_code == 0, result.output
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    polygons = gpd.GeoDataFrame(
        {"area_id": ["G1", "G2"], "name": ["North gate", "South market"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    hexes = ["8928308280fffff", "8928308280bffff"]
    cells = pd.DataFrame({"area_id": ["G1", "G2"], "cell": cells_from_hex(hexes)})
    storage.store_areas(app.extensions["engine"], "grid", polygons, cells, source="test")
    return app


def admin_client(app, language: str = "en"):
    """A logged-in client of boss, in this language."""
    client = app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "boss", "password": "correct-horse",
                                "csrf_token": token})  # fmt: skip
    token = csrf_token(client, "/admin/users")
    client.post("/language", data={"lang": language, "csrf_token": token})
    return client


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.mark.parametrize(("language", "prompt"), [("en", "Choose a role"), ("zh", None)])
def test_a_new_account_has_no_role_preselected(site, language, prompt) -> None:
    client = admin_client(site, language)
    html = page(client.get("/admin/users"))
    assert html.html["lang"].startswith(language)
    select = html.select_one("#new-user select[name=role]")
    assert select is not None and select.has_attr("required")
    chosen = select.select("option[selected]")
    assert len(chosen) == 1 and chosen[0]["value"] == "" and chosen[0].has_attr("disabled")
    if prompt:
        assert prompt in chosen[0].get_text()
    form = {"username": "w1", "password": "grid-pass-1", "csrf_token": csrf_token(
        client, "/admin/users")}  # fmt: skip
    client.post("/admin/users", data=form)
    assert storage.get_user_by_name(site.extensions["engine"], "w1") is None  # no role: refused
    client.post("/admin/users", data=form | {"role": "grid_worker"})
    created = storage.get_user_by_name(site.extensions["engine"], "w1")
    assert created is not None and created.role == "grid_worker"


def _value(html: BeautifulSoup, selector: str) -> str:
    field = html.select_one(selector)
    assert field is not None, selector
    return str(field.get("value", ""))


@pytest.mark.parametrize(("language", "message"), [("en", "Unknown grid id"), ("zh", None)])
def test_a_refused_new_account_keeps_what_was_typed_but_the_password(
    site, language, message
) -> None:
    client = admin_client(site, language)
    form = {"username": "li.wei", "display_name": "李伟", "password": "grid-pass-1",
            "role": "grid_worker", "grids": "G404", "csrf_token": csrf_token(
                client, "/admin/users")}  # fmt: skip
    response = client.post("/admin/users", data=form)
    assert response.status_code == 400
    html = page(response)
    assert html.select(".flash.error")
    if message:
        assert message in html.select_one(".flash.error").get_text()
    assert _value(html, "#new-user input[name=username]") == "li.wei"
    assert _value(html, "#new-user input[name=display_name]") == "李伟"
    assert _value(html, "#new-user input[name=password]") == ""
    assert html.select_one("#new-user select[name=role] option[selected]")["value"] == "grid_worker"
    assert storage.get_user_by_name(site.extensions["engine"], "li.wei") is None


def test_a_refused_account_edit_keeps_what_was_typed_but_the_password(site) -> None:
    engine = site.extensions["engine"]
    user_id = storage.create_user(engine, "p1", "x", "planner", display_name="Old")
    client = admin_client(site)
    form = {"display_name": "x" * 81, "role": "commander", "password": "a-new-password",
            "csrf_token": csrf_token(client, f"/admin/users/{user_id}")}  # fmt: skip
    response = client.post(f"/admin/users/{user_id}", data=form)
    assert response.status_code == 400
    html = page(response)
    assert "80" in html.select_one(".flash.error").get_text()
    assert _value(html, "#edit-user input[name=display_name]") == "x" * 81
    assert _value(html, "#edit-user input[name=password]") == ""
    assert html.select_one("#edit-user select[name=role] option[selected]")["value"] == "commander"
    assert not html.select_one("#edit-user input[name=active]").has_attr("checked")
    record = storage.get_user(engine, user_id)
    assert record is not None and record.role == "planner" and record.display_name == "Old"


@pytest.mark.parametrize("language", ["en", "zh"])
def test_grids_are_picked_from_the_stored_ones(site, language) -> None:
    engine = site.extensions["engine"]
    client = admin_client(site, language)
    html = page(client.get("/admin/users"))
    assert not html.select("#new-user input[name=grids]:not([type=checkbox])")  # no free text
    boxes = html.select("#new-user input[type=checkbox][name=grids]")
    assert [b["value"] for b in boxes] == ["G1", "G2"]
    labels = [b.parent.get_text(" ", strip=True) for b in boxes]
    assert labels == ["North gate (G1)", "South market (G2)"]
    token = csrf_token(client, "/admin/users")
    form = {"username": "w2", "password": "grid-pass-2", "role": "grid_worker",
            "csrf_token": token}  # fmt: skip
    # A forged id is refused on the server; the boxes ticked stay ticked.
    response = client.post("/admin/users", data=form | {"grids": ["G1", "G9"]})
    assert response.status_code == 400 and storage.get_user_by_name(engine, "w2") is None
    ticked = page(response).select("#new-user input[name=grids][checked]")
    assert [b["value"] for b in ticked] == ["G1"]
    client.post("/admin/users", data=form | {"grids": ["G1", "G2"]})
    created = storage.get_user_by_name(engine, "w2")
    assert created is not None and storage.user_grid_ids(engine, created.id) == ["G1", "G2"]
    # The edit form shows the grids assigned ticked; unticking one removes it.
    html = page(client.get(f"/admin/users/{created.id}"))
    ticked = html.select("#edit-user input[name=grids][checked]")
    assert [b["value"] for b in ticked] == ["G1", "G2"]
    edit = {"role": "grid_worker", "active": "on", "grids": ["G2"], "csrf_token": token}
    assert client.post(f"/admin/users/{created.id}", data=edit).status_code == 302
    assert storage.user_grid_ids(engine, created.id) == ["G2"]
    # Grids go only to grid workers.
    response = client.post(f"/admin/users/{created.id}", data=edit | {"role": "planner"})
    assert response.status_code == 400 and storage.user_grid_ids(engine, created.id) == ["G2"]


def _audit_entries(engine) -> None:
    """Five entries on three days (noon UTC: the same local day from UTC-11 to UTC+11)."""
    for moment, action, user, detail in (
        ("2027-03-01T12:00:00Z", "login", "boss", ""),
        ("2027-03-02T12:00:00Z", "login_failed", "mallory", '=HYPERLINK("x")'),
        ("2027-03-02T12:30:00Z", "user_created", "boss", "w1 (grid_worker) 李伟"),
        ("2027-03-03T12:00:00Z", "login", "Boss", ""),
        ("2027-03-03T12:30:00Z", "plan_published", "planner", "plan 3"),
    ):
        with clock.frozen(moment):
            storage.audit(engine, action, username=user, detail=detail)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_audit_log_filters_by_date_user_and_action(site, language) -> None:
    engine = site.extensions["engine"]
    client = admin_client(site, language)
    _audit_entries(engine)
    html = page(client.get("/admin/audit"))
    actions = [o["value"] for o in html.select("#audit-filters select[name=action] option")]
    assert actions[0] == ""
    assert {"login", "login_failed", "user_created", "plan_published"} <= set(actions)
    if language == "en":
        assert "Failed login" in html.select_one("#audit-filters select[name=action]").get_text()

    def details(query: str) -> list[str]:
        response = client.get("/admin/audit?" + query)
        assert response.status_code == 200
        rows = page(response).select("#audit tr")[1:]
        return [r.select("td")[3].get_text() for r in rows if len(r.select("td")) == 5]

    assert details("start=2027-03-02&end=2027-03-02&user=&action=") == [
        "w1 (grid_worker) 李伟",
        '=HYPERLINK("x")',
    ]
    assert len(details("start=2027-03-02")) == 4
    assert len(details("start=2027-03-01&end=2027-03-01")) == 1  # "to" includes its day
    assert details("user=boss&action=login&start=2027-01-01") == ["", ""]  # any case
    assert details("action=plan_published") == ["plan 3"]
    assert details("user=nobody") == []
    refused = client.get("/admin/audit?start=2027-13-01")
    assert refused.status_code == 400 and page(refused).select(".flash.error")
    refused = client.get("/admin/audit?start=2027-03-03&end=2027-03-01")
    assert refused.status_code == 400


def test_the_audit_log_exports_csv_with_a_bom_and_a_bound(site, monkeypatch) -> None:
    from web.views import admin

    engine = site.extensions["engine"]
    client = admin_client(site)
    _audit_entries(engine)
    html = page(client.get("/admin/audit?start=2027-03-02&action=login_failed"))
    link = html.select_one("#audit-csv")["href"]
    assert "start=2027-03-02" in link and "action=login_failed" in link
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "audit_2027-03-02.csv" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Time", "User", "Action", "Action code"]
    assert len(rows) == 2 and rows[1][1] == "mallory" and rows[1][3] == "login_failed"
    assert rows[1][4] == '\'=HYPERLINK("x")'  # never a formula in a spreadsheet
    everything = list(csv.reader(io.StringIO(client.get("/admin/audit.csv").get_data(
        as_text=True).lstrip("\ufeff"))))  # fmt: skip
    assert "w1 (grid_worker) 李伟" in [r[4] for r in everything]
    monkeypatch.setattr(admin, "AUDIT_CSV_ROWS", 2)
    bounded = client.get("/admin/audit.csv").get_data(as_text=True)
    assert len(bounded.strip().splitlines()) == 1 + 2  # the header and the newest two
    assert client.get("/admin/audit.csv?end=x").status_code == 400


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_grids_page_shows_each_grids_workers_and_the_unassigned_ones(site, language) -> None:
    engine = site.extensions["engine"]
    user_id = storage.create_user(engine, "w3", "x", "grid_worker", display_name="王芳")
    storage.set_user_grids(engine, user_id, ["G1"])
    client = admin_client(site, language)
    assert page(client.get("/admin/users")).select_one("#grids-link")["href"] == "/admin/grids"
    response = client.get("/admin/grids")
    assert response.status_code == 200
    html = page(response)
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in html.select("#grids tr")]
    assert rows[1] == ["North gate (G1)", "王芳"]
    assert rows[2][0] == "South market (G2)" and rows[2][1] != "王芳"
    unassigned = [li.get_text(strip=True) for li in html.select("#unassigned-grids li")]
    assert unassigned == ["South market (G2)"]
    script = " ".join(s.get_text() for s in html.select("script"))
    assert "South market (G2)" in script and "#e67e22" in script  # on the map, in orange
    if language == "en":
        assert "nobody assigned" in rows[2][1]


@pytest.mark.parametrize(
    ("language", "taken", "bad_token"),
    [
        ("en", "The user name Boss is taken.", "a token name has 2 to 80 letters"),
        ("zh", "用户名 Boss 已被占用。", "令牌名称为 2 到 80 个"),
    ],
)
def test_a_taken_user_name_and_a_bad_token_name_are_said_in_the_pages_language(
    site, language, taken, bad_token
) -> None:
    client = admin_client(site, language)
    form = {"username": "Boss", "password": "grid-pass-1", "role": "commander",
            "csrf_token": csrf_token(client, "/admin/users")}  # fmt: skip
    response = client.post("/admin/users", data=form)
    assert response.status_code == 400
    assert taken in page(response).select_one(".flash.error").get_text()
    form = {"name": "x", "scope": "read", "csrf_token": csrf_token(client, "/admin/tokens")}
    answer = client.post("/admin/tokens", data=form, follow_redirects=True)
    assert bad_token in page(answer).select_one(".flash.error").get_text()
