"""API tokens: made once and stored hashed, listed, revoked (command line and admin page),
their last use written at most once a minute, their use audited, and each reaching only the
routes of its scope."""

from __future__ import annotations

import hashlib
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.web.conftest import login
from web import clock, create_app, storage
from web.cli import cli
from web.storage import tokens as token_store

# Every test runs on SQLite and on PostgreSQL (the demo too; tests/web/conftest.py).
pytestmark = pytest.mark.databases(demo=True)


@pytest.fixture
def fresh_app(db_url):
    """A site on its own database with one administrator (tests here add tokens)."""
    url = db_url
    env = {"HOTSPOT_DATABASE_URL": url}
    add = ["users", "add", "boss", "--role", "admin", "--password", "correct-horse"]
    result = CliRunner().invoke(cli, add, env=env)
    assert result.exit_code == 0, result.output
    app = create_app({"DATABASE_URL": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    yield app
    app.extensions["engine"].dispose()


def _actions(engine) -> list[str]:
    return list(storage.list_audit(engine, limit=100)["action"])


def test_a_token_is_stored_only_as_its_hash(engine) -> None:
    record, token = token_store.create_token(engine, "dispatch", "feed")
    assert token.startswith("hs_") and len(token) > 40
    assert record.hint == token[:8] and record.scope == "feed" and record.active
    with engine.connect() as conn:
        stored = conn.execute(storage.metadata.tables["api_tokens"].select()).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(stored))
    assert token_store.find_token(engine, token).id == record.id
    assert token_store.find_token(engine, token[:-1] + "x") is None
    assert token_store.find_token(engine, "not-a-token") is None


@pytest.mark.parametrize(
    ("name", "scope", "message"),
    [
        ("dispatch", "feed", "exists already"),
        ("DISPATCH", "read", "exists already"),
        ("x", "feed", "2 to 80"),
        ("bad name", "feed", "2 to 80"),
        ("other", "admin", "scope must be one of feed, read"),
    ],
)
def test_bad_token_names_and_scopes_are_refused(engine, name, scope, message) -> None:
    token_store.create_token(engine, "dispatch", "feed")
    with pytest.raises(ValueError, match=message):
        token_store.create_token(engine, name, scope)
    assert len(token_store.list_tokens(engine)) == 1


def test_revoking_keeps_the_record_and_refuses_the_token(engine) -> None:
    _record, token = token_store.create_token(engine, "dispatch", "feed")
    revoked = token_store.revoke_token(engine, "dispatch")
    assert revoked.revoked_at is not None and not revoked.active
    again = token_store.revoke_token(engine, "dispatch")
    assert again.revoked_at == revoked.revoked_at  # revoking twice changes nothing
    assert token_store.find_token(engine, token).revoked_at == revoked.revoked_at
    with pytest.raises(KeyError):
        token_store.revoke_token(engine, "nobody")


def test_last_use_is_written_at_most_once_a_minute(engine) -> None:
    record, _token = token_store.create_token(engine, "dispatch", "feed")
    start = pd.Timestamp("2025-06-01T12:00:00Z")
    with clock.frozen(start):
        assert token_store.record_token_use(engine, record.id, "10.0.0.1")
        assert not token_store.record_token_use(engine, record.id, "10.0.0.2")
    with clock.frozen(start + pd.Timedelta(seconds=59)):
        assert not token_store.record_token_use(engine, record.id, "10.0.0.3")
    used = token_store.get_token(engine, record.id)
    assert used.last_used_at == int(start.timestamp()) and used.last_used_ip == "10.0.0.1"
    with clock.frozen(start + pd.Timedelta(seconds=60)):
        assert token_store.record_token_use(engine, record.id, "10.0.0.4")
    assert token_store.get_token(engine, record.id).last_used_ip == "10.0.0.4"


def test_cli_adds_lists_and_revokes_tokens(engine, cli_env) -> None:
    runner = CliRunner()
    added = runner.invoke(cli, ["tokens", "add", "dispatch", "--scope", "feed"], env=cli_env)
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("hs_")
    assert "not shown again" in added.stderr
    assert token_store.find_token(engine, token).name == "dispatch"
    listing = runner.invoke(cli, ["tokens", "list"], env=cli_env)
    assert "dispatch" in listing.output and token[:8] in listing.output
    assert token not in listing.output and "never" in listing.output
    assert "active" in runner.invoke(cli, ["tokens"], env=cli_env).output
    twice = runner.invoke(cli, ["tokens", "add", "dispatch", "--scope", "read"], env=cli_env)
    assert twice.exit_code == 2 and "exists already" in twice.output
    bad_scope = runner.invoke(cli, ["tokens", "add", "x2", "--scope", "all"], env=cli_env)
    assert bad_scope.exit_code == 2
    revoked = runner.invoke(cli, ["tokens", "revoke", "dispatch"], env=cli_env)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in runner.invoke(cli, ["tokens", "list"], env=cli_env).output
    unknown = runner.invoke(cli, ["tokens", "revoke", "nobody"], env=cli_env)
    assert unknown.exit_code == 2 and "no token named 'nobody'" in unknown.output
    assert {"token_created", "token_revoked"} <= set(_actions(engine))


def test_admin_page_shows_a_new_token_once_and_revokes_with_confirmation(fresh_app) -> None:
    engine = fresh_app.extensions["engine"]
    client = fresh_app.test_client()
    login(client, "boss", "correct-horse")
    assert b"/admin/tokens" in client.get("/admin/users").data  # linked from the admin pages
    made = client.post("/admin/tokens", data={"name": "dispatch", "scope": "feed"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="token-value">(hs_[^<]+)<', made.get_data(as_text=True)).group(1)
    record = token_store.find_token(engine, token)
    assert (
        record.name == "dispatch"
        and record.created_by == storage.get_user_by_name(engine, "boss").id
    )
    page = client.get("/admin/tokens").get_data(as_text=True)
    assert "dispatch" in page and token[:8] in page and token not in page
    bad = client.post("/admin/tokens", data={"name": "x", "scope": "feed"}, follow_redirects=True)
    assert b"was not made" in bad.data and len(token_store.list_tokens(engine)) == 1
    # Revoking asks for the name: without it nothing changes.
    unconfirmed = client.post(f"/admin/tokens/{record.id}/revoke", data={"confirm": "dispa"})
    assert unconfirmed.status_code == 302
    assert token_store.get_token(engine, record.id).active
    done = client.post(f"/admin/tokens/{record.id}/revoke", data={"confirm": "dispatch"})
    assert done.status_code == 302
    assert not token_store.get_token(engine, record.id).active
    assert client.post("/admin/tokens/999/revoke", data={"confirm": "x"}).status_code == 404
    entries = storage.list_audit(engine, limit=50)
    created = entries[entries["action"] == "token_created"]
    assert list(created["username"]) == ["boss"] and token not in created["detail"].iloc[0]
    assert "token_revoked" in set(entries["action"])


def test_other_roles_cannot_see_tokens(client_as) -> None:
    for role in ("commander", "planner", "grid_worker"):
        assert client_as(role).get("/admin/tokens").status_code == 403


@pytest.fixture
def read_token(app) -> str:
    engine = app.extensions["engine"]
    name = f"reader-{len(token_store.list_tokens(engine))}"
    return token_store.create_token(engine, name, "read")[1]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_read_token_reads_the_api_as_a_commander(app, read_token) -> None:
    engine = app.extensions["engine"]
    client = app.test_client()
    answer = client.get("/api/cells?limit=3", headers=_bearer(read_token))
    assert answer.status_code == 200 and len(answer.get_json()["cells"]) == 3
    session = client.get("/api/session", headers=_bearer(read_token)).get_json()
    assert session["role"] == "commander" and session["username"].startswith("token:reader")
    assert client.get("/api/plans", headers=_bearer(read_token)).status_code == 200
    record = token_store.find_token(engine, read_token)
    assert record.last_used_at is not None
    used = storage.list_audit(engine, limit=20, action="token_used")
    assert (used["username"] == f"token:{record.name}").sum() == 1  # once a minute, not per call


def test_a_read_token_reaches_no_write_and_no_page(app, read_token) -> None:
    client = app.test_client()
    posted = client.post("/api/checkins", json={}, headers=_bearer(read_token))
    assert posted.status_code == 403 and "only GET" in posted.get_json()["error"]
    page = client.get("/command/hotspots", headers=_bearer(read_token))
    assert page.status_code == 302 and "/login" in page.location
    feed = client.post("/api/feed/incidents", json={}, headers=_bearer(read_token))
    assert feed.status_code == 403 and "scope 'read'" in feed.get_json()["error"]


def test_unknown_revoked_and_wrong_scope_tokens_are_refused(app) -> None:
    engine = app.extensions["engine"]
    client = app.test_client()
    _rec, feed_token = token_store.create_token(engine, "feeder-scope", "feed")
    wrong = client.get("/api/cells", headers=_bearer(feed_token))
    assert wrong.status_code == 403
    assert "scope 'feed'" in wrong.get_json()["error"]
    unknown = client.get("/api/cells", headers=_bearer("hs_" + "x" * 43))
    assert unknown.status_code == 401 and "unknown API token" in unknown.get_json()["error"]
    _rec, token = token_store.create_token(engine, "reader-revoked", "read")
    assert client.get("/api/cells", headers=_bearer(token)).status_code == 200
    token_store.revoke_token(engine, "reader-revoked")
    revoked = client.get("/api/cells", headers=_bearer(token))
    assert revoked.status_code == 401 and "revoked" in revoked.get_json()["error"]
    assert client.get("/api/cells").status_code == 401  # no token, no session
