"""The grid worker's page: only their cells, today's visits, check-ins and their rules."""

from __future__ import annotations

import re
import uuid

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from geo.cells import hex_from_cells
from tests.web.conftest import EXTERNAL_URL, login, user_cells, user_id
from web import clock, storage
from web.services.accounts import hash_password

# The page's rules depend on the date (today's visits, check-in windows): run at every moment;
# on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = [pytest.mark.dates, pytest.mark.databases(demo=True)]


@pytest.fixture(scope="module")
def engine(app):
    return app.extensions["engine"]


def _now() -> int:
    return int(clock.now_s())


def _local_input(engine, epoch_s: int) -> str:
    """A datetime-local form value (minutes) in the city's timezone."""
    timezone = storage.get_meta(engine)["timezone"]
    stamp = pd.Timestamp(epoch_s, unit="s", tz="UTC").tz_convert(timezone)
    return stamp.strftime("%Y-%m-%dT%H:%M")


def _plain_hour_before(engine, epoch_s: int) -> int:
    """An instant at least an hour before ``epoch_s`` whose local time happens once (in the
    hour clocks go back, a form's local time cannot say which of the two is meant)."""
    timezone = storage.get_meta(engine)["timezone"]
    at = epoch_s - 3600
    while True:
        wall = pd.Timestamp(at, unit="s", tz="UTC").tz_convert(timezone).tz_localize(None)
        first = wall.tz_localize(timezone, ambiguous=True, nonexistent="NaT")
        second = wall.tz_localize(timezone, ambiguous=False, nonexistent="NaT")
        if first == second:
            return at
        at -= 3600


def _free_visit_time(engine, hex_id: str) -> int:
    """The newest plain instant an hour or more before now (``_plain_hour_before``) in whose
    clock minute no check-in of the cell is stored: the clock is frozen for the run, and other
    modules' check-ins in the shared database would make this one "the same visit sent
    again" (same account, cell and minute), stored once."""
    from geo.cells import cells_from_hex

    frame = storage.checkins_frame(engine)
    taken = set(frame.loc[frame["cell"] == cells_from_hex([hex_id])[0], "visited_at"] // 60)
    at = _plain_hour_before(engine, _now())
    while at // 60 in taken:
        at = _plain_hour_before(engine, at + 3600 - 60)
    return at


def _section(body: str, name: str):
    """The page section marked ``data-section=name`` (exactly one)."""
    found = BeautifulSoup(body, "html.parser").select(f'[data-section="{name}"]')
    assert len(found) == 1, f"{len(found)} sections {name!r}"
    return found[0]


def _checkins_with_note(engine, note: str) -> pd.DataFrame:
    frame = storage.checkins_frame(engine)
    return frame[frame["note"] == note]


def _publish_visit_plan(engine, visits: list[tuple[str, str, int, int]]) -> int:
    """A published plan with (unit, cell hex, start, end) visits, on its own shift name so
    that other tests' published plans stay published."""
    from geo.cells import cells_from_hex

    rows = pd.DataFrame(
        {
            "unit_id": [v[0] for v in visits],
            "seq": list(range(1, len(visits) + 1)),
            "cell": cells_from_hex([v[1] for v in visits]),
            "start_at": [v[2] for v in visits],
            "end_at": [v[3] for v in visits],
            "value": [1.0] * len(visits),
        }
    )
    start = min(v[2] for v in visits)
    plan_id = storage.store_plan(
        engine,
        plan_date=_local_input(engine, start)[:10],
        shift=f"test-{uuid.uuid4().hex[:8]}",
        created_by=None,
        shift_start=start,
        seed=1,
        request={},
        summary={"status": "test"},
        plan_json="{}",
        geojson="{}",
        gpx="",
        csv="",
        visits=rows,
    )
    assert storage.publish_plan(engine, plan_id, None)
    return plan_id


def test_page_shows_only_the_workers_own_cells(client_as, engine) -> None:
    own = set(user_cells(engine, "grid1"))
    other = set(user_cells(engine, "grid2"))
    assert own and other and not own & other
    response = client_as("grid1").get("/grid/")
    assert response.status_code == 200
    body = response.data.decode()
    cards = _section(body, "cells").select("[data-cell-card]")
    shown = {card["data-cell-card"] for card in cards}
    assert shown == own and len(cards) == len(own)
    options = set(re.findall(r'<option value="([0-9a-f]{15})"', body))
    assert options == own
    assert not any(hex_id in body for hex_id in other)
    for grid_id in storage.user_grid_ids(engine, user_id(engine, "grid2")):
        assert grid_id not in body
    # Phone-ready, and nothing loaded from outside the server.
    assert 'name="viewport"' in body and "grid-home.css" in body
    assert not EXTERNAL_URL.search(response.data)
    assert "Check in" in body and "What to check" in body
    assert "7d · 28d" in body


def test_page_shows_status_counts_and_defaults(client_as, app, engine) -> None:
    from web.services import grid_work as grid
    from web.services import site_data as hotspot_data

    body = client_as("grid1").get("/grid/").data.decode()
    data = hotspot_data.site_data(engine)
    cells = storage.user_cells(engine, user_id(engine, "grid1"))
    end_s = grid.reference_time(data)

    def recent(cell: int, days: int) -> int:
        times = data.occurred_at[data.cell_rows(cell)]
        return int(((times >= end_s - days * 86400) & (times < end_s)).sum())

    busiest = max(cells.tolist(), key=lambda cell: recent(cell, 28))
    hex_id = hex_from_cells(np.array([busiest]))[0]
    card = _section(body, "cells").select_one(f'[data-cell-card="{hex_id}"] .counts')
    expected = f"{recent(busiest, 7)} · {recent(busiest, 28)}"
    assert card.get_text(" ", strip=True).startswith(expected)
    # The demo's busiest grids hold some of the city's top cells.
    assert "top 1 % of the city" in body or "top 5 % of the city" in body
    minutes = float(app.config["CHECKIN_MINUTES"])
    assert f'name="minutes" id="checkin-minutes" value="{minutes:g}"' in body
    now = _local_input(engine, _now())
    shown = re.search(r'name="visited_at" id="checkin-time" value="([^"]+)"', body).group(1)
    assert abs(pd.Timestamp(shown) - pd.Timestamp(now)) <= pd.Timedelta(minutes=2)


def test_check_in_is_stored_with_cell_time_and_audit(client_as, engine) -> None:
    client = client_as("grid1")
    cell = user_cells(engine, "grid1")[0]
    visited = _free_visit_time(engine, cell)
    note = f"gate open {uuid.uuid4().hex[:6]}"
    response = client.post(
        "/grid/checkin",
        data={
            "cell": cell,
            "visited_at": _local_input(engine, visited),
            "minutes": "20",
            "note": note,
        },
    )
    assert response.status_code == 302 and response.location.endswith("/grid/#now")
    stored = _checkins_with_note(engine, note)
    assert len(stored) == 1
    row = stored.iloc[0]
    assert hex_from_cells(np.array([row["cell"]]))[0] == cell
    assert abs(int(row["visited_at"]) - visited) < 60  # the form has minutes, not seconds
    assert row["minutes"] == 20 and row["username"] == "grid1"
    audit = storage.list_audit(engine, action="checkin")
    assert (audit["detail"].str.contains(cell) & (audit["username"] == "grid1")).any()
    page = client.get("/grid/").data.decode()
    assert note in page and "Check-in recorded." in page


def test_check_in_outside_the_grid_is_refused_and_nothing_stored(client_as, engine) -> None:
    client = client_as("grid1")
    now = _local_input(engine, _now())
    for cell in (user_cells(engine, "grid2")[0], "8928308280fffff", "not-a-cell"):
        note = f"outside {uuid.uuid4().hex[:6]}"
        response = client.post(
            "/grid/checkin", data={"cell": cell, "visited_at": now, "minutes": "15", "note": note}
        )
        assert response.status_code == 403
        assert _checkins_with_note(engine, note).empty


@pytest.mark.parametrize(
    ("offset_s", "minutes", "message"),
    [
        # Three hours: an hour ahead can read as now in the hour clocks go back.
        (3 * 3600, "15", "in the future"),
        (8 * 86400, "15", "more than 7 days ago"),
        (0, "0", "Minutes must be"),
        (0, "lots", "Minutes must be"),
    ],
)
def test_check_in_time_and_minutes_rules(client_as, engine, offset_s, minutes, message) -> None:
    client = client_as("grid1")
    now = _now()
    visited = now + offset_s if "future" in message else now - offset_s
    note = f"rule {uuid.uuid4().hex[:6]}"
    response = client.post(
        "/grid/checkin",
        data={
            "cell": user_cells(engine, "grid1")[0],
            "visited_at": _local_input(engine, visited),
            "minutes": minutes,
            "note": note,
        },
    )
    assert response.status_code == 400
    assert message in response.data.decode()
    assert _checkins_with_note(engine, note).empty
    # The form keeps what was typed.
    assert note in response.data.decode()


def test_a_few_minutes_ahead_is_accepted(client_as, engine) -> None:
    note = f"clock drift {uuid.uuid4().hex[:6]}"
    response = client_as("grid1").post(
        "/grid/checkin",
        data={
            "cell": user_cells(engine, "grid1")[1],
            "minutes": "10",
            "note": note,
            "visited_at": _local_input(engine, _now() + 5 * 60),
        },
    )
    assert response.status_code == 302
    assert len(_checkins_with_note(engine, note)) == 1


def test_todays_published_visits_show_and_check_in_links_the_plan(client_as, engine) -> None:
    own = user_cells(engine, "grid1")
    other = user_cells(engine, "grid2")
    now = _now()
    plan_id = _publish_visit_plan(
        engine, [("U-GRID1", own[2], now, now + 900), ("U-GRID2", other[0], now, now + 900)]
    )
    client = client_as("grid1")
    body = client.get("/grid/").data.decode()
    visits = _section(body, "visits")
    assert len(visits.select(f'[data-visit-cell="{own[2]}"][data-unit="U-GRID1"]')) == 1
    assert "U-GRID2" not in body and other[0] not in body
    note = f"planned {uuid.uuid4().hex[:6]}"
    client.post(
        "/grid/checkin",
        data={
            "cell": own[2],
            "visited_at": _local_input(engine, now),
            "minutes": "15",
            "note": note,
        },
    )
    assert int(_checkins_with_note(engine, note).iloc[0]["plan_id"]) == plan_id
    # Another cell at the same time, planned in no published plan then, is no plan's visit.
    from geo.cells import cells_from_hex
    from web.services.grid_work import PLAN_GRACE_S

    near = storage.plan_visits_frame(
        engine, start=now - 86400, end=now + PLAN_GRACE_S + 60, published_only=True
    )
    busy = near[(near["start_at"] - PLAN_GRACE_S - 60 <= now)
                & (now <= near["end_at"] + PLAN_GRACE_S + 60)]  # fmt: skip
    unplanned = [h for h in own if cells_from_hex([h])[0] not in set(busy["cell"])]
    note = f"unplanned {uuid.uuid4().hex[:6]}"
    client.post(
        "/grid/checkin",
        data={"cell": unplanned[0], "visited_at": _local_input(engine, now), "minutes": "15",
              "note": note},
    )  # fmt: skip
    assert pd.isna(_checkins_with_note(engine, note).iloc[0]["plan_id"])


def test_draft_plans_are_not_shown(client_as, engine) -> None:
    own = user_cells(engine, "grid1")
    now = _now()
    plan_id = _publish_visit_plan(engine, [("U-DRAFT", own[4], now, now + 600)])
    with engine.begin() as conn:
        conn.execute(
            storage.plans.update().where(storage.plans.c.id == plan_id).values(status="draft")
        )
    assert "U-DRAFT" not in client_as("grid1").get("/grid/").data.decode()


def test_grid_worker_without_grids_sees_a_message(app, engine) -> None:
    username = f"gridless-{uuid.uuid4().hex[:6]}"
    storage.create_user(engine, username, hash_password("no-grids-yet"), "grid_worker")
    client = app.test_client()
    login(client, username, "no-grids-yet")
    response = client.get("/grid/")
    assert response.status_code == 200
    assert b"No management grid is assigned to your account yet" in response.data
    assert b"checkin-form" not in response.data
    response = client.post(
        "/grid/checkin", data={"cell": user_cells(engine, "grid1")[0], "minutes": "15"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["admin", "commander", "planner"])
def test_other_roles_cannot_use_the_grid_pages(client_as, role) -> None:
    client = client_as(role)
    assert client.get("/grid/").status_code == 403
    assert client.post("/grid/checkin", data={}).status_code == 403


def test_visitors_are_sent_to_log_in(app) -> None:
    response = app.test_client().get("/grid/")
    assert response.status_code == 302 and "/login" in response.location


def test_a_repeated_local_hour_reads_as_the_latest_past_one() -> None:
    from web.services.grid_work import parse_local_datetime

    tz = "America/Chicago"  # 2027-11-07 01:00-02:00 happens twice (CDT, then CST)
    first = int(pd.Timestamp("2027-11-07T01:20-05:00").timestamp())
    second = int(pd.Timestamp("2027-11-07T01:20-06:00").timestamp())
    assert parse_local_datetime("2027-11-07T01:20", tz) == first
    assert parse_local_datetime("2027-11-07T01:20", tz, not_after=second + 60) == second
    assert parse_local_datetime("2027-11-07T01:20", tz, not_after=second - 60) == first
    # A time that never happens (clocks go forward) moves forward by the gap.
    assert parse_local_datetime("2027-03-14T02:30", tz) == int(
        pd.Timestamp("2027-03-14T03:00-05:00").timestamp()
    )


def _by_category(categories: dict[str, dict], total: dict) -> dict[str, dict[str, int]]:
    """``category -> window -> count`` with the total as ``ALL``, as `hotspot explain` prints."""
    return {**categories, "ALL": total}


def test_the_cli_map_api_and_grid_card_count_one_cell_alike(tmp_path) -> None:
    """One story of a cell (geo.explain): `hotspot explain`, the map's popup, the API and the
    grid worker's card give the same counts for the same cell, windows, time and data.

    The site counts every incident; the CLI leaves police-initiated categories out unless
    given their weight, so it runs with --police-initiated-weight 1. The API and the card
    count up to just after the newest incident and the map up to the midnight after its end
    date: one incident at 23:59:59 makes the two the same.
    """
    import json

    import h3
    from click.testing import CliRunner

    from web import create_app
    from web.cli import cli
    from web.services.grid_work import CARD_WINDOWS_DAYS, HINT_DAYS, RECENT_DAYS
    from web.services.site_data import site_data

    zone = "America/Chicago"
    url = f"sqlite:///{tmp_path / 'story.db'}"
    env = {"HOTSPOT_DATABASE_URL": url, "HOTSPOT_TIMEZONE": zone}
    runner = CliRunner()
    with clock.frozen("2026-03-20T12:00:00Z"):  # the demo ends at 2026-03-19 19:00 CDT
        demo = runner.invoke(cli, ["demo", "--days", "120", "--seed", "5", "--timezone", zone],
                             env=env)  # fmt: skip
        assert demo.exit_code == 0, demo.output
        engine = storage.make_engine(url)
        data = site_data(engine)
        mine = storage.user_cells(engine, user_id(engine, "grid1"))
        stored = storage.cell_counts(engine).set_index("cell")["n"]
        cell = int(stored.reindex(mine).fillna(0).idxmax())
        hex_id = hex_from_cells(np.array([cell]))[0]
        day = pd.Timestamp(data.last_s, unit="s", tz="UTC").tz_convert(zone).date()
        lat, lon = h3.cell_to_latlng(hex_id)
        path = tmp_path / "newest.csv"
        pd.DataFrame({
            "incident_id": ["story-1"], "description": ["test"], "category": ["PICKPOCKETING"],
            "occurred_at": [f"{day}T23:59:59"], "lon": [lon], "lat": [lat],
        }).to_csv(path, index=False)  # fmt: skip
        imported = runner.invoke(cli, ["import", str(path), "--preset", "generic"], env=env)
        assert imported.exit_code == 0, imported.output
        midnight = f"{day + pd.Timedelta(days=1)}T00:00"
        explained = runner.invoke(
            cli, ["explain", hex_id, "--as-of", midnight, "--model", "naive", "--json",
                  "--police-initiated-weight", "1"], env=env,
        )  # fmt: skip
        assert explained.exit_code == 0, explained.output
        by_cli = json.loads(explained.output)[0]["counts"]

        site = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
        commander, worker = site.test_client(), site.test_client()
        login(commander, "commander")
        login(worker, "grid1")
        popup = commander.get(f"/command/cell/{hex_id}?end={day}").get_json()
        api = commander.get(f"/api/cells/{hex_id}").get_json()
        page = worker.get("/grid/").data.decode()

    assert popup["as_of_s"] == api["as_of_s"] == pd.Timestamp(midnight, tz=zone).timestamp()
    windows = ["7d", "28d", "91d", "365d", "all"]
    assert popup["counts"]["windows"] == windows and list(by_cli["ALL"]) == windows
    by_map = _by_category(
        {row["category"]: {w: row[w] for w in windows} for row in popup["counts"]["rows"]},
        popup["counts"]["total"],
    )
    by_api = _by_category({c["code"]: c["counts"] for c in api["categories"]}, api["counts"])
    assert by_cli == by_map == by_api
    police = set(data.categories.loc[data.categories["police_initiated"], "code"])
    assert by_cli["ALL"]["28d"] > by_cli["ALL"]["7d"] > 0 and police & set(by_cli)

    # The card: the week and four weeks, and what to check over the quarter (the same
    # windows, a subset of them).
    assert set(CARD_WINDOWS_DAYS) <= {7, 28, 91, 365}
    card = _section(page, "cells").select_one(f'[data-cell-card="{hex_id}"]')
    week, weeks = (f"{d}d" for d in RECENT_DAYS)
    shown = card.select_one(".counts").get_text(" ", strip=True)
    assert shown.startswith(f"{by_cli['ALL'][week]} · {by_cli['ALL'][weeks]}")
    codes = dict(zip(data.categories["name_en"], data.categories["code"], strict=True))
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in card.select("tr")]
    assert {codes[name]: [int(a), int(b)] for name, a, b in (r for r in rows if r)} == {
        code: [counts[week], counts[weeks]]
        for code, counts in by_cli.items()
        if code != "ALL" and counts[weeks] > 0
    }
    quarter = f"{HINT_DAYS}d"
    top = sorted((c for c in by_cli if c != "ALL" and by_cli[c][quarter]),
                 key=lambda c: (-by_cli[c][quarter], c))[:3]  # fmt: skip
    names = {code: name for name, code in codes.items()}
    hints = [li.get_text(strip=True) for li in card.select(".hints li")][: len(top)]
    assert hints == [f"{names[c]} ({by_cli[c][quarter]} in {HINT_DAYS} days)" for c in top]


# --- the phone page: what to do now, check-ins by JSON, position, client ids ----------------


def _offset_point(hex_id: str, metres_north: float) -> tuple[float, float]:
    """(lon, lat) ``metres_north`` north of the cell's centre (WGS-84)."""
    import h3

    lat, lon = h3.cell_to_latlng(hex_id)
    return lon, lat + metres_north / 111_320.0


def _json_checkin(client, engine, cell: str, note: str, **extra) -> tuple[int, dict]:
    visited = _free_visit_time(engine, cell)
    data = {"cell": cell, "visited_at": _local_input(engine, visited), "minutes": "15",
            "note": note} | extra  # fmt: skip
    response = client.post("/grid/checkin.json", data=data)
    assert response.content_type.startswith("application/json")
    return response.status_code, response.get_json()


@pytest.mark.parametrize(
    ("timezone", "local", "shift"),
    [
        ("Asia/Shanghai", "2027-04-30T07:59", "night"),
        ("Asia/Shanghai", "2027-04-30T08:00", "day"),
        ("Asia/Shanghai", "2027-04-30T15:59", "day"),
        ("Asia/Shanghai", "2027-04-30T16:00", "evening"),
        ("Asia/Shanghai", "2027-04-30T23:59", "evening"),
        ("Asia/Shanghai", "2027-05-01T00:00", "night"),
        # The nights clocks change in Chicago: the shift follows the city's wall clock.
        ("America/Chicago", "2027-03-14T03:30", "night"),
        ("America/Chicago", "2027-03-14T08:00", "day"),
        ("America/Chicago", "2027-11-07T01:30", "night"),
        ("America/Chicago", "2027-11-07T16:30", "evening"),
    ],
)
def test_the_current_shift_follows_the_citys_clock(timezone, local, shift) -> None:
    from web.services.grid_phone import current_shift

    now_s = int(pd.Timestamp(local).tz_localize(timezone, ambiguous=True).timestamp())
    found = current_shift(timezone, now_s)
    assert found.name == shift
    assert found.start_s <= now_s < found.end_s
    assert found.date == local[:10]


def test_the_next_visit_comes_first_then_missed_then_done() -> None:
    from web.services.grid_phone import Shift, now_first

    shift = Shift("day", "2027-04-30", 1000, 30_000)
    now = 10_000

    def visit(start: int, done: bool = False) -> dict:
        return {"start_at": start, "end_at": start + 1800, "checked_in": done, "hex": str(start)}

    visits = [visit(500), visit(2000), visit(9000, done=True), visit(12_000), visit(9500),
              visit(20_000), visit(30_000)]  # fmt: skip
    shown = now_first(visits, shift, now)
    assert [(v["start_at"], v["state"]) for v in shown] == [
        (9500, "next"),  # still within its window (and the grace after it)
        (12_000, "pending"),
        (20_000, "pending"),
        (2000, "missed"),
        (9000, "done"),
    ]  # 500 and 30 000 belong to other shifts


def test_the_first_screen_shows_this_shifts_visits_next_first(client_as, engine) -> None:
    from web.services.grid_phone import current_shift

    own = user_cells(engine, "grid1")
    timezone = storage.get_meta(engine)["timezone"]
    shift = current_shift(timezone, _now())
    start = max(shift.start_s, _now() - 600)
    _publish_visit_plan(engine, [("U-NOW", own[3], start, start + 1200)])
    body = client_as("grid1").get("/grid/").data.decode()
    now = _section(body, "now")
    rows = now.select("li.visit")
    assert 1 <= len(rows) <= 5
    assert all(shift.start_s <= int(r["data-start"]) < shift.end_s for r in rows)
    assert "next" in rows[0]["class"]
    assert rows[0].select_one("a")["href"].endswith("#checkin")
    # Cells are named for people first (G...-n), the H3 id second in the form.
    from web.services import site_data
    from web.services.cell_names import cell_names

    names = cell_names(engine, site_data.site_data(engine))
    first = rows[0]["data-visit-cell"]
    assert rows[0].select_one(".visit-cell").get_text(strip=True) == names.name(first)
    assert re.match(r"^G\d+-\d+$", names.name(first))
    option = BeautifulSoup(body, "html.parser").select_one(f'#checkin-cell option[value="{first}"]')
    assert option.get_text(strip=True) == f"{names.name(first)} · {first}"


def test_a_tapped_visit_without_scripts_opens_the_prefilled_check_in(client_as, engine) -> None:
    from web.services.grid_work import local_day_bounds

    own = user_cells(engine, "grid1")
    today_s, _tomorrow_s = local_day_bounds(storage.get_meta(engine)["timezone"], _now())
    start = max(_now() - 300, today_s)  # a visit of today, even a minute after midnight
    _publish_visit_plan(engine, [("U-TAP", own[4], start, start + 900)])
    body = client_as("grid1").get(f"/grid/?cell={own[4]}&visit={start}").data.decode()
    form = _section(body, "checkin")
    assert form.select_one("#checkin-cell option[selected]")["value"] == own[4]
    assert "U-TAP" in form.select_one("#checkin-visit").get_text()
    assert form.select_one("form")["action"].endswith("/grid/checkin#checkin")
    assert re.match(r"^[0-9a-f]{32}$", form.select_one("#checkin-client-id")["value"])


def test_a_check_in_sent_twice_with_one_client_id_is_stored_once(client_as, engine) -> None:
    client = client_as("grid1")
    cell = user_cells(engine, "grid1")[5]
    note = f"queued offline {uuid.uuid4().hex[:6]}"
    client_id = str(uuid.uuid4())
    status, first = _json_checkin(client, engine, cell, note, client_id=client_id)
    assert status == 200 and first["ok"] and first["new"]
    # The queue sends it again (a lost answer); even a minute later it is the same check-in.
    later = _local_input(engine, int(first["checkin"]["visited_at_s"]) - 120)
    again = client.post("/grid/checkin.json", data={"cell": cell, "visited_at": later,
                        "minutes": "15", "note": note, "client_id": client_id})  # fmt: skip
    assert again.status_code == 200
    assert again.get_json()["new"] is False
    assert again.get_json()["checkin"]["id"] == first["checkin"]["id"]
    assert len(_checkins_with_note(engine, note)) == 1
    # Another account may use the same id: ids are per account.
    other = user_cells(engine, "grid2")[0]
    status, answer = _json_checkin(client_as("grid2"), engine, other, note, client_id=client_id)
    assert status == 200 and answer["new"]
    assert len(_checkins_with_note(engine, note)) == 2


def test_a_bad_client_id_is_refused(client_as, engine) -> None:
    note = f"bad id {uuid.uuid4().hex[:6]}"
    cell = user_cells(engine, "grid1")[0]
    status, answer = _json_checkin(client_as("grid1"), engine, cell, note, client_id="x<script>")
    assert status == 400 and not answer["ok"] and "client id" in answer["errors"][0]
    assert _checkins_with_note(engine, note).empty


@pytest.mark.parametrize(
    ("metres", "accuracy", "accepted"),
    [(0, 10, True), (300, 10, True), (450, 10, False), (450, 150, True), (3000, 4000, False)],
)
def test_the_position_must_be_in_or_near_the_cell(client_as, engine, metres, accuracy,
                                                  accepted) -> None:  # fmt: skip
    import h3

    from web.services.grid_phone import CHECKIN_NEAR_M

    cell = user_cells(engine, "grid1")[6]
    lon, lat = _offset_point(cell, metres)
    # The cell's centre to its farthest corner: about 200 m at resolution 9.
    radius = max(h3.great_circle_distance(h3.cell_to_latlng(cell), c, unit="m")
                 for c in h3.cell_to_boundary(cell))  # fmt: skip
    assert (metres - radius <= CHECKIN_NEAR_M + min(accuracy, 150)) == accepted
    note = f"position {metres} {uuid.uuid4().hex[:6]}"
    position = {
        "lon": f"{lon:.6f}",
        "lat": f"{lat:.6f}",
        "crs": "wgs84",
        "accuracy_m": str(accuracy),
        "client_id": str(uuid.uuid4()),  # each case its own check-in, in the same minute
    }
    status, answer = _json_checkin(client_as("grid1"), engine, cell, note, **position)
    if accepted:
        assert status == 200 and answer["ok"], answer
        assert answer["distance_m"] == pytest.approx(max(0.0, metres - radius), abs=40)
        assert len(_checkins_with_note(engine, note)) == 1
    else:
        assert status == 400 and not answer["ok"]
        assert "outside this cell" in answer["errors"][0]
        assert _checkins_with_note(engine, note).empty


def test_a_gcj02_position_is_converted_before_the_check(client_as, engine) -> None:
    from geo.coords import gcj02_from_wgs84

    cell = user_cells(engine, "grid1")[7]
    lon, lat = _offset_point(cell, 0)
    (gcj_lon,), (gcj_lat,) = gcj02_from_wgs84([lon], [lat])
    client = client_as("grid1")
    note = f"gcj {uuid.uuid4().hex[:6]}"
    status, answer = _json_checkin(client, engine, cell, note, lon=f"{gcj_lon:.6f}",
                                   lat=f"{gcj_lat:.6f}", crs="gcj02", accuracy_m="20")  # fmt: skip
    assert status == 200 and answer["distance_m"] == 0.0
    assert len(_checkins_with_note(engine, note)) == 1


def test_check_in_errors_come_back_as_json(client_as, engine) -> None:
    client = client_as("grid1")
    note = f"json errors {uuid.uuid4().hex[:6]}"
    own = user_cells(engine, "grid1")[0]
    response = client.post("/grid/checkin.json", data={"cell": own, "visited_at": "soon",
                           "minutes": "0", "note": note})  # fmt: skip
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert any("date and time" in e for e in errors) and any("Minutes" in e for e in errors)
    other = user_cells(engine, "grid2")[0]
    response = client.post("/grid/checkin.json", data={"cell": other, "minutes": "15"})
    assert response.status_code == 403
    assert "not in your grids" in response.get_json()["errors"][0]
    response = client.post("/grid/checkin.json", data={"cell": own, "visited_at": "",
                           "minutes": "15", "lon": "east", "lat": "1"})  # fmt: skip
    assert response.status_code == 400 and "longitude" in response.get_json()["errors"][-1]
    assert _checkins_with_note(engine, note).empty


def test_the_service_worker_and_token_are_served_for_the_grid_pages(client_as) -> None:
    client = client_as("grid1")
    response = client.get("/grid/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/grid/"
    assert "no-cache" in response.headers["Cache-Control"]
    assert b'addEventListener("fetch"' in response.data
    token = client.get("/grid/token.json")
    assert token.status_code == 200 and token.get_json()["csrf_token"]
    assert client_as("planner").get("/grid/sw.js").status_code == 403


@pytest.mark.parametrize(
    ("lang", "shown"), [("zh", "巡逻规划员"), ("en", "巡逻规划员 (patrol planner)")]
)
def test_the_top_bar_names_the_user_and_role_once(client_as, lang, shown) -> None:
    client = client_as("planner")
    with client.session_transaction() as session:
        session["lang"] = lang
    body = client.get("/", follow_redirects=True).data.decode()
    assert BeautifulSoup(body, "html.parser").select_one("#who").get_text(strip=True) == shown
