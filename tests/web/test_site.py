"""The minimal site, settings and the demo loader."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.web.conftest import EXTERNAL_URL
from web import create_app, storage
from web.cli import cli
from web.config import ConfigError, load_settings


def test_demo_loads_outline_grids_stations_and_synthetic_incidents(demo_db) -> None:
    engine = storage.make_engine(demo_db)
    counts = storage.count_rows(engine)
    areas = storage.list_areas(engine)
    kinds = areas.groupby("kind").size().to_dict()
    assert kinds["jurisdiction"] == 1 and kinds["urban_core"] == 1
    assert kinds["grid"] > 30  # about 12 cells each over ~770 urban-core cells
    grids = areas[areas["kind"] == "grid"]
    assert grids["n_cells"].between(6, 20).all()
    assert counts["stations"] == 5
    # 60 days at about 40 a day; the generator's GCJ-02 file comes back inside the city.
    assert 1500 < counts["incidents"] < 3500
    assert counts["rejects"] == 0
    runs = storage.list_import_runs(engine)
    assert runs["synthetic"].all()
    assert storage.get_meta(engine)["timezone"] == "Asia/Shanghai"


def test_front_page_sends_visitors_to_log_in(app) -> None:
    response = app.test_client().get("/")
    assert response.status_code == 302 and response.location.endswith("/login")


def test_data_overview_shows_map_counts_and_synthetic_label(client_as) -> None:
    response = client_as("commander").get("/overview")
    assert response.status_code == 200
    body = response.data
    assert b"synthetic-label" in body
    assert b"folium-map" in body or b"map_" in body
    assert b'id="counts"' in body
    # Everything the page loads comes from this server.
    assert not EXTERNAL_URL.search(body)
    assert b"/static/vendor/leaflet@1.9.3/dist/leaflet.js" in body


def test_vendor_assets_are_served(demo_db) -> None:
    app = create_app({"DATABASE_URL": demo_db})
    with app.test_client().get("/static/vendor/leaflet@1.9.3/dist/leaflet.js") as response:
        assert response.status_code == 200
        assert b"Leaflet" in response.data[:2000]


def test_health_check_reports_counts(demo_db) -> None:
    app = create_app({"DATABASE_URL": demo_db})
    data = app.test_client().get("/healthz").get_json()
    assert data["status"] == "ok"
    assert data["counts"]["incidents"] > 0


def test_settings_come_from_prefixed_environment_and_overrides() -> None:
    settings = load_settings(environ={"HOTSPOT_H3_RESOLUTION": "8", "HOTSPOT_TIMEZONE": "UTC"})
    assert settings["H3_RESOLUTION"] == 8
    assert settings["TIMEZONE"] == "UTC"
    assert load_settings({"H3_RESOLUTION": 7}, environ={})["H3_RESOLUTION"] == 7
    with pytest.raises(ConfigError, match="HOTSPOT_H3_RESOLUTION: expected int"):
        load_settings(environ={"HOTSPOT_H3_RESOLUTION": "nine"})


def test_production_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY must be set in production"):
        load_settings(environ={"HOTSPOT_ENV": "production"})
    ok = load_settings(environ={"HOTSPOT_ENV": "production", "HOTSPOT_SECRET_KEY": "s" * 32})
    assert ok["SECRET_KEY"] == "s" * 32


def test_load_chicago_command(tmp_path) -> None:
    from tests.conftest import CHICAGO_BOUNDARIES, CHICAGO_INCIDENTS

    # A ../shared look-alike holding the real boundaries and one real month.
    shared = tmp_path / "shared"
    (shared / "data" / "boundaries").mkdir(parents=True)
    (shared / "data" / "boundaries" / "chicago").symlink_to(CHICAGO_BOUNDARIES)
    incidents = shared / "data" / "incidents" / "chicago"
    incidents.mkdir(parents=True)
    month = "chicago_crimes_2016-02.csv.gz"
    (incidents / month).symlink_to(CHICAGO_INCIDENTS / month)
    env = {"HOTSPOT_DATABASE_URL": f"sqlite:///{tmp_path / 'chicago.db'}"}
    result = CliRunner().invoke(cli, ["load-chicago", "--shared", str(shared)], env=env)
    assert result.exit_code == 0, result.output
    assert "districts: 23" in result.output and "beats: 275" in result.output
    assert "stations: 22" in result.output
    assert "incidents: read 18680" in result.output  # PROVENANCE.md: 2016-02 has 18,680 rows
    engine = storage.make_engine(env["HOTSPOT_DATABASE_URL"])
    assert storage.get_meta(engine)["timezone"] == "America/Chicago"
    demo = CliRunner().invoke(cli, ["demo"], env=env)
    assert demo.exit_code != 0  # the demo city may not be mixed into the Chicago database
