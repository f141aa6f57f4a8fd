"""The minimal site, settings and the demo loader."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.web.conftest import EXTERNAL_URL
from web import create_app, storage
from web.cli import cli
from web.config import ConfigError, load_settings

# Statistics windows, backtest origins and the demo follow the date: run at every moment;
# on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = [pytest.mark.dates, pytest.mark.databases(demo=True)]


def test_demo_loads_outline_grids_stations_and_synthetic_incidents(demo_db, moment) -> None:
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
    # The demo's own files (other tests add feed batches and accepted field reports, "feed:"):
    # synthetic, nothing rejected.
    runs = storage.list_import_runs(engine)
    demo_runs = runs[~runs["file"].str.startswith("feed:")]
    assert len(demo_runs) and demo_runs["synthetic"].all()
    assert demo_runs["rejected"].sum() == 0
    assert storage.get_meta(engine)["timezone"] == moment.timezone  # Asia/Shanghai unless set
    # The synthetic incidents end by the demo's "now" (the clock's moment), within 60 days.
    summary = storage.incident_summary(engine)
    now_s = moment.at.timestamp()
    assert now_s - 2 * 86400 < summary["last"] <= now_s
    assert summary["first"] >= now_s - 61 * 86400


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


def test_health_check_says_ok_and_nothing_about_the_data(demo_db, tmp_path) -> None:
    app = create_app({"DATABASE_URL": demo_db})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    broken = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'none.db'}"})
    assert broken.test_client().get("/healthz").status_code == 503


def test_settings_come_from_prefixed_environment_and_overrides() -> None:
    settings = load_settings(environ={"HOTSPOT_H3_RESOLUTION": "8", "HOTSPOT_TIMEZONE": "UTC"})
    assert settings["H3_RESOLUTION"] == 8
    assert settings["TIMEZONE"] == "UTC"
    assert load_settings({"H3_RESOLUTION": 7}, environ={})["H3_RESOLUTION"] == 7
    with pytest.raises(ConfigError, match="HOTSPOT_H3_RESOLUTION: expected int"):
        load_settings(environ={"HOTSPOT_H3_RESOLUTION": "nine"})


def test_production_refuses_to_start_without_a_strong_secret() -> None:
    import secrets

    with pytest.raises(ConfigError, match="SECRET_KEY must be set in production"):
        load_settings(environ={"HOTSPOT_ENV": "production"})
    for weak in ("a", "s" * 64, "0123456789abcdef"):
        with pytest.raises(ConfigError, match="SECRET_KEY is too weak for production"):
            load_settings(environ={"HOTSPOT_ENV": "production", "HOTSPOT_SECRET_KEY": weak})
    key = secrets.token_hex(32)
    ok = load_settings(environ={"HOTSPOT_ENV": "production", "HOTSPOT_SECRET_KEY": key})
    assert ok["SECRET_KEY"] == key
    # Development keeps any key (tests and demos).
    assert load_settings(environ={"HOTSPOT_SECRET_KEY": "a"})["SECRET_KEY"] == "a"


def test_production_refuses_demo_accounts_whatever_server_builds_the_app(demo_db) -> None:
    """`waitress-serve --call web:create_app` with the demo database: refused, as
    `hotspot serve` refuses."""
    import secrets

    production = {"DATABASE_URL": demo_db, "ENV": "production",
                  "SECRET_KEY": secrets.token_hex(32)}  # fmt: skip
    with pytest.raises(ConfigError, match="demo accounts exist"):
        create_app(production)


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


def test_the_site_runs_as_of_a_set_moment_and_says_so(tmp_path) -> None:
    """HOTSPOT_NOW: the demo is made as of that moment (city time), the clock runs on from
    it, and every page's top bar shows it; production refuses the setting."""
    from tests.web.conftest import login
    from web import clock

    url = f"sqlite:///{tmp_path / 'as-of.db'}"
    env = {"HOTSPOT_DATABASE_URL": url, "HOTSPOT_NOW": "2026-03-08T09:00"}
    runner = CliRunner()
    assert runner.invoke(cli, ["init-db"], env=env).exit_code == 0
    result = runner.invoke(cli, ["demo", "--days", "30", "--seed", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert "(2026-02-06 .. 2026-03-08" in result.output and "plan 2026-03-08 day" in result.output
    moment = pd.Timestamp("2026-03-08T09:00", tz="Asia/Shanghai")
    assert abs(clock.now() - moment) < pd.Timedelta(minutes=5)  # it runs on from the moment
    clock.reset()
    settings = {"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False}
    app = create_app(settings | {"NOW": "2026-03-08T09:00"})
    client = app.test_client()
    login(client, "grid1")
    page = client.get("/grid/").data.decode()
    assert 'id="clock-set"' in page and "As of 3/8/26, 9:0" in page
    assert 'id="checkin-time" value="2026-03-08T09:0' in page
    clock.reset()
    plain = create_app(settings).test_client()
    login(plain, "grid1")
    assert 'id="clock-set"' not in plain.get("/grid/").data.decode()
    with pytest.raises(ConfigError, match="HOTSPOT_NOW is for demos and tests"):
        load_settings(environ={"HOTSPOT_ENV": "production", "HOTSPOT_SECRET_KEY": "s" * 32,
                               "HOTSPOT_NOW": "2026-03-08T09:00"})  # fmt: skip
    with pytest.raises(ConfigError, match="HOTSPOT_NOW: expected an ISO 8601 time"):
        create_app({"DATABASE_URL": url, "NOW": "next tuesday"})


def test_the_clock_reads_local_times_and_refuses_one_that_never_happens() -> None:
    from web import clock

    assert clock.parse_moment("2026-03-08T09:00", "Asia/Shanghai") == pd.Timestamp(
        "2026-03-08T01:00Z"
    )
    assert clock.parse_moment("2026-03-08T09:00-05:00", "Asia/Shanghai") == pd.Timestamp(
        "2026-03-08T14:00Z"
    )
    with pytest.raises(ValueError, match="does not exist in America/Chicago"):
        clock.parse_moment("2027-03-14T02:30", "America/Chicago")
    with clock.frozen("2026-12-31T23:59-06:00"):
        assert clock.today("America/Chicago").isoformat() == "2026-12-31"
        assert clock.now().strftime("%Y-%m-%d") == "2027-01-01"  # UTC is a day ahead
    assert not clock.is_set()


def test_the_workers_setting_takes_embedded_or_external() -> None:
    assert load_settings(environ={})["WORKERS"] == "embedded"
    assert load_settings(environ={"HOTSPOT_WORKERS": ""})["WORKERS"] == "embedded"
    assert load_settings(environ={"HOTSPOT_WORKERS": " External "})["WORKERS"] == "external"
    with pytest.raises(ConfigError, match="HOTSPOT_WORKERS: expected embedded or external"):
        load_settings(environ={"HOTSPOT_WORKERS": "outside"})
