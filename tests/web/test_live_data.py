"""The site follows live data: runs logged row by row (feed batches, accepted field reports)
bring the in-memory incidents up to date in place, a file import makes them read again, and
scores follow the score runs, not every batch (web.storage.live, web.services.site_data)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sqlalchemy as sa

from web import clock, storage
from web.services import site_data as hd
from web.services.filters import Filters
from web.services.scores import cell_scores
from web.storage import schema
from web.storage.schema import feed_runs, import_runs, incident_changes, incidents

# Every test runs on the demo in SQLite and in PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)

PER_INCIDENT = ("occurred_at", "cell_index", "category_index", "cell_ids", "cell_starts")
# The columns of an incident a change keeps the earlier version of (incident_changes.old_*).
VERSIONED = ("source_id", "occurred_at", "lon", "lat", "cell", "category_id", "detail_id")
LOAD = hd.load_site_data  # reading everything (tests count the site's own calls)


@pytest.fixture
def engine(demo_copy_url):
    """A copy of the demo database of this test's own (the tests write to it)."""
    engine = storage.make_engine(demo_copy_url)
    with engine.begin() as conn:  # other tests run scores on the demo database
        conn.execute(sa.delete(schema.score_runs))
    return engine


def _run(conn, logged: bool) -> int:
    """An import run (a feed run when ``logged``)."""
    now = int(clock.now_s())
    run_id = conn.execute(
        sa.insert(import_runs).values(
            file="feed:test",
            file_sha256="0" * 64,
            source="test",
            started_at=now,
            finished_at=now,
            rows_read=0,
            inserted=0,
            duplicates=0,
            rejected=0,
        )  # fmt: skip
    ).inserted_primary_key[0]
    if logged:
        conn.execute(sa.insert(feed_runs).values(import_run_id=run_id, kind="feed"))
    return int(run_id)


def _feed_batch(engine, site, rng, logged: bool = True) -> None:
    """Store 5 new incidents (one in a study cell without any yet) and change 3 stored ones
    (time, cell and category), logging each change as the feed does."""
    stored = storage.load_incidents(engine)
    category_ids = storage.load_categories_table(engine)["id"].to_numpy()
    empty = int(np.setdiff1d(site.cells, site.cell_ids)[0])
    with engine.begin() as conn:
        run_id = _run(conn, logged)
        ids = conn.execute(sa.select(incidents.c.id, incidents.c.import_run_id)).all()
        for i in range(5):
            key = int(rng.integers(1, 2**62))
            cell = empty if i == 0 else int(rng.choice(site.cell_ids))
            conn.execute(
                sa.insert(incidents).values(
                    id=key,
                    import_run_id=run_id,
                    source_id=f"new-{i}",
                    occurred_at=int(site.last_s) - int(rng.integers(0, 86_400)),
                    lon=0.0,
                    lat=0.0,
                    cell=cell,
                    category_id=int(rng.choice(category_ids)),
                )  # fmt: skip
            )
            if logged:
                conn.execute(
                    sa.insert(incident_changes).values(import_run_id=run_id, incident_id=key)
                )
        for key, old_run in (ids[int(j)] for j in rng.choice(len(ids), 3, replace=False)):
            old = conn.execute(sa.select(incidents).where(incidents.c.id == key)).one()
            if logged:
                replaced = {f"old_{name}": getattr(old, name) for name in VERSIONED}
                conn.execute(
                    sa.insert(incident_changes).values(
                        import_run_id=run_id, incident_id=key, old_run_id=old_run, **replaced
                    )
                )
            conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == key)
                .values(
                    import_run_id=run_id,
                    occurred_at=old.occurred_at - 3_600,
                    cell=int(rng.choice(stored["cell"].to_numpy())),
                    category_id=int(rng.choice(category_ids)),
                )
            )


def _fresh(engine, data):
    return LOAD(engine, data.source, data.version)


def _loads(monkeypatch) -> list:
    calls: list = []

    def counted(*args, **kwargs):
        calls.append(args)
        return LOAD(*args, **kwargs)

    monkeypatch.setattr(hd, "load_site_data", counted)
    return calls


def test_feed_batches_update_the_data_in_place(engine, monkeypatch) -> None:
    rng = np.random.default_rng(5)
    site = hd.site_data(engine)
    assert len(site.hour) == site.n_incidents  # local fields worked out: carried along
    loads = _loads(monkeypatch)
    for _ in range(3):  # batches that build on each other, one update changing a new row
        _feed_batch(engine, site, rng)
        current = hd.site_data(engine)
        assert current.version != site.version
        fresh = _fresh(engine, current)
        for name in PER_INCIDENT:
            assert np.array_equal(getattr(current, name), getattr(fresh, name)), name
        assert np.array_equal(current.hour, fresh.hour)
        site = current
    assert loads == []  # never read whole
    assert site.n_incidents == _fresh(engine, site).n_incidents


def test_a_file_import_in_between_reads_everything_again(engine, monkeypatch) -> None:
    rng = np.random.default_rng(6)
    site = hd.site_data(engine)
    loads = _loads(monkeypatch)
    _feed_batch(engine, site, rng, logged=False)
    current = hd.site_data(engine)
    assert len(loads) == 1
    for name in PER_INCIDENT:
        assert np.array_equal(getattr(current, name), getattr(_fresh(engine, current), name))


def test_scores_follow_the_score_runs_not_every_batch(engine) -> None:
    rng = np.random.default_rng(7)
    site = hd.site_data(engine)
    before = cell_scores(site, Filters())
    _feed_batch(engine, site, rng)
    fed = hd.site_data(engine)
    assert fed.scores_key == site.scores_key and fed.scores_as_of_s == site.scores_as_of_s
    assert cell_scores(fed, Filters()) is before  # the batch did not rescore
    run = storage.start_score_run(engine, "demand")
    storage.finish_score_run(engine, run)
    scored = hd.site_data(engine)
    assert scored.scores_key != fed.scores_key and scored.scores_key[1] == run
    assert scored.occurred_at is fed.occurred_at  # the same data, newly keyed
    after = cell_scores(scored, Filters())
    assert after is not before
    assert storage.latest_score_run(engine).id == run


def test_score_run_command_and_schedule(engine, monkeypatch) -> None:
    from click.testing import CliRunner

    from web.cli import cli
    from web.services.score_runs import ScoreSchedule

    site = hd.site_data(engine)
    env = {"HOTSPOT_DATABASE_URL": str(engine.url)}
    result = CliRunner().invoke(cli, ["score-run"], env=env)
    assert result.exit_code == 0, result.output
    first = storage.latest_score_run(engine)
    assert first is not None and first.trigger == "demand" and first.status == "done"
    assert f"score run {first.id}" in result.output
    assert hd.site_data(engine).scores_key[1] == first.id != site.scores_key[1]
    schedule = ScoreSchedule(engine, interval_min=0.005).start()  # every 0.3 s
    try:
        for _ in range(100):
            latest = storage.latest_score_run(engine)
            if latest.id != first.id:
                break
            time.sleep(0.1)
    finally:
        schedule.stop()
    assert latest.trigger == "schedule" and latest.id > first.id
    with pytest.raises(ValueError, match="interval_min"):
        ScoreSchedule(engine, 0)


def test_a_failed_score_run_says_why_and_keeps_the_last_good_one(engine, monkeypatch) -> None:
    from web.services import score_runs

    good = score_runs.run_scores(engine, "demand")

    def broken(*_args, **_kwargs):
        raise ValueError("no jurisdiction boundary stored")

    monkeypatch.setattr("web.services.map_layers.map_layers", broken)
    with pytest.raises(ValueError, match="boundary"):
        score_runs.run_scores(engine, "demand")
    assert storage.latest_score_run(engine).id == good.id
    with engine.connect() as conn:
        failed = conn.execute(
            sa.text("SELECT status, detail FROM score_runs ORDER BY id DESC LIMIT 1")
        ).one()
    assert failed.status == "failed" and "boundary" in failed.detail


def test_the_hotspot_map_says_when_scores_were_computed(engine, monkeypatch) -> None:
    from bs4 import BeautifulSoup

    from tests.web.conftest import login
    from web import create_app

    # The button queues a score run for a worker and waits a while for it: here until it is
    # done, however busy the machine (tests/web/test_job_kinds.py covers the other case).
    monkeypatch.setattr("web.views.commander.SCORE_RUN_WAIT_S", 600.0)

    app = create_app({"DATABASE_URL": str(engine.url), "TESTING": True, "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    assert login(client, "commander").status_code == 302

    def note() -> str:
        page = BeautifulSoup(client.get("/command/hotspots").data, "html.parser")
        return page.select_one('[data-section="scores-computed"]').get_text(" ", strip=True)

    assert "no score run yet" in note()
    answer = client.post("/command/scores/run?model=naive")
    assert answer.status_code == 302 and "model=naive" in answer.headers["Location"]
    run = storage.latest_score_run(engine)
    assert run is not None and run.trigger == "demand"
    text = note()
    assert text.startswith("Forecast scores computed") and "no score run" not in text
    with engine.connect() as conn:
        actions = conn.execute(sa.text("SELECT action, detail FROM audit_log")).all()
    assert ("score_run", f"run {run.id}") in [tuple(a) for a in actions]
    planner = app.test_client()
    assert login(planner, "planner").status_code == 302
    assert planner.post("/command/scores/run").status_code == 403
    page = BeautifulSoup(planner.get("/command/hotspots").data, "html.parser")
    assert page.select_one('[data-section="run-scores"]') is None
