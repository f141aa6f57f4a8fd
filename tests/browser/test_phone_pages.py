"""Every page of each role on a 390 x 844 phone in Chinese: the menu reaches it, nothing on it
is wider than the screen (wide tables scroll in their own box), its form fields, buttons and
sub-page links are a finger's size (44 px), Chinese words in tables are not cut into one
character per line, and a form sent empty shows its errors on the screen.

Third-party widgets draw their own controls and are left out of the size check: map controls
(Leaflet) and the API page's Swagger UI.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, page_opener
from tests.web.conftest import ROLE_USER

pytestmark = pytest.mark.browser

PHONE_ZH = {**PHONE, "locale": "zh-CN"}
FINGER_PX = 44
# The top menu of each role, in order (the warnings inbox is linked beside it).
MENUS = {
    "admin": ["/command/hotspots", "/command/live", "/command/statistics", "/command/accuracy",
              "/command/compare", "/plans/", "/requests/", "/overview", "/admin/users",
              "/admin/audit", "/api/docs"],
    "commander": ["/command/hotspots", "/command/live", "/command/statistics",
                  "/command/accuracy", "/command/compare", "/plans/", "/requests/", "/overview",
                  "/api/docs"],
    "grid_worker": ["/grid/", "/api/docs"],
}  # fmt: skip
MENUS["planner"] = MENUS["commander"]
# Pages reached from a role's pages rather than its menu ({plan}: the plan list's first plan).
DETAILS = {
    "admin": ["/admin/users/1", "/admin/grids", "/admin/tokens", "/command/find?q=G001"],
    "commander": ["/plans/{plan}", "/command/find?q=G001"],
    "planner": ["/plans/{plan}", "/plans/{plan}/briefing", "/plans/{plan}/replan", "/plans/new"],
    "grid_worker": [],
}
# Controls a finger must hit: form fields, buttons, button links and sub-page link rows.
TOUCH_TARGETS = """() => {
  const own = el => !el.closest('.leaflet-container, #swagger-ui');
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
    (el.innerText || el.value || el.name || '').trim().slice(0, 30) + '"';
  const small = [];
  const fields = 'main input:not([type=checkbox]):not([type=radio]):not([type=hidden]), ' +
    'main select, main button, main .button, main .page-links a, main summary, #top-cells a, ' +
    '[data-section=warnings-on-map] a';
  for (const el of document.querySelectorAll(fields)) {
    const h = el.getBoundingClientRect().height;
    if (own(el) && shown(el) && h < 44) small.push(name(el) + ' ' + Math.round(h) + ' px');
  }
  // A check box or radio button: its box with the space above and below it.
  for (const el of document.querySelectorAll('main input[type=checkbox], main input[type=radio]')) {
    const s = getComputedStyle(el);
    const h = el.getBoundingClientRect().height + parseFloat(s.marginTop)
      + parseFloat(s.marginBottom);
    if (own(el) && shown(el) && h < 44) small.push(name(el) + ' ' + Math.round(h) + ' px');
  }
  return small;
}"""
# Table cells holding one short Chinese word (2 to 6 characters) broken over several lines.
ONE_CHARACTER_PER_LINE = """() => Array.from(document.querySelectorAll('main th, main td'))
  .filter(cell => {
    if (!/^[\\u4e00-\\u9fff]{2,6}$/.test(cell.innerText.trim())) return false;
    const tops = new Set();
    const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = texts.nextNode(); node; node = texts.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    return tops.size > 1;
  }).map(cell => cell.innerText.trim())"""


def _check_page(watched, path: str, role: str) -> None:
    """``path`` on the phone: no sideways scrolling, controls 44 px, words in tables whole."""
    page = watched.page
    response = watched.goto(path)
    assert response is not None and response.status == 200, path
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    name = path.strip("/").replace("/", "-").replace("?", "-").replace("=", "-")
    watched.shot(f"phone-{role}-{name}")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert watched.fits_screen(), f"{path} is {width} px wide on a 390 px screen"
    small = page.evaluate(TOUCH_TARGETS)
    assert not small, f"{path}: controls under {FINGER_PX} px: {small}"
    maps = page.locator("#map-panel")
    if maps.count():  # room above or below the map to scroll the page with a finger
        height = maps.first.bounding_box()["height"]
        assert 0 < height <= 0.75 * 844, f"{path}: the map is {height} px tall"
    squeezed = page.evaluate(ONE_CHARACTER_PER_LINE)
    assert not squeezed, f"{path}: one character per line in {squeezed}"


@pytest.mark.parametrize("role", ["admin", "commander", "planner", "grid_worker"])
def test_every_page_of_a_role_fits_a_phone_in_chinese(browser, live_server, role) -> None:
    """Each role's menu lists its pages; each of them and the detail pages reached from them
    fit the phone with finger-sized controls."""
    with page_opener(browser) as open_page:
        watched = open_page(live_server, **PHONE_ZH)
        watched.login_in(ROLE_USER[role], "zh")
        page = watched.page
        menu = [a.get_attribute("href") for a in page.locator("header .menu a").all()]
        assert menu == MENUS[role]
        assert page.locator("#warnings-link").get_attribute("href") == "/warnings/"
        # Every menu link is a finger's size in the top bar.
        heights = page.evaluate(
            "() => Array.from(document.querySelectorAll('header .menu a, #warnings-link,"
            " header button.link')).map(a => a.getBoundingClientRect().height)"
        )
        assert heights and min(heights) >= FINGER_PX, heights
        plan = None
        if role in ("commander", "planner"):
            watched.goto("/plans/")
            plan = page.locator("#plans tbody tr").first.get_attribute("data-plan-id")
        details = [p.format(plan=plan) for p in DETAILS[role]]
        for path in [*menu, "/warnings/", "/account", *details]:
            _check_page(watched, path, role)


def test_a_plan_briefing_fits_a_phone(browser, live_server) -> None:
    """A unit's briefing: its table of stops scrolls in its own box, not the page."""
    with page_opener(browser) as open_page:
        watched = open_page(live_server, **PHONE_ZH)
        watched.login_in("planner", "zh")
        watched.goto("/plans/")
        plan = watched.page.locator("#plans tbody tr").first.get_attribute("data-plan-id")
        watched.goto(f"/plans/{plan}")
        unit = watched.page.locator("details.unit").first.get_attribute("data-unit")
        _check_page(watched, f"/plans/{plan}/briefing/{unit}", "planner")
        box = watched.page.locator("table.stops").first.evaluate(
            "t => getComputedStyle(t.parentElement).overflowX"
        )
        assert box == "auto"


@pytest.mark.parametrize(
    ("username", "path", "form"),
    [
        ("admin", "/admin/users", "#new-user"),
        ("commander", "/requests/", "#request-form"),
        ("planner", "/plans/new", "main form"),
    ],
)
def test_a_form_sent_empty_shows_its_errors_on_a_phone(
    browser, live_server, username, path, form
) -> None:
    """A form sent empty (the browser's own checks off): the page that comes back names what
    is wrong where it can be seen, in Chinese, and still fits the phone."""
    with page_opener(browser) as open_page:
        watched = open_page(live_server, **PHONE_ZH)
        watched.login_in(username, "zh")
        page = watched.page
        watched.goto(path)
        page.locator(form).first.evaluate(
            """f => { f.noValidate = true;
              f.querySelectorAll('input:not([type=hidden]):not([type=checkbox]):not([type=radio]),'
                + ' textarea').forEach(i => { i.value = ''; }); }"""
        )
        submit = page.locator(form).first.locator("button[type=submit], button:not([type])")
        with page.expect_navigation():
            submit.first.click()
        page.wait_for_load_state("networkidle")
        watched.take_refusal(path)  # the form comes back with status 400
        errors = page.locator(".field-error, .flash.error")
        assert errors.count() >= 1
        first = errors.first
        first.scroll_into_view_if_needed()
        assert first.is_visible()
        box = first.bounding_box()
        assert box is not None and box["width"] > 0 and box["x"] + box["width"] <= 391
        assert any("\u4e00" <= ch <= "\u9fff" for ch in first.inner_text())
        watched.shot("phone-error-" + path.strip("/").replace("/", "-"))
        assert watched.fits_screen()
        small = page.evaluate(TOUCH_TARGETS)
        assert not small, f"{path} with errors: controls under {FINGER_PX} px: {small}"


def test_account_edit_links_stay_on_a_phone_screen(browser, live_server) -> None:
    """The accounts table scrolls sideways in its box, but each row's edit link stays on the
    screen, a finger's size."""
    with page_opener(browser) as open_page:
        watched = open_page(live_server, **PHONE_ZH)
        watched.login_in("admin", "zh")
        watched.goto("/admin/users")
        table_width = watched.page.locator("#users").evaluate("t => t.scrollWidth")
        assert table_width > 390  # wider than the screen: it does scroll
        links = watched.page.locator("#users td:last-child a")
        assert links.count() >= 5
        for box in (links.nth(i).bounding_box() for i in range(links.count())):
            assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 44
