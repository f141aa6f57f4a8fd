"""The grid worker's phone page in a real browser (390 x 844, touch), in Chinese and English:
the next visit on the first screen, a tapped visit opening its pre-filled check-in, a refused
check-in's error next to the form, tabs, finger-sized top-bar links, and the page and a
check-in when the connection is gone (service worker, queue sent once)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import h3
import pandas as pd
import pytest

from geo.cells import cells_from_hex
from tests.browser.conftest import ARTIFACTS, PHONE, demo_database, page_opener, serving
from tests.web.conftest import PASSWORDS
from web import clock, create_app, storage
from web.services.grid_phone import current_shift

pytestmark = pytest.mark.browser

HEIGHT = 844


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[str, object]]:
    """The demo on its own database, with a published plan for grid1 in the shift running
    now (the demo plans only the day and evening shifts): the base URL and the engine."""
    url, _env = demo_database(tmp_path_factory.mktemp("browser-grid-phone"))
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "browser-grid-phone-" + "k" * 20})
    engine = app.extensions["engine"]
    _publish_now_plan(engine)
    _new_warning(engine)
    with serving(app) as base_url:
        yield base_url, engine


def _publish_now_plan(engine) -> None:
    """Visits to three of grid1's cells in the current shift, the first starting about now."""
    timezone = storage.get_meta(engine)["timezone"]
    now_s = int(clock.now_s())
    shift = current_shift(timezone, now_s)
    account = storage.get_user_by_name(engine, "grid1")
    cells = storage.user_cells(engine, account.id)[:3]
    first = max(shift.start_s, now_s - 300)
    starts = [first + i * (shift.end_s - first) // 4 for i in range(3)]
    rows = pd.DataFrame(
        {
            "unit_id": ["U-PHONE"] * 3,
            "seq": [1, 2, 3],
            "cell": cells,
            "start_at": starts,
            "end_at": [s + 900 for s in starts],
            "value": [1.0] * 3,
        }
    )
    local = pd.Timestamp(first, unit="s", tz="UTC").tz_convert(timezone)
    plan_id = storage.store_plan(
        engine, plan_date=local.strftime("%Y-%m-%d"), shift=f"phone-{uuid.uuid4().hex[:6]}",
        created_by=None, shift_start=shift.start_s, seed=1, request={},
        summary={"status": "test"}, plan_json="{}", geojson="{}", gpx="", csv="", visits=rows,
    )  # fmt: skip
    assert storage.publish_plan(engine, plan_id, None)


def _new_warning(engine) -> None:
    """An open level-2 near-repeat warning on grid1's fifth cell."""
    account = storage.get_user_by_name(engine, "grid1")
    cell = int(storage.user_cells(engine, account.id)[4])
    now_s = int(clock.now_s())
    evidence = {"incident_times_s": [now_s - 7200, now_s - 3600], "incident_cells": [],
                "knox_ratio": 1.3, "distance_m": 300.0, "window_days": 7.0, "rings": 1}  # fmt: skip
    warning = storage.ComputedWarning(
        rule="near_repeat", place=h3.int_to_str(cell), cells=(cell,), level=2,
        starts_at=now_s - 600, ends_at=now_s + 6 * 86_400, strength=3.0,
        reason="2 incidents within 300 m (phone page test)", evidence=evidence,
    )  # fmt: skip
    assert storage.apply_warnings(engine, [warning], now_s).raised


@pytest.fixture
def phones(browser, site):
    """``phones(locale)``: a watched 390 x 844 touch page in its own browser context."""
    base_url, _engine = site
    with page_opener(browser) as open_:
        yield lambda locale: open_(base_url, locale=locale, **PHONE)


def _open_grid_page(watched, lang: str):
    page = watched.page
    watched.goto("/login")
    page.fill("#username", "grid1")
    page.fill("#password", PASSWORDS["grid1"])
    watched.click_through("#login-submit")
    if page.locator("html").get_attribute("lang") != ("zh-CN" if lang == "zh" else "en"):
        watched.click_through(f"#lang-{lang}")
    watched.goto("/grid/")
    page.locator("#now").wait_for()
    return page


def _in_viewport(box) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= HEIGHT


def _wait_in_view(page, selector: str) -> None:
    """Wait until the element is wholly inside the phone's screen (the page scrolls it there
    after the tap), failing after the page's default timeout."""
    page.wait_for_function(
        "s => { const r = document.querySelector(s).getBoundingClientRect();"
        " return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }",
        arg=selector,
    )


def _expected_refusal(watched) -> None:
    """The refused check-in (400 from /grid/checkin.json) is what the test asked for."""
    watched.take_refusal("/grid/checkin.json")


def _checkins_with_note(engine, note: str) -> pd.DataFrame:
    frame = storage.checkins_frame(engine)
    return frame[frame["note"] == note]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_first_screen_tap_a_visit_and_check_in_where_the_finger_is(phones, site, lang) -> None:
    _base_url, engine = site
    watched = phones("zh-CN" if lang == "zh" else "en-US")
    page = _open_grid_page(watched, lang)

    # The first screen: the next visit, without scrolling; the page no wider than the phone.
    upcoming = page.locator("#now-visits li.visit.next")
    assert upcoming.count() == 1
    assert _in_viewport(upcoming.bounding_box())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not page.locator("#checkin").is_visible()  # opened by a tap
    # The open warning: one line on the first screen, its card under the Warnings tab.
    warning_line = page.locator("#now-warnings a").first
    assert _in_viewport(warning_line.bounding_box())
    assert page.locator("#tab-button-warnings").get_attribute("aria-selected") == "true"
    page.screenshot(path=str(ARTIFACTS / f"grid-phone-first-screen-{lang}.png"))
    watched.shot(f"grid-phone-{lang}")

    # The top bar: the user's name and role once, links and buttons a finger's size.
    name, _, role = page.locator("#who").inner_text().partition(" (")
    assert name == "网格员 一" and role == ("网格员)" if lang == "zh" else "grid worker)")
    for selector in ("#lang-zh", "#lang-en", "#logout", "#warnings-link"):
        assert page.locator(selector).bounding_box()["height"] >= 44, selector

    page.locator("#tab-button-tasks").tap()
    warning_line.tap()
    assert page.locator("#tab-warnings").is_visible()
    _wait_in_view(page, "#tab-warnings [data-warning-id]")

    # Tabs switch; each is a finger's size.
    for name, shown in (("cells", "#cells"), ("reports", "#report"), ("tasks", "#visits")):
        tab = page.locator(f"#tab-button-{name}")
        assert tab.bounding_box()["height"] >= 44
        tab.click()
        assert tab.get_attribute("aria-selected") == "true"
        assert page.locator(shown).is_visible()
        others = [p for p in ("tasks", "cells", "reports", "warnings") if p != name]
        assert all(not page.locator(f"#tab-{other}").is_visible() for other in others)

    # Tapping the next visit opens its check-in right under it, filled in.
    page.evaluate("window.__samePage = true")
    link = upcoming.locator("a")
    assert link.bounding_box()["height"] >= 44
    hex_id = upcoming.get_attribute("data-visit-cell")
    start = upcoming.get_attribute("data-start")
    upcoming = page.locator(f'#now-visits li[data-visit-cell="{hex_id}"][data-start="{start}"]')
    link.tap()
    card = page.locator("#checkin")
    card.wait_for(state="visible")
    row_box, card_box = link.bounding_box(), card.bounding_box()
    assert 0 <= card_box["y"] - (row_box["y"] + row_box["height"]) < 30
    assert page.input_value("#checkin-cell") == hex_id
    assert upcoming.get_attribute("data-unit") in page.locator("#checkin-visit").inner_text()
    assert page.input_value("#checkin-time")
    assert page.locator("#checkin-here").bounding_box()["height"] >= 44

    # "I'm here" 3 km away: refused, the error next to the form, in view; nothing stored.
    lat, lon = h3.cell_to_latlng(hex_id)
    page.context.grant_permissions(["geolocation"], origin=watched.base_url)
    page.context.set_geolocation({"latitude": lat + 0.027, "longitude": lon, "accuracy": 15})
    note = f"{lang} phone {uuid.uuid4().hex[:6]}"
    page.fill("#checkin-note", note)
    page.locator("#checkin-here").tap()
    errors = page.locator("#checkin-errors")
    errors.wait_for(state="visible")
    distance_m = int(re.search(r"\d{4}", errors.inner_text()).group())
    assert 2500 < distance_m < 3200  # 3 km north of the centre, less the cell's radius
    _wait_in_view(page, "#checkin-errors")
    assert page.evaluate("window.__samePage") is True  # no reload to the top
    assert _checkins_with_note(engine, note).empty
    page.screenshot(path=str(ARTIFACTS / f"grid-phone-refused-{lang}.png"))

    # At the cell: stored once, the result in the form, the visit marked done.
    page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 15})
    page.locator("#checkin-here").tap()
    page.locator("#checkin-form[data-state=done]").wait_for()
    assert page.locator("#checkin-errors").is_hidden()
    _wait_in_view(page, "#checkin-result")
    assert "done" in (upcoming.get_attribute("class") or "")
    stored = _checkins_with_note(engine, note)
    assert len(stored) == 1 and cells_from_hex([hex_id])[0] == int(stored.iloc[0]["cell"])
    assert page.evaluate("window.__samePage") is True

    # A visit tapped in the Tasks list opens the check-in in the row under it.
    page.locator("#tab-button-tasks").tap()
    task = page.locator("#visits tr.visit").nth(2)
    task.locator("a.row-link").tap()
    card.wait_for(state="visible")
    task_box, card_box = task.bounding_box(), card.bounding_box()
    assert 0 <= card_box["y"] - (task_box["y"] + task_box["height"]) < 30
    assert page.input_value("#checkin-cell") == task.get_attribute("data-visit-cell")
    assert page.locator("#checkin-result").is_hidden()
    assert page.locator("#checkin-errors").is_hidden()

    # The map leaves one-finger swipes to the page (no touch-action of its own) until
    # "Use map" is pressed, and gives them back after.
    toggle = page.locator("#map-toggle")
    touch_action = (
        "() => getComputedStyle(document.querySelector('#grid-map .folium-map')).touchAction"
    )
    assert page.evaluate(touch_action) == "auto"
    assert toggle.bounding_box()["height"] >= 44
    toggle.tap()
    assert toggle.get_attribute("aria-pressed") == "true"
    assert page.evaluate(touch_action) == "none"
    toggle.tap()
    assert page.evaluate(touch_action) == "auto"

    # A tap on one of my cells on the map opens its check-in, filled in; with the Reports tab
    # open the same tap places the report instead.
    def tap_a_cell() -> str:
        page.locator("#grid-map").scroll_into_view_if_needed()
        where = page.evaluate(_CELL_ON_MAP)
        page.touchscreen.tap(where["x"], where["y"])
        return where["hex"]

    page.locator("#tab-button-tasks").tap()
    tapped = tap_a_cell()
    card.wait_for(state="visible")
    assert page.input_value("#checkin-cell") == tapped
    page.locator("#tab-button-reports").tap()
    page.locator("#checkin-cell").select_option(index=0)
    chosen = page.input_value("#checkin-cell")
    tap_a_cell()
    page.wait_for_function("() => document.getElementById('report-lat').value !== ''")
    assert page.input_value("#checkin-cell") == chosen  # the check-in was left alone
    _expected_refusal(watched)


# The centre of the first of my cells on the grid worker's map, in page coordinates (the map
# centred on it at zoom 16 first), and its H3 id.
_CELL_ON_MAP = """() => {
  const element = document.querySelector('#grid-map .folium-map');
  const map = window[element.id];
  let cell = null;
  map.eachLayer(l => { if (!cell && l.feature && l.feature.properties.hex) cell = l; });
  const centre = cell.getBounds().getCenter();
  map.setView(centre, 16, {animate: false});
  const point = map.latLngToContainerPoint(centre);
  const box = element.getBoundingClientRect();
  return {hex: cell.feature.properties.hex, x: box.left + point.x, y: box.top + point.y};
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_offline_the_page_opens_and_a_check_in_is_sent_once_later(phones, site, lang) -> None:
    _base_url, engine = site
    watched = phones("zh-CN" if lang == "zh" else "en-US")
    page = _open_grid_page(watched, lang)
    page.wait_for_selector("body[data-offline-ready='1']")
    context = page.context

    context.set_offline(True)
    page.reload()
    page.locator("#now").wait_for()
    assert page.evaluate("navigator.serviceWorker.controller !== null")  # served by the worker
    assert page.locator("#offline-banner").is_visible()
    assert page.locator("#now-visits li.visit").count() >= 1

    page.locator("#checkin-open").tap()
    page.locator("#checkin").wait_for(state="visible")
    note = f"{lang} offline {uuid.uuid4().hex[:6]}"
    page.fill("#checkin-note", note)
    page.locator("#checkin-submit").tap()
    result = page.locator("#checkin-result.queued")
    result.wait_for(state="visible")
    _wait_in_view(page, "#checkin-result")
    assert page.locator("#queue-status").is_visible()
    assert _checkins_with_note(engine, note).empty

    context.set_offline(False)
    page.wait_for_function(
        "() => JSON.parse(localStorage.getItem('grid-checkin-queue') || '[]').length === 0"
    )
    page.locator("#queue-status").wait_for(state="visible")
    assert len(_checkins_with_note(engine, note)) == 1
    # Back online, a reload sends nothing again.
    page.reload()
    page.locator("#now").wait_for()
    assert len(_checkins_with_note(engine, note)) == 1
    page.screenshot(path=str(ARTIFACTS / f"grid-phone-offline-sent-{lang}.png"))
