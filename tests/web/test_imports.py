"""Storing imports: one transaction, de-duplication, kept rejects, nothing lost on failure."""

from __future__ import annotations

import gzip
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from click.testing import CliRunner

from geo.errors import ColumnMappingError, FileFormatError
from geo.ingest import PRESETS
from tests.conftest import CHICAGO_BOUNDARIES, CHICAGO_INCIDENTS, chicago_lines
from tests.web.conftest import NOW
from web import storage
from web.cli import cli
from web.services.imports import ImportRequest, import_files

CHICAGO_BOUNDARY = shapely.union_all(
    gpd.read_file(CHICAGO_BOUNDARIES / "city_boundary.geojson").geometry.to_numpy()
)

# Every test that uses a database runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases()


def request(**changes) -> ImportRequest:
    values = {
        "mapping": PRESETS["chicago"],
        "source": "chicago",
        "timezone": "America/Chicago",
        "resolution": 9,
        "now": NOW,
        "preset": "chicago",
        "boundary": CHICAGO_BOUNDARY,
        "boundary_tolerance_m": 50.0,
    }
    values.update(changes)
    return ImportRequest(**values)


def write(tmp_path: Path, name: str, lines: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return path


def test_schema_is_at_the_newest_migration_and_init_is_repeatable(engine) -> None:
    storage.init_db(engine)
    versions = Path(storage.__file__).parent / "migrations" / "versions"
    newest = max(p.name.split("_")[0] for p in versions.glob("0*_*.py"))
    assert storage.current_revision(engine) == newest
    names = set(sa.inspect(engine).get_table_names())
    assert {"incidents", "categories", "areas", "area_cells", "rejects", "import_runs"} <= names
    assert {"sessions", "login_throttle"} <= names and "login_failures" not in names
    # User names are unique without regard to case, in the database itself.
    storage.create_user(engine, "Kim", "x", "planner")
    with pytest.raises(ValueError, match="taken"):
        storage.create_user(engine, "kim", "x", "planner")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(storage.users).values(username="KIM", password_hash="x",
                                                     role="planner", created_at=0))  # fmt: skip
    if engine.dialect.name == "sqlite":  # readers never wait for a writer
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        assert mode == "wal"


def test_import_stores_rows_and_reimport_adds_nothing(engine, chicago_sample) -> None:
    first = import_files(engine, [chicago_sample], request())[0]
    assert first.rows_read == 200
    assert first.inserted + first.rejected == 200
    assert first.inserted > 190
    before = storage.table_fingerprint(engine)
    second = import_files(engine, [chicago_sample], request())[0]
    assert second.inserted == 0
    assert second.duplicates == first.inserted
    after = storage.table_fingerprint(engine)
    # Only the import_runs table grows (the second run is recorded); rejects are not repeated.
    assert after["incidents"] == before["incidents"]
    assert after["rejects"] == before["rejects"]
    assert after["incident_key_sum"] == before["incident_key_sum"]
    assert after["import_runs"] == before["import_runs"] + 1


def test_times_are_stored_in_utc_and_cells_as_integers(engine, chicago_sample) -> None:
    import_files(engine, [chicago_sample], request())
    frame = storage.load_incidents(engine)
    first = frame[frame["source_id"] == "10364665"].iloc[0]
    assert first["occurred_at"] == pd.Timestamp("2016-01-01T06:01:00Z").timestamp()
    assert frame["cell"].dtype == np.int64
    assert (frame["cell"] > 0).all()


def test_rejected_rows_are_kept_for_review(engine, tmp_path) -> None:
    lines = chicago_lines(n=10)
    lines[4] = lines[4].replace(b"41.", b"4x.", 1)  # unparsable latitude on line 5
    path = write(tmp_path, "bad.csv", lines)
    summary = import_files(engine, [path], request())[0]
    assert summary.rejected == 1
    rejects = storage.list_rejects(engine)
    assert list(rejects["line"]) == [5]
    assert rejects.iloc[0]["field"] == "Latitude"
    assert "unparsable" in rejects.iloc[0]["reason"]
    assert rejects.iloc[0]["file"].endswith("bad.csv")
    assert '"ID"' in rejects.iloc[0]["raw"]


def _broken_files(tmp_path: Path) -> dict[str, Path]:
    good = chicago_lines(n=50)
    whole = gzip.compress(b"".join(chicago_lines(n=3000)))
    renamed = [good[0].replace(b"Primary Type", b"Type")] + good[1:]
    latin = list(good)
    fields = latin[7].split(b",")
    fields[5] = fields[5] + "\u00e9".encode("latin-1")  # Primary Type, a column that is read
    latin[7] = b",".join(fields)
    return {
        "empty": write(tmp_path, "empty.csv", []),
        "header only": write(tmp_path, "header.csv", good[:1]),
        "truncated gzip": write(tmp_path, "cut.csv.gz", [whole[: len(whole) // 2]]),
        "wrong delimiter": write(tmp_path, "semi.csv", [g.replace(b",", b";") for g in good]),
        "missing columns": write(tmp_path, "renamed.csv", renamed),
        "not utf-8": write(tmp_path, "latin.csv", latin),
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "the file is empty"),
        ("header only", "no data rows"),
        ("truncated gzip", "truncated or corrupt"),
        ("wrong delimiter", "wrong delimiter"),
        ("missing columns", "missing column(s) Primary Type (category)"),
        ("not utf-8", "not valid utf-8"),
    ],
)
def test_broken_files_change_nothing(engine, chicago_sample, tmp_path, case, message) -> None:
    import_files(engine, [chicago_sample], request())
    before = storage.table_fingerprint(engine)
    broken = _broken_files(tmp_path)[case]
    # The broken file comes second: the good first file must not be stored either.
    other = write(tmp_path, "other.csv", chicago_lines("2017-03", n=20))
    with pytest.raises((FileFormatError, ColumnMappingError)) as err:
        import_files(engine, [other, broken], request())
    assert str(broken) in str(err.value)
    assert message in str(err.value)
    assert storage.table_fingerprint(engine) == before


@pytest.mark.parametrize(
    ("case", "edit", "reason"),
    [
        ("swapped lat/lon", lambda f: _swap(f), "inside when swapped"),
        ("NaN", lambda f: f.__setitem__(-2, "NaN"), "missing coordinate"),
        ("outside boundary", lambda f: (f.__setitem__(-2, "41.88"), f.__setitem__(-1, "-87.50")),
         "outside the jurisdiction boundary"),
    ],
)  # fmt: skip
def test_bad_rows_are_rejected_and_good_rows_stored(engine, tmp_path, case, edit, reason) -> None:
    import csv
    import io

    lines = chicago_lines(n=20)
    row = next(csv.reader([lines[6].decode()]))
    edit(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    lines[6] = buffer.getvalue().encode()
    path = write(tmp_path, "rows.csv", lines)
    summary = import_files(engine, [path], request())[0]
    assert summary.rejected == 1, case
    assert summary.inserted == 19
    rejects = storage.list_rejects(engine)
    assert reason in rejects.iloc[0]["reason"]
    assert rejects.iloc[0]["line"] == 7


def _swap(fields: list[str]) -> None:
    # Swapped Chicago coordinates (-87.6, 41.8) are both in range; the boundary rule finds
    # them: the point lies inside the city once swapped back.
    fields[-2], fields[-1] = fields[-1], fields[-2]


def test_duplicates_within_and_across_files(engine, tmp_path) -> None:
    lines = chicago_lines(n=10)
    first = write(tmp_path, "a.csv", lines)
    second = write(tmp_path, "b.csv", lines[:1] + lines[5:] + lines[1:3] + lines[1:2])
    summaries = import_files(engine, [first, second], request())
    assert summaries[0].inserted == 10
    # b.csv: 8 distinct rows already in a.csv, and one repeated inside b.csv itself.
    assert summaries[1].rows_read == 9
    assert summaries[1].inserted == 0
    assert summaries[1].duplicates == 8
    assert summaries[1].rejected == 1
    assert storage.count_rows(engine)["incidents"] == 10


def test_a_failure_while_writing_rolls_everything_back(engine, chicago_sample, monkeypatch):
    import_files(engine, [chicago_sample], request())
    before = storage.table_fingerprint(engine)
    original = storage.importing.insert_rejects
    calls = []

    def fail_on_second(conn, item, run_id):
        calls.append(item.file)
        if len(calls) == 2:
            raise KeyboardInterrupt  # an operator's Ctrl-C after the incidents went in
        return original(conn, item, run_id)

    monkeypatch.setattr(storage.importing, "insert_rejects", fail_on_second)
    files = [Path(chicago_sample).with_name("x.csv"), Path(chicago_sample).with_name("y.csv")]
    files[0].write_bytes(b"".join(chicago_lines("2017-03", n=50)))
    files[1].write_bytes(b"".join(chicago_lines("2018-02", n=50)))
    with pytest.raises(KeyboardInterrupt):
        import_files(engine, files, request())
    assert calls  # the failure really happened inside the transaction
    assert storage.table_fingerprint(engine) == before


def test_new_categories_are_added_with_default_weight(engine, tmp_path) -> None:
    lines = chicago_lines(n=5)
    lines[2] = lines[2].replace(b"BATTERY", b"DRONE NUISANCE")
    summary = import_files(engine, [write(tmp_path, "new.csv", lines)], request())[0]
    assert summary.new_categories == ("DRONE NUISANCE",)
    table = storage.load_categories_table(engine).set_index("code")
    assert table.loc["DRONE NUISANCE", "weight"] == 1.0


# --- CLI wiring ---------------------------------------------------------------------------


def test_cli_import_rejects_and_imports(engine, cli_env, tmp_path) -> None:
    lines = chicago_lines(n=30)
    lines[3] = lines[3].replace(b"01/01/2016", b"01/01/2099")
    path = write(tmp_path, "cli.csv", lines)
    runner = CliRunner()
    result = runner.invoke(cli, ["import", "--preset", "chicago", "--no-boundary", str(path)],
                           env=cli_env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "read 30, imported 29, already stored 0, rejected 1" in result.output
    shown = runner.invoke(cli, ["rejects"], env=cli_env)
    assert f"{path}:4 [Date] date/time in the future" in shown.output
    runs = runner.invoke(cli, ["imports"], env=cli_env)
    assert "imported 29" in runs.output


def test_cli_reports_a_broken_file_and_exits_non_zero(engine, cli_env, tmp_path) -> None:
    path = write(tmp_path, "empty.csv", [])
    result = CliRunner().invoke(cli, ["import", "--preset", "chicago", str(path)], env=cli_env)
    assert result.exit_code == 2
    assert "empty.csv: the file is empty" in result.output
    assert "the database is unchanged" in result.output


def test_cli_areas_load_list_and_lookup(engine, cli_env) -> None:
    runner = CliRunner()
    loaded = runner.invoke(
        cli,
        ["areas", "load", str(CHICAGO_BOUNDARIES / "police_districts.geojson"), "--kind",
         "district", "--id-field", "DIST_NUM", "--name-field", "DIST_LABEL"],
        env=cli_env,
    )  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    listed = runner.invoke(cli, ["areas"], env=cli_env)
    assert listed.output.count("district") >= 22
    # A cell in the Loop (downtown) lies in district 1.
    lookup = runner.invoke(cli, ["areas", "lookup", "892664c1a8fffff"], env=cli_env)
    assert "892664c1a8fffff district: 1" in lookup.output


# --- real data ----------------------------------------------------------------------------

# Rows per month from ../shared/data/incidents/chicago/PROVENANCE.md
PROVENANCE_ROWS = {"2016-01": 20_583, "2017-06": 23_763, "2018-07": 24_878}


@pytest.mark.slow
def test_real_chicago_months(engine) -> None:
    files = [CHICAGO_INCIDENTS / f"chicago_crimes_{m}.csv.gz" for m in PROVENANCE_ROWS]
    summaries = import_files(engine, files, request())
    assert [s.rows_read for s in summaries] == list(PROVENANCE_ROWS.values())
    total = sum(PROVENANCE_ROWS.values())
    stored = storage.count_rows(engine)["incidents"]
    rejects = storage.list_rejects(engine, limit=100_000)
    assert stored + len(rejects) == total
    missing = rejects["reason"].str.contains("missing coordinate").sum()
    outside = rejects["reason"].str.contains("outside").sum()
    assert len(rejects) == missing + outside
    # PROVENANCE.md: 0.72 % lack coordinates; 99.73 % of the rest lie inside the city
    # polygon and the rest sit on its edge, so a 50 m tolerance keeps nearly all of them.
    assert 0.005 < missing / total < 0.01
    frame = storage.load_incidents(engine)
    inside = shapely.contains_xy(CHICAGO_BOUNDARY, frame["lon"], frame["lat"]).mean()
    assert 0.996 < inside < 0.999
    assert outside / total < 0.0005
    again = import_files(engine, files, request())
    assert sum(s.inserted for s in again) == 0
    assert storage.count_rows(engine)["incidents"] == stored


def test_the_bulk_reader_gives_every_incident_once(engine, chicago_sample) -> None:
    """storage.incident_columns (what the site's data is built from): every stored incident's
    time, cell and category id once, whatever the chunk size."""
    import_files(engine, [chicago_sample], request())
    stored = storage.load_incidents(engine)
    ids = storage.load_categories_table(engine).set_index("code")["id"]
    expected = sorted(zip(stored["occurred_at"], stored["cell"], ids[stored["category"]],
                          strict=True))  # fmt: skip
    for chunk_rows in (7, 500_000):
        chunks = list(storage.incident_columns(engine, chunk_rows=chunk_rows))
        got = sorted(
            (int(t), int(c), int(k))
            for chunk in chunks
            for t, c, k in zip(
                chunk["occurred_at"], chunk["cell"], chunk["category_id"], strict=True
            )  # fmt: skip
        )
        assert got == [(int(t), int(c), int(k)) for t, c, k in expected]
        assert all(chunk["cell"].dtype == np.int64 for chunk in chunks)
