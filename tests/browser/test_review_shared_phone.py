"""A phone shared between grid workers (one shift after another): the next worker's login
never shows the last worker's saved grid page (web/static/site.js forgets it)."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser

SAVED_PAGE = "grid-shell-v1"  # the service worker's cache (web/static/grid-sw.js)


def _slow_grid_page(route) -> None:
    """The grid page answered after the service worker stops waiting (a weak connection)."""
    time.sleep(7)
    route.continue_()


def test_the_next_login_on_a_shared_phone_never_shows_the_last_workers_page(phone) -> None:
    page = phone.page
    phone.login("grid1")
    phone.goto("/grid/")
    page.wait_for_selector("body[data-offline-ready='1']")
    assert page.evaluate(f"caches.has('{SAVED_PAGE}')")
    first = page.locator("h1").first.inner_text()

    page.context.clear_cookies()  # grid1's session ended without logging out (idle)
    phone.goto("/login")
    deadline = time.monotonic() + 20
    while page.evaluate(f"caches.has('{SAVED_PAGE}')"):  # evaluate waits for the promise
        assert time.monotonic() < deadline, "the login page kept grid1's saved page"
        time.sleep(0.1)

    page.context.route("**/grid/", _slow_grid_page)
    phone.login("grid2")
    page.locator("h1").first.wait_for()
    second = page.locator("h1").first.inner_text()
    assert second != first, (first, second)
