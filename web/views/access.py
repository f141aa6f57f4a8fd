"""Who may use what: the logged-in user, role guards, the audit helper and languages.

Every form carries a CSRF token (Flask-WTF's CSRFProtect covers every POST, the JSON API
included: scripts send the token in the ``X-CSRFToken`` header). Session cookies are
HttpOnly, SameSite=Lax and Secure in production.

Roles and what they reach (the access matrix in tests/web/test_access.py is the contract):

- ``admin``: accounts, grid assignments, the audit log, and every commander and planner page;
- ``commander``: hotspot map, statistics, forecast accuracy, plans (read only);
- ``planner``: the commander's pages, plus generating, publishing and exporting plans;
- ``grid_worker``: their own grids only (cells, incidents, status, planned visits,
  check-ins), on the site and through the API.
"""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from web import clock, storage
from web.services.accounts import cached_account
from web.storage import tokens as token_store

__all__ = [
    "ANALYSTS",
    "EVERYONE",
    "LANGUAGES",
    "PLANNERS",
    "ROLE_HOME",
    "User",
    "audit",
    "audit_refusal",
    "check_login",
    "client_ip",
    "end_session",
    "get_engine",
    "init_auth",
    "login_manager",
    "roles_required",
    "select_locale",
    "start_session",
    "token_required",
    "wants_json",
]

login_manager = LoginManager()

# Where each role lands after logging in.
ROLE_HOME = {
    "admin": "admin.users",
    "commander": "commander.hotspots",
    "planner": "planner.plans",
    "grid_worker": "grid.home",
}
LANGUAGES = {"zh": "中文", "en": "English"}

#: Who reaches which pages (named once here; the blueprints guard with these).
ANALYSTS = ("admin", "commander", "planner")  # maps, statistics, accuracy, plans to read
PLANNERS = ("admin", "planner")  # generating, publishing and exporting plans
EVERYONE = ("admin", "commander", "planner", "grid_worker")


class User(UserMixin):
    """The logged-in account, as Flask-Login sees it."""

    def __init__(self, record: storage.UserRecord) -> None:
        self.record = record
        self.id = record.id
        self.username = record.username
        self.display_name = record.display_name or record.username
        self.role = record.role
        self.locale = record.locale

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_active(self) -> bool:
        return self.record.active

    def has_role(self, *roles: str) -> bool:
        return self.role in roles

    @property
    def is_token(self) -> bool:
        """A ``read`` API token acting as a commander (no account behind it)."""
        return self.id < 0


def get_engine():
    """The app's database engine (made once by the app factory)."""
    return current_app.extensions["engine"]


def client_ip() -> str:
    """The client's address as the server saw it (set up a proxy fix behind a proxy)."""
    return request.remote_addr or ""


def audit(action: str, detail: str = "", user: Any = None) -> None:
    """Append an audit entry for the current (or given) user."""
    who = user if user is not None else current_user
    authenticated = bool(getattr(who, "is_authenticated", False))
    storage.audit(
        get_engine(),
        action,
        user_id=who.id if authenticated else None,
        username=who.username if authenticated else "",
        detail=detail,
        ip=client_ip(),
    )


def wants_json() -> bool:
    return request.blueprint == "api" or request.path.startswith("/api/")


def roles_required(*roles: str) -> Callable:
    """Allow only logged-in users with one of ``roles``: 401/login otherwise, 403 if wrong."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                audit_refusal("forbidden")
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


# --- sessions kept on the server -------------------------------------------------------------

# Activity is written to a session at most this often (the idle timeout is counted in minutes).
TOUCH_EVERY_S = 60
_DUMMY_HASH: list[str] = []


def check_login(username: str, password: str) -> User | None:
    """The active account with this name and password, else None; an unknown name costs the
    same password hashing as a known one, so timing does not tell which names exist."""
    record = storage.get_user_by_name(get_engine(), username)
    if record is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(generate_password_hash(secrets.token_hex(16)))
        check_password_hash(_DUMMY_HASH[0], password)
        return None
    if not check_password_hash(record.password_hash, password) or not record.active:
        return None
    return User(record)


def start_session(user: User) -> None:
    """Log ``user`` in: a new session on the server (its token in the signed cookie) that
    ends after ``HOTSPOT_SESSION_HOURS`` whatever the activity."""
    token = secrets.token_urlsafe(32)
    lifetime_s = int(current_app.config["SESSION_HOURS"]) * 3600
    storage.create_session(get_engine(), token, int(user.id), lifetime_s, client_ip())
    session.clear()
    login_user(user)
    session["sid"] = token
    session.permanent = True
    if user.locale:
        session["lang"] = user.locale


def end_session() -> None:
    """Log out: the server forgets the session, the browser the cookie."""
    token = session.get("sid")
    if isinstance(token, str):
        storage.end_session(get_engine(), token)
    logout_user()
    session.clear()


def _session_valid(account_id: int) -> bool:
    """The cookie's session exists on the server, belongs to this account, and has neither
    passed its end nor been idle longer than ``HOTSPOT_SESSION_IDLE_MIN``."""
    token = session.get("sid")
    if not isinstance(token, str):
        return False
    engine = get_engine()
    record = storage.get_session(engine, token)
    now = int(clock.now_s())
    idle_s = int(current_app.config["SESSION_IDLE_MIN"]) * 60
    if record is None or record.user_id != account_id or now >= record.expires_at:
        return False
    if now - record.last_seen_at > idle_s:
        storage.end_session(engine, token)
        return False
    if now - record.last_seen_at >= TOUCH_EVERY_S:
        storage.touch_session(engine, token)
    return True


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        account_id = int(user_id)
    except ValueError:
        return None
    record = cached_account(get_engine(), account_id)
    if record is None or not record.active or not _session_valid(account_id):
        return None
    return User(record)


# Refused requests are audited at most once per action and address in this many seconds, so
# a flood of them cannot push real events out of the log.
REFUSAL_AUDIT_EVERY_S = 60
_last_refusal: dict[tuple[str, str], float] = {}
_refusal_lock = threading.Lock()


def audit_refusal(action: str, detail: str = "", username: str = "") -> None:
    """Audit a refused request (throttled login, forbidden page), rate-limited per address."""
    key = (action, client_ip())
    now = time.monotonic()
    with _refusal_lock:
        if now - _last_refusal.get(key, -1e9) < REFUSAL_AUDIT_EVERY_S:
            return
        if len(_last_refusal) > 10_000:
            _last_refusal.clear()
        _last_refusal[key] = now
    who = current_user if current_user and current_user.is_authenticated else None
    storage.audit(
        get_engine(),
        action,
        user_id=who.id if who else None,
        username=who.username if who else username,
        detail=f"{request.method} {request.path[:200]} {detail}".strip(),
        ip=client_ip(),
    )


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        abort(401)
    flash(_("Please log in."), "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def select_locale() -> str:
    """Session choice, then the account's, then the browser's, then the default."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return str(current_user.locale)
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best or str(current_app.config["DEFAULT_LOCALE"])


# --- machine clients: API tokens -------------------------------------------------------------

# What each scope reaches, for the messages of refused tokens.
SCOPE_REACH = {
    "feed": "POST /api/feed/incidents",
    "read": "the GET routes of /api that a commander may read",
}
# JSON routes of other blueprints that stand under /api: read tokens reach their GETs too.
_TOKEN_ENDPOINTS = {"warnings.api_list", "warnings.api_get", "warnings.api_acknowledge"}


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None without one."""
    header = request.headers.get("Authorization", "")
    kind, _sep, token = header.partition(" ")
    if kind.lower() != "bearer":
        return None
    return token.strip() or None


def _audit_token_refusal(detail: str) -> None:
    """Audit a refused token like :func:`audit_refusal` (rate-limited per address), without
    asking who is logged in: this runs while Flask-Login is still finding that out."""
    key = ("token_refused", client_ip())
    now = time.monotonic()
    with _refusal_lock:
        if now - _last_refusal.get(key, -1e9) < REFUSAL_AUDIT_EVERY_S:
            return
        _last_refusal[key] = now
    storage.audit(
        get_engine(),
        "token_refused",
        detail=f"{request.method} {request.path[:200]} {detail}",
        ip=client_ip(),
    )


def _checked_token(scope: str) -> token_store.TokenRecord:
    """The request's token when it is valid for ``scope``: 401 without one, for an unknown
    or revoked one, 403 for one of another scope (each refusal audited, rate-limited)."""
    token = bearer_token()
    if token is None:
        _audit_token_refusal("no token")
        abort(401, description="send an API token: 'Authorization: Bearer <token>' "
                               "(an administrator makes one: hotspot tokens add NAME --scope "
                               f"{scope})")  # fmt: skip
    record = token_store.find_token(get_engine(), token)
    if record is None:
        _audit_token_refusal("unknown token")
        abort(401, description="unknown API token (check that it was copied whole)")
    if record.revoked_at is not None:
        _audit_token_refusal(f"revoked token {record.name}")
        abort(401, description=f"the API token {record.name!r} was revoked; ask an "
                               "administrator for a new one")  # fmt: skip
    if record.scope != scope:
        _audit_token_refusal(f"token {record.name} of scope {record.scope}")
        abort(403, description=f"the API token {record.name!r} has scope {record.scope!r}, "
                               f"which reaches only {SCOPE_REACH[record.scope]}")  # fmt: skip
    if token_store.record_token_use(get_engine(), record.id, client_ip()):
        # The last use is written at most once a minute per token; so is this entry.
        storage.audit(get_engine(), "token_used", username=f"token:{record.name}",
                      detail=f"{request.method} {request.path[:200]}", ip=client_ip())  # fmt: skip
    g.api_token = record
    return record


def token_required(scope: str) -> Callable:
    """Allow only requests with a valid API token of ``scope`` (never a session); the token's
    record is in ``g.api_token``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            _checked_token(scope)
            return view(*args, **kwargs)

        wrapped.token_scope = scope  # type: ignore[attr-defined]
        return wrapped

    return decorator


@login_manager.request_loader
def _load_token_user(req) -> User | None:
    """A ``read`` token acts as a commander on the GET routes of the ``api`` blueprint and of
    ``/api/warnings`` (not the docs page, never a site page); other requests with a token
    there are refused."""
    on_api = req.blueprint == "api" or req.endpoint in _TOKEN_ENDPOINTS
    if not on_api or bearer_token() is None or req.endpoint == "api.docs":
        return None
    if req.method not in ("GET", "HEAD"):
        _audit_token_refusal("write with a read token")
        abort(403, description="API tokens of scope 'read' reach only GET routes of /api")
    record = _checked_token("read")
    account = storage.UserRecord(
        id=-record.id,  # never an account's id; audit entries name the token
        username=f"token:{record.name}",
        display_name=record.name,
        role="commander",
        active=True,
        locale=None,
        password_hash="",
    )
    return User(account)


def init_auth(app: Flask) -> None:
    """Wire login and sessions into the app."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["SESSION_HOURS"]))
    # The cookie's life is the session's: activity does not extend it.
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    login_manager.init_app(app)
