"""Small text tables: values as text, clear errors for unreadable files and missing columns."""

from __future__ import annotations

import pytest

from geo.errors import FileFormatError
from geo.tables import read_text_table


def test_values_stay_text_and_empty_cells_empty(tmp_path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("unit_id,station_id,break_min\n007,S01,\n", encoding="utf-8")
    frame = read_text_table(path, "units", ("unit_id", "station_id"))
    assert frame.to_dict("records") == [{"unit_id": "007", "station_id": "S01", "break_min": ""}]


def test_missing_columns_and_unreadable_files_name_the_file(tmp_path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("unit_id\nA1\n", encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"units.csv: missing column\(s\) station_id"):
        read_text_table(path, "units", ("unit_id", "station_id"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("unit_id,station_id\nA\xe9,S1\n".encode("latin-1"))
    with pytest.raises(FileFormatError, match="latin.csv: cannot read the units file"):
        read_text_table(latin, "units", ("unit_id",))
