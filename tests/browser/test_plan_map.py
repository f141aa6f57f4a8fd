"""The plan map in a real browser: the selector shows all units, one station's or one unit's
routes and stops (map and stop list together, without loading the page again), on a desktop
in English and on a 390 x 844 phone in Chinese. Plan 1 is the demo's published day plan."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

PLAN = "/plans/1"
# Route lines, stop dots and station circles are SVG paths; dots have a white outline and
# stations a black one, so the other outline colours are the units' route colours.
_STROKES = """() => Array.from(document.querySelectorAll(
    '.leaflet-overlay-pane path.leaflet-interactive')).map(p => p.getAttribute('stroke'))"""


def _screen(watched, name: str) -> None:
    """What the screen shows (a full-page shot resizes the window, and the map with it),
    then the whole page."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(ARTIFACTS / f"{name}-screen.png"))
    watched.shot(name)


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i : i + 2], 16) for i in (0, 2, 4)))


def _route_colours(page) -> set[str]:
    return {_rgb(s) for s in page.evaluate(_STROKES)} - {_rgb("#ffffff"), _rgb("#000000")}


def _unit_colour(page, unit: str) -> str:
    return page.evaluate(
        "(u) => getComputedStyle(document.querySelector("
        "`[data-unit='${u}'] .swatch`)).backgroundColor",
        unit,
    )


def _stop_count(page, unit: str) -> int:
    return page.locator(f"[data-unit='{unit}'] tr.stop").count()


def _visible_units(page) -> list[str]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('#stop-list [data-unit]'))"
        ".filter(e => !e.hidden && e.offsetParent !== null).map(e => e.dataset.unit)"
    )


def _open_plan(watched) -> None:
    watched.login("planner")
    watched.goto(PLAN)
    watched.page.wait_for_selector("#plan-view-box:not([hidden])")
    # A mark on the window: it would be gone if choosing reloaded the page.
    watched.page.evaluate("() => { window.__sameDocument = true; }")


def _check_all(page, units: list[str]) -> None:
    assert page.locator(".leaflet-marker-icon.plan-stop").count() == 0  # dots, no numbers
    assert set(_visible_units(page)) == set(units)
    assert _route_colours(page) == {_unit_colour(page, u) for u in units}


def _check_unit(page, unit: str) -> None:
    page.select_option("#plan-view", f"unit:{unit}")
    page.wait_for_function("(u) => PlanMap.state.value === 'unit:' + u", arg=unit)
    assert page.locator(".leaflet-marker-icon.plan-stop").count() == _stop_count(page, unit)
    assert _visible_units(page) == [unit]
    assert _route_colours(page) == {_unit_colour(page, unit)}
    page.wait_for_function("() => PlanMap.inView()")  # the map moved to the unit
    assert page.evaluate("() => window.__sameDocument === true")
    assert page.evaluate("() => location.hash") == f"#show=unit:{unit}"


def _check_station(page, station: str) -> None:
    page.select_option("#plan-view", f"station:{station}")
    page.wait_for_function("(s) => PlanMap.state.value === 'station:' + s", arg=station)
    units = page.evaluate(
        "(s) => Array.from(document.querySelectorAll('#stop-list [data-station]'))"
        ".filter(e => e.dataset.station === s)[0].querySelectorAll('[data-unit]').length",
        station,
    )
    shown = _visible_units(page)
    assert len(shown) == units >= 1
    assert page.locator(".leaflet-marker-icon.plan-stop").count() == sum(
        _stop_count(page, u) for u in shown
    )
    assert _route_colours(page) == {_unit_colour(page, u) for u in shown}
    page.wait_for_function("() => PlanMap.inView()")  # the map moved to the station
    visible_stations = page.evaluate(
        "() => Array.from(document.querySelectorAll('#stop-list [data-station]'))"
        ".filter(e => !e.hidden).map(e => e.dataset.station)"
    )
    assert visible_stations == [station]
    assert page.evaluate("() => window.__sameDocument === true")


def _units_and_stations(page) -> tuple[list[str], list[str]]:
    units = page.evaluate(
        "() => Array.from(document.querySelectorAll('#stop-list [data-unit]'))"
        ".map(e => e.dataset.unit)"
    )
    stations = page.evaluate(
        "() => Array.from(document.querySelectorAll('#stop-list [data-station]'))"
        ".map(e => e.dataset.station)"
    )
    return units, stations


def test_one_unit_and_one_station_on_a_desktop_in_english(watched) -> None:
    page = watched.page
    _open_plan(watched)
    units, stations = _units_and_stations(page)
    assert len(units) > 5 and len(stations) >= 2
    # Every unit its own colour.
    assert len({_unit_colour(page, u) for u in units}) == len(units)
    _check_all(page, units)
    legend = page.locator("#plan-legend").inner_text()
    assert "straight lines, not streets" in legend  # the demo has no road network
    _screen(watched, "plan-map-all-en")
    _check_unit(page, units[1])
    # A stop row names its cell by grid and number, the H3 id second.
    first = page.locator(f"[data-unit='{units[1]}'] tr.stop").first
    assert re.match(r"G\d+-\d+ [0-9a-f]{15}$", first.locator("td").nth(1).inner_text().strip())
    # The first numbered stop's popup names the same cell, with its times.
    # A later visit to the same cell may sit on top of it: the click goes to the marker itself.
    page.locator(".leaflet-marker-icon.plan-stop", has_text=re.compile(r"^1$")).dispatch_event(
        "click"
    )
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert first.locator(".stop-name").inner_text() in popup
    assert first.locator(".stop-hex").inner_text() in popup and units[1] in popup
    assert first.locator("td.time").first.inner_text().split()[0] in popup
    _screen(watched, "plan-map-unit-en")
    _check_station(page, stations[-1])
    _screen(watched, "plan-map-station-en")
    # Previous and next step through the units; "show on map" in the list picks one too.
    page.click("#plan-view-next")
    page.wait_for_function("() => PlanMap.state.value.indexOf('unit:') === 0")
    assert len(page.evaluate("() => PlanMap.state.units")) == 1
    page.select_option("#plan-view", "all")
    page.wait_for_function("() => PlanMap.state.value === 'all'")
    _check_all(page, units)
    page.locator(f"[data-unit='{units[0]}'] summary .show-on-map").click()
    page.wait_for_function("(u) => PlanMap.state.value === 'unit:' + u", arg=units[0])
    assert _visible_units(page) == [units[0]]
    # The choice is in the address: opening it again shows the same unit.
    watched.goto(f"{PLAN}#show=unit:{units[2]}")
    page.reload()
    page.wait_for_function("(u) => PlanMap.state && PlanMap.state.value === 'unit:' + u",
                           arg=units[2])  # fmt: skip
    assert _visible_units(page) == [units[2]]


def test_one_unit_and_one_station_on_a_phone_in_chinese(phone) -> None:
    page = phone.page
    _open_plan(phone)
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    units, stations = _units_and_stations(page)
    _check_all(page, units)
    # The selector sits right under the map, within the first screens, with finger-sized
    # controls, and the page does not scroll sideways.
    for selector in ("#plan-view", "#plan-view-prev", "#plan-view-next"):
        box = page.locator(selector).bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, (selector, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    _screen(phone, "plan-map-all-phone-zh")
    _check_unit(page, units[0])
    page.locator("#map-panel").scroll_into_view_if_needed()
    _screen(phone, "plan-map-unit-phone-zh")
    _check_station(page, stations[0])
    _screen(phone, "plan-map-station-phone-zh")
    # The same page in English on the phone.
    phone.click_through("#lang-en")
    page.wait_for_selector("#plan-view-box:not([hidden])")
    page.evaluate("() => { window.__sameDocument = true; }")
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert "straight lines, not streets" in page.locator("#plan-legend").inner_text()
    _check_unit(page, units[-1])
    _screen(phone, "plan-map-unit-phone-en")
