"""The access matrix: every route x every role, in one table of expected status codes.

Rows are requests; columns are: not logged in, admin, commander, planner, grid worker (the
demo's grid1). A new route fails test_every_route_is_in_the_matrix until it gets a row, so
nobody adds a page without deciding who may open it. POST rows send no usable form: an
allowed role gets a validation answer (400, or 302 back to the form with a message), a
refused one 403, a stranger 302 to the login page (pages) or 401 (API).
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from bs4 import BeautifulSoup

from geo.cells import hex_from_cells
from tests.web.conftest import days_ahead, login
from tests.web.test_planner_pages import generate, start_job
from web import storage
from web.storage import tokens as token_store

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

ROLES = ("anon", "admin", "commander", "planner", "grid1")

# (method, path template, expected status per role in ROLES order)
MATRIX: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("GET", "/", (302, 302, 302, 302, 302)),
    ("GET", "/login", (200, 302, 302, 302, 302)),
    ("GET", "/account", (302, 200, 200, 200, 200)),
    ("POST", "/login", (302, 302, 302, 302, 302)),
    ("POST", "/logout", (302, 302, 302, 302, 302)),
    ("POST", "/language", (400, 400, 400, 400, 400)),
    ("GET", "/healthz", (200, 200, 200, 200, 200)),
    ("GET", "/overview", (302, 200, 200, 200, 403)),
    # administrator
    ("GET", "/admin/users", (302, 200, 403, 403, 403)),
    ("POST", "/admin/users", (302, 400, 403, 403, 403)),
    ("GET", "/admin/users/{user_id}", (302, 200, 403, 403, 403)),
    ("POST", "/admin/users/{user_id}", (302, 302, 403, 403, 403)),
    ("GET", "/admin/audit", (302, 200, 403, 403, 403)),
    ("GET", "/admin/audit.csv", (302, 200, 403, 403, 403)),
    ("GET", "/admin/grids", (302, 200, 403, 403, 403)),
    ("GET", "/admin/tokens", (302, 200, 403, 403, 403)),
    ("POST", "/admin/tokens", (302, 302, 403, 403, 403)),
    ("POST", "/admin/tokens/{token_id}/revoke", (302, 302, 403, 403, 403)),
    # commander
    ("GET", "/command/hotspots", (302, 200, 200, 200, 403)),
    ("GET", "/command/cells.json", (302, 200, 200, 200, 403)),
    ("GET", "/command/cell/{own_cell}", (302, 200, 200, 200, 403)),
    ("GET", "/command/statistics", (302, 200, 200, 200, 403)),
    ("GET", "/command/accuracy", (302, 200, 200, 200, 403)),
    ("GET", "/command/statistics.csv", (302, 200, 200, 200, 403)),
    ("GET", "/command/find", (302, 200, 200, 200, 403)),
    ("GET", "/command/compare", (302, 200, 200, 200, 403)),
    # planner
    ("GET", "/plans/", (302, 200, 200, 200, 403)),
    ("GET", "/plans/new", (302, 200, 403, 200, 403)),
    ("POST", "/plans/new", (302, 400, 403, 400, 403)),
    ("GET", "/plans/jobs/{job_id}", (302, 200, 403, 200, 403)),
    ("POST", "/plans/jobs/{job_id}/cancel", (302, 302, 403, 302, 403)),
    ("GET", "/plans/{plan_id}", (302, 200, 200, 200, 403)),
    ("POST", "/plans/{other_plan_id}/publish", (302, 302, 403, 302, 403)),
    ("GET", "/plans/{plan_id}/export/gpx", (302, 200, 403, 200, 403)),
    ("GET", "/plans/{plan_id}/briefing", (302, 200, 200, 200, 403)),
    ("GET", "/plans/{plan_id}/briefing/{unit_id}", (302, 200, 200, 200, 403)),
    # re-planning is for the published plan in force: a draft sends planners back to it
    ("GET", "/plans/{plan_id}/replan", (302, 302, 403, 302, 403)),
    ("POST", "/plans/{plan_id}/replan", (302, 302, 403, 302, 403)),
    ("GET", "/plans/{plan_id}/edit", (302, 200, 403, 200, 403)),
    ("POST", "/plans/{plan_id}/edit", (302, 400, 403, 400, 403)),  # no edit ticked
    # commanders' patrol requests: asked by commanders and administrators, read by planners
    ("GET", "/requests/", (302, 200, 200, 200, 403)),
    ("POST", "/requests/", (302, 400, 400, 403, 403)),  # the empty form is refused
    ("POST", "/requests/{request_id}/withdraw", (302, 404, 404, 403, 403)),
    # grid worker
    ("GET", "/grid/", (302, 403, 403, 403, 200)),
    ("POST", "/grid/checkin", (302, 403, 403, 403, 403)),
    ("POST", "/grid/checkin.json", (302, 403, 403, 403, 403)),  # no cell: not one of mine
    ("GET", "/grid/token.json", (302, 403, 403, 403, 200)),
    ("GET", "/grid/sw.js", (302, 403, 403, 403, 200)),
    ("GET", "/maps/streets/{key}.geojson", (401, 404, 404, 404, 404)),
    # JSON API (grid1 is scoped: another grid's cell does not exist for them)
    ("GET", "/api/session", (401, 200, 200, 200, 200)),
    ("GET", "/api/cells", (401, 200, 200, 200, 200)),
    ("GET", "/api/cells/{own_cell}", (401, 200, 200, 200, 200)),
    ("GET", "/api/cells/{other_cell}", (401, 200, 200, 200, 404)),
    ("GET", "/api/incidents/aggregate", (401, 200, 200, 200, 200)),
    ("GET", "/api/plans", (401, 200, 200, 200, 200)),
    ("GET", "/api/plans/{plan_id}", (401, 200, 200, 200, 404)),
    ("GET", "/api/checkins", (401, 200, 200, 200, 200)),
    ("POST", "/api/checkins", (401, 400, 403, 400, 400)),
    ("GET", "/api/openapi.json", (401, 200, 200, 200, 200)),
    # machine clients: a session is not a token (tests/web/test_feed.py sends tokens)
    ("POST", "/api/feed/incidents", (401, 401, 401, 401, 401)),
    ("GET", "/api/docs", (302, 200, 200, 200, 200)),
    # grid workers' event reports and the commanders' live view (issue 13)
    ("GET", "/command/live", (302, 200, 200, 200, 403)),
    ("GET", "/command/live.json", (302, 200, 200, 200, 403)),
    ("POST", "/command/reports/{report_id}/review", (302, 400, 400, 403, 403)),
    ("POST", "/command/scores/run", (302, 302, 302, 403, 403)),
    ("POST", "/grid/report", (302, 403, 403, 403, 400)),
    ("POST", "/api/reports", (401, 403, 403, 403, 400)),
    ("GET", "/api/reports/mine", (401, 200, 200, 200, 200)),
    # early warnings (issue 14): everyone's inbox, scoped on the server; grid1 sees only the
    # warnings of its grids (another grid's warning does not exist for it)
    ("GET", "/warnings/", (302, 200, 200, 200, 200)),
    ("POST", "/warnings/{warning_id}/acknowledge", (302, 302, 302, 302, 302)),
    ("POST", "/warnings/{other_warning_id}/acknowledge", (302, 302, 302, 302, 404)),
    ("GET", "/api/warnings", (401, 200, 200, 200, 200)),
    ("GET", "/api/warnings/{warning_id}", (401, 200, 200, 200, 200)),
    ("GET", "/api/warnings/{other_warning_id}", (401, 200, 200, 200, 404)),
    ("POST", "/api/warnings/{warning_id}/acknowledge", (401, 400, 400, 400, 400)),
    # served files
    ("GET", "/static/site.css", (200, 200, 200, 200, 200)),
    ("GET", "/static/vendor/leaflet@1.9.3/dist/leaflet.js", (200, 200, 200, 200, 200)),
)


@pytest.fixture(scope="module")
def values(app) -> dict[str, str]:
    """Real ids for the path templates: a draft plan, a job, cells in and out of grid1."""
    engine = app.extensions["engine"]
    planner = app.test_client()
    login(planner, "planner")
    plan_id = generate(planner, date=days_ahead(200), shift="day", candidates="30")
    other_plan_id = generate(planner, date=days_ahead(202), shift="day", candidates="30")
    job_url = start_job(planner, date=days_ahead(201), shift="day", candidates="30")
    stored = storage.get_plan(engine, plan_id)
    assert stored is not None
    unit_id = str(storage.plan_visits_frame(engine, plan_id)["unit_id"].iloc[0])
    grid1 = storage.get_user_by_name(engine, "grid1")
    grid2 = storage.get_user_by_name(engine, "grid2")
    assert grid1 is not None and grid2 is not None
    own = storage.user_cells(engine, grid1.id)
    other = np.setdiff1d(storage.user_cells(engine, grid2.id), own)
    # A throwaway account for the admin rows (an empty edit form disables the account).
    spare = storage.get_user_by_name(engine, "matrix-spare")
    spare_id = spare.id if spare else storage.create_user(engine, "matrix-spare", "x", "planner")
    # A token for the revoke row (an empty form does not confirm, so it stays active).
    tokens = {t.name: t.id for t in token_store.list_tokens(engine)}
    token_id = (
        tokens.get("matrix-token") or token_store.create_token(engine, "matrix-token", "feed")[0].id
    )
    # Warnings for the inbox rows: one in a cell of grid1, one only in grid2's cells.
    warning_ids = {
        w.place: w.id for w in storage.list_warnings(engine, status="open", limit=10_000)
    }
    own_hex, other_hex = hex_from_cells(own[:1])[0], hex_from_cells(other[:1])[0]
    now_s = int(time.time())
    for hex_id, cell in ((own_hex, own[0]), (other_hex, other[0])):
        if hex_id not in warning_ids:
            changes = storage.apply_warnings(engine, [storage.ComputedWarning(
                rule="emerging", place=hex_id, cells=(int(cell),), level=1, starts_at=now_s,
                ends_at=now_s + 10 * 365 * 86_400, strength=1.0, reason="matrix warning",
            )], now_s)  # fmt: skip
            warning_ids[hex_id] = (changes.raised + changes.extended)[0]
    return {
        "warning_id": str(warning_ids[own_hex]),
        "other_warning_id": str(warning_ids[other_hex]),
        "token_id": str(token_id),
        "plan_id": str(plan_id),  # stays a draft
        "other_plan_id": str(other_plan_id),  # published by the publish row
        "job_id": job_url.rstrip("/").rsplit("/", 1)[-1],
        "unit_id": unit_id,
        "own_cell": hex_from_cells(own[:1])[0],
        "other_cell": hex_from_cells(other[:1])[0],
        "user_id": str(spare_id),
        "report_id": "999999",  # no such report: the empty form is refused first
        "request_id": "999999",  # no such patrol request: 404 for those who may withdraw
        "key": "0123456789abcdef",  # the demo has no street extract: no key is served
    }


@pytest.fixture(scope="module")
def clients(app) -> dict[str, object]:
    out: dict[str, object] = {"anon": app.test_client()}
    for role in ROLES[1:]:
        client = app.test_client()
        login(client, role)
        out[role] = client
    return out


# Requests that change who is logged in run on a fresh client per role.
SESSION_CHANGING = {("POST", "/login"), ("POST", "/logout")}


def _request(client, method: str, path: str):
    if (method, path) == ("POST", "/login"):  # the right password (failures would throttle)
        return client.post(path, data={"username": "commander", "password": "commander-demo"})
    if method == "GET":
        return client.get(path)
    if path.startswith("/api/"):
        return client.post(path, json={})
    return client.post(path, data={})


@pytest.mark.parametrize(("method", "template", "expected"), MATRIX,
                         ids=[f"{m} {t}" for m, t, _ in MATRIX])  # fmt: skip
def test_access_matrix(app, clients, values, method, template, expected) -> None:
    path = template.format(**values)
    seen = {}
    for role, status in zip(ROLES, expected, strict=True):
        client = clients[role]
        if (method, template) in SESSION_CHANGING:
            client = app.test_client()
            if role != "anon":
                login(client, role)
        response = _request(client, method, path)
        _check_security_headers(response)
        response.close()
        seen[role] = response.status_code
        if role == "anon" and status == 302 and template != "/login":
            assert "/login" in response.location
        if path.startswith("/api/") and response.status_code >= 400:
            body = response.get_json()
            assert body["status"] == response.status_code and body["error"]
    assert tuple(seen[r] for r in ROLES) == expected, seen


def _check_security_headers(response) -> None:
    """Every answer carries the security headers; every inline script of a page carries the
    nonce its Content-Security-Policy allows (web/security.py)."""
    headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    policy = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    if response.mimetype != "text/html" or response.status_code != 200:
        return
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    for script in page.find_all("script"):
        if not script.get("src") and script.get("type") != "application/json":
            assert script.get("nonce") == nonce, str(script)[:200]
    assert not page.select("[onclick], [onchange], [onload], [onsubmit], [onerror]")


def test_nonces_differ_per_response(clients) -> None:
    first = clients["commander"].get("/command/hotspots").headers["Content-Security-Policy"]
    second = clients["commander"].get("/command/hotspots").headers["Content-Security-Policy"]
    assert first != second


def test_every_route_is_in_the_matrix(app) -> None:
    listed = {(m, t.split("?")[0]) for m, t, _ in MATRIX}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "vendor_assets.vendor_file"):
            continue
        template = rule.rule
        for argument in rule.arguments:
            for converter in (f"<int:{argument}>", f"<{argument}>", f"<path:{argument}>"):
                template = template.replace(converter, "{" + argument + "}")
        template = template.replace("{hex_id}", "{own_cell}").replace("{fmt}", "gpx")
        if template.endswith("/publish"):
            template = template.replace("{plan_id}", "{other_plan_id}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert (method, template) in listed, f"{method} {rule.rule} has no row in MATRIX"
