"""Tests for geo/synthetic.py, the demo's urban-core boundary and its fictional stations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from scipy.spatial import cKDTree
from shapely.geometry import MultiPolygon, Point, Polygon, box, shape

from geo.categories import load_categories
from geo.errors import GeoError, InvalidBoundaryError, InvalidCoordinatesError
from geo.synthetic import (
    DEFAULT_CATEGORY_PROFILES,
    DEFAULT_CATEGORY_SHARES,
    INCIDENT_COLUMNS,
    SYNTHETIC_LABEL,
    CategoryProfile,
    demo_window,
    generate_incidents,
)

ROOT = Path(__file__).resolve().parents[2]
URBAN_CORE = ROOT / "data" / "boundaries" / "jiayuguan_urban_core.geojson"
STATIONS = ROOT / "data" / "demo" / "stations.csv"
DEMO_CATEGORIES = ROOT / "data" / "demo" / "categories.csv"
CITY_OUTLINE = (
    ROOT.parent
    / "shared"
    / "data"
    / "boundaries"
    / "jiayuguan"
    / "jiayuguan_620200_amap_wgs84.geojson"
)

START = pd.Timestamp("2024-01-01", tz="UTC")
END = START + pd.Timedelta(days=90)
MEAN_PER_DAY = 40.0
M_PER_DEG = 6_371_008.8 * math.pi / 180.0


def read_single_geometry(path: Path) -> Polygon | MultiPolygon:
    """The geometry of the one feature in a GeoJSON file."""
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    assert len(features) == 1
    return shape(features[0]["geometry"])


def metres_xy(frame: pd.DataFrame) -> np.ndarray:
    """Incident positions in metres on a local equirectangular projection."""
    lat0 = frame["lat"].mean()
    x = (frame["lon"] - frame["lon"].mean()) * M_PER_DEG * math.cos(math.radians(lat0))
    y = (frame["lat"] - lat0) * M_PER_DEG
    return np.column_stack([x, y])


def days_since_start(frame: pd.DataFrame) -> np.ndarray:
    """Incident times as fractional days after START."""
    return ((frame["occurred_at"] - START) / pd.Timedelta(days=1)).to_numpy(dtype=float)


def uniform_points(area: Polygon, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` lon/lat points uniform in ``area``, independent of the module under test."""
    rng = np.random.default_rng(seed)
    min_lon, min_lat, max_lon, max_lat = area.bounds
    lon = rng.uniform(min_lon, max_lon, 4 * size)
    lat = rng.uniform(min_lat, max_lat, 4 * size)
    inside = shapely.contains_xy(area, lon, lat)
    assert inside.sum() >= size
    return lon[inside][:size], lat[inside][:size]


@pytest.fixture(scope="module")
def core() -> Polygon:
    return read_single_geometry(URBAN_CORE)


@pytest.fixture(scope="module")
def incidents(core: Polygon) -> pd.DataFrame:
    return generate_incidents(core, START, END, seed=11, mean_per_day=MEAN_PER_DAY)


# --- generator -------------------------------------------------------------------------------


def test_same_seed_gives_identical_frame(core: Polygon, incidents: pd.DataFrame) -> None:
    again = generate_incidents(core, START, END, seed=11, mean_per_day=MEAN_PER_DAY)
    pd.testing.assert_frame_equal(incidents, again)


def test_other_seed_gives_other_incidents(core: Polygon, incidents: pd.DataFrame) -> None:
    other = generate_incidents(core, START, END, seed=12, mean_per_day=MEAN_PER_DAY)
    assert not other[["lon", "lat"]].head(100).equals(incidents[["lon", "lat"]].head(100))


def test_columns_and_dtypes(incidents: pd.DataFrame) -> None:
    assert tuple(incidents.columns) == INCIDENT_COLUMNS
    assert incidents["incident_id"].dtype == "str"
    assert incidents["category"].dtype == "str"
    assert incidents["description"].dtype == "str"
    assert str(incidents["occurred_at"].dtype) == "datetime64[ns, UTC]"
    assert incidents["lon"].dtype == np.float64
    assert incidents["lat"].dtype == np.float64
    assert incidents["synthetic"].dtype == bool
    assert incidents["synthetic"].all()
    assert incidents["description"].str.contains(SYNTHETIC_LABEL).all()
    assert incidents["incident_id"].is_unique
    assert incidents["incident_id"].iloc[0] == "SYN-000001"
    assert incidents["occurred_at"].is_monotonic_increasing
    assert set(incidents["category"]) <= set(DEFAULT_CATEGORY_SHARES)
    assert np.array_equal(incidents["lon"], incidents["lon"].round(6))
    assert np.array_equal(incidents["lat"], incidents["lat"].round(6))


def test_points_inside_area_and_times_in_window(core: Polygon, incidents: pd.DataFrame) -> None:
    assert shapely.contains_xy(core, incidents["lon"], incidents["lat"]).all()
    assert (incidents["occurred_at"] >= START).all()
    assert (incidents["occurred_at"] < END).all()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("branching_ratio", [0.0, 0.35])
def test_count_matches_the_model(core: Polygon, seed: int, branching_ratio: float) -> None:
    background_per_day = MEAN_PER_DAY * (1 - branching_ratio)
    expected = background_per_day / (1 - branching_ratio) * (END - START).days
    frame = generate_incidents(
        core, START, END, seed=seed, mean_per_day=MEAN_PER_DAY, branching_ratio=branching_ratio
    )
    assert abs(len(frame) - expected) < 0.15 * expected


def test_incidents_cluster_far_more_than_a_uniform_process(
    core: Polygon, incidents: pd.DataFrame
) -> None:
    area_cells = list(h3.geo_to_cells(core, 9))
    top = math.ceil(0.05 * len(area_cells))

    def top_cell_share(lon: np.ndarray, lat: np.ndarray) -> float:
        cells = pd.Series([h3.latlng_to_cell(y, x, 9) for x, y in zip(lon, lat, strict=True)])
        counts = cells.value_counts().reindex(area_cells, fill_value=0)
        return counts.nlargest(top).sum() / len(cells)

    observed = top_cell_share(incidents["lon"].to_numpy(), incidents["lat"].to_numpy())
    uniform = top_cell_share(*uniform_points(core, len(incidents), seed=5))
    assert uniform < 0.2
    assert observed > 2.5 * uniform


def knox_excess_per_incident(frame: pd.DataFrame, seed: int) -> float:
    """Pairs within 200 m and 7 days beyond the mean of 20 time-shuffled copies, per incident.

    Shuffling times keeps the spatial clustering and breaks any link between place and time.
    """
    pairs = cKDTree(metres_xy(frame)).query_pairs(r=200.0, output_type="ndarray")
    t = days_since_start(frame)

    def close_in_time(times: np.ndarray) -> int:
        return int((np.abs(times[pairs[:, 0]] - times[pairs[:, 1]]) < 7).sum())

    rng = np.random.default_rng(seed)
    shuffled = np.mean([close_in_time(rng.permutation(t)) for _ in range(20)])
    return (close_in_time(t) - shuffled) / len(frame)


def test_near_repeats_make_space_time_clusters(core: Polygon) -> None:
    # A share branching_ratio of incidents are offspring, each within 200 m and 7 days of its
    # parent with probability (1 - e^-2)(1 - e^(-7/3)) = 0.78: about 0.27 extra close pairs
    # per incident. Trends are off because emerging hotspots also couple place and time.
    hawkes = generate_incidents(core, START, END, seed=4, trend_factor=1.0, branching_ratio=0.35)
    poisson = generate_incidents(core, START, END, seed=4, trend_factor=1.0, branching_ratio=0.0)
    assert knox_excess_per_incident(hawkes, seed=0) > 0.15
    assert abs(knox_excess_per_incident(poisson, seed=0)) < 0.08


def test_trend_moves_incidents_between_places(core: Polygon) -> None:
    end = START + pd.Timedelta(days=120)

    def change_first_to_last_month(trend_factor: float) -> float:
        frame = generate_incidents(core, START, end, seed=0, trend_factor=trend_factor)
        day = days_since_start(frame)
        cells = pd.Series(
            [h3.latlng_to_cell(y, x, 8) for x, y in zip(frame.lon, frame.lat, strict=True)]
        )
        first = cells[day < 30].value_counts(normalize=True)
        last = cells[day >= 90].value_counts(normalize=True)
        return 0.5 * first.sub(last, fill_value=0).abs().sum()

    assert change_first_to_last_month(8.0) > change_first_to_last_month(1.0) + 0.1


def test_evenings_busier_than_small_hours(incidents: pd.DataFrame) -> None:
    hour = incidents["occurred_at"].dt.tz_convert("Asia/Shanghai").dt.hour
    evening_per_hour = hour.between(18, 21).sum() / 4
    small_hours_per_hour = hour.between(3, 5).sum() / 3
    assert evening_per_hour > 2 * small_hours_per_hour


def test_category_shares_roughly_as_asked(core: Polygon, incidents: pd.DataFrame) -> None:
    shares = incidents["category"].value_counts(normalize=True)
    assert shares.index[0] == "TRAFFIC_ACCIDENT"
    assert shares["TRAFFIC_ACCIDENT"] > shares["ROBBERY"] * 5
    custom = generate_incidents(core, START, END, seed=1, categories={"A": 3, "B": 1})
    assert set(custom["category"]) == {"A", "B"}
    assert custom["category"].value_counts(normalize=True)["A"] > 0.6


# --- per-category patterns -------------------------------------------------------------------


@pytest.fixture(scope="module")
def half_year(core: Polygon) -> pd.DataFrame:
    return generate_incidents(core, START, START + pd.Timedelta(days=180), seed=3)


def local_hours(frame: pd.DataFrame) -> pd.Series:
    return frame["occurred_at"].dt.tz_convert("Asia/Shanghai").dt.hour


def share_in_hours(frame: pd.DataFrame, code: str, hours: range | list[int]) -> float:
    hour = local_hours(frame)[frame["category"] == code]
    return float(hour.isin(list(hours)).mean())


def test_every_demo_category_has_a_profile_and_back() -> None:
    table = load_categories(DEMO_CATEGORIES)
    assert list(table["code"]) == list(DEFAULT_CATEGORY_PROFILES)
    assert sum(DEFAULT_CATEGORY_SHARES.values()) == pytest.approx(1.0)


def test_each_category_keeps_its_hours(half_year: pd.DataFrame) -> None:
    small_hours = range(0, 6)
    assert share_in_hours(half_year, "BURGLARY", small_hours) > 0.35
    assert share_in_hours(half_year, "PICKPOCKETING", small_hours) < 0.05
    assert share_in_hours(half_year, "BURGLARY", small_hours) > 5 * share_in_hours(
        half_year, "PICKPOCKETING", small_hours
    )
    rush = [7, 8, 17, 18]  # 4 of 24 hours: a sixth of a flat day
    assert share_in_hours(half_year, "TRAFFIC_ACCIDENT", rush) > 0.3
    evening = range(18, 23)
    assert share_in_hours(half_year, "NEIGHBOUR_DISPUTE", evening) > 0.4
    assert share_in_hours(half_year, "TELECOM_FRAUD", evening) < 0.2


def cell_shares(frame: pd.DataFrame, code: str) -> pd.Series:
    chosen = frame[frame["category"] == code]
    cells = [h3.latlng_to_cell(y, x, 8) for x, y in zip(chosen.lon, chosen.lat, strict=True)]
    return pd.Series(cells).value_counts(normalize=True)


def total_variation(a: pd.Series, b: pd.Series) -> float:
    return 0.5 * float(a.sub(b, fill_value=0).abs().sum())


def test_categories_keep_their_places(half_year: pd.DataFrame) -> None:
    # Two categories with the same places (residential) share their cells far more than
    # pickpocketing (commercial centres) and burglary (residential compounds) do.
    alike = total_variation(
        cell_shares(half_year, "FAMILY_DISPUTE"), cell_shares(half_year, "NEIGHBOUR_DISPUTE")
    )
    apart = total_variation(
        cell_shares(half_year, "PICKPOCKETING"), cell_shares(half_year, "BURGLARY")
    )
    assert apart > alike + 0.25


def elongation(xy: np.ndarray, k: int = 60) -> float:
    """Median over points of the minor to major spread of their ``k`` nearest neighbours: near
    0 for points on lines, near 1 for points spread in the plane."""
    _, neighbours = cKDTree(xy).query(xy, k=k)
    local = xy[neighbours] - xy[neighbours].mean(axis=1, keepdims=True)
    spread = np.linalg.svd(local, compute_uv=False)
    return float(np.median(spread[:, 1] / spread[:, 0]))


def test_road_incidents_lie_along_lines(core: Polygon) -> None:
    roads_only = {"ROAD": CategoryProfile(1.0, (1.0,) * 24, {"road": 1.0})}
    frame = generate_incidents(
        core, START, END, seed=2, categories=roads_only, branching_ratio=0.0, trend_factor=1.0
    )
    lon, lat = uniform_points(core, len(frame), seed=5)
    assert elongation(metres_xy(pd.DataFrame({"lon": lon, "lat": lat}))) > 0.7
    assert elongation(metres_xy(frame)) < 0.45


def test_patterns_are_the_same_for_a_seed(core: Polygon, half_year: pd.DataFrame) -> None:
    again = generate_incidents(core, START, START + pd.Timedelta(days=180), seed=3)
    pd.testing.assert_frame_equal(half_year, again)
    other = generate_incidents(core, START, START + pd.Timedelta(days=180), seed=4)
    assert not other["category"].head(200).equals(half_year["category"].head(200))


def test_names_go_into_descriptions(core: Polygon) -> None:
    week = generate_incidents(
        core, START, START + pd.Timedelta(days=7), seed=1, names={"BURGLARY": "入室盗窃"}
    )
    burglaries = week.loc[week["category"] == "BURGLARY", "description"]
    assert len(burglaries) and burglaries.str.startswith("合成数据 入室盗窃 / synthetic").all()
    others = week.loc[week["category"] == "FIGHT", "description"]
    assert others.str.contains("合成数据 FIGHT / synthetic fight", regex=False).all()


def test_uniform_share_one_spreads_every_category(core: Polygon) -> None:
    flat = generate_incidents(core, START, END, seed=1, uniform_share=1.0, branching_ratio=0.0)
    area_cells = list(h3.geo_to_cells(core, 9))
    cells = pd.Series([h3.latlng_to_cell(y, x, 9) for x, y in zip(flat.lon, flat.lat, strict=True)])
    top = cells.value_counts().reindex(area_cells, fill_value=0).nlargest(len(area_cells) // 20)
    assert top.sum() / len(cells) < 0.2


def test_no_rate_gives_empty_frame_with_columns(core: Polygon, incidents: pd.DataFrame) -> None:
    empty = generate_incidents(core, START, END, seed=1, mean_per_day=0.0)
    assert empty.empty
    pd.testing.assert_series_equal(empty.dtypes, incidents.dtypes)


def test_no_hotspots_and_multipolygon_area() -> None:
    area = MultiPolygon([box(98.25, 39.75, 98.27, 39.77), box(98.30, 39.75, 98.32, 39.77)])
    frame = generate_incidents(area, START, END, seed=1, n_hotspots=0)
    assert len(frame) > 0
    assert shapely.contains_xy(area, frame["lon"], frame["lat"]).all()


def test_area_argument_is_not_modified(core: Polygon) -> None:
    area = Polygon(core.exterior.coords)
    generate_incidents(area, START, START + pd.Timedelta(days=3), seed=1)
    assert not shapely.is_prepared(area)
    assert area.equals_exact(core, tolerance=0)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"end": START}, GeoError, "end must be after start"),
        ({"start": pd.Timestamp("2024-01-01")}, GeoError, "start must be a timezone-aware"),
        ({"area": Polygon()}, InvalidBoundaryError, "empty"),
        ({"area": Point(98.3, 39.8)}, InvalidBoundaryError, "Polygon"),
        ({"area": box(500_000, 4_400_000, 510_000, 4_410_000)}, InvalidCoordinatesError, "lon/lat"),
        ({"mean_per_day": -1.0}, GeoError, "mean_per_day"),
        ({"branching_ratio": 1.0}, GeoError, "branching_ratio"),
        ({"seed": -1}, GeoError, "seed"),
        ({"timezone": "Mars/Olympus"}, GeoError, "timezone"),
        ({"categories": {}}, GeoError, "categories"),
        ({"categories": {"THEFT": -1.0}}, GeoError, "THEFT"),
        (
            {"categories": {"A": CategoryProfile(1.0, (1.0,) * 23, {"road": 1.0})}},
            GeoError,
            "hours of category 'A'",
        ),
        (
            {"categories": {"A": CategoryProfile(1.0, (1.0,) * 24, {"beach": 1.0})}},
            GeoError,
            "places of category 'A'",
        ),
        (
            {"categories": {"A": CategoryProfile(1.0, (1.0,) * 24, {"road": 0.0})}},
            GeoError,
            "must not all be zero",
        ),
        ({"uniform_share": 1.5}, GeoError, "uniform_share"),
        ({"mean_per_day": 1e9}, GeoError, "limit"),
    ],
)
def test_bad_arguments_raise(change: dict, error: type[Exception], message: str) -> None:
    arguments = {"area": box(98.25, 39.75, 98.33, 39.80), "start": START, "end": END, "seed": 1}
    with pytest.raises(error, match=message):
        generate_incidents(**(arguments | change))


def test_demo_window_is_whole_utc_days_before_now() -> None:
    now = pd.Timestamp("2024-06-30 05:20", tz="Asia/Shanghai")  # 2024-06-29 21:20 UTC
    start, end = demo_window(now, days=180)
    assert end == pd.Timestamp("2024-06-29", tz="UTC")
    assert end - start == pd.Timedelta(days=180)
    with pytest.raises(GeoError, match="timezone-aware"):
        demo_window(pd.Timestamp("2024-06-30"))
    with pytest.raises(GeoError, match="days"):
        demo_window(now, days=0)


# --- demo data -------------------------------------------------------------------------------


def test_urban_core_is_a_plausible_part_of_the_city(core: Polygon) -> None:
    properties = json.loads(URBAN_CORE.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert properties["name"] == "嘉峪关城区"
    assert properties["name_en"] == "Jiayuguan urban core"
    assert core.is_valid
    assert read_single_geometry(CITY_OUTLINE).contains(core)
    area_m2, _ = Geod(ellps="WGS84").geometry_area_perimeter(core)
    assert 60 < abs(area_m2) / 1e6 < 200
    assert core.contains(Point(98.29, 39.775))  # the city seat
    assert core.contains(Point(98.32, 39.80))  # the steel works


def test_stations_are_inside_the_urban_core(core: Polygon) -> None:
    stations = pd.read_csv(STATIONS, encoding="utf-8")
    assert list(stations.columns) == ["station_id", "name", "name_en", "lon", "lat", "units"]
    assert len(stations) == 5
    assert stations["station_id"].is_unique
    assert stations["name"].str.endswith("派出所").all()
    assert stations["units"].between(2, 4).all()
    assert shapely.contains_xy(core, stations["lon"], stations["lat"]).all()
