"""Blueprint ``auth``: the front door, login and logout, the account page and the language.

Repeated failed logins pause further tries by user name and, more generously, by address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
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
from flask_login import current_user, login_user, logout_user
from werkzeug.security import check_password_hash

from web import storage
from web.views.access import (
    LANGUAGES,
    ROLE_HOME,
    User,
    audit,
    client_ip,
    get_engine,
    login_manager,
)

__all__ = ["bp"]

bp = Blueprint("auth", __name__)

# Failed logins allowed from one address, as a multiple of those allowed for one user name.
IP_FAILURE_FACTOR = 4


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
    engine = get_engine()
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
        storage.update_user(get_engine(), current_user.id, locale=code)
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.index"))
