"""Re-planning a running shift in a real browser: the planner (phone in Chinese, desktop in
English) re-plans today's published day plan from 11:00 with a unit called away and an
urgent cell of grid1's, checks the draft revision and publishes it; grid1's phone then shows
what changed in their cells. On a demo site of its own: publishing revisions changes what
grid workers see, which other browser tests rely on."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.browser.conftest import (
    PHONE_ZH_DESKTOP_EN,
    WatchedPage,
    own_site_fixture,
    page_opener,
    plan_in_force,
)
from web import storage

pytestmark = pytest.mark.browser

SIZES = PHONE_ZH_DESKTOP_EN


site = own_site_fixture("replan", PLAN_TIME_LIMIT_S=4.0)


def _in_force(database_url: str) -> tuple[int, int]:
    """The day plan in force and its revision number."""
    return plan_in_force(database_url, "day")


def _grid1_cell(database_url: str, plan_id: int) -> str:
    """A cell of grid1's grids the plan does not visit after 11:00 (hex id)."""
    from geo.cells import hex_from_cells

    engine = storage.make_engine(database_url)
    try:
        user = storage.get_user_by_name(engine, "grid1")
        mine = storage.user_cells(engine, user.id)
        with engine.connect() as conn:
            visited = {int(c) for (c,) in conn.execute(
                sa.select(storage.schema.plan_visits.c.cell).where(
                    storage.schema.plan_visits.c.plan_id == plan_id))}  # fmt: skip
        return hex_from_cells([int(c) for c in mine if int(c) not in visited][:1])[0]
    finally:
        engine.dispose()


def _planner_on_plan(open_, base_url: str, size: str, plan_id: int) -> WatchedPage:
    """The planner logged in on a page of ``size`` in its language, on plan ``plan_id``."""
    planner = open_(base_url, **SIZES[size])
    planner.login_in("planner", size.split("-")[1])
    planner.goto(f"/plans/{plan_id}")
    return planner


@pytest.mark.parametrize("size", list(SIZES))
def test_the_planner_re_plans_and_grid_workers_see_the_change(browser, site, size) -> None:
    base_url, database_url = site
    lang = size.split("-")[1]
    plan_id, revision = _in_force(database_url)
    urgent = _grid1_cell(database_url, plan_id)
    with page_opener(browser) as open_:
        planner = _planner_on_plan(open_, base_url, size, plan_id)
        page = planner.page
        planner.click_through("#replan-link")
        assert page.url.endswith(f"/plans/{plan_id}/replan")
        # Touch targets: every unit's box is a label of at least 44 px.
        first = page.locator("#away-units label").first
        assert first.bounding_box()["height"] >= 44
        page.fill("#at", "11:00")
        unit = page.locator("#away-units input[name=away]").first.get_attribute("value")
        first.click()
        page.fill("#urgent", urgent)
        page.fill("#reason", "处警" if lang == "zh" else "called to a crash")
        planner.shot(f"replan-form-{size}")
        page.click("#replan-submit")
        page.wait_for_url(re.compile(r".*/plans/\d+$"), timeout=90000)
        new_id = int(page.url.rsplit("/", 1)[1])
        assert new_id != plan_id
        box = page.locator("#revision")
        assert box.is_visible()
        text = box.inner_text()
        assert str(revision + 1) in text and unit in text and "11:00" in text
        assert page.locator("tr.stop.revised").count() > 0
        assert planner.fits_screen()
        planner.shot(f"replan-revision-{size}")
        page.check("#confirm-publish")
        planner.click_through("#publish")
        assert page.locator("#plan-status.published").count() == 1

        worker = open_(base_url, **SIZES["phone-zh"])
        worker.login_in("grid1", "zh")
        changes = worker.page.locator("#plan-changes")
        assert changes.is_visible()
        assert "11:00" in changes.inner_text()
        # The urgent cell is grid1's: its visit is new there.
        assert "新增巡查" in changes.inner_text()
        top = changes.bounding_box()["y"]
        assert top < 844  # on the first screen
        worker.shot(f"replan-grid-worker-after-{size}")
    assert _in_force(database_url) == (new_id, revision + 1)


@pytest.mark.parametrize("size", list(SIZES))
def test_the_planner_edits_a_plan_and_sees_what_the_check_found(browser, site, size) -> None:
    base_url, database_url = site
    plan_id, _revision = plan_in_force(database_url, "evening")
    with page_opener(browser) as open_:
        planner = _planner_on_plan(open_, base_url, size, plan_id)
        page = planner.page
        planner.click_through("#edit-link")
        first_unit = page.locator(".edit-unit").first
        rows = first_unit.locator("tr.edit-stop")
        assert rows.count() >= 2
        lock = rows.nth(0).locator("input[name=lock]")
        assert lock.locator("xpath=..").bounding_box()["height"] >= 44
        lock.check()
        other = page.locator(".edit-unit").nth(1).get_attribute("id").removeprefix("edit-unit-")
        rows.nth(1).locator("input[type=text]").fill(other)
        assert planner.fits_screen()
        planner.shot(f"edit-form-{size}")
        planner.click_through("#edit-check")
        assert re.search(r"/plans/\d+$", page.url) and not page.url.endswith(f"/{plan_id}")
        assert page.locator("#revision-edits").is_visible()
        # Either every check passes (publishable) or the findings are listed (not publishable).
        findings = page.locator("#check-findings")
        if findings.count():
            assert page.locator("#publish-form").count() == 0
        else:
            assert page.locator("#publish-form").count() == 1
        planner.shot(f"edit-checked-{size}")
