"""The site in a real browser: each role logs in and works; nothing leaves the server."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import days_ahead

pytestmark = pytest.mark.browser

# Every page each role can open (plans 1 and 2 are the demo's published plans of today).
PAGES = {
    "admin": ["/admin/users", "/admin/audit", "/account", "/overview", "/api/docs"],
    "commander": ["/command/hotspots", "/command/statistics", "/command/accuracy", "/plans/",
                  "/plans/1", "/plans/1/briefing", "/overview", "/api/docs"],
    "planner": ["/plans/new", "/plans/", "/plans/2", "/plans/2/briefing"],
    "grid1": ["/grid/", "/api/docs"],
}  # fmt: skip


@pytest.mark.parametrize("username", list(PAGES))
def test_every_page_opens_cleanly_for_each_role(watched, username) -> None:
    """No console error on any page: the Content-Security-Policy lets every page's own
    scripts run (a blocked script is a console error), and nothing is missing."""
    watched.login(username)
    for path in PAGES[username]:
        response = watched.goto(path)
        assert response is not None and response.status == 200, path
        watched.page.wait_for_load_state("networkidle")
        assert watched.page.locator("main.page, main.full").count() == 1, path
    if username == "admin":
        assert watched.page.locator("#swagger-ui .opblock").count() > 0  # the API docs drew


@pytest.mark.parametrize(
    ("username", "landing"),
    [
        ("admin", "/admin/users"),
        ("commander", "/command/hotspots"),
        ("planner", "/plans/"),
        ("grid1", "/grid/"),
    ],
)
def test_each_role_logs_in_to_its_home_page(watched, username, landing) -> None:
    watched.login(username)
    assert watched.page.url.endswith(landing)
    assert watched.page.locator("#who").inner_text().strip() != ""
    watched.shot(f"home-{username}")
    watched.page.click("#logout")
    assert "/login" in watched.page.url


def test_wrong_password_shows_an_error(watched) -> None:
    watched.goto("/login")
    watched.page.fill("#username", "commander")
    watched.page.fill("#password", "not-the-password")
    watched.page.click("#login-submit")
    watched.page.wait_for_selector(".flash.error")
    assert "Wrong user name or password" in watched.page.locator(".flash.error").inner_text()
    # The 401 of the login POST is expected, not a page error.
    watched.console_errors = [e for e in watched.console_errors if "401" not in e]
    watched.failed = [f for f in watched.failed if not f.startswith("401 ")]


def test_chinese_interface(watched) -> None:
    watched.login("admin")
    watched.page.click("#lang-zh")
    watched.page.wait_for_load_state()
    assert watched.page.locator("#logout").inner_text() == "退出登录"
    assert "账号" in watched.page.locator("h1").first.inner_text()
    watched.shot("admin-accounts-zh")
    watched.page.click("#lang-en")
    watched.page.wait_for_load_state()
    assert watched.page.locator("#logout").inner_text() == "Log out"


def test_planner_generates_and_publishes_a_plan(watched) -> None:
    page = watched.page
    watched.login("planner")
    watched.goto("/plans/new")
    page.fill("#date", days_ahead(90))
    page.select_option("#shift", "day")
    page.fill("#candidates", "40")
    watched.shot("planner-form")
    page.click("#generate")
    page.wait_for_selector("#progress-bar")
    # The progress page polls the job and moves on to the plan when the solver is done.
    page.wait_for_url(re.compile(r".*/plans/\d+$"), timeout=60000)
    assert page.locator("#plan-status").inner_text().strip() != ""
    assert int(page.locator("#total-visits").inner_text()) > 0
    # The plan map draws the routes (one path per unit at least) and numbered stops.
    assert page.locator(".folium-map path.leaflet-interactive").count() > 0
    watched.shot("planner-plan-draft")
    page.check("#confirm-publish")
    page.click("#publish")
    page.wait_for_load_state()
    assert page.locator("#plan-status.published").count() == 1
    watched.shot("planner-plan-published")


def test_commander_map_draws_cells_and_explains_one(watched) -> None:
    page = watched.page
    watched.login("commander")
    assert page.url.endswith("/command/hotspots")
    # The cells arrive as JSON and h3-js draws them on a canvas layer.
    page.wait_for_function(
        "() => document.getElementById('stat-total').textContent.trim().length > 0"
    )
    total = int(page.locator("#stat-total").inner_text().replace(",", ""))
    assert total > 0
    assert page.locator(".folium-map canvas").count() >= 1
    # Picking the hottest cell from the list selects it and shows its explanation.
    page.locator("#top-cells a").first.click()
    page.wait_for_function(
        "() => document.getElementById('cell-body').textContent.trim().length > 0", timeout=10000
    )
    watched.shot("commander-hotspots")
    watched.goto("/command/statistics")
    assert page.locator("svg").count() >= 1
    watched.shot("commander-statistics")
    watched.goto("/command/accuracy")
    assert page.locator("table").count() >= 1
    watched.shot("commander-accuracy")


def test_grid_worker_page_fits_a_phone_in_chinese(phone) -> None:
    """The grid worker's home on a phone: the menu in Chinese and nothing wider than the
    screen (checking in is tests/browser/test_grid_phone.py's)."""
    page = phone.page
    phone.login("grid1")
    assert page.url.endswith("/grid/")
    assert "我的网格" in page.locator("nav.menu").inner_text()
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The grid map draws the worker's cells (canvas renderer) before the screenshot.
    page.wait_for_selector("#grid-map .leaflet-overlay-pane canvas", state="attached")
    page.wait_for_timeout(500)
    phone.shot("grid-worker-checkin-zh")
