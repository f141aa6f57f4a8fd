"""Complete Chinese: every page each role opens, in Chinese, shows no English word.

The page's visible text (and the texts a user reads without seeing them in the body: the
title, placeholders, tooltips and button labels) is searched for words of Latin letters. Ids
people use as they are (unit and cell ids, H3 ids, grid ids such as G061) contain digits and
are not words; values that are data rather than interface text (user names, API paths,
time-zone names) are marked ``translate="no"`` and not read; the few names kept in Latin
letters everywhere are in :data:`ALLOWED`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.browser.conftest import WatchedPage, _watched_page

pytestmark = pytest.mark.browser

#: Latin-letter words a Chinese page may show: names of measures and formats that Chinese
#: users read in Latin letters too (OR of the solver library OR-Tools).
ALLOWED = frozenset(
    {"English", "Gi", "PAI", "AUC", "CSV", "GPX", "JSON", "API", "H3", "OSM", "OpenStreetMap",
     "Leaflet", "WGS", "GCJ", "OR", "km", "m", "min", "h", "s"}
)  # fmt: skip

# Every page of each role (the demo's plans 1 and 2 are today's published plans).
PAGES = {
    "admin": ["/admin/users", "/admin/users/1", "/admin/grids", "/admin/audit", "/admin/tokens",
              "/account", "/overview"],
    "commander": ["/command/hotspots", "/command/statistics", "/command/accuracy",
                  "/command/live", "/command/compare", "/command/find?q=G001", "/warnings/",
                  "/plans/", "/plans/1", "/plans/1/briefing", "/requests/", "/overview",
                  "/account"],
    "planner": ["/plans/new", "/plans/", "/plans/2", "/plans/2/briefing", "/plans/2/replan",
                "/warnings/",
                "/overview", "/account"],
    "grid1": ["/grid/", "/warnings/", "/account"],
}  # fmt: skip

# Texts a reader sees: the body's visible text (tab panels and <details> included) and
# tooltips, placeholders and button labels.
# Ids, user names, paths and other values marked translate="no" (or set as code) are data,
# not interface text: they are hidden while the text is read.
_READ_TEXTS = """() => {
  // Text behind a tab or a closed <details> is read too: every tab panel is shown and every
  // <details> opened while the text is read.
  for (const el of document.querySelectorAll('[role=tabpanel][hidden]')) el.hidden = false;
  for (const el of document.querySelectorAll('details:not([open])')) el.open = true;
  const style = document.createElement('style');
  style.textContent = '[translate=no], code, kbd, samp { visibility: hidden !important; }';
  document.head.appendChild(style);
  const out = [document.title, document.body.innerText];
  style.remove();
  const read = '[title], [placeholder], [aria-label], input[type=submit], input[type=button]';
  for (const el of document.querySelectorAll(read)) {
    if (el.closest('[hidden], [translate=no], .leaflet-control-attribution')) continue;
    for (const name of ['title', 'placeholder', 'aria-label', 'value']) {
      if (name === 'value' && !['submit', 'button'].includes(el.type)) continue;
      const v = el.getAttribute(name);
      if (v) out.push(v);
    }
  }
  return out.join('\\n');
}"""

_WORD = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z][A-Za-z']+(?![A-Za-z0-9_])")
_H3 = re.compile(r"\b8[0-9a-f]{14}\b")


@pytest.fixture
def watched_zh(browser, live_server) -> Iterator[WatchedPage]:
    """A desktop page whose browser asks for Chinese."""
    yield from _watched_page(
        browser, live_server, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )


def _login_in_chinese(watched: WatchedPage, username: str) -> None:
    watched.login(username)
    if watched.page.locator("html").get_attribute("lang") != "zh-CN":
        with watched.page.expect_navigation():
            watched.page.click("#lang-zh")
    assert watched.page.locator("html").get_attribute("lang") == "zh-CN"


def latin_words(text: str) -> set[str]:
    """Words of two or more Latin letters in ``text``, apart from :data:`ALLOWED` and H3 ids
    (which may hold runs of letters such as ``8928308280fffff``)."""
    return {w for w in _WORD.findall(_H3.sub(" ", text)) if w not in ALLOWED}


def test_latin_words_are_found_and_ids_are_not() -> None:
    text = "殴打 (BATTERY) G061-12 8924ae57577ffff U03 Gi* 分数 weighted_count PAI 2.3"
    assert latin_words(text) == {"BATTERY"}
    assert latin_words("367 visits planned for 14 unit(s)") == {"visits", "planned", "for", "unit"}


@pytest.mark.parametrize("username", list(PAGES))
def test_every_page_is_in_chinese(watched_zh, username) -> None:
    _login_in_chinese(watched_zh, username)
    found: dict[str, set[str]] = {}
    for path in PAGES[username]:
        response = watched_zh.goto(path)
        assert response is not None and response.status == 200, path
        watched_zh.page.wait_for_load_state("networkidle")
        words = latin_words(watched_zh.page.evaluate(_READ_TEXTS))
        if words:
            found[path] = words
    assert not found, f"English words on Chinese pages of {username}: {found}"


def test_error_pages_are_in_chinese(watched_zh) -> None:
    _login_in_chinese(watched_zh, "grid1")
    for path, status in (("/no-such-page", 404), ("/admin/users", 403)):
        response = watched_zh.goto(path)
        assert response is not None and response.status == status, path
        assert not latin_words(watched_zh.page.evaluate(_READ_TEXTS)), path
    # The expected error statuses are what this test asks for, not faults.
    watched_zh.failed = [f for f in watched_zh.failed if not f.startswith(("404 ", "403 "))]
    watched_zh.console_errors = [
        e for e in watched_zh.console_errors if not re.search(r"status of 40[34]\b", e)
    ]
