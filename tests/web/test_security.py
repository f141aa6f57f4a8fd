"""Limits on requests and answers to hostile ones: ids beyond what the database holds, deep
or huge bodies, methods a route does not take (web/security.py)."""

from __future__ import annotations

import pytest

from web import create_app
from web.security import MAX_JSON_DEPTH, content_security_policy, json_depth, tile_origin

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

HUGE = "9223372036854775808"  # one more than the largest 64-bit integer


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("planner", f"/api/plans/{HUGE}"),
        ("planner", f"/plans/{HUGE}"),
        ("planner", f"/plans/{HUGE}/briefing"),
        ("planner", f"/plans/{HUGE}/export/csv"),
        ("admin", f"/admin/users/{HUGE}"),
        ("planner", "/plans/99999999999999999999999999999"),
    ],
)
def test_ids_beyond_the_database_are_not_found(client_as, role, path) -> None:
    response = client_as(role).get(path)
    assert response.status_code == 404


def test_deeply_nested_json_is_a_400_not_a_crash(client_as) -> None:
    client = client_as("grid_worker")
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        body = "[" * depth + "]" * depth
        response = client.post(
            "/api/checkins", data=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert "nested deeper than" in response.get_json()["error"]
    fine = client.post("/api/checkins", json={"cell": "not-a-cell"})
    assert fine.status_code == 400 and "nested" not in fine.get_json()["error"]


def test_bodies_over_the_limit_are_refused(demo_db) -> None:
    app = create_app({"DATABASE_URL": demo_db, "MAX_REQUEST_MB": 0.01, "TESTING": True})
    response = app.test_client().post("/login", data={"username": "x" * 20_000, "password": "y"})
    assert response.status_code == 413


def test_a_method_a_route_does_not_take_says_which_it_takes(client_as) -> None:
    response = client_as("commander").delete("/api/checkins")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["status"] == 405


def test_json_depth_counts_levels_without_recursion() -> None:
    assert json_depth(3) == 0
    assert json_depth({"a": [1, {"b": []}]}) == 4  # object, list, object, list
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert json_depth(deep) == 50_001


def test_the_basemap_server_is_the_only_other_image_source() -> None:
    assert tile_origin("") is None
    assert tile_origin("/tiles/{z}/{x}/{y}.png") is None
    assert tile_origin("http://{s}.tiles.gaj.local:8080/{z}/{x}/{y}.png") == (
        "http://*.tiles.gaj.local:8080"
    )
    policy = content_security_policy("n0nce", "https://pgis.bureau.local/t/{z}/{x}/{y}")
    assert "img-src 'self' data: blob: https://pgis.bureau.local;" in policy
    assert "script-src 'self' 'nonce-n0nce';" in policy


PAYLOADS = (
    "${alert(1)}",
    "<img src=x onerror=alert(1)>",
    '"><script>alert(1)</script>',
    "`-alert(1)-`",
)


def test_stored_names_are_escaped_in_every_map(demo_copy_url) -> None:
    """Stations and grids named with script payloads: no payload reaches a map's script or
    HTML as markup or as a template-literal expression (folium writes tooltips into JS
    template literals)."""
    from tests.web.conftest import login
    from web import storage

    url = demo_copy_url  # a copy of the demo
    engine = storage.make_engine(url)
    stations = storage.list_stations(engine)
    stations["name"] = [PAYLOADS[i % len(PAYLOADS)] for i in range(len(stations))]
    storage.store_stations(engine, stations)
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    pages = {"commander": ["/overview", "/command/hotspots", "/plans/1"], "grid1": ["/grid/"]}
    for username, paths in pages.items():
        client = app.test_client()
        login(client, username)
        for page in paths:
            body = client.get(page).get_data(as_text=True)
            assert client.get(page).status_code == 200, page
            for payload in PAYLOADS:
                assert payload not in body, (page, payload)
            assert "${alert" not in body and "<img src=x" not in body


def test_query_ranges_are_limited_to_what_a_person_can_use(client_as) -> None:
    """The memory attack of issue 12: ever-new day aggregates over centuries. Dates are
    limited to 1970..2099 and a calendar aggregate to 3,660 rows, each refused with a 400
    that says the limit."""
    client = client_as("grid_worker")
    wide = client.get("/api/incidents/aggregate?by=day&start=1678-01-01&end=2262-04-10")
    assert wide.status_code == 400
    assert "dates from 1970-01-01 to 2099-12-31" in wide.get_json()["error"]
    days = client.get("/api/incidents/aggregate?by=day&start=1970-01-01&end=2099-12-31")
    assert days.status_code == 400 and "more than 3660 groups" in days.get_json()["error"]
    months = client.get("/api/incidents/aggregate?by=month&start=1970-01-01&end=2099-12-31")
    assert months.status_code == 200 and len(months.get_json()["groups"]) == 130 * 12
    for bad in ("0001-01-01", "2026-02-30", "20260101", "2026-1-1", "%00"):
        response = client.get(f"/api/incidents/aggregate?by=day&start={bad}")
        assert response.status_code == 400, bad


def test_a_check_in_sent_twice_is_stored_once(client_as) -> None:
    """A double tap or a retried request within the same minute is the same check-in."""
    from web import clock, storage

    client = client_as("grid_worker")
    cell = client.get("/api/cells?limit=1").get_json()["cells"][0]["cell"]
    minute = int(clock.now_s()) // 60 * 60 - 120  # the start of a minute, two minutes ago
    body = {"cell": cell, "visited_at": minute, "minutes": 15,
            "note": "gate open twice"}  # fmt: skip
    first = client.post("/api/checkins", json=body)
    again = client.post("/api/checkins", json=body | {"visited_at": body["visited_at"] + 20})
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"]
    engine = client.application.extensions["engine"]
    frame = storage.checkins_frame(engine)
    assert (frame["note"] == "gate open twice").sum() == 1
    bad = client.post("/api/checkins", json=body | {"note": "bell\x07", "visited_at": 1})
    assert bad.status_code == 400
    control = client.post(
        "/api/checkins", json=body | {"note": "bell\x07", "visited_at": body["visited_at"] - 600}
    )
    assert control.status_code == 400 and "control characters" in control.get_json()["error"]


def test_long_aggregates_take_turns_and_others_go_on(client_as) -> None:
    """While one long calendar aggregate holds its turn, another waits and is told to retry
    (503), and everything else is answered."""
    from web.views import api

    client = client_as("commander")
    assert api._LONG_AGGREGATES.acquire(timeout=1)
    try:
        api.LONG_AGGREGATE_WAIT_S, before = 0.2, api.LONG_AGGREGATE_WAIT_S
        long = client.get("/api/incidents/aggregate?by=day&start=2016-01-01&end=2020-12-31")
        assert long.status_code == 503 and "retry" in long.get_json()["error"]
        short = client.get("/api/incidents/aggregate?by=day&start=2020-01-01&end=2020-03-31")
        assert short.status_code == 200
        assert client.get("/api/cells?limit=5").status_code == 200
    finally:
        api.LONG_AGGREGATE_WAIT_S = before
        api._LONG_AGGREGATES.release()
    again = client.get("/api/incidents/aggregate?by=day&start=2016-01-01&end=2020-12-31")
    assert again.status_code == 200


def test_a_flood_of_huge_user_names_leaves_the_audit_log_readable(demo_db) -> None:
    """Issue 12, row 6: 40 logins with a 450 KB user name, unauthenticated. Each is a 400
    before anything is counted or written; the audit log does not grow."""
    from web import storage

    app = create_app({"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": False})
    engine = app.extensions["engine"]
    before = len(storage.list_audit(engine, limit=100_000))
    client = app.test_client()
    for _ in range(40):
        response = client.post("/login", data={"username": "x" * 450_000, "password": "p"})
        assert response.status_code == 400
    assert len(storage.list_audit(engine, limit=100_000)) == before
    # A long name within the form's bound is stored cut to the column's width.
    client.post("/login", data={"username": "y" * 80, "password": "p"})
    newest = storage.list_audit(engine, limit=1).iloc[0]
    assert newest["action"] == "login_failed" and len(newest["username"]) <= 80


@pytest.mark.parametrize(
    "path",
    ["/api/cells/aaaaaaaaaaaaaaaaa", "/api/cells/8928308280fffff0", "/api/cells/%00",
     "/api/cells/0", "/command/cell/zzz"],
)  # fmt: skip
def test_malformed_cell_ids_are_a_400_not_a_crash(client_as, path) -> None:
    response = client_as("commander").get(path)
    assert response.status_code in (400, 404)
    assert response.status_code != 500


def test_unknown_and_known_names_cost_the_same_hashing(demo_db, monkeypatch) -> None:
    """Issue 12, row 10: user names must not be told apart by timing: an unknown name checks a
    password hash as a known one does."""
    from web.views import access

    calls = []
    real = access.check_password_hash
    monkeypatch.setattr(access, "check_password_hash", lambda h, p: calls.append(h) or real(h, p))
    app = create_app({"DATABASE_URL": demo_db, "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    client.post("/login", data={"username": "nobody-at-all", "password": "guess-guess"})
    client.post("/login", data={"username": "commander", "password": "guess-guess"})
    assert len(calls) == 2 and all(h.startswith("scrypt:") for h in calls)
