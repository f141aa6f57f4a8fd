"""The CSV for people (:func:`planner.plan_export.visits_csv_for_people`): local date and
hh:mm times, grid and station, UTF-8 with a byte-order mark, headers in the reader's words."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from planner.errors import InvalidPlanError
from planner.plan_export import PEOPLE_CSV_COLUMNS, visits_csv_for_people


def _visits(*rows: tuple[str, float, float, float]) -> pd.DataFrame:
    """(unit, arrival_s, start_s, departure_s) rows, in one grid and station."""
    return pd.DataFrame(
        [
            {"unit": unit, "station": "城关派出所", "stop": i, "grid": "G061",
             "place": "G061-12", "cell": "8924ae57577ffff", "arrival_s": arrival, "start_s": start,
             "departure_s": leave, "value": 2.345}
            for i, (unit, arrival, start, leave) in enumerate(rows, start=1)
        ]
    )  # fmt: skip


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_times_are_local_hh_mm_with_the_date_of_each_patrol() -> None:
    origin = pd.Timestamp("2026-12-05", tz="Asia/Shanghai")
    # 28837.15 s is 08:00:37, shown 08:00 as on the plan page; a night shift's visit after
    # midnight is on the next date.
    text = visits_csv_for_people(
        _visits(("S01-1", 28_200.0, 28_837.154438076523, 29_737.15),
                ("S01-1", 86_000.0, 86_400.0 + 3_600, 86_400.0 + 4_500)),
        origin,
    )  # fmt: skip
    assert text.startswith("\ufeff")  # Excel and WPS read it as UTF-8
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    header, first, second = _rows(text)
    assert header == list(PEOPLE_CSV_COLUMNS)
    assert first == ["2026-12-05", "S01-1", "城关派出所", "1", "G061", "G061-12",
                     "8924ae57577ffff", "07:50", "08:00", "08:15", "15", "2.3"]  # fmt: skip
    assert second[0] == "2026-12-06" and second[7:10] == ["23:53", "01:00", "01:15"]
    assert "28837" not in text


def test_clock_changes_are_followed() -> None:
    # Chicago, 2027-03-14: clocks go from 02:00 to 03:00; 4 h after midnight reads 05:00.
    origin = pd.Timestamp("2027-03-14", tz="America/Chicago")
    _header, row = _rows(visits_csv_for_people(_visits(("U", 14_400.0, 14_400.0, 15_300.0)),
                                               origin))  # fmt: skip
    assert row[0] == "2027-03-14" and row[8:10] == ["05:00", "05:15"]


def test_a_visit_without_a_place_name_shows_its_cell_id() -> None:
    visits = _visits(("U", 0, 0, 60)).drop(columns="place")
    _header, row = _rows(visits_csv_for_people(visits, pd.Timestamp("2026-12-05", tz="UTC")))
    assert row[5] == row[6] == "8924ae57577ffff"


def test_headers_come_from_the_caller_and_an_empty_plan_has_only_them() -> None:
    names = {"date": "日期", "unit": "警组", "grid": "网格"}
    text = visits_csv_for_people(_visits().reindex(columns=_visits(("U", 0, 0, 0)).columns),
                                 pd.Timestamp("2026-12-05", tz="Asia/Shanghai"), names)  # fmt: skip
    (header,) = _rows(text)
    assert header[:3] == ["日期", "警组", "station"] and header[4] == "网格"
    assert text.endswith("\r\n")


def test_a_naive_origin_is_refused() -> None:
    with pytest.raises(InvalidPlanError, match="timezone-aware"):
        visits_csv_for_people(_visits(("U", 0, 0, 60)), pd.Timestamp("2026-12-05"))
