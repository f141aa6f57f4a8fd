"""Grid workers' event reports in a real browser: a report from a 390 x 844 phone (its position
mocked through the browser context's geolocation), accepted by a commander on the live page,
then counted by the API; in Chinese and in English."""

from __future__ import annotations

import time
import uuid

import h3
import pytest

from tests.browser.conftest import PHONE, _watched_page

pytestmark = pytest.mark.browser

ACCURACY_M = 18


@pytest.fixture
def phones(browser, live_server):
    """``phones(locale)``: a new 390 x 844 touch page in its own browser context; after the
    test each is checked like every watched page (no console errors, nothing external)."""
    opened = []

    def make(locale: str):
        pages = _watched_page(browser, live_server, locale=locale, **PHONE)
        watched = next(pages)
        opened.append((pages, watched))
        return watched

    yield make
    for pages, watched in opened:
        _restore_language(watched)
        next(pages, None)


def _restore_language(watched) -> None:
    """Choose Chinese again for the account (the site remembers the choice per account), so
    the other browser tests find the demo accounts as they were."""
    page = watched.page
    if page.locator("#lang-zh").count():
        watched.click_through("#lang-zh")


def _choose_language(watched, lang: str) -> None:
    with watched.page.expect_navigation():
        watched.page.click(f"#lang-{lang}")
    assert watched.page.locator("html").get_attribute("lang") == ("zh-CN" if lang == "zh" else "en")


def _gambling_counts(page, base_url: str, hex_id: str) -> int:
    """The sum of the cell's GAMBLING counts over the API's windows (0 without any)."""
    answer = page.request.get(f"{base_url}/api/cells/{hex_id}").json()
    for category in answer["categories"]:
        if category["code"] == "GAMBLING":
            return sum(int(v) for v in category["counts"].values())
    return 0


@pytest.mark.parametrize(("lang", "cell_index"), [("zh", 0), ("en", 1)])
def test_report_from_a_phone_accepted_live_and_counted(phones, live_server, lang, cell_index):
    locale = "zh-CN" if lang == "zh" else "en-US"
    worker = phones(locale)
    page = worker.page
    worker.login("grid1")
    _choose_language(worker, lang)
    assert page.url.split("#")[0].endswith("/grid/")
    cells = page.request.get(f"{live_server}/api/session").json()["cells"]
    hex_id = cells[cell_index]
    lat, lon = h3.cell_to_latlng(hex_id)
    page.context.grant_permissions(["geolocation"], origin=live_server)
    page.context.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": ACCURACY_M})

    # The form (under the Reports tab): a category, the phone's position with its accuracy
    # shown, a note.
    assert not page.locator("#report-warning").is_visible()
    page.click("#tab-button-reports")
    assert page.locator("#report-warning").is_visible()
    page.select_option("#report-category", "gambling_fraud")
    page.click("#report-locate")
    page.wait_for_function("() => document.getElementById('report-lat').value !== ''")
    assert str(ACCURACY_M) in page.locator("#report-accuracy").inner_text()
    assert page.input_value("#report-crs") == "wgs84"
    assert abs(float(page.input_value("#report-lat")) - lat) < 1e-5
    place = "后门常有人聚集打牌" if lang == "zh" else "card games behind the back door"
    note = f"{place} {uuid.uuid4().hex[:6]}"
    page.fill("#report-note", note)
    worker.click_through("#report-form button[type=submit]")
    assert page.locator(".flash.success").count() == 1
    assert page.locator("#my-reports").is_visible()  # back on the Reports tab
    row = page.locator("#my-reports tr.report").first
    assert "reported" in (row.get_attribute("class") or "")
    report_id = row.get_attribute("data-report-id")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    worker.shot(f"grid-worker-report-{lang}")
    before = _gambling_counts(page, live_server, hex_id)

    # A commander accepts it on the live page, on a phone too.
    commander = phones(locale)
    live = commander.page
    commander.login("commander")
    _choose_language(commander, lang)
    commander.goto("/command/live")
    item = live.locator(f'#waiting-list li[data-report-id="{report_id}"]')
    item.wait_for()
    assert note in item.inner_text()
    assert live.locator("#map-panel path.leaflet-interactive").count() >= 1  # waiting cells
    assert live.evaluate("document.documentElement.scrollWidth") <= 390
    run_before = int(live.locator("body").get_attribute("data-live-run") or "0")
    item.locator("button.accept").click()
    item.wait_for(state="detached")
    live.wait_for_function(f"() => Number(document.body.dataset.liveRun) > {run_before}")
    newest = live.locator("#incident-list li").first
    assert "field" in newest.inner_text()
    assert "new" in (newest.get_attribute("class") or "")
    commander.shot(f"commander-live-{lang}")

    # Counted: the API's cell counts include it within a few seconds.
    deadline = time.monotonic() + 10
    while _gambling_counts(live, live_server, hex_id) <= before:
        assert time.monotonic() < deadline, "the accepted report was not counted"
        time.sleep(0.5)

    # The reporter sees the status.
    worker.goto("/grid/")
    mine = page.locator(f'#my-reports tr[data-report-id="{report_id}"]')
    assert "accepted" in (mine.get_attribute("class") or "")
