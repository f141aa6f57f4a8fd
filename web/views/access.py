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
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user

from web import storage
from web.services.accounts import cached_account

__all__ = [
    "LANGUAGES",
    "ROLE_HOME",
    "User",
    "audit",
    "client_ip",
    "get_engine",
    "init_auth",
    "login_manager",
    "roles_required",
    "select_locale",
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
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        account_id = int(user_id)
    except ValueError:
        return None
    record = cached_account(get_engine(), account_id)
    if record is None or not record.active:
        return None
    return User(record)


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


def init_auth(app: Flask) -> None:
    """Wire login and sessions into the app."""
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=int(app.config["SESSION_HOURS"]))
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    login_manager.init_app(app)
