"""Early warnings on the site (issue 14): stored once per place and rule, extended and expired;
the inbox scoped per role on pages and API; acknowledgements audited; the unread count; the
planner's factor on warned cells; the plan page's covered warnings."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from geo.cells import cells_from_hex, hex_from_cells
from tests.web.conftest import days_ahead, user_id
from tests.web.test_planner_pages import generate
from web import clock, storage
from web.services import warnings as warning_service
from web.services.patrol_plans import PlanRequest, plan_day, shift_bounds, shift_window
from web.services.warnings import computed_from_frame, refresh_warnings
from web.storage import ComputedWarning, schema

# Every test runs on SQLite and on PostgreSQL (the demo too; tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

HOUR_S = 3600


def city_tz(engine) -> str:
    return storage.stored_timezone(engine)


NOW_S = 1_767_225_600  # 2026-01-01T00:00Z


def _cells(n: int, start: int = 0) -> tuple[int, ...]:
    import h3

    base = h3.latlng_to_cell(41.88, -87.63, 9)
    ring = sorted(h3.grid_disk(base, 3))
    return tuple(int(h3.str_to_int(c)) for c in ring[start : start + n])


def _warning(
    cells,
    *,
    rule="near_repeat",
    place=None,
    level=1,
    starts=NOW_S,
    hours=48,
    reason="3 burglaries within 200 m in 7 days",
    strength=2.0,
) -> ComputedWarning:
    place = place or hex_from_cells(np.array(cells[:1], dtype=np.int64))[0]
    return ComputedWarning(
        rule=rule, place=place, cells=tuple(cells), level=level, starts_at=starts,
        ends_at=starts + hours * HOUR_S, strength=strength, reason=reason,
        evidence={"incidents": 3, "p_value": 0.01},
    )  # fmt: skip


# --- storage: one open warning per place and rule -----------------------------------------


def test_a_second_computation_extends_the_open_warning_instead_of_repeating(engine) -> None:
    cells = _cells(1)
    first = storage.apply_warnings(engine, [_warning(cells, level=1, hours=24)], NOW_S)
    assert len(first.raised) == 1 and first.extended == []
    later = NOW_S + 6 * HOUR_S
    second = storage.apply_warnings(
        engine, [_warning(cells, level=3, starts=later, hours=24, reason="5 burglaries")], later
    )
    assert second.raised == [] and second.extended == first.raised
    (stored,) = storage.list_warnings(engine)
    assert stored.level == 3 and stored.reason == "5 burglaries"
    assert stored.ends_at == later + 24 * HOUR_S and stored.starts_at == NOW_S
    assert stored.raised_at == NOW_S and stored.updated_at == later
    assert stored.evidence == {"incidents": 3, "p_value": 0.01}
    # A computation that ends earlier never shortens it; the level may go down.
    storage.apply_warnings(engine, [_warning(cells, level=1, starts=later, hours=1)], later)
    (stored,) = storage.list_warnings(engine)
    assert stored.level == 1 and stored.ends_at == later + 24 * HOUR_S


def test_other_rules_and_places_are_separate_warnings(engine) -> None:
    cells = _cells(8)
    changes = storage.apply_warnings(
        engine,
        [
            _warning(cells[:1]),
            _warning(cells[:1], rule="emerging"),
            _warning(cells[1:2]),
            _warning(cells, rule="rising_area", place="G-7"),
        ],
        NOW_S,
    )
    assert len(changes.raised) == 4
    area = [w for w in storage.list_warnings(engine) if w.rule == "rising_area"]
    assert area[0].place == "G-7" and area[0].cells == tuple(sorted(cells))


def test_ended_warnings_expire_and_a_new_one_is_raised_after(engine) -> None:
    cells = _cells(1)
    (first,) = storage.apply_warnings(engine, [_warning(cells, hours=2)], NOW_S).raised
    later = NOW_S + 3 * HOUR_S
    changes = storage.apply_warnings(engine, [], later)
    assert changes.expired == [first]
    assert storage.list_warnings(engine, status="open") == []
    (again,) = storage.apply_warnings(engine, [_warning(cells, starts=later)], later).raised
    assert again != first
    assert [w.status for w in storage.list_warnings(engine)] == ["open", "expired"]


def test_reads_unread_count_and_escalation(engine) -> None:
    reader = storage.create_user(engine, "reader", "x", "commander")
    cells = _cells(3)
    ids = storage.apply_warnings(
        engine, [_warning(cells[:1]), _warning(cells[1:2]), _warning(cells[2:3])], NOW_S
    ).raised
    assert storage.unread_warning_count(engine, reader) == 3
    assert storage.unread_warning_count(engine, reader, cells=cells[:1]) == 1
    storage.mark_warnings_read(engine, reader, ids[:2], NOW_S)
    storage.mark_warnings_read(engine, reader, ids[:2], NOW_S)  # twice is once
    assert storage.unread_warning_count(engine, reader) == 1
    # The same level again stays read; a level that rises is news again.
    storage.apply_warnings(engine, [_warning(cells[:1])], NOW_S + 60)
    assert storage.unread_warning_count(engine, reader) == 1
    storage.apply_warnings(engine, [_warning(cells[:1], level=2)], NOW_S + 120)
    assert storage.unread_warning_count(engine, reader) == 2


def test_acknowledgements_are_kept_with_their_notes(engine) -> None:
    reader = storage.create_user(engine, "ack-user", "x", "grid_worker")
    (warning_id,) = storage.apply_warnings(engine, [_warning(_cells(1))], NOW_S).raised
    storage.acknowledge_warning(engine, warning_id, reader, "patrolled the car park", NOW_S)
    acks = storage.list_warning_acks(engine, [warning_id])[warning_id]
    assert [(a.username, a.note) for a in acks] == [("ack-user", "patrolled the car park")]
    assert storage.unread_warning_count(engine, reader) == 0


def test_open_warning_cells_lists_each_covered_cell(engine) -> None:
    cells = _cells(4)
    storage.apply_warnings(
        engine, [_warning(cells[:1], level=2), _warning(cells, rule="rising_area", place="G")],
        NOW_S,
    )  # fmt: skip
    frame = storage.open_warning_cells(engine)
    assert len(frame) == 5 and set(frame["cell"]) == set(cells)
    assert storage.open_warning_cells(engine, after_s=NOW_S + 49 * HOUR_S).empty


@pytest.mark.parametrize("rule", ["nobody", ""])
def test_an_unknown_rule_is_refused(engine, rule) -> None:
    with pytest.raises(ValueError, match="rule must be one of"):
        storage.apply_warnings(engine, [_warning(_cells(1), rule=rule)], NOW_S)


# --- services: computed from the site's data, refreshed after data arrives ----------------


@pytest.fixture
def demo_copy(demo_copy_url):
    """An engine on a copy of the demo database (refreshing writes many warnings)."""
    engine = storage.make_engine(demo_copy_url)
    with engine.begin() as conn:  # what other tests (a score run) stored: start afresh
        conn.execute(sa.delete(schema.warnings))
    yield engine
    engine.dispose()


def test_refresh_stores_geo_warnings_once_and_audits_those_raised(demo_copy) -> None:
    def audited() -> int:
        return len(storage.list_audit(demo_copy, limit=100_000, action="warning_raised"))

    before = audited()
    first = refresh_warnings(demo_copy)
    assert first.raised, "the demo has near repeats, rising grids or emerging cells"
    stored = storage.list_warnings(demo_copy, status="open", limit=10_000)
    assert {w.rule for w in stored} <= set(storage.warnings.RULES)
    assert all(w.reason and 1 <= w.level <= 3 and w.cells for w in stored)
    # Places are cells (hex) or grids, never anything about a person.
    grids = set(storage.load_area_cells(demo_copy, "grid")["area_id"])
    for w in stored:
        assert w.place in grids if w.rule == "rising_area" else len(w.place) == 15
    assert audited() == before + len(first.raised)
    second = refresh_warnings(demo_copy)
    assert second.raised == [] and sorted(second.extended) == sorted(w.id for w in stored)
    assert audited() == before + len(first.raised)


def test_rows_of_an_area_become_one_warning_with_the_area_cells() -> None:
    cells = _cells(3)
    frame = pd.DataFrame(
        {
            "cell": [*cells, cells[0]],
            "area": ["G-1", "G-1", "G-1", None],
            "rule": ["rising_area"] * 3 + ["near_repeat"],
            "level": [2, 2, 2, 1],
            "starts_s": [NOW_S] * 4,
            "ends_s": [NOW_S + 3600] * 4,
            "strength": [3.0, 3.0, 3.0, 1.0],
            "reason": ["9 incidents against 2.1 expected"] * 3 + ["2 incidents within 300 m"],
            "evidence": [{"observed": 9, "expected": 2.1, "q_value": 0.004}] * 3 + [{}],
        }
    )
    near, area = sorted(computed_from_frame(frame, "grid"), key=lambda w: w.rule)
    assert (near.rule, near.place, near.cells, near.area_kind) == (
        "near_repeat", hex_from_cells(np.array(cells[:1]))[0], cells[:1], None,
    )  # fmt: skip
    assert (area.place, area.cells, area.area_kind, area.level) == ("G-1", cells, "grid", 2)
    assert area.evidence["observed"] == 9


def test_the_refresher_refreshes_when_the_data_version_changes(monkeypatch) -> None:
    versions = iter([(1, 1)] * 3 + [(2, 5)] * 1000)
    calls: list[float] = []
    # Only this refresher's engine counts: a refresher another test's server left running
    # would read the patched functions too (it once made a third call here).
    engine = object()
    monkeypatch.setattr(
        storage, "import_version", lambda e: next(versions) if e is engine else (0, 0)
    )
    # The refresher queues a refresh job (a worker runs it): count what it queues.
    monkeypatch.setattr(
        warning_service,
        "request_refresh",
        lambda e, _reason="": calls.append(1) if e is engine else None,
    )
    refresher = warning_service.WarningRefresher(engine, poll_s=0.01, expire_every_s=3600)
    refresher.start()
    deadline = time.monotonic() + 2
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    refresher.stop()
    assert len(calls) == 2  # the first version seen, then the new one; not each poll


# --- the inbox: pages and API, scoped per role --------------------------------------------


@pytest.fixture
def placed(app):
    """Two fresh open warnings: one in a cell of grid1's grids, one only in grid2's cells,
    with reasons no other test uses (and markup that must come out escaped)."""
    engine = app.extensions["engine"]
    own = storage.user_cells(engine, user_id(engine, "grid1"))
    other = np.setdiff1d(storage.user_cells(engine, user_id(engine, "grid2")), own)
    now_s = int(clock.now_s())
    tag = f"{time.monotonic_ns()}"
    made = {}
    for key, cell in (("own", own[-1]), ("other", other[-1])):
        reason = f"<b>{key}</b> test warning {tag}"
        changes = storage.apply_warnings(
            engine,
            [
                ComputedWarning(
                    rule="rising_area",
                    place=f"T-{key}-{tag}",
                    cells=(int(cell),),
                    level=2,
                    starts_at=now_s - 60,
                    ends_at=now_s + 7 * 86_400,
                    strength=4.0,
                    reason=reason,
                    evidence={
                        "observed": 9,
                        "expected": 2.1,
                        "p": 0.0004,
                        "q": 0.003,
                        "model": "poisson",
                        "window_days": 7,
                        "baseline_days": 365,
                    },
                )  # fmt: skip
            ],
            now_s,
        )
        made[key] = (changes.raised[0], reason)
    return made


def test_a_read_token_reads_warnings_as_a_commander_and_marks_nothing_read(app, placed):
    """A command centre's wall display reads warnings with a read token: every warning, no
    unread count (no account), nothing marked read, no acknowledging."""
    from web.storage import tokens as token_store

    engine = app.extensions["engine"]
    token = token_store.create_token(engine, f"wall-{time.monotonic_ns()}", "read")[1]
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    own_id, other_id = placed["own"][0], placed["other"][0]
    listed = client.get("/api/warnings?status=all&limit=500", headers=headers)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert listed.get_json()["unread"] is None
    assert {own_id, other_id} <= {w["id"] for w in listed.get_json()["warnings"]}
    one = client.get(f"/api/warnings/{other_id}", headers=headers)
    assert one.status_code == 200 and one.get_json()["id"] == other_id
    with engine.connect() as conn:
        reads = conn.execute(sa.select(schema.warning_reads.c.user_id)).scalars().all()
    assert all(reader > 0 for reader in reads)
    ack = client.post(f"/api/warnings/{own_id}/acknowledge", json={"note": "seen"},
                      headers=headers)  # fmt: skip
    assert ack.status_code == 403 and "only GET" in ack.get_json()["error"]


def test_commanders_see_every_warning_and_grid_workers_only_their_grids(client_as, placed):
    (own_id, own_reason), (other_id, _other_reason) = placed["own"], placed["other"]
    for role in ("commander", "admin", "planner"):
        page = client_as(role).get("/warnings/").get_data(as_text=True)
        assert f'id="warning-{own_id}"' in page and f'id="warning-{other_id}"' in page
    grid = client_as("grid_worker")
    page = grid.get("/warnings/").get_data(as_text=True)
    assert f'id="warning-{own_id}"' in page and f'id="warning-{other_id}"' not in page
    assert "&lt;b&gt;own&lt;/b&gt;" in page and own_reason not in page  # escaped
    assert "9 incidents in the last 7 days against 2.1 expected" in page
    listed = grid.get("/api/warnings").get_json()["warnings"]
    ids = {w["id"] for w in listed}
    assert own_id in ids and other_id not in ids
    assert grid.get(f"/api/warnings/{other_id}").status_code == 404
    mine = grid.get(f"/api/warnings/{own_id}").get_json()
    assert mine["reason"] == own_reason and mine["level_name"] == "caution"
    assert mine["evidence"]["observed"] == 9 and mine["ends"].startswith("20")
    everyone = client_as("commander").get("/api/warnings?limit=500").get_json()["warnings"]
    assert {own_id, other_id} <= {w["id"] for w in everyone}
    assert grid.post(f"/warnings/{other_id}/acknowledge", data={"note": "x"}).status_code == 404
    assert client_as("commander").get("/api/warnings?status=nope").status_code == 400


def test_acknowledging_with_a_note_is_stored_and_audited(app, client_as, placed):
    engine = app.extensions["engine"]
    own_id, _reason = placed["own"]
    grid = client_as("grid_worker")
    response = grid.post(f"/warnings/{own_id}/acknowledge", data={"note": "", "next": "/grid/"})
    assert response.status_code == 302
    assert storage.list_warning_acks(engine, [own_id])[own_id] == []
    response = grid.post(
        f"/warnings/{own_id}/acknowledge", data={"note": "checked the lane", "next": "/grid/"}
    )
    assert response.status_code == 302 and response.location.startswith("/grid/")
    assert grid.post(f"/api/warnings/{own_id}/acknowledge", json={}).status_code == 400
    answer = grid.post(f"/api/warnings/{own_id}/acknowledge", json={"note": "lights fixed"})
    assert answer.status_code == 201
    notes = [a["note"] for a in answer.get_json()["acknowledgements"]]
    assert notes == ["checked the lane", "lights fixed"]
    audited = storage.list_audit(engine, limit=50, action="warning_acknowledged")
    assert any(f"warning {own_id} " in d and "lights fixed" in d for d in audited["detail"])
    page = client_as("commander").get("/warnings/").get_data(as_text=True)
    assert "checked the lane" in page


def test_the_top_bar_counts_unread_warnings_until_the_inbox_is_opened(app, client_as, placed):
    engine = app.extensions["engine"]
    grid = client_as("grid_worker")
    grid_id = user_id(engine, "grid1")
    cells = storage.user_cells(engine, grid_id)
    unread = storage.unread_warning_count(engine, grid_id, cells)
    assert unread >= 1
    page = BeautifulSoup(grid.get("/account").get_data(as_text=True), "html.parser")
    assert page.select_one("#warnings-unread").get_text() == str(unread)
    inbox = BeautifulSoup(grid.get("/warnings/").get_data(as_text=True), "html.parser")
    # The warned cells are named for people (G061-12), not by H3 id.
    listed = [p.get_text() for p in inbox.select(".warning-cells .cells")]
    assert listed and all(re.fullmatch(r"G\d+-\d+(, G\d+-\d+)*", t.strip()) for t in listed)
    page = BeautifulSoup(grid.get("/account").get_data(as_text=True), "html.parser")
    assert page.select_one("#warnings-unread") is None
    assert page.select_one("[data-section=warnings-unread]") is not None
    # The commander's count is their own: grid1's reading does not change it.
    commander = client_as("commander")
    page = BeautifulSoup(commander.get("/account").get_data(as_text=True), "html.parser")
    assert int(page.select_one("#warnings-unread").get_text()) >= 2


# --- the hotspot map's warnings layer ------------------------------------------------------


def test_the_hotspot_map_outlines_warned_cells_with_their_reasons(app, client_as, placed):
    engine = app.extensions["engine"]
    own_id, own_reason = placed["own"]
    record = storage.get_warning(engine, own_id)
    response = client_as("commander").get("/command/hotspots")
    text = response.get_data(as_text=True)
    assert own_reason not in text  # the markup in the reason never reaches the page raw
    page = BeautifulSoup(text, "html.parser")
    layer = json.loads(page.select_one("#hotspot-config").string)["warnings"]
    cells = {c["hex"]: c for c in layer["cells"]}
    hex_id = hex_from_cells(np.array(record.cells))[0]
    assert cells[hex_id]["level"] >= 2
    mine = [item for item in cells[hex_id]["items"] if item["reason"] == own_reason]
    assert mine and mine[0]["rule_label"] == "Rising area" and mine[0]["until"].startswith("Until")
    assert layer["count"] >= 2
    assert page.select_one("[data-section=warnings-on-map] a")["href"] == "/warnings/"


# --- the planner: warned cells are worth more; the plan page lists the warnings it covers --


class _Solved(Exception):
    """Raised by the stub solver with the problem it was given (no solving needed here)."""


def _problem(engine, factor: float):
    def solve(problem, _options):
        raise _Solved(problem)

    request = PlanRequest(date=days_ahead(40), shift="day", candidates=30, time_limit_s=1.0,
                          warning_value_factor=factor)  # fmt: skip
    with pytest.raises(_Solved) as solved:
        plan_day(engine, request, "secret", solve=solve)
    return solved.value.args[0]


def test_open_warnings_raise_their_cells_value_in_the_next_plan(app) -> None:
    engine = app.extensions["engine"]
    plain = _problem(engine, 1.0)
    top = max(plain.stops, key=lambda stop: stop.value)
    cell = int(cells_from_hex([top.cell])[0])
    shift_start, _end = shift_bounds(days_ahead(40), "day", city_tz(engine))
    now_s = int(clock.now_s())
    storage.apply_warnings(engine, [ComputedWarning(
        rule="emerging", place=top.cell, cells=(cell,), level=1, starts_at=now_s,
        ends_at=int(shift_start.timestamp()) + 86_400, strength=1.0, reason="planner test",
    )], now_s)  # fmt: skip
    warned = {stop.cell: stop.value for stop in _problem(engine, 1.5).stops}
    assert warned[top.cell] == pytest.approx(top.value * 1.5)
    assert {stop.cell: stop.value for stop in _problem(engine, 1.0).stops}[top.cell] == top.value


def test_the_plan_page_lists_the_warnings_its_visits_cover(app, client_as) -> None:
    engine = app.extensions["engine"]
    planner = client_as("planner")
    plan_id = generate(planner, date=days_ahead(41), shift="day", candidates="30")
    stored = storage.get_plan(engine, plan_id)
    visits = storage.plan_visits_frame(engine, plan_id)
    visited = int(visits["cell"].iloc[0])
    start, end = shift_window(stored.plan_date, stored.shift, city_tz(engine))
    tag = time.monotonic_ns()
    covering = storage.apply_warnings(engine, [ComputedWarning(
        rule="rising_area", place=f"P-{tag}", cells=(visited, *_cells(2)), level=3,
        starts_at=start - 3600, ends_at=end + 3600, strength=5.0, reason=f"covered {tag}",
    )], int(clock.now_s())).raised[0]  # fmt: skip
    elsewhere = storage.apply_warnings(engine, [ComputedWarning(
        rule="rising_area", place=f"Q-{tag}", cells=_cells(2, start=5), level=1,
        starts_at=start - 3600, ends_at=end + 3600, strength=1.0, reason=f"not covered {tag}",
    )], int(clock.now_s())).raised[0]  # fmt: skip
    page = BeautifulSoup(planner.get(f"/plans/{plan_id}").get_data(as_text=True), "html.parser")
    section = page.select_one("[data-section=plan-warnings]")
    listed = {int(li["data-warning-id"]) for li in section.select("li[data-warning-id]")}
    assert covering in listed and elsewhere not in listed
    item = section.select_one(f'li[data-warning-id="{covering}"]')
    assert hex_from_cells(np.array([visited]))[0] in item.get_text()
    assert "1.5 times" in section.get_text()
    # Commanders read plans: they see the same list.
    commander_page = client_as("commander").get(f"/plans/{plan_id}").get_data(as_text=True)
    assert f'data-warning-id="{covering}"' in commander_page


# --- the grid worker's phone page -------------------------------------------------------------


def test_the_grid_page_shows_its_grids_warnings_first_and_reads_them(app, client_as, placed):
    engine = app.extensions["engine"]
    (own_id, _own_reason), (other_id, _other_reason) = placed["own"], placed["other"]
    grid = client_as("grid_worker")
    response = grid.get("/grid/")
    assert response.status_code == 200
    page = BeautifulSoup(response.get_data(as_text=True), "html.parser")
    sections = [s["data-section"] for s in page.select("main [data-section]")]
    # The first screen (now) has a line per open warning of my grids, linked to its card.
    assert sections[0] == "now", sections[:5]
    assert page.select_one(f'#now-warnings a[data-warning-link="{own_id}"]') is not None
    assert page.select_one(f'#now-warnings a[data-warning-link="{other_id}"]') is None
    block = page.select_one("[data-section=grid-warnings]")
    ids = {int(card["data-warning-id"]) for card in block.select("[data-warning-id]")}
    assert own_id in ids and other_id not in ids
    card = block.select_one(f'[data-warning-id="{own_id}"]')
    assert "Caution" in card.get_text() and "Rising area" in card.get_text()
    assert card.select_one("[data-section=warning-my-cells]").get_text().strip()
    assert card.select_one("form[data-section=warning-ack]") is not None
    grid_id = user_id(engine, "grid1")
    assert storage.unread_warning_count(engine, grid_id, storage.user_cells(engine, grid_id)) == 0
