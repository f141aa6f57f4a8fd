"""Accounts: login, logout, throttling, CSRF, cookies, admin pages, CLI and the audit log."""

from __future__ import annotations

import re
import secrets

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from geo.cells import cells_from_hex
from tests.web.conftest import PASSWORDS, login
from web import clock, create_app, storage
from web.cli import cli
from web.services import accounts as auth
from web.storage.schema import login_throttle

# Every test that uses a database runs on SQLite and on PostgreSQL (tests/web/conftest.py).
pytestmark = pytest.mark.databases()


@pytest.fixture
def fresh_app(db_url, monkeypatch):
    """A site on its own demo-less database with one admin (tests here change accounts).

    Refusals are audited at most once a minute per address and process: the site starts
    with none audited yet, as a new process would (the same test ran on the other database).
    """
    monkeypatch.setattr("web.views.access._last_refusal", {})
    url = db_url
    env = {"HOTSPOT_DATABASE_URL": url}
    result = CliRunner().invoke(
        cli, ["users", "add", "boss", "--role", "admin", "--password", "correct-horse"], env=env
    )
    assert result.exit_code == 0, result.output
    app = create_app({"DATABASE_URL": url, "TESTING": True, "LOGIN_MAX_FAILURES": 3})
    yield app
    app.extensions["engine"].dispose()


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path).data.decode()
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:300]
    return match.group(1)


def test_login_needs_the_csrf_token(fresh_app) -> None:
    client = fresh_app.test_client()
    response = client.post("/login", data={"username": "boss", "password": "correct-horse"},
                           headers={"Accept-Language": "en"})  # fmt: skip
    assert response.status_code == 400
    assert b"Reload the page" in response.data
    chinese = client.post("/login", data={"username": "boss", "password": "correct-horse"},
                          headers={"Accept-Language": "zh-CN"})  # fmt: skip
    assert chinese.status_code == 400 and "请刷新页面" in chinese.get_data(as_text=True)
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": "boss", "password": "correct-horse", "csrf_token": token}
    )
    assert response.status_code == 302 and response.location.endswith("/admin/users")


def test_passwords_are_hashed_and_wrong_ones_refused(fresh_app) -> None:
    engine = fresh_app.extensions["engine"]
    record = storage.get_user_by_name(engine, "boss")
    assert record is not None
    assert "correct-horse" not in record.password_hash
    assert record.password_hash.startswith("scrypt:")
    client = fresh_app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": "boss", "password": "wrong-horse", "csrf_token": token}
    )
    assert response.status_code == 401
    assert client.get("/admin/users").status_code == 302  # still logged out


def _post_login(client, username: str, password: str):
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    return client.post("/login", data=data)


def test_failed_logins_slow_down_without_locking_out_the_real_user(fresh_app) -> None:
    """3 free attempts per name (fresh_app), then waits of 2, 4, 8... s (LOGIN_DELAY_S): the
    real user waits a moment and gets in; a guesser slows to a crawl. Audited."""
    client = fresh_app.test_client()
    with clock.frozen("2027-05-01T10:00:00Z"):
        for _ in range(3):
            assert _post_login(client, "boss", "guess-guess").status_code == 401
        refused = _post_login(client, "boss", "correct-horse")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
        assert client.get("/admin/users").status_code == 302
    with clock.frozen("2027-05-01T10:00:02Z"):
        assert _post_login(client, "BOSS", "guess-guess").status_code == 401  # names: any case
        assert _post_login(client, "boss", "correct-horse").headers["Retry-After"] == "4"
    with clock.frozen("2027-05-01T10:00:06Z"):
        assert _post_login(client, "boss", "correct-horse").status_code == 302
    entries = storage.list_audit(fresh_app.extensions["engine"])
    assert list(entries["action"]).count("login_failed") == 4
    assert "login_throttled" in set(entries["action"]) and "login" in set(entries["action"])


def test_one_address_gets_more_tries_than_one_name(fresh_app) -> None:
    client = fresh_app.test_client()
    with clock.frozen("2027-05-01T11:00:00Z"):
        # 3 free attempts per name, 4 x 3 per address: 11 failures over four names pass.
        for i in range(11):
            assert _post_login(client, f"nobody{i % 4}", "guess-guess").status_code == 401
        # A successful login does not count against the address (a station shares one).
        for _ in range(3):
            assert _post_login(client, "boss", "correct-horse").status_code == 302
            client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/users")})
        assert _post_login(client, "nobody", "guess-guess").status_code == 401  # the 12th
        assert _post_login(client, "boss", "correct-horse").status_code == 429  # 13th waits


def test_concurrent_guesses_are_counted_one_by_one(fresh_app) -> None:
    """40 wrong passwords at once: only the free 3 are checked, the rest wait (the attempt is
    claimed atomically before the password is checked)."""
    from concurrent.futures import ThreadPoolExecutor

    app = create_app({"DATABASE_URL": str(fresh_app.config["DATABASE_URL"]), "TESTING": True,
                      "WTF_CSRF_ENABLED": False, "LOGIN_MAX_FAILURES": 3})  # fmt: skip

    def guess(_i: int) -> int:
        data = {"username": "boss", "password": "guess-guess"}
        return app.test_client().post("/login", data=data).status_code

    with clock.frozen("2027-05-01T12:00:00Z"), ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes.count(401) == 3 and codes.count(429) == 37


def test_many_names_from_one_address_at_once_never_deadlock(fresh_app) -> None:
    """50 log-ins at once from one address under different names (a station's shift change):
    every attempt is claimed and counted, none fails on the database (PostgreSQL once
    detected deadlocks when a throttle row's insert raced another log-in's update)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = fresh_app.extensions["engine"]

    def claim(i: int) -> int:
        # Rounds of 50, each from a new address, so the address's row is inserted in the race.
        keys = {f"name:user{i % 50}": 5, f"ip:10.1.2.{i // 50}": 1000}
        return storage.claim_login_attempt(engine, keys, 900, 2, 300)

    with clock.frozen("2027-05-01T13:00:00Z"), ThreadPoolExecutor(25) as pool:
        waits = list(pool.map(claim, range(200)))
    assert waits == [0] * 200
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(login_throttle.c.key, login_throttle.c.attempts)).all())
    assert [rows[f"ip:10.1.2.{r}"] for r in range(4)] == [50] * 4
    assert all(rows[f"name:user{i}"] == 4 for i in range(50))


def test_session_cookie_is_http_only_and_secure_in_production(db_url) -> None:
    url = db_url
    runner = CliRunner()
    add = ["users", "add", "boss", "--role", "admin", "--password", "correct-horse"]
    assert runner.invoke(cli, add, env={"HOTSPOT_DATABASE_URL": url}).exit_code == 0
    app = create_app({"DATABASE_URL": url, "ENV": "production", "SECRET_KEY": secrets.token_hex(32),
                      "SESSION_COOKIE_SECURE": "auto", "WTF_CSRF_ENABLED": False})  # fmt: skip
    client = app.test_client()
    response = client.post("/login", data={"username": "boss", "password": "correct-horse"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_logout_is_a_post_and_ends_the_session(fresh_app) -> None:
    client = fresh_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "boss", "password": "correct-horse",
                                "csrf_token": token})  # fmt: skip
    assert client.get("/admin/users").status_code == 200
    assert client.get("/logout").status_code == 405
    token = csrf_token(client, "/admin/users")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/users").status_code == 302
    actions = list(storage.list_audit(fresh_app.extensions["engine"])["action"])
    assert actions[:2] == ["logout", "login"]


def test_login_only_follows_local_next_paths(app) -> None:
    client = app.test_client()
    data = {"username": "commander", "password": PASSWORDS["commander"]}
    outside = client.post("/login?next=//evil.example/x", data=data)
    assert "evil" not in outside.location
    client = app.test_client()
    inside = client.post("/login?next=/overview", data=data)
    assert inside.location.endswith("/overview")


def test_admin_creates_a_grid_worker_with_grids(fresh_app, tmp_path) -> None:
    engine = fresh_app.extensions["engine"]
    storage.init_db(engine)
    client = fresh_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "boss", "password": "correct-horse",
                                "csrf_token": token})  # fmt: skip
    token = csrf_token(client, "/admin/users")
    form = {"username": "w1", "password": "grid-pass-1", "role": "grid_worker",
            "grids": "G-404", "csrf_token": token}  # fmt: skip
    response = client.post("/admin/users", data=form, follow_redirects=True)
    assert b"Unknown grid id" in response.data or "未知".encode() in response.data
    assert storage.get_user_by_name(engine, "w1") is None  # nothing half-made
    form["grids"] = ""
    form["password"] = "short"
    client.post("/admin/users", data=form)
    assert storage.get_user_by_name(engine, "w1") is None
    form["password"] = "grid-pass-1"
    client.post("/admin/users", data=form)
    created = storage.get_user_by_name(engine, "w1")
    assert created is not None and created.role == "grid_worker"
    assert "user_created" in set(storage.list_audit(engine)["action"])


def test_admin_cannot_lock_themselves_out(fresh_app) -> None:
    engine = fresh_app.extensions["engine"]
    client = fresh_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "boss", "password": "correct-horse",
                                "csrf_token": token})  # fmt: skip
    boss = storage.get_user_by_name(engine, "boss")
    assert boss is not None
    token = csrf_token(client, f"/admin/users/{boss.id}")
    client.post(f"/admin/users/{boss.id}", data={"role": "planner", "csrf_token": token})
    after = storage.get_user_by_name(engine, "boss")
    assert after is not None and after.role == "admin" and after.active


def test_demo_grid_workers_have_different_grids(demo_db) -> None:
    engine = storage.make_engine(demo_db)
    one = storage.get_user_by_name(engine, "grid1")
    two = storage.get_user_by_name(engine, "grid2")
    assert one is not None and two is not None
    grids_one = storage.user_grid_ids(engine, one.id)
    grids_two = storage.user_grid_ids(engine, two.id)
    assert len(grids_one) == 2 and len(grids_two) == 2
    assert not set(grids_one) & set(grids_two)
    cells = storage.user_cells(engine, one.id)
    assert len(cells) > 5 and not set(cells) & set(storage.user_cells(engine, two.id))


def test_disabled_accounts_cannot_log_in_and_lose_their_session(fresh_app) -> None:
    runner = CliRunner()
    env = {"HOTSPOT_DATABASE_URL": fresh_app.config["DATABASE_URL"]}
    add = ["users", "add", "p1", "--role", "planner", "--password", "plan-plan-1"]
    assert runner.invoke(cli, add, env=env).exit_code == 0
    client = fresh_app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "p1", "password": "plan-plan-1",
                                "csrf_token": token})  # fmt: skip
    assert client.get("/overview").status_code == 200
    assert runner.invoke(cli, ["users", "disable", "p1"], env=env).exit_code == 0
    assert client.get("/overview").status_code == 302
    listing = runner.invoke(cli, ["users"], env=env)
    assert "p1" in listing.output and "disabled" in listing.output


def test_cli_refuses_short_passwords_and_grids_for_other_roles(db_url) -> None:
    env = {"HOTSPOT_DATABASE_URL": db_url}
    runner = CliRunner()
    short = runner.invoke(cli, ["users", "add", "al", "--role", "admin", "--password", "short"],
                          env=env)  # fmt: skip
    assert short.exit_code == 2 and "at least 8 characters" in short.output
    grids = runner.invoke(cli, ["users", "add", "bo", "--role", "planner", "--grids", "G1",
                                "--password", "long-enough"], env=env)  # fmt: skip
    assert grids.exit_code == 2 and "only grid workers" in grids.output


def test_language_switch_is_remembered_for_the_account(app) -> None:
    client = app.test_client()
    login(client, "commander")
    with client.session_transaction() as session:
        session.pop("lang")
    client.post("/language", data={"lang": "zh", "next": "/overview"})
    page = client.get("/overview").data.decode()
    assert "退出" in page  # "Log out" in Chinese
    fresh = app.test_client()
    response = fresh.post("/login", data={"username": "commander",
                                          "password": PASSWORDS["commander"]})  # fmt: skip
    assert response.status_code == 302
    assert "退出" in fresh.get("/overview").data.decode()
    fresh.post("/language", data={"lang": "en"})
    assert "Log out" in fresh.get("/overview").data.decode()
    assert fresh.post("/language", data={"lang": "fr"}).status_code == 400


def test_serve_prints_the_demo_logins_and_refuses_them_in_production(demo_db, monkeypatch):
    import waitress

    served = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.append(kw))
    env = {"HOTSPOT_DATABASE_URL": demo_db}
    result = CliRunner().invoke(cli, ["serve", "--port", "5999"], env=env)
    assert result.exit_code == 0, result.output
    for username, password in PASSWORDS.items():
        assert f"{username}" in result.output and password in result.output
    assert served and served[0]["port"] == 5999
    production = {**env, "HOTSPOT_ENV": "production", "HOTSPOT_SECRET_KEY": secrets.token_hex(32)}
    refused = CliRunner().invoke(cli, ["serve"], env=production)
    assert refused.exit_code == 2 and "demo accounts exist" in refused.output
    assert len(served) == 1


# --- the account cache (web/services/accounts.py: read at most once per ACCOUNT_CACHE_S) ----


def _api_login(app, username: str, password: str):
    client = app.test_client()
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


def test_disabling_an_account_locks_it_out_at_once_though_accounts_are_cached(fresh_app):
    engine = fresh_app.extensions["engine"]
    user_id = storage.create_user(engine, "p2", auth.hash_password("plan-plan-2"), "planner")
    client = _api_login(fresh_app, "p2", "plan-plan-2")
    assert client.get("/api/session").status_code == 200
    assert client.get("/api/session").status_code == 200  # now from the cache
    # A write from another engine of this process (the CLI's, an admin page's) clears it.
    other = storage.make_engine(fresh_app.config["DATABASE_URL"])
    storage.update_user(other, user_id, active=False)
    other.dispose()
    assert client.get("/api/session").status_code == 401
    # Enabling the account again does not revive the old session: it was ended.
    storage.update_user(engine, user_id, active=True, role="commander")
    assert client.get("/api/session").status_code == 401
    again = _api_login(fresh_app, "p2", "plan-plan-2")
    assert again.get("/api/session").get_json()["role"] == "commander"


def _cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app, value: str):
    client = app.test_client()
    client.set_cookie("session", value)
    return client


def test_logout_ends_the_session_on_the_server_too(fresh_app) -> None:
    """A copy of the cookie taken before logging out opens nothing afterwards."""
    client = _api_login(fresh_app, "boss", "correct-horse")
    copy = _cookie(client)
    assert _with_cookie(fresh_app, copy).get("/api/session").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/users")})
    assert _with_cookie(fresh_app, copy).get("/api/session").status_code == 401


@pytest.mark.parametrize("change", ["password", "role", "disable"])
def test_an_account_change_ends_all_its_sessions(fresh_app, change) -> None:
    engine = fresh_app.extensions["engine"]
    user_id = storage.create_user(engine, "p4", auth.hash_password("plan-plan-4"), "planner")
    phone = _cookie(_api_login(fresh_app, "p4", "plan-plan-4"))
    desk = _cookie(_api_login(fresh_app, "p4", "plan-plan-4"))
    admin = _api_login(fresh_app, "boss", "correct-horse")
    form = {"role": "planner", "active": "on", "display_name": "", "grids": "",
            "password": "", "csrf_token": csrf_token(admin, f"/admin/users/{user_id}")}  # fmt: skip
    form |= {"password": {"password": "a-new-password"}, "role": {"role": "commander"},
             "disable": {"active": ""}}[change]  # fmt: skip
    assert admin.post(f"/admin/users/{user_id}", data=form).status_code == 302
    for cookie in (phone, desk):
        assert _with_cookie(fresh_app, cookie).get("/api/session").status_code == 401
    # Saving the form with nothing that matters changed keeps sessions.
    keep = _cookie(_api_login(fresh_app, "boss", "correct-horse"))
    storage.update_user(engine, 1, display_name="The boss")
    assert _with_cookie(fresh_app, keep).get("/api/session").status_code == 200


def test_sessions_end_after_their_lifetime_and_when_idle(fresh_app) -> None:
    with clock.frozen("2027-06-01T08:00:00Z"):
        client = _api_login(fresh_app, "boss", "correct-horse")
    # Busy all day: activity every hour does not extend the 12-hour lifetime.
    for hour in range(1, 12):
        with clock.frozen(f"2027-06-01T{8 + hour:02d}:00:00Z"):
            assert client.get("/api/session").status_code == 200
    with clock.frozen("2027-06-01T20:00:00Z"):
        assert client.get("/api/session").status_code == 401
    with clock.frozen("2027-06-02T08:00:00Z"):
        idle = _api_login(fresh_app, "boss", "correct-horse")
    with clock.frozen("2027-06-02T09:59:00Z"):  # 119 minutes later: still in
        assert idle.get("/api/session").status_code == 200
    with clock.frozen("2027-06-02T12:00:00Z"):  # 121 minutes after the last request
        assert idle.get("/api/session").status_code == 401


def test_a_change_by_another_process_shows_once_the_cache_expires(fresh_app, monkeypatch):
    engine = fresh_app.extensions["engine"]
    user_id = storage.create_user(engine, "p3", auth.hash_password("plan-plan-3"), "planner")
    client = _api_login(fresh_app, "p3", "plan-plan-3")
    monkeypatch.setattr(auth._accounts, "ttl_s", 3600.0)
    assert client.get("/api/session").status_code == 200
    # Another process (`hotspot users disable` beside the running site) writes without this
    # process's engines seeing it: the cached account stays until ACCOUNT_CACHE_S passes.
    # The driver's own connection: SQLAlchemy's write notifications do not see it.
    other = storage.make_engine(fresh_app.config["DATABASE_URL"])
    raw = other.raw_connection()
    try:
        raw.cursor().execute(f"UPDATE users SET active = FALSE WHERE id = {int(user_id)}")
        raw.commit()
    finally:
        raw.close()
        other.dispose()
    assert client.get("/api/session").status_code == 200
    monkeypatch.setattr(auth._accounts, "ttl_s", 0.0)  # the bound has passed
    assert client.get("/api/session").status_code == 401


def test_a_grid_workers_new_grids_apply_at_once(fresh_app, tmp_path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    engine = fresh_app.extensions["engine"]
    polygons = gpd.GeoDataFrame(
        {"area_id": ["G1", "G2"], "name": ["one", "two"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    cells = pd.DataFrame({"area_id": ["G1", "G2", "G2"], "cell": cells_from_hex(
        ["8928308280fffff", "8928308280bffff", "89283082807ffff"])})  # fmt: skip
    storage.store_areas(engine, "grid", polygons, cells, source="test")
    user_id = storage.create_user(engine, "w1", auth.hash_password("grid-grid-1"), "grid_worker")
    storage.set_user_grids(engine, user_id, ["G1"])
    client = _api_login(fresh_app, "w1", "grid-grid-1")
    assert client.get("/api/session").get_json()["cells"] == ["8928308280fffff"]
    storage.set_user_grids(engine, user_id, ["G2"])
    assert sorted(client.get("/api/session").get_json()["cells"]) == [
        "89283082807ffff",
        "8928308280bffff",
    ]


def test_a_failed_admin_form_changes_nothing(fresh_app, tmp_path) -> None:
    """Issue 12, row 10: an account form refused for one field leaves every other field (the
    grids, the role, the password) as it was."""
    from werkzeug.security import check_password_hash

    engine = fresh_app.extensions["engine"]
    user_id = storage.create_user(engine, "w9", auth.hash_password("grid-grid-9"), "grid_worker")
    admin = _api_login(fresh_app, "boss", "correct-horse")
    token = csrf_token(admin, f"/admin/users/{user_id}")
    form = {"role": "grid_worker", "active": "on", "display_name": "Changed", "grids": "NOPE",
            "password": "a-new-password", "csrf_token": token}  # fmt: skip
    assert admin.post(f"/admin/users/{user_id}", data=form).status_code == 400
    record = storage.get_user(engine, user_id)
    assert record.display_name == "" and record.role == "grid_worker"
    assert check_password_hash(record.password_hash, "grid-grid-9")


def test_user_names_have_one_form_on_the_site_and_the_command_line(fresh_app) -> None:
    url = str(fresh_app.config["DATABASE_URL"])
    env = {"HOTSPOT_DATABASE_URL": url}
    bad = ["users", "add", "<b>x</b>", "--role", "planner", "--password", "long-enough"]
    result = CliRunner().invoke(cli, bad, env=env)
    assert result.exit_code == 2 and "a user name has 2 to 40 letters" in result.output
    taken = ["users", "add", "BOSS", "--role", "planner", "--password", "long-enough"]
    result = CliRunner().invoke(cli, taken, env=env)
    assert result.exit_code == 2 and "taken" in result.output


def test_display_names_are_one_bounded_line(fresh_app) -> None:
    engine = fresh_app.extensions["engine"]
    user_id = storage.create_user(engine, "p9", auth.hash_password("plan-plan-9"), "planner")
    admin = _api_login(fresh_app, "boss", "correct-horse")
    token = csrf_token(admin, f"/admin/users/{user_id}")
    form = {"role": "planner", "active": "on", "grids": "", "password": "", "csrf_token": token}
    admin.post(f"/admin/users/{user_id}", data=form | {"display_name": "Li\n  Wei\t"})
    assert storage.get_user(engine, user_id).display_name == "Li Wei"
    admin.post(
        f"/admin/users/{user_id}", data=form | {"display_name": "x" * 81, "role": "commander"}
    )
    record = storage.get_user(engine, user_id)
    assert record.display_name == "Li Wei" and record.role == "planner"  # nothing changed
