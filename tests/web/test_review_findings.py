"""Defects found by the adversarial review of the site (each test names what it guards)."""

from __future__ import annotations

import pytest

# Query parameters named like url_for's own arguments: never passed on to url_for.
URL_FOR_NAMES = ("endpoint=x", "_external=1&_scheme=javascript", "_anchor=x&_method=GET")


@pytest.mark.parametrize("query", URL_FOR_NAMES)
def test_hotspot_map_ignores_query_names_of_url_for(client_as, query) -> None:
    """The map's "Recompute scores now" form used to pass every query parameter to url_for:
    ``?endpoint=x`` was a 500 and ``_external``/``_scheme`` chose the form's target."""
    response = client_as("commander").get(f"/command/hotspots?{query}&weekdays=5&weekdays=6")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'action="/command/scores/run?weekdays=5&amp;weekdays=6"' in page


@pytest.mark.parametrize("query", URL_FOR_NAMES)
def test_recompute_scores_goes_back_to_the_map_with_its_own_parameters(client_as, query):
    response = client_as("commander").post(f"/command/scores/run?{query}&group=violent")
    assert response.status_code == 302
    assert response.headers["Location"] == "/command/hotspots?group=violent"


# End dates without a start: the map counts back 28 days from the end.
@pytest.mark.parametrize(
    "url",
    ["/command/hotspots?end={end}", "/command/cells.json?end={end}"],
)
@pytest.mark.parametrize("end", ["0000-01-01", "0001-01-01", "9999-12-31", "1"])
def test_map_end_date_out_of_range_is_a_400_naming_end(client_as, url, end) -> None:
    """An end date pandas cannot count back from (year 0 or 1) was a 500."""
    response = client_as("planner").get(url.format(end=end))
    assert response.status_code == 400
    assert "end:" in response.get_data(as_text=True)


def test_map_end_date_near_the_first_date_starts_on_it(client_as) -> None:
    """An end a few days after 1970-01-01 counts back to that day, not before it (which the
    start's own check would refuse, naming a start nobody typed)."""
    response = client_as("planner").get("/command/cells.json?end=1970-01-05")
    assert response.status_code == 200
    assert response.get_json()["start"] == "1970-01-01"


# Text h3 reads as a hexadecimal number too large or negative for a cell id.
NOT_CELLS = ("-1", "99999999999999999999999", "fffffffffffffffff", "+8928308280fffff")


@pytest.mark.parametrize("text", NOT_CELLS)
def test_find_says_no_match_for_numbers_h3_cannot_hold(client_as, text) -> None:
    """The search overflowed in h3 (a 500) for "-1" or a long number."""
    client = client_as("commander")
    page = client.get("/command/find", query_string={"q": text})
    assert page.status_code == 200
    assert f"No grid or cell matches {text}" in page.get_data(as_text=True)
    answer = client.get("/command/find", query_string={"q": text, "format": "json"})
    assert answer.status_code == 200 and answer.get_json()["results"] == []


def test_cell_names_read_only_h3_ids(app) -> None:
    from web.services.cell_names import cell_names
    from web.services.site_data import site_data

    with app.app_context():
        engine = app.extensions["engine"]
        names = cell_names(engine, site_data(engine))
    cell = next(iter(names.by_cell))
    hex_id = names.label(cell).rpartition("(")[2].rstrip(")") or names.name(cell)
    for text in NOT_CELLS:
        assert names.find(text) == []
        assert names.name(text) == text and names.label(text) == text
    assert names.find(hex_id.upper()) == [cell]


def test_replan_form_refuses_numbers_h3_cannot_hold_as_unknown_cells(client_as, app) -> None:
    from web import storage

    plans = storage.list_plans(app.extensions["engine"], status="published")
    plan_id = int(plans[plans["shift"] == "day"].iloc[0]["id"])
    response = client_as("planner").post(
        f"/plans/{plan_id}/replan", data={"at": "11:00", "urgent": "-1"}
    )
    assert response.status_code == 400
    assert "No cell is named -1" in response.get_data(as_text=True)


@pytest.mark.parametrize("text", NOT_CELLS[:2])
def test_patrol_request_form_refuses_numbers_h3_cannot_hold(client_as, text) -> None:
    response = client_as("commander").post(
        "/requests/", data={"cell": text, "reason": "crowd at the gate", "hours": "4"}
    )
    assert response.status_code == 400
    assert f"No cell is named {text}" in response.get_data(as_text=True)


@pytest.mark.parametrize("at", ["0000-01-01", "0000-12-31 23:59", "-0001-01-01 10:00"])
def test_replan_time_in_year_0_is_a_400_naming_at(client_as, app, at) -> None:
    """pandas reads year 0 (and before), then could not print it in the message: a 500."""
    from web import storage

    plans = storage.list_plans(app.extensions["engine"], status="published")
    plan_id = int(plans[plans["shift"] == "day"].iloc[0]["id"])
    response = client_as("planner").post(f"/plans/{plan_id}/replan", data={"at": at, "away": "x"})
    assert response.status_code == 400
    assert 'id="error-at"' in response.get_data(as_text=True)


# What a Chinese keyboard types for "18-23,0-2": full-width commas and dashes, 、 or ~.
@pytest.mark.parametrize(
    "hours", ["18-23，0-2", "18－23，0－2", "１８-２３,０-２", "18-23、0-2", "18~23,0~2"]
)
def test_hours_typed_on_a_chinese_keyboard_filter_like_ascii(client_as, hours) -> None:
    """They were a 400 with an English message on the Chinese map page."""
    client = client_as("commander")
    wanted = client.get("/command/cells.json", query_string={"hours": "18-23,0-2"}).get_json()
    typed = client.get("/command/cells.json", query_string={"hours": hours})
    assert typed.status_code == 200
    assert typed.get_json()["total"] == wanted["total"]
    assert typed.get_json()["cells"] == wanted["cells"]


@pytest.mark.parametrize("text", ["Ｇ０２１－１１", "G021－11", "ｇ021-11　"])
def test_find_reads_full_width_names(client_as, text) -> None:
    client = client_as("commander")
    wanted = client.get("/command/find", query_string={"q": "G021-11", "format": "json"})
    found = client.get("/command/find", query_string={"q": text, "format": "json"})
    assert found.status_code == 200
    assert found.get_json()["results"] == wanted.get_json()["results"]
    assert len(found.get_json()["results"]) == 1


# A JSON integer too large for a float (Python reads any number of digits).
HUGE = "1" + "0" * 400


def _raw_json(client, url: str, text: str):
    return client.post(url, data=text, content_type="application/json")


@pytest.mark.parametrize("field", ["minutes", "visited_at"])
def test_api_checkin_with_a_huge_integer_is_a_400(app, client_as, field) -> None:
    """``float()`` of it overflowed: a 500."""
    from tests.web.conftest import user_cells

    cell = user_cells(app.extensions["engine"], "grid1")[0]
    body = f'{{"cell": "{cell}", "{field}": {HUGE}, "client_id": "review-huge-{field}"}}'
    response = _raw_json(client_as("grid_worker"), "/api/checkins", body)
    assert response.status_code == 400
    expected = "Minutes must be" if field == "minutes" else "visited_at: expected"
    assert expected in response.get_json()["error"]


def test_api_report_with_a_huge_integer_time_is_a_400(client_as) -> None:
    body = f'{{"category": "x", "lon": 98.29, "lat": 39.8, "occurred_at": {HUGE}}}'
    response = _raw_json(client_as("grid_worker"), "/api/reports", body)
    assert response.status_code == 400
    assert "occurred_at: expected" in response.get_json()["error"]


def test_plan_csv_keeps_stored_names_from_running_as_formulas(demo_copy_site) -> None:
    """The plan's CSV wrote station names as stored: one named "=..." ran as a formula in
    Excel or WPS (the statistics and audit exports already guarded theirs)."""
    import csv
    import io
    import json

    import sqlalchemy as sa

    from tests.web.conftest import login
    from web import storage
    from web.storage.schema import plans as plans_table

    engine = demo_copy_site.extensions["engine"]
    plan_id = int(storage.list_plans(engine, status="published").iloc[0]["id"])
    document = json.loads(storage.get_plan(engine, plan_id).plan_json)
    for where in document["unit_stations"].values():
        where["start"] = '=HYPERLINK("http://example.invalid","派出所")'
    with engine.begin() as conn:
        conn.execute(
            sa.update(plans_table)
            .where(plans_table.c.id == plan_id)
            .values(plan_json=json.dumps(document, ensure_ascii=False))
        )
    client = demo_copy_site.test_client()
    login(client, "planner")
    response = client.get(f"/plans/{plan_id}/export/csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows and {r["Station"] for r in rows} == {
        '\'=HYPERLINK("http://example.invalid","派出所")'
    }
    assert all(r["Unit"][:1] not in "=+-@" for r in rows)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "A password has at least 8 characters."),
     ("x" * 1025, "A password has at most 1024 characters.")],
)  # fmt: skip
def test_admin_passwords_are_bounded_with_a_message_of_the_page(app, client_as, password,
                                                                 message) -> None:  # fmt: skip
    """The short password's message came from the command line's English check (not
    translated on a Chinese page); a password longer than the login form takes was stored,
    and the account could never log in."""
    from web import storage

    admin = client_as("admin")
    name = f"review-pw-{len(password)}"
    created = admin.post("/admin/users", data={"username": name, "role": "commander",
                                               "password": password})  # fmt: skip
    assert created.status_code == 400 and message in created.get_data(as_text=True)
    assert storage.get_user_by_name(app.extensions["engine"], name) is None
    grid2 = storage.get_user_by_name(app.extensions["engine"], "grid2")
    changed = admin.post(f"/admin/users/{grid2.id}", data={"role": "grid_worker", "active": "on",
                                                          "password": password})  # fmt: skip
    assert changed.status_code == 400 and message in changed.get_data(as_text=True)


# Mistakes people make with the pages' own fields: the page says them in its language (the
# English of these tests, the coordinator's catalogue for Chinese), the API as before.
PAGE_MISTAKES = [
    ("/command/statistics?start=2026-11-30&end=2026-11-01", "END_BEFORE_START"),
    ("/command/hotspots?start=2026-11-30&end=2026-11-01", "END_BEFORE_START"),
    ("/command/hotspots?hours=18点-23点", "HOURS"),
    ("/command/compare?a_start=2026-10-01&a_end=2026-10-31&b_start=2026-11-01&b_end=",
     "Fill in the start and end dates of both periods."),
    ("/command/compare?a_start=2024-01-01&a_end=2025-06-30&b_start=2025-07-01&b_end=2025-12-31",
     "A period is at most 366 days."),
    ("/command/compare?a_start=2026-10-31&a_end=2026-10-01&b_start=2026-11-01&b_end=2026-11-30",
     "END_BEFORE_START"),
    ("/command/statistics?start=0001-01-01", "DATES"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "message"), PAGE_MISTAKES)
def test_pages_say_filter_mistakes_in_words_of_the_page(client_as, url, message) -> None:
    """These flashed only the API's English (``end: must not be before start``) on every
    page, the Chinese ones too."""
    from web.services import filters

    message = str(getattr(filters, f"{message}_PAGE_MESSAGE", message))
    page = client_as("commander").get(url).get_data(as_text=True)
    assert message in page  # first, with the field named in brackets after it


def test_the_api_keeps_its_messages_naming_the_parameter(client_as) -> None:
    answer = client_as("commander").get("/command/cells.json?start=2026-11-30&end=2026-11-01")
    assert answer.status_code == 400
    assert answer.get_json()["error"] == "end: must not be before start"


@pytest.mark.parametrize(
    ("query", "field"), [("start=2099-12-31", "start"), ("end=1970-01-01", "end")]
)
def test_statistics_with_one_date_past_the_data_says_so(client_as, query, field) -> None:
    """A start after the newest incident (no end) or an end before the oldest (no start)
    left no period to count, and the page's chart failed on the empty table: a 500."""
    client = client_as("commander")
    page = client.get(f"/command/statistics?{query}")
    assert page.status_code == 200  # the page shows every period, saying what was wrong
    word = "after the newest" if field == "start" else "before the oldest"
    assert f"The {field} date is {word} incident (" in page.get_data(as_text=True)
    for url in (f"/command/statistics?{query}&format=json", f"/command/statistics.csv?{query}"):
        answer = client.get(url)
        assert answer.status_code == 400
        assert f"{field}: {word} incident" in answer.get_data(as_text=True)


# What "places, never people" keeps out of notes, as event reports already did.
PERSONAL_NOTES = ["张三 身份证 110101199003071234", "住户电话 138 0013 8000", "call +8613800138000"]


@pytest.mark.parametrize("note", PERSONAL_NOTES)
def test_check_in_notes_hold_no_id_card_or_phone_number(app, client_as, note) -> None:
    """Check-in notes (page and API) took ID card and phone numbers that reports refuse."""
    from tests.web.conftest import user_cells
    from web import storage

    engine = app.extensions["engine"]
    cell = user_cells(engine, "grid1")[0]
    grid = client_as("grid_worker")
    page = grid.post("/grid/checkin", data={"cell": cell, "minutes": "10", "note": note})
    assert page.status_code == 400
    assert "Notes describe places, never people" in page.get_data(as_text=True)
    answer = grid.post("/api/checkins", json={"cell": cell, "minutes": 10, "note": note})
    assert answer.status_code == 400
    assert "Notes describe places, never people" in answer.get_json()["error"]
    assert note not in set(storage.checkins_frame(engine)["note"])


def test_warning_acknowledgements_hold_no_id_card_or_phone_number(demo_copy_site) -> None:
    import h3

    from tests.web.conftest import login
    from web import clock, storage

    engine = demo_copy_site.extensions["engine"]
    cell = int(storage.user_cells(engine, storage.get_user_by_name(engine, "grid1").id)[0])
    now_s = int(clock.now_s())
    warning = storage.ComputedWarning(
        rule="near_repeat", place=h3.int_to_str(cell), cells=(cell,), level=1,
        starts_at=now_s - 600, ends_at=now_s + 86_400, strength=1.0, reason="review test",
        evidence={"incident_times_s": [now_s - 3600], "incident_cells": []},
    )  # fmt: skip
    storage.apply_warnings(engine, [warning], now_s)
    warning_id = storage.list_warnings(engine, cells=[cell], status="open", limit=1)[0].id
    client = demo_copy_site.test_client()
    login(client, "grid1")
    for note in PERSONAL_NOTES:
        page = client.post(f"/warnings/{warning_id}/acknowledge", data={"note": note})
        assert page.status_code == 302  # back to the inbox, saying why
        answer = client.post(f"/api/warnings/{warning_id}/acknowledge", json={"note": note})
        assert answer.status_code == 400
        assert "Notes describe places, never people" in answer.get_json()["error"]
    assert storage.list_warning_acks(engine, [warning_id])[warning_id] == []
