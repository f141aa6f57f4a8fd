"""The planner's and the administrator's workflows in a real browser, on a phone in Chinese
and a desktop in English: past dates refused with the form kept, publishing only after the
confirmation, accounts without a preset role whose form survives an error, the grids map and
the audit log's filters."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.browser.conftest import PHONE_ZH_DESKTOP_EN, WatchedPage, page_opener
from tests.web.conftest import days_ahead

pytestmark = pytest.mark.browser

SIZES = PHONE_ZH_DESKTOP_EN


@pytest.fixture(params=list(SIZES))
def page_as(request, browser, live_server) -> Iterator[tuple[WatchedPage, str]]:
    """A watched page of each size and language, and the language's code."""
    with page_opener(browser) as open_:
        yield open_(live_server, **SIZES[request.param]), request.param.split("-")[1]


def test_a_past_date_is_refused_and_publishing_needs_the_confirmation(page_as) -> None:
    watched, lang = page_as
    page = watched.page
    watched.login_in("planner", lang)
    watched.goto("/plans/new")
    page.fill("#date", days_ahead(-3))
    page.fill("#candidates", "30")
    page.click("#generate")
    page.wait_for_selector("#error-date")
    assert page.locator("#error-date").is_visible()
    assert page.input_value("#candidates") == "30"  # what was typed stays
    watched.shot(f"planner-past-date-{lang}")
    # The refused form's 400 is what this step asks for.
    watched.failed = [f for f in watched.failed if not f.startswith("400 ")]
    watched.console_errors = [e for e in watched.console_errors if "status of 400" not in e]
    page.fill("#date", days_ahead(200 + (lang == "zh")))
    page.click("#generate")
    page.wait_for_url(re.compile(r".*/plans/\d+$"), timeout=60000)
    assert page.locator("#plan-status.draft").count() == 1
    # Without the tick the browser does not send the form: the plan stays a draft.
    page.click("#publish")
    assert page.evaluate("document.querySelector('#publish-form').checkValidity()") is False
    page.reload()
    assert page.locator("#plan-status.draft").count() == 1
    page.check("#confirm-publish")
    watched.click_through("#publish")
    assert page.locator("#plan-status.published").count() == 1
    watched.shot(f"planner-published-{lang}")


def test_a_new_account_starts_without_a_role_and_keeps_its_form_after_an_error(page_as) -> None:
    watched, lang = page_as
    page = watched.page
    watched.login_in("admin", lang)
    watched.goto("/admin/users")
    form = page.locator("#new-user")
    assert form.locator("select[name=role]").input_value() == ""  # least privilege: none
    name = f"Tester {uuid.uuid4().hex[:6]}"
    form.locator("input[name=username]").fill("planner")  # taken: refused by the server
    form.locator("input[name=display_name]").fill(name)
    form.locator("input[name=password]").fill("a-long-enough-password")
    form.locator("select[name=role]").select_option("commander")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.locator(".flash.error, [role=alert]").first.is_visible()
    form = page.locator("#new-user")
    assert form.locator("input[name=username]").input_value() == "planner"
    assert form.locator("input[name=display_name]").input_value() == name
    assert form.locator("select[name=role]").input_value() == "commander"
    assert form.locator("input[name=password]").input_value() == ""  # never sent back
    watched.shot(f"admin-account-error-{lang}")
    # The failed attempt's status is what this test asks for.
    watched.failed = [f for f in watched.failed if not f.startswith(("400 ", "409 "))]
    watched.console_errors = [e for e in watched.console_errors if "status of 40" not in e]


def test_the_grids_map_and_the_audit_filters(page_as) -> None:
    watched, lang = page_as
    page = watched.page
    watched.login_in("admin", lang)
    watched.goto("/admin/grids")
    page.wait_for_selector(".folium-map path.leaflet-interactive")
    assert page.locator("#grids tr").count() > 1
    # Every grid carries its label (G001 ...), shown once the map is zoomed in.
    grids = page.locator("#grids tr").count() - 1
    assert page.locator(".map-label-grid").count() == grids
    page.evaluate(
        "() => { const m = MapContext.maps[0]; m.setView(m.getCenter(), 14, {reset: true}); }"
    )
    page.locator(".map-label-grid").first.wait_for(state="attached")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.map-label-grid')].some(e => e.offsetParent)"
    )
    labels = page.locator(".map-label-grid").all_inner_texts()
    assert all(re.fullmatch(r"G\d{3}", t.strip()) for t in labels), labels[:5]
    watched.shot(f"admin-grids-{lang}")
    watched.goto("/admin/audit")
    page.select_option("#audit-filters select[name=action]", "login")
    watched.click_through("#audit-filters button[type=submit]")
    actions = page.locator("#audit td[data-action]")
    assert actions.count() > 0
    assert set(actions.evaluate_all("cells => cells.map(c => c.dataset.action)")) == {"login"}
    assert "action=login" in page.locator("#audit-csv").get_attribute("href")
