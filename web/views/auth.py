"""Blueprint ``auth``: the front door, login and logout, the account page and the language.

Login attempts are counted by user name and, more generously, by address: past the free
ones, each further attempt waits twice as long as the one before (web/storage/logins.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from web import storage
from web.views.access import (
    LANGUAGES,
    ROLE_HOME,
    audit,
    audit_refusal,
    check_login,
    client_ip,
    end_session,
    get_engine,
    login_manager,
    start_session,
)

__all__ = ["bp"]

bp = Blueprint("auth", __name__)

# Free login attempts from one address, as a multiple of those for one user name.
IP_FAILURE_FACTOR = 4
PASSWORD_FORM_MAX = 1024


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
    """Log in with user name and password; repeated failures slow further tries down."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_url())
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if len(username) > storage.USERNAME_MAX or len(password) > PASSWORD_FORM_MAX:
            flash(_("Wrong user name or password."), "error")
            return render_template("login.html", username=""), 400
        wait_s = _claim_attempt(username)
        if wait_s:
            audit_refusal("login_throttled", f"wait {wait_s} s", username=username)
            flash(_("Too many failed logins for this name or address. Try again in "
                    "%(seconds)d seconds.", seconds=wait_s), "error")  # fmt: skip
            response = make_response(render_template("login.html", username=username), 429)
            response.headers["Retry-After"] = str(wait_s)
            return response
        user = check_login(username, password)
        if user is not None:
            storage.clear_login_attempts(get_engine(), f"name:{username.lower()}")
            storage.refund_login_attempt(get_engine(), f"ip:{client_ip()}")
            start_session(user)
            audit("login", user=user)
            return redirect(_safe_next(request.args.get("next")) or home_url())
        storage.audit(get_engine(), "login_failed", username=username, ip=client_ip())
        flash(_("Wrong user name or password."), "error")
        status = 401
    return render_template("login.html", username=request.form.get("username", "")), status


def _claim_attempt(username: str) -> int:
    """Count this attempt against the name and the address; seconds to wait, or 0."""
    config = current_app.config
    free = int(config["LOGIN_MAX_FAILURES"])
    # One address may be a whole station behind NAT: it gets more tries than one name.
    keys = {f"name:{username.lower()}": free, f"ip:{client_ip()}": IP_FAILURE_FACTOR * free}
    return storage.claim_login_attempt(
        get_engine(),
        keys,
        window_s=int(config["LOGIN_WINDOW_MIN"]) * 60,
        first_delay_s=int(config["LOGIN_DELAY_S"]),
        max_delay_s=int(config["LOGIN_MAX_DELAY_S"]),
    )


@bp.post("/logout")
def logout():
    """Log out (a POST with the CSRF token, so no page can log a user out): the session ends
    on the server too, so a copy of the cookie no longer works."""
    if current_user.is_authenticated:
        audit("logout")
    end_session()
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
