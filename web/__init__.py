"""Flask application factory: settings, storage, assets, languages, accounts and blueprints.

One blueprint per role (``admin``, ``commander``, ``planner``, ``grid``) plus the JSON
``api``, the data ``overview`` and the early-warning inbox (``warnings``); see
web/views/access.py for who may use what.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_compress import Compress
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

csrf = CSRFProtect()
compress = Compress()


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Create the app; ``test_config`` overrides settings (tests never edit the environment)."""
    from web import assets, i18n, security, storage
    from web.config import load_settings
    from web.services.workspace import start_clock
    from web.views import (
        access,
        admin,
        api,
        auth,
        commander,
        feed,
        grid,
        overview,
        planner,
        requests,
        warnings,
    )

    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(load_settings(test_config))
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:  # the client's address and scheme as the proxies in front saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # the token lives as long as the session
    # Compress pages, JSON and scripts, cheaply: every API answer is compressed again per
    # request. Measured on a 190 KB aggregate: zstd level 3 0.6 ms, brotli quality 4 2.2 ms,
    # gzip level 6 2.4 ms, but brotli quality 11 260 ms and gzip 9 18 ms. Answers under 1 KB
    # are sent as they are (a few hundred bytes saved are not worth a compressor).
    app.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/javascript", "application/javascript",
        "application/json", "application/geo+json", "image/svg+xml",
    ])  # fmt: skip
    app.config.setdefault("COMPRESS_ALGORITHM", ["zstd", "br", "gzip", "deflate"])
    app.config.setdefault("COMPRESS_ZSTD_LEVEL", 3)
    app.config.setdefault("COMPRESS_BR_LEVEL", 4)
    app.config.setdefault("COMPRESS_LEVEL", 6)  # gzip
    app.config.setdefault("COMPRESS_MIN_SIZE", 1024)  # bytes
    app.extensions["engine"] = storage.make_engine(str(app.config["DATABASE_URL"]))
    start_clock(app.config["NOW"], app.extensions["engine"], str(app.config["TIMEZONE"]))
    assets.use_local_assets(str(app.config["VENDOR_URL_PREFIX"]))
    assets.register_vendor_assets(app, str(app.config["VENDOR_URL_PREFIX"]))
    csrf.init_app(app)
    compress.init_app(app)
    i18n.init_i18n(app)
    access.init_auth(app)
    security.init_url_limits(app)
    security.init_security(app)
    for module in (auth, overview, admin, commander, planner, grid, api, feed, warnings, requests):
        app.register_blueprint(module.bp)
    # The feed takes API tokens only, never a session cookie: nothing to forge across sites.
    csrf.exempt(feed.bp)
    _error_pages(app)
    _database_outages(app)
    if app.config["ENV"] == "production":
        _refuse_demo_accounts(app)
    return app


def _refuse_demo_accounts(app: Flask) -> None:
    """In production no demo account with its published password may exist (whatever WSGI
    server builds the app)."""
    from web.config import ConfigError
    from web.services.demo import demo_logins

    try:
        logins = demo_logins(app.extensions["engine"])
    except Exception as err:  # an empty database: `hotspot serve` says what to run
        if "no such table" in str(err) or "does not exist" in str(err):
            return
        raise
    if logins:
        names = ", ".join(name for name, _password, _role in logins)
        raise ConfigError(
            f"demo accounts exist ({names}); disable them (`hotspot users disable NAME`) "
            "before serving in production"
        )


# What the error page says for the statuses a user meets, in the user's language (Werkzeug's
# own texts are English); a message the site gives with the error is shown instead.
_ERROR_TEXTS = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    401: (_l("Not logged in"), _l("Log in to see this page.")),
    403: (_l("Not allowed"), _l("Your role cannot open this page.")),
    404: (_l("Page not found"), _l("There is no page at this address. Check the link.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    413: (_l("Too large"), _l("What was sent is larger than this site accepts.")),
    429: (_l("Too many requests"), _l("Too many requests in a short time: wait and retry.")),
    500: (_l("Server error"), _l("Something went wrong on the server; it has been logged.")),
}


def _error_pages(app: Flask) -> None:
    """Errors as JSON ``{"error": ..., "status": ...}`` under /api/, as a page elsewhere."""

    def respond(status: int, name: str, message: str, default: bool = False):
        if request.path.startswith("/api/"):
            return jsonify({"error": message, "status": status}), status
        title, generic = _ERROR_TEXTS.get(status, (name, message))
        shown = generic if default else message
        page = render_template("error.html", status=status, name=title, message=shown)
        return page, status

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        if request.path.startswith("/api/"):
            return respond(400, "Bad Request", f"the form expired or was not sent by this site "
                           f"({error.description}); reload the page and try again")  # fmt: skip
        expired = _l("The form expired or was not sent by this site. Reload the page and retry.")
        return respond(400, "Bad Request", str(expired))

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        # Werkzeug's own description (no message given by the site) reads in English only.
        default = not error.description or error.description == type(error).description
        response = respond(
            error.code or 500, error.name, error.description or error.name, default=default
        )
        # Keep the headers the error defines (the Allow list of a 405, for one).
        allowed = dict(error.get_headers()).get("Allow")
        if allowed:
            response = app.make_response(response)
            response.headers["Allow"] = allowed
        return response


#: Seconds a client is asked to wait before retrying while the database cannot be reached.
OUTAGE_RETRY_S = 5


def _database_outages(app: Flask) -> None:
    """The database down or restarting (its connections dropped, none to be had): 503 with a
    message, as a page or JSON under /api/, instead of a server error. Nothing is kept from
    it: the engine checks each pooled connection before use (web/storage/engine.py), so the
    site recovers by itself when the database is back."""
    import logging

    from flask import current_app, g
    from sqlalchemy import exc

    from web.views.access import login_manager

    log = logging.getLogger("web.database")

    @app.errorhandler(exc.OperationalError)
    @app.errorhandler(exc.InterfaceError)
    @app.errorhandler(exc.DisconnectionError)
    def _unavailable(error: Exception):
        log.warning("database unavailable for %s %s: %s", request.method, request.path,
                    str(error).splitlines()[0] if str(error) else type(error).__name__)  # fmt: skip
        headers = {"Retry-After": str(OUTAGE_RETRY_S)}
        if request.path.startswith("/api/"):
            body = {"error": "the database is unavailable just now; retry in a few seconds",
                    "status": 503}  # fmt: skip
            return jsonify(body), 503, headers
        # The page must not ask the database again: no account (the login needs it), the
        # city's name and timezone from the settings.
        g._login_user = login_manager.anonymous_user()
        g.city_name = current_app.config["CITY_NAME"]
        g.city_timezone = str(current_app.config["TIMEZONE"])
        page = render_template(
            "error.html",
            status=503,
            name=_l("Service unavailable"),
            message=_l("The database cannot be reached just now. Wait a moment and reload the "
                       "page; if you sent a form, check after reloading whether it was saved."),
        )  # fmt: skip
        return page, 503, headers
