"""Accounts and access: login, logout, roles, failed-login throttling and the audit log.

Passwords are hashed with werkzeug's scrypt (never stored or logged in clear). Every form
carries a CSRF token (Flask-WTF's CSRFProtect covers every POST, the JSON API included:
scripts send the token in the ``X-CSRFToken`` header). Session cookies are HttpOnly,
SameSite=Lax and Secure in production.

Roles and what they reach (the access matrix in tests/web/test_access.py is the contract):

- ``admin``: accounts, grid assignments, the audit log, and every commander and planner page;
- ``commander``: hotspot map, statistics, forecast accuracy, plans (read only);
- ``planner``: the commander's pages, plus generating, publishing and exporting plans;
- ``grid_worker``: their own grids only (cells, incidents, status, planned visits,
  check-ins), on the site and through the API.

Each request needs the logged-in account (and a grid worker's cells); they are read from
the database at most once per :data:`ACCOUNT_CACHE_S` (2 s). Any change to accounts, grid
assignments or grids made in this process (admin pages, CLI functions) clears them at once;
a change by another process (``hotspot users disable NAME`` while the site runs) takes
effect within 2 s: a disabled account is locked out by then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from web import storage
from web.hotspot_data import ShortCache

__all__ = [
    "ACCOUNT_CACHE_S",
    "ROLE_HOME",
    "User",
    "account_cells",
    "audit",
    "bp",
    "client_ip",
    "hash_password",
    "init_auth",
    "roles_required",
    "validate_password",
]

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

MIN_PASSWORD_LENGTH = 8
# Failed logins allowed from one address, as a multiple of those allowed for one user name.
IP_FAILURE_FACTOR = 4
# Where each role lands after logging in.
ROLE_HOME = {
    "admin": "admin.users",
    "commander": "commander.hotspots",
    "planner": "planner.plans",
    "grid_worker": "grid.home",
}
LANGUAGES = {"zh": "中文", "en": "English"}
#: Seconds an account (and a grid worker's cells) read from the database is reused; changes
#: in this process clear it at once, so this bounds only changes made by another process.
ACCOUNT_CACHE_S = 2.0

_accounts = ShortCache(ttl_s=ACCOUNT_CACHE_S, tables=("users",))
_account_cells = ShortCache(
    ttl_s=ACCOUNT_CACHE_S, tables=("users", "user_grids", "areas", "area_cells")
)


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


def hash_password(password: str) -> str:
    """Return the scrypt hash of a password (after :func:`validate_password`)."""
    validate_password(password)
    return generate_password_hash(password)


def validate_password(password: str) -> None:
    """Raise ``ValueError`` for a password that is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def client_ip() -> str:
    """The client's address as the server saw it (set up a proxy fix behind a proxy)."""
    return request.remote_addr or ""


def audit(action: str, detail: str = "", user: Any = None) -> None:
    """Append an audit entry for the current (or given) user."""
    who = user if user is not None else current_user
    authenticated = bool(getattr(who, "is_authenticated", False))
    storage.audit(
        current_app.extensions["engine"],
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
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


def account_cells(engine, user_id: int):
    """The H3 cells (int64, sorted) of an account's grids, as ``storage.user_cells``; read at
    most once per :data:`ACCOUNT_CACHE_S` (read-only: requests share it)."""

    def load():
        cells = storage.user_cells(engine, user_id)
        cells.flags.writeable = False
        return cells

    return _account_cells.get(engine, user_id, load)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        account_id = int(user_id)
    except ValueError:
        return None
    engine = current_app.extensions["engine"]
    record = _accounts.get(engine, account_id, lambda: storage.get_user(engine, account_id))
    if record is None or not record.active:
        return None
    return User(record)


@login_manager.unauthorized_handler
def _unauthorized():
    if wants_json():
        abort(401)
    flash(_("Please log in."), "info")
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _safe_next(target: str | None) -> str | None:
    """Only local paths are followed after login (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def home_url() -> str:
    endpoint = ROLE_HOME[current_user.role]
    if endpoint not in current_app.view_functions:  # an app built without that blueprint
        return url_for("auth.account")
    return url_for(endpoint)


@bp.get("/")
def index():
    """The front door: the login page, or the user's home page."""
    if current_user.is_authenticated:
        return redirect(home_url())
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with user name and password; repeated failures pause further tries."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_url())
    engine = current_app.extensions["engine"]
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        window_s = int(current_app.config["LOGIN_WINDOW_MIN"]) * 60
        by_name, by_ip = storage.recent_login_failures(engine, username, client_ip(), window_s)
        limit = int(current_app.config["LOGIN_MAX_FAILURES"])
        # One address may be a whole station behind NAT: it gets more tries than one name.
        if by_name >= limit or by_ip >= IP_FAILURE_FACTOR * limit:
            storage.audit(engine, "login_throttled", username=username, ip=client_ip())
            flash(
                _(
                    "Too many failed logins. Try again in %(minutes)d minutes.",
                    minutes=int(current_app.config["LOGIN_WINDOW_MIN"]),
                ),
                "error",
            )
            return render_template("login.html", username=username), 429
        record = storage.get_user_by_name(engine, username)
        if (
            record is not None
            and record.active
            and check_password_hash(record.password_hash, password)
        ):
            storage.clear_login_failures(engine, username)
            session.clear()
            user = User(record)
            login_user(user)
            session.permanent = True
            if record.locale:
                session["lang"] = record.locale
            audit("login", user=user)
            return redirect(_safe_next(request.args.get("next")) or home_url())
        storage.record_login_failure(engine, username, client_ip())
        storage.audit(engine, "login_failed", username=username, ip=client_ip())
        flash(_("Wrong user name or password."), "error")
        status = 401
    return render_template("login.html", username=request.form.get("username", "")), status


@bp.post("/logout")
def logout():
    """Log out (a POST with the CSRF token, so no page can log a user out)."""
    if current_user.is_authenticated:
        audit("logout")
        logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/account")
def account():
    """Who is logged in, with which role (the landing page when a role has no home)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return render_template("account.html")


@bp.post("/language")
def language():
    """Switch the interface language; remembered for the account."""
    code = request.form.get("lang", "")
    if code not in LANGUAGES:
        abort(400, description=f"unknown language {code!r}; use one of {', '.join(LANGUAGES)}")
    session["lang"] = code
    if current_user.is_authenticated:
        storage.update_user(current_app.extensions["engine"], current_user.id, locale=code)
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))


def select_locale() -> str:
    """Session choice, then the account's, then the browser's, then the default."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return str(current_user.locale)
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best or str(current_app.config["DEFAULT_LOCALE"])


def init_auth(app: Flask) -> None:
    """Wire login, sessions and the auth pages into the app."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["SESSION_HOURS"]))
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    login_manager.init_app(app)
    app.register_blueprint(bp)
