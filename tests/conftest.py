"""Shared test fixtures: paths to ../shared data and small files made from it, the
moments date-dependent tests run at (tests/moments.py) and the throwaway PostgreSQL cluster
(tests/postgres.py)."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.moments import ALL, FEW, MOMENTS, Moment
from web import clock

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHICAGO_INCIDENTS = SHARED / "data" / "incidents" / "chicago"
CHICAGO_BOUNDARIES = SHARED / "data" / "boundaries" / "chicago"


def chicago_lines(month: str = "2016-01", n: int = 200) -> list[bytes]:
    """Return the header and the first ``n`` data lines (raw bytes, CRLF kept) of a month."""
    with gzip.open(CHICAGO_INCIDENTS / f"chicago_crimes_{month}.csv.gz", "rb") as handle:
        return [handle.readline() for _ in range(n + 1)]


@pytest.fixture
def chicago_sample(tmp_path: Path) -> Path:
    """A 200-row CSV cut from the real January 2016 Chicago file."""
    path = tmp_path / "chicago_sample.csv"
    path.write_bytes(b"".join(chicago_lines()))
    return path


@functools.lru_cache(maxsize=4)
def _chicago_frame(first: str, last: str) -> pd.DataFrame:
    from geo.categories import load_categories
    from geo.ingest import PRESETS, ImportRules, prepare_incidents, read_incident_table

    rules = ImportRules(
        timezone="America/Chicago",
        now=pd.Timestamp("2026-01-01", tz="UTC"),
        resolution=9,
        source="chicago",
        known_categories=load_categories(REPO / "data" / "categories.csv"),
    )
    frames = []
    for month in pd.period_range(start=first, end=last, freq="M"):
        table = read_incident_table(
            CHICAGO_INCIDENTS / f"chicago_crimes_{month}.csv.gz", PRESETS["chicago"]
        )
        prepared = prepare_incidents(table, PRESETS["chicago"], rules)
        frames.append(prepared.incidents[["occurred_at", "cell", "category"]])
    frame = pd.concat(frames, ignore_index=True)
    return frame.astype({"occurred_at": np.int64, "cell": np.int64, "category": object})


def chicago_incident_frame(first: str, last: str) -> pd.DataFrame:
    """Located Chicago incidents of the months ``first`` .. ``last`` (YYYY-MM) as the scoring
    libraries take them (``occurred_at`` UTC seconds, res-9 ``cell``, ``category``), read
    through the importer's own checks; a fresh copy per call."""
    return _chicago_frame(first, last).copy()


# --- the clock -------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--moments",
        choices=("today", "few", "all"),
        default="few",
        help="moments the tests marked `dates` run at (tests/moments.py): today only, a "
        "representative few (default, `make test`) or all (`make test-dates`)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``dates`` that use the ``moment`` fixture (directly or through the demo
    site) run once per chosen moment; every other user of ``moment`` runs at today."""
    if "moment" not in metafunc.fixturenames:
        return
    names: tuple[str, ...] = ("today",)
    if metafunc.definition.get_closest_marker("dates") is not None:
        chosen = metafunc.config.getoption("--moments")
        names = {"today": ("today",), "few": FEW, "all": ALL}[chosen]
    metafunc.parametrize("moment", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def moment(request: pytest.FixtureRequest) -> Moment:
    """The moment the clock reads during a test (frozen); see tests/moments.py."""
    return MOMENTS[getattr(request, "param", "today")]


@pytest.fixture(autouse=True)
def _clock(request: pytest.FixtureRequest):
    """Freeze the product's clock at the test's moment, if it has one; real time after."""
    if "moment" in request.fixturenames:
        with clock.frozen(request.getfixturevalue("moment").at):
            yield
    else:
        yield
    clock.reset()


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL 15 + PostGIS server for the whole run (tests/postgres.py),
    started on first use; stopped and removed at the end. Fails, never skips, when
    PostgreSQL or PostGIS is not installed."""
    from tests.postgres import Cluster, PostgresMissing

    cluster = Cluster()
    try:
        cluster.start()
    except PostgresMissing as err:
        cluster.stop()
        pytest.fail(str(err), pytrace=False)
    yield cluster
    cluster.stop()


# --- the end of the run ----------------------------------------------------------------------


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free what the tests left for the garbage collector while native libraries are still
    whole. Arrow objects collected only during interpreter teardown can meet Arrow's thread
    pool already half destroyed and abort the process after a green run ("terminate called
    without an active exception", apache/arrow#34314); one collection here avoids that."""
    import gc

    gc.collect()
