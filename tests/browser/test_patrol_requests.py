"""Patrol requests in a real browser: a commander asks for a patrol of a cell (phone in Chinese,
desktop in English), a refused request keeps what was typed with the error under its field,
and the planner finds the request among the urgent cells of the re-plan form. On a demo
site of its own: requests change what planners see."""

from __future__ import annotations

import pytest

from tests.browser.conftest import (
    PHONE_ZH_DESKTOP_EN,
    own_site_fixture,
    page_opener,
    plan_in_force,
)
from web import storage
from web.services.cell_names import cell_names
from web.services.site_data import site_data

pytestmark = pytest.mark.browser

SIZES = PHONE_ZH_DESKTOP_EN


site = own_site_fixture("requests")


def _named_cell(database_url: str, index: int) -> str:
    engine = storage.make_engine(database_url)
    try:
        names = cell_names(engine, site_data(engine))
        return sorted(names.by_name)[index]
    finally:
        engine.dispose()


@pytest.mark.parametrize("size", list(SIZES))
def test_a_commander_asks_and_the_planner_sees_it_when_re_planning(browser, site, size) -> None:
    base_url, database_url = site
    lang = size.split("-")[1]
    name = _named_cell(database_url, 3 if lang == "zh" else 5)
    reason = "夜市散场后常有纠纷" if lang == "zh" else "Fights after the night market closes"
    with page_opener(browser) as open_:
        commander = open_(base_url, **SIZES[size])
        page = commander.page
        commander.login_in("commander", lang)
        commander.goto("/requests/")
        # A phone number in the reason is refused; what was typed stays, the error under it.
        page.fill("#request-cell", name)
        page.fill("#request-reason", reason + " 13812345678")
        commander.click_through("#request-submit")
        commander.take_refusal("/requests/")
        assert page.locator("#error-reason").is_visible()
        assert page.input_value("#request-cell") == name
        box = page.locator("#error-reason").bounding_box()
        assert box["y"] < page.locator("#request-submit").bounding_box()["y"]
        page.fill("#request-reason", reason)
        assert page.locator("#request-submit").bounding_box()["height"] >= 44
        commander.click_through("#request-submit")
        card = page.locator(".request-card").first
        assert card.get_attribute("data-state") in ("waiting", "planned")
        assert name in card.inner_text() and reason in card.inner_text()
        assert commander.fits_screen()
        commander.shot(f"requests-commander-{size}")

        planner = open_(base_url, **SIZES[size])
        planner.login_in("planner", lang)
        planner.goto("/plans/")
        assert planner.page.locator("#open-requests").is_visible()
        plan_id, _revision = plan_in_force(database_url, "day")
        planner.goto(f"/plans/{plan_id}/replan")
        suggestion = planner.page.locator("#urgent-cells label", has_text=reason)
        assert suggestion.count() == 1 and name in suggestion.inner_text()
        assert suggestion.bounding_box()["height"] >= 44
        planner.shot(f"requests-replan-form-{size}")
