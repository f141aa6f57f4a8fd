"""Administrator pages (issue 15, item 8): least privilege by default, forms that keep what
was typed, grids picked from the stored ones, and the audit log's filters and CSV export."""

from __future__ import annotations

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from geo.cells import cells_from_hex
from tests.web.test_accounts import csrf_token
from web import create_app, storage
from web.cli import cli


@pytest.fixture
def site(tmp_path):
    """A demo-less site with one admin (boss) and two stored grids (G1, G2)."""
    import geopandas as gpd
    from shapely.geometry import box

    url = f"sqlite:///{tmp_path / 'site.db'}"
    env = {"HOTSPOT_DATABASE_URL": url}
    result = CliRunner().invoke(
        cli, ["users", "add", "boss", "--role", "admin", "--password", "correct-horse"], env=env
    )
    assert result.exit_code == 0, result.output
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    polygons = gpd.GeoDataFrame(
        {"area_id": ["G1", "G2"], "name": ["North gate", "South market"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    hexes = ["8928308280fffff", "8928308280bffff"]
    cells = pd.DataFrame({"area_id": ["G1", "G2"], "cell": cells_from_hex(hexes)})
    storage.store_areas(app.extensions["engine"], "grid", polygons, cells, source="test")
    return app


def admin_client(app, language: str = "en"):
    """A logged-in client of boss, in this language."""
    client = app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "boss", "password": "correct-horse",
                                "csrf_token": token})  # fmt: skip
    token = csrf_token(client, "/admin/users")
    client.post("/language", data={"lang": language, "csrf_token": token})
    return client


def page(response) -> BeautifulSoup:
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


@pytest.mark.parametrize(("language", "prompt"), [("en", "Choose a role"), ("zh", None)])
def test_a_new_account_has_no_role_preselected(site, language, prompt) -> None:
    client = admin_client(site, language)
    html = page(client.get("/admin/users"))
    assert html.html["lang"].startswith(language)
    select = html.select_one("#new-user select[name=role]")
    assert select is not None and select.has_attr("required")
    chosen = select.select("option[selected]")
    assert len(chosen) == 1 and chosen[0]["value"] == "" and chosen[0].has_attr("disabled")
    if prompt:
        assert prompt in chosen[0].get_text()
    form = {"username": "w1", "password": "grid-pass-1", "csrf_token": csrf_token(
        client, "/admin/users")}  # fmt: skip
    client.post("/admin/users", data=form)
    assert storage.get_user_by_name(site.extensions["engine"], "w1") is None  # no role: refused
    client.post("/admin/users", data=form | {"role": "grid_worker"})
    created = storage.get_user_by_name(site.extensions["engine"], "w1")
    assert created is not None and created.role == "grid_worker"
