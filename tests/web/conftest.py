"""Fixtures for the web layer: a throwaway database, the app and the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo.categories import load_categories
from web import storage
from web.config import REPO_ROOT


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def engine(db_url: str):
    engine = storage.make_engine(db_url)
    storage.init_db(engine)
    storage.set_meta(
        engine, {"resolution": "9", "timezone": "America/Chicago", "city_name": "Chicago"}
    )
    storage.store_categories(engine, load_categories(REPO_ROOT / "data" / "categories.csv"))
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for CLI runs: the CLI reads settings from HOTSPOT_* like production."""
    return {"HOTSPOT_DATABASE_URL": db_url, "HOTSPOT_TIMEZONE": "America/Chicago"}


NOW = pd.Timestamp("2026-01-01T00:00:00Z")
