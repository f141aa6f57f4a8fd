"""Station and unit files as a clerk writes them: every mistake names the file, line and
field, and nothing is stored from a file with one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from geo.errors import FileFormatError
from web import storage
from web.cli import cli
from web.services.patrol_plans import read_units

STATIONS = (
    "station_id,name,name_en,lon,lat,units\n"
    "S01,雄关派出所,Xiongguan,98.289,39.773,4\n"
    "S02,钢城派出所,Gangcheng,98.322,39.805,3\n"
)


def _load(cli_env: dict[str, str], path: Path):
    return CliRunner().invoke(cli, ["stations", "--load", str(path)], env=cli_env)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("S03,A,A,39.77,98.29,1", "line 4, field lat: a number from -90 to 90"),  # swapped
        ("S03,A,A,inf,39.7,1", "line 4, field lon: a number from -180 to 180"),
        ("S01,A,A,98.3,39.7,1", "line 4, field station_id: 'S01' is given twice (first on line 2)"),
        (",A,A,98.3,39.7,1", "line 4, field station_id: empty"),
        ("S03,,A,98.3,39.7,1", "line 4, field name: empty"),
        (f"S03,{'名' * 201},A,98.3,39.7,1", "line 4, field name: one line of at most 200"),
        (f"{'S' * 81},A,A,98.3,39.7,1", "line 4, field station_id: one line of at most 80"),
    ],
)
def test_a_station_file_with_a_mistake_names_it_and_stores_nothing(
    engine, cli_env: dict[str, str], tmp_path: Path, line: str, message: str
) -> None:
    good = tmp_path / "stations.csv"
    good.write_text(STATIONS, encoding="utf-8")
    assert _load(cli_env, good).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(STATIONS + line + "\n", encoding="utf-8")
    result = _load(cli_env, bad)
    assert result.exit_code == 2
    assert f"{bad}: {message}" in result.output
    assert storage.list_stations(engine)["station_id"].tolist() == ["S01", "S02"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("A1,S01,car,,30\nA1,S02,car,,30", "line 3, field unit_id: 'A1' is given twice"),
        ("A1,S01,car,,999999", "line 2, field break_min: minutes from 0 to 240"),
        ("A1,S01,car,,-5", "line 2, field break_min: minutes from 0 to 240"),
        ("A1,S01,car,,half", "line 2, field break_min: minutes from 0 to 240, got 'half'"),
        (",S01,car,,0", "line 2, field unit_id: empty"),
        ("A1,,car,,0", "line 2, field station_id: empty"),
        ("A1,S01,bike,,0", "line 2, field mode: car or foot"),
    ],
)
def test_a_units_file_with_a_mistake_names_line_and_field(
    tmp_path: Path, rows: str, message: str
) -> None:
    path = tmp_path / "units.csv"
    path.write_text("unit_id,station_id,mode,end_station_id,break_min\n" + rows + "\n")
    with pytest.raises(FileFormatError) as caught:
        read_units(path)
    assert f"{path}: {message}" in str(caught.value)


def test_a_units_file_reads_blank_optional_fields_as_defaults(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "unit_id,station_id,mode,end_station_id,break_min\n A1 ,S01,,,\nF1,S02,foot,S01,45\n"
    )
    frame = read_units(path)
    assert frame["unit_id"].tolist() == ["A1", "F1"]
    assert frame["mode"].tolist() == ["car", "foot"]
    assert frame["end_station_id"].tolist() == ["", "S01"]


def test_load_chicago_without_the_data_says_what_is_missing_and_stores_nothing(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'chicago.db'}"
    empty = tmp_path / "shared"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["load-chicago", "--shared", str(empty)],
                                env={"HOTSPOT_DATABASE_URL": url})  # fmt: skip
    assert result.exit_code == 2
    assert "Chicago data not found" in result.output
    assert "chicago_crimes_*.csv.gz" in result.output
    assert (
        not (tmp_path / "chicago.db").exists()
        or storage.current_revision(storage.make_engine(url)) is None
    )
