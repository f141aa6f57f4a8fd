"""The incident feed: JSON and CSV batches checked by the importer's code, idempotent by
source and record id, versioned updates, per-row outcomes in order, one transaction per
batch, and clear 4xx answers for bad input and bad tokens."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from shapely.geometry import box

from geo.coords import gcj02_from_wgs84
from web import create_app, storage
from web.services import feed as feed_service
from web.storage import feed as feed_store
from web.storage import tokens as token_store
from web.storage.schema import feed_runs, import_runs, incident_changes, incidents

# Every test that uses a database runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases()

# A small jurisdiction in Jiayuguan (China), where GCJ-02 is 300-500 m off WGS-84.
CITY = box(98.25, 39.75, 98.33, 39.81)


@pytest.fixture
def site(engine, db_url):
    """A site on its own database (CSRF checks on: the feed must not need them)."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield app
    app.extensions["engine"].dispose()


@pytest.fixture
def token(engine) -> str:
    return token_store.create_token(engine, "dispatch", "feed")[1]


def _rows(n: int = 3, category: str = "THEFT") -> list[dict]:
    return [
        {
            "incident_id": f"R{i}",
            "occurred_at": f"2020-05-0{i + 1}T10:00:00Z",
            "lon": -87.63 + i / 1000,
            "lat": 41.88,
            "category": category,
            "description": "ok",
        }
        for i in range(n)
    ]


def _post(site, token, body=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    if body is not None:
        kwargs["json"] = body
    return site.test_client().post("/api/feed/incidents", headers=headers, **kwargs)


def _batch(rows, **extra) -> dict:
    return {"source": "cad", "crs": "wgs84", "incidents": rows, **extra}


def _fingerprint(engine) -> dict:
    counts = storage.table_fingerprint(engine)
    with engine.connect() as conn:
        for table in (feed_runs, incident_changes):
            counts[table.name] = conn.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar()
        rows = conn.execute(sa.select(incidents).order_by(incidents.c.id)).all()
    counts["incident_rows"] = hash(tuple(map(tuple, rows)))
    return counts


def test_a_batch_is_stored_with_one_outcome_per_row_in_order(site, engine, token) -> None:
    rows = _rows(3)
    rows.insert(1, {**rows[0], "incident_id": "BAD", "occurred_at": "yesterday"})
    answer = _post(site, token, _batch(rows))
    assert answer.status_code == 200, answer.data
    body = answer.get_json()
    assert [o["row"] for o in body["outcomes"]] == [1, 2, 3, 4]
    assert [o["outcome"] for o in body["outcomes"]] == ["stored", "rejected", "stored", "stored"]
    assert body["outcomes"][1]["field"] == "occurred_at"
    assert "unparsable date/time" in body["outcomes"][1]["reason"]
    assert body["totals"] == {"stored": 3, "updated": 0, "unchanged": 0, "rejected": 1}
    assert storage.incident_count(engine) == 3
    with engine.connect() as conn:
        run = conn.execute(sa.select(import_runs).where(import_runs.c.id == body["run_id"])).one()
        feed = conn.execute(sa.select(feed_runs)).one()
        changes = conn.execute(sa.select(incident_changes)).all()
    assert run.file == "feed:cad" and run.source == "cad" and run.rows_read == 4
    assert (run.inserted, run.duplicates, run.rejected) == (3, 0, 1)
    assert feed.kind == "feed" and feed.token_id == token_store.find_token(engine, token).id
    assert len(changes) == 3 and all(c.old_run_id is None for c in changes)
    assert {str(c.incident_id) for c in changes} == {
        o["id"] for o in body["outcomes"] if o["outcome"] == "stored"
    }
    rejects = storage.list_rejects(engine, run_id=body["run_id"])
    assert list(rejects["line"]) == [2] and list(rejects["file"]) == ["feed:cad"]
    audit = storage.list_audit(engine, limit=10, action="feed")
    assert list(audit["username"]) == ["token:dispatch"]


def test_a_batch_sent_twice_stores_nothing_new(site, engine, token) -> None:
    rows = [*_rows(3), {"incident_id": "X", "occurred_at": "", "lon": 1, "lat": 2}]
    assert _post(site, token, _batch(rows)).status_code == 200
    before = _fingerprint(engine)
    again = _post(site, token, _batch(rows)).get_json()
    assert again["totals"] == {"stored": 0, "updated": 0, "unchanged": 3, "rejected": 1}
    after = _fingerprint(engine)
    # Only the second run's own rows are new: an import run and a feed run, no incident.
    assert after["import_runs"] == before["import_runs"] + 1
    assert after["feed_runs"] == before["feed_runs"] + 1
    for key in ("incidents", "incident_key_sum", "incident_rows", "incident_changes", "rejects"):
        assert after[key] == before[key], key


def test_a_changed_record_updates_the_incident_and_keeps_the_earlier_version(
    site, engine, token
) -> None:
    first = _post(site, token, _batch(_rows(2))).get_json()
    changed = _rows(2)
    changed[1]["category"] = "BATTERY"  # reclassified
    changed[1]["lon"] = -87.62  # and a corrected place
    second = _post(site, token, _batch(changed)).get_json()
    assert [o["outcome"] for o in second["outcomes"]] == ["unchanged", "updated"]
    assert storage.incident_count(engine) == 2
    incident_id = int(second["outcomes"][1]["id"])
    with engine.connect() as conn:
        row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).one()
        versions = conn.execute(
            sa.select(incident_changes)
            .where(incident_changes.c.incident_id == incident_id)
            .order_by(incident_changes.c.id)
        ).all()
        category = dict(conn.execute(sa.text("SELECT id, code FROM categories")).all())
    assert category[row.category_id] == "BATTERY" and row.lon == pytest.approx(-87.62)
    assert row.import_run_id == second["run_id"]
    assert [v.import_run_id for v in versions] == [first["run_id"], second["run_id"]]
    old = versions[1]
    assert old.old_run_id == first["run_id"] and old.old_source_id == "R1"
    assert category[old.old_category_id] == "THEFT" and old.old_lon == pytest.approx(-87.629)
    assert old.old_cell is not None and old.old_occurred_at == row.occurred_at


def test_a_failure_mid_batch_leaves_the_database_as_it_was(
    site, engine, token, monkeypatch
) -> None:
    _post(site, token, _batch(_rows(2)))
    before = _fingerprint(engine)
    changed = _rows(4, category="BATTERY")  # two updates, two new rows

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(feed_store, "_update_incidents", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _post(site, token, _batch(changed))
    assert _fingerprint(engine) == before


def test_csv_and_json_give_the_same_result(engine, db_url, tmp_path, token, site) -> None:
    rows = _rows(3)
    rows[2]["lat"] = "north"
    frame = pd.DataFrame(rows)
    csv = frame.to_csv(index=False)
    by_json = _post(site, token, _batch(rows)).get_json()
    # A second, empty database for the CSV (SQLite: on PostgreSQL, both databases must agree).
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    other = storage.make_engine(other_url)
    storage.init_db(other)
    storage.set_meta(other, storage.get_meta(engine))
    storage.store_categories(other, storage.load_categories_table(engine))
    other_site = create_app({"DATABASE_URL": other_url, "TESTING": True})
    other_token = token_store.create_token(other, "dispatch", "feed")[1]
    query = "?source=cad&crs=wgs84"
    by_csv = other_site.test_client().post(
        "/api/feed/incidents" + query, data=csv, content_type="text/csv",
        headers={"Authorization": f"Bearer {other_token}"},
    ).get_json()  # fmt: skip
    for answer in (by_json, by_csv):
        answer.pop("run_id")
    assert by_csv == by_json
    assert by_json["outcomes"][2]["outcome"] == "rejected"
    upload = _post(
        site, token, data={"file": (__import__("io").BytesIO(csv.encode()), "batch.csv")},
        query_string={"source": "cad", "crs": "wgs84"}, content_type="multipart/form-data",
    ).get_json()  # fmt: skip
    assert upload["totals"] == {"stored": 0, "updated": 0, "unchanged": 2, "rejected": 1}
    other.dispose()
    other_site.extensions["engine"].dispose()


def _jurisdiction(engine) -> None:
    frame = gpd.GeoDataFrame({"area_id": ["city"], "name": ["city"]}, geometry=[CITY], crs=4326)
    storage.store_areas(engine, "jurisdiction", frame, pd.DataFrame({"area_id": [], "cell": []}))


def _china_rows(lon, lat) -> list[dict]:
    return [
        {"incident_id": f"C{i}", "occurred_at": "2020-05-01T10:00:00+08:00", "lon": float(x),
         "lat": float(y), "category": "THEFT"}
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]  # fmt: skip


def _post_gcj02_places(site, engine, token, lon, lat, crs: str) -> dict:
    """Post WGS-84 places ``lon``, ``lat`` shifted to GCJ-02, labelled ``crs``, inside the test
    jurisdiction; the answer's JSON."""
    _jurisdiction(engine)
    gcj_lon, gcj_lat = gcj02_from_wgs84(lon, lat)
    return _post(site, token, _batch(_china_rows(gcj_lon, gcj_lat), crs=crs)).get_json()


def test_a_gcj02_batch_is_stored_at_the_right_wgs84_place(site, engine, token) -> None:
    lon = np.array([98.28, 98.29, 98.30])
    lat = np.array([39.77, 39.78, 39.79])
    answer = _post_gcj02_places(site, engine, token, lon, lat, crs="gcj02")
    assert answer["totals"]["stored"] == 3 and answer["warnings"] == []
    with engine.connect() as conn:
        stored = conn.execute(sa.select(incidents.c.lon, incidents.c.lat)).all()
    got = np.array(sorted(stored))
    assert np.allclose(got[:, 0], lon, atol=1e-7) and np.allclose(got[:, 1], lat, atol=1e-7)


def test_gcj02_sent_as_wgs84_just_outside_is_rejected_with_a_note(site, engine, token) -> None:
    # Just inside the north-eastern corner: GCJ-02 shifts them about 100 m north-east here,
    # beyond the 50 m tolerance, so read as WGS-84 they fall just outside.
    lon = np.array([98.3299, 98.3298, 98.3299])
    lat = np.array([39.8099, 39.8099, 39.8098])
    answer = _post_gcj02_places(site, engine, token, lon, lat, crs="wgs84")
    assert answer["totals"]["rejected"] == 3
    assert {o["reason"] for o in answer["outcomes"]} == {"outside the jurisdiction boundary"}
    assert "As GCJ-02 3 of them would be inside" in answer["warnings"][0]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"source": "cad", "crs": "wgs84", "incidents": {}}, 400, "'incidents' is a list"),
        ({"source": "cad", "crs": "wgs84", "incidents": [1]}, 400, "row 1 of 'incidents' is not"),
        ({"source": "cad", "crs": "wgs84", "incidents": []}, 400, "no incidents"),
        ({"source": "cad", "crs": "wgs84", "incidents": [{"lon": [1]}]}, 400, "is a list"),
        ({"source": "cad", "crs": "wgs84", "incidents": [{"lon": {}}]}, 400, "is an object"),
        ({"source": "cad", "crs": "wgs84", "incidents": [{"lon": True}]}, 400, "true/false"),
        ({"source": "cad", "crs": "wgs84", "incidents": _rows(1), "extra": 1}, 400, "'extra'"),
        ({"crs": "wgs84", "incidents": _rows(1)}, 400, "'source' is required"),
        ({"source": "cad", "incidents": _rows(1)}, 400, "'crs' is required"),
        ({"source": "cad", "crs": "EPSG:99999", "incidents": _rows(1)}, 400, "'crs'"),
        ({"source": "cad", "crs": "wgs84", "preset": "x", "incidents": _rows(1)}, 400, "preset"),
        ({"source": "cad", "crs": "wgs84", "mapping": {"colour": "c"}, "incidents": _rows(1)},
         400, "unknown field(s) colour"),
        ({"source": "cad", "crs": "wgs84", "incidents": [{"x": 1}]}, 400, "no row has"),
        ([1, 2], 400, "JSON object"),
        ({"source": "cad", "crs": "wgs84", "incidents": [{}] * 5001}, 413, "at most 5000"),
    ],
)  # fmt: skip
def test_bad_batches_are_refused_and_nothing_is_stored(
    site, engine, token, body, status, message
) -> None:
    before = _fingerprint(engine)
    answer = _post(site, token, body)
    assert answer.status_code == status, answer.data
    error = answer.get_json()
    assert error["status"] == status and message in error["error"], error
    assert _fingerprint(engine) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (b'{"source": "cad", "incidents": [', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "not valid JSON"),
        (b"source=cad", "application/x-www-form-urlencoded", 415, "send JSON"),
        (b"", "text/csv", 400, "'source' is required"),
    ],
)
def test_unreadable_bodies_are_refused(site, engine, token, data, content_type, status, message):
    answer = _post(site, token, data=data, content_type=content_type)
    assert answer.status_code == status
    assert message in answer.get_json()["error"]


def test_a_body_over_the_bound_is_413(site, token, monkeypatch) -> None:
    monkeypatch.setattr(feed_service, "MAX_BODY_BYTES", 1000)
    answer = _post(site, token, _batch(_rows(20)))
    assert answer.status_code == 413 and "at most" in answer.get_json()["error"]


def test_csv_errors_name_the_problem(site, token) -> None:
    query = {"source": "cad", "crs": "wgs84"}
    missing = _post(site, token, data="a,b\n1,2\n", content_type="text/csv", query_string=query)
    assert missing.status_code == 400 and "missing column(s)" in missing.get_json()["error"]
    unknown = _post(site, token, data="a\n1\n", content_type="text/csv",
                    query_string={**query, "colour": "red"})  # fmt: skip
    assert unknown.status_code == 400 and "colour" in unknown.get_json()["error"]


def test_tokens_reach_the_feed_only_with_scope_feed(site, engine, token) -> None:
    batch = _batch(_rows(1))
    client = site.test_client()
    none = client.post("/api/feed/incidents", json=batch)
    assert none.status_code == 401 and "Bearer" in none.get_json()["error"]
    assert _post(site, "hs_unknown", batch).status_code == 401
    read = token_store.create_token(engine, "reader", "read")[1]
    wrong = _post(site, read, batch)
    assert wrong.status_code == 403 and "scope 'read'" in wrong.get_json()["error"]
    assert _post(site, token, batch).status_code == 200  # CSRF checks are on: tokens are exempt
    token_store.revoke_token(engine, "dispatch")
    revoked = _post(site, token, batch)
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["error"]
    assert storage.incident_count(engine) == 1
    assert token_store.find_token(engine, token).last_used_at is not None


def test_store_feed_batch_takes_a_connection_and_kind_field(engine) -> None:
    frame = pd.DataFrame(
        {"key": [7], "source_id": ["F1"], "occurred_at": [1_600_000_000], "lon": [-87.6],
         "lat": [41.9], "cell": [617700169958293503], "category": ["THEFT"], "line": [1]}
    )  # fmt: skip
    with engine.begin() as conn:
        batch = feed_store.rows_batch(frame, source="field", file_sha256="0" * 64)
        result = feed_store.store_feed_batch(conn, batch, kind="field", token_id=None)
    assert result.stored == 1 and list(result.outcomes["outcome"]) == ["stored"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(feed_runs.c.kind)).scalar() == "field"
    with pytest.raises(ValueError, match="kind"):
        feed_store.store_feed_batch(engine, batch, kind="other")
    assert json.dumps(result.outcomes.to_dict("records"))
