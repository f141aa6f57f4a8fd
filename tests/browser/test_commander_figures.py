"""Honest headline figures in a real browser (issue 15, item 6): the statistics and accuracy
pages counted over the cells where incidents happen, with plain-words verdicts; finding a
grid or cell by name and opening it on the hotspot map; comparing two periods on a map;
exporting the statistics as CSV and printing them. Desktop and a 390 x 844 phone, Chinese
and English; screenshots under test-artifacts/browser/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.conftest import DESKTOP, PHONE, _watched_page

pytestmark = pytest.mark.browser

SIZES = {"desktop": DESKTOP, "phone": PHONE}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


@pytest.fixture(params=[(s, lang) for s in SIZES for lang in LOCALES], ids=lambda p: "-".join(p))
def commander_page(request, browser, live_server) -> Iterator[tuple[object, str, str]]:
    """A commander logged in on a fresh page of each size and language."""
    size, lang = request.param
    generator = _watched_page(browser, live_server, locale=LOCALES[lang], **SIZES[size])
    watched = next(generator)
    watched.login("commander")
    yield watched, size, lang
    next(generator, None)


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"the page scrolls sideways: {width} px"


def _tall_enough(page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None and box["height"] >= 44, f"{selector}: {box}"


def test_statistics_show_the_area_a_verdict_and_export_and_print(commander_page) -> None:
    watched, size, lang = commander_page
    page = watched.page
    watched.goto("/command/statistics")
    assert page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")
    text = page.locator("#concentration-text").inner_text()
    assert re.search(r"\d", text), text
    if lang == "en":
        assert "cells where incidents happen" in text and "times their share" in text
    _no_sideways_scroll(page)
    if size == "phone":
        _tall_enough(page, "#cell-search-submit")
        _tall_enough(page, "#statistics-csv")
    with page.expect_download() as download:
        page.click("#statistics-csv")
    path = download.value.path()
    with open(path, "rb") as handle:
        body = handle.read()
    assert body.startswith("\ufeff".encode()) and download.value.suggested_filename.endswith(".csv")
    watched.shot(f"figures-statistics-{size}-{lang}")
    page.emulate_media(media="print")
    assert not page.locator("#statistics-filters").is_visible()
    assert not page.locator("#cell-search").is_visible()
    assert page.locator("#concentration").is_visible()
    assert page.locator("#period-counts").is_visible()
    page.emulate_media(media="screen")


def test_a_cell_is_found_by_name_and_opens_on_the_map(commander_page) -> None:
    watched, size, lang = commander_page
    page = watched.page
    watched.goto("/command/statistics")
    page.fill("#cell-search-q", "G001")
    watched.click_through("#cell-search-submit")
    rows = page.locator("tr.find-row")
    assert rows.count() > 1
    assert all(n.startswith("G001-") for n in rows.locator("strong").all_inner_texts())
    _no_sideways_scroll(page)
    watched.shot(f"figures-find-{size}-{lang}")
    link = rows.first.locator("a.map-link")
    assert "area=grid%3AG001" in link.get_attribute("href") or "area=grid:G001" in (
        link.get_attribute("href")
    )
    if size == "phone":
        _tall_enough(page, "tr.find-row a.map-link")
    with page.expect_navigation():
        link.click()
    page.wait_for_selector("#map-panel .leaflet-container")
    assert "/command/hotspots" in page.url


def test_accuracy_says_in_plain_words_over_which_cells(commander_page) -> None:
    watched, size, lang = commander_page
    page = watched.page
    watched.goto("/command/accuracy")
    assert page.locator("#accuracy-area").is_visible()
    verdicts = page.locator("ul.verdicts li")
    assert verdicts.count() >= 4
    first = verdicts.first.inner_text()
    assert re.search(r"\d+ ?%", first), first
    if lang == "en":
        assert "cells where incidents happen" in page.locator("#accuracy-area").inner_text()
        assert "times chance" in first or "no better than chance" in first
    _no_sideways_scroll(page)
    watched.shot(f"figures-accuracy-{size}-{lang}")


def test_two_periods_are_compared_on_a_map(commander_page) -> None:
    watched, size, lang = commander_page
    page = watched.page
    watched.goto("/command/compare")
    page.wait_for_selector("#compare-map .leaflet-container")
    assert page.locator("#compare-map path.leaflet-interactive").count() > 10
    assert page.locator("#compare-total").inner_text().strip()
    names = page.locator("#compare-increases tr.change-row strong, "
                         "#compare-decreases tr.change-row strong").all_inner_texts()  # fmt: skip
    assert names and all(re.fullmatch(r"G\d{3}-\d+|[0-9a-f]{15}", n) for n in names), names
    _no_sideways_scroll(page)
    if size == "phone":
        _tall_enough(page, "#compare-form button[type=submit]")
        _tall_enough(page, "#compare-form input[name=a_start]")
    watched.shot(f"figures-compare-{size}-{lang}")
    # A refused period is said next to the form, with the default periods still shown.
    watched.goto("/command/compare?a_start=2026-01-02&a_end=2026-01-01&b_start=2026-01-03"
                 "&b_end=2026-01-04")  # fmt: skip
    flash = page.locator(".flash.error")
    assert "a_end" in flash.inner_text()
    assert page.locator("#compare-map .leaflet-container").count() == 1
    # The refused request answered 400 on purpose: not a fault of the page.
    assert all("400" in e for e in watched.failed + watched.console_errors)
    watched.failed.clear()
    watched.console_errors.clear()
