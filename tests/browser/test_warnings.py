"""Early warnings in a real browser: a grid's new warning on the grid worker's phone page
(390 x 844) in Chinese and in English, and the warnings layer of the hotspot map."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.browser.conftest import ARTIFACTS, PHONE, demo_database, page_opener, serving
from tests.web.conftest import PASSWORDS
from web import create_app, storage

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, object]]:
    """The demo on its own database (the warnings here are written straight into it): the
    base URL and the engine."""
    url, _env = demo_database(tmp_path_factory.mktemp("browser-warnings"))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "browser-warnings-" + "k" * 20})
    with serving(app) as base_url:
        yield base_url, app.extensions["engine"]


def _new_warning(engine, username: str, reason: str, nth: int = 0) -> int:
    """A new level-3 near-repeat warning on the ``nth`` cell of ``username``'s grids."""
    account = storage.get_user_by_name(engine, username)
    assert account is not None
    cells = storage.user_cells(engine, account.id)
    cell = int(cells[nth])
    now_s = int(time.time())
    from geo.cells import hex_from_cells

    (warning_id,) = storage.apply_warnings(
        engine,
        [
            storage.ComputedWarning(
                rule="near_repeat", place=hex_from_cells([cell])[0], cells=(cell,), level=3,
                starts_at=now_s - 600, ends_at=now_s + 6 * 86_400, strength=4.2, reason=reason,
                evidence={"incident_times_s": [now_s - 7200, now_s - 3600, now_s - 600],
                          "incident_cells": [], "knox_ratio": 1.4, "distance_m": 300.0,
                          "window_days": 7.0, "rings": 1},
            )
        ],
        now_s,
    ).raised  # fmt: skip
    return warning_id


def _login(watched, username: str, password: str) -> None:
    watched.goto("/login")
    watched.page.fill("#username", username)
    watched.page.fill("#password", password)
    with watched.page.expect_navigation():
        watched.page.click("#login-submit")


@pytest.fixture
def pages(browser, site):
    """``pages(locale, **options)``: a watched page on the warnings site."""
    base_url, _engine = site
    with page_opener(browser) as open_:
        yield lambda locale, **options: open_(base_url, locale=locale, **options)


def test_the_hotspot_map_has_a_warnings_layer(pages, site) -> None:
    _base_url, engine = site
    _new_warning(engine, "grid1", "3 incidents of the group within 300 m (map test)")
    watched = pages("en-US", viewport={"width": 1280, "height": 860})
    _login(watched, "commander", "commander-demo")
    watched.goto("/command/hotspots")
    page = watched.page
    page.wait_for_selector(".leaflet-control-layers")
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("Early warnings" in label for label in labels), labels
    assert page.locator(".leaflet-pane.leaflet-warnings-pane canvas").count() == 1
    assert page.locator("#hotspot-legend").inner_text().count("Alert") == 1
    watched.shot("warnings-hotspot-map")


def test_the_phone_page_shows_a_grids_new_warning_in_chinese_and_english(pages, site) -> None:
    _base_url, engine = site
    reason = "3 incident(s) of the group within 300 m in the last 7 days (phone test)"
    warning_id = _new_warning(engine, "grid1", reason, nth=1)
    watched = pages("zh-CN", **PHONE)
    _login(watched, "grid1", PASSWORDS["grid1"])
    watched.goto("/grid/")
    page = watched.page
    card = page.locator(f'[data-section=grid-warnings] [data-warning-id="{warning_id}"]')
    card.wait_for()
    assert card.is_visible()
    # Above everything else: the warnings come before the map on the phone's screen.
    warnings_box = page.locator("[data-section=grid-warnings]").bounding_box()
    map_box = page.locator("[data-section=map]").bounding_box()
    assert warnings_box["y"] < map_box["y"] and warnings_box["y"] < 844
    text = card.inner_text()
    assert "预警" in text and "近重复" in text and "300 米范围内" in text
    assert "Knox 检验" in text and reason in text
    watched.shot("warnings-phone-zh")
    page.screenshot(path=str(ARTIFACTS / "warnings-phone-zh-screen.png"))  # what the phone shows
    watched.click_through("#lang-en")
    card = page.locator(f'[data-section=grid-warnings] [data-warning-id="{warning_id}"]')
    text = card.inner_text()
    assert "Alert" in text and "Near repeat" in text
    assert "3 incidents of the group within 300 m in the last 7 days" in text
    watched.shot("warnings-phone-en")
    watched.click_through("#lang-zh")


def test_the_inbox_acknowledges_a_warning_with_a_note(pages, site) -> None:
    _base_url, engine = site
    warning_id = _new_warning(engine, "grid2", "2 incident(s) of the group (inbox test)")
    watched = pages("en-US", viewport={"width": 1280, "height": 860})
    _login(watched, "commander", "commander-demo")
    page = watched.page
    assert int(page.locator("#warnings-unread").inner_text()) >= 1
    watched.goto("/warnings/")
    card = page.locator(f"#warning-{warning_id}")
    assert "Alert" in card.inner_text() and "Near repeat" in card.inner_text()
    assert page.locator("#warnings-unread").count() == 0  # opened: read
    card.locator("input[name=note]").fill("patrol passed twice, lights out at the gate")
    with page.expect_navigation():
        card.locator("button[type=submit]").click()
    card = page.locator(f"#warning-{warning_id}")
    assert "patrol passed twice" in card.locator("[data-section=warning-acks]").inner_text()
    watched.shot("warnings-inbox")
