"""Security headers on every response, with a Content-Security-Policy the pages pass, and
limits on what a request may carry.

Scripts run only from this server or inline with the request's nonce (folium writes its maps
as inline scripts: :func:`with_nonce` stamps them); styles may be inline (Leaflet positions
every tile and marker with a style attribute); images may come from the bureau's basemap
tile server (``HOTSPOT_TILE_URL``). Pages cannot be framed, content types are not sniffed,
and no referrer leaves the site.

Requests: bodies are limited (``HOTSPOT_MAX_REQUEST_MB``; 413 beyond), JSON bodies to
:data:`MAX_JSON_DEPTH` levels of nesting (400 beyond, never a recursion error), and integer
ids in URLs to what the database can hold (a larger one is simply not found: 404).
"""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, g
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

__all__ = [
    "MAX_JSON_DEPTH",
    "BoundedIntConverter",
    "LimitedJSONProvider",
    "content_security_policy",
    "init_security",
    "init_url_limits",
    "json_depth",
    "spreadsheet_text",
    "tile_origin",
    "with_nonce",
]

#: Deepest nesting a JSON body may have (the API's documents need four levels).
MAX_JSON_DEPTH = 32
#: The largest id every database's id columns hold: PostgreSQL's integer (SQLite's hold more);
#: a larger id in a URL is a 404, never a database error.
MAX_ID = 2**31 - 1


def spreadsheet_text(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one starting = + - @ (or a tab or carriage
    return) would run as a formula in Excel or WPS, so it gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


_SCRIPT_TAG = re.compile(r"<script(?![^>]*\bnonce=)", re.IGNORECASE)


def tile_origin(tile_url: str) -> str | None:
    """The origin a basemap URL template loads tiles from, as a CSP source (``{s}``
    subdomains become a wildcard); None for no basemap or one served by this site."""
    if not tile_url or tile_url.startswith("/"):
        return None
    parts = urlsplit(tile_url.replace("{s}.", "wildcard-subdomain."))
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc.replace("wildcard-subdomain.", "*.")
    return f"{parts.scheme}://{host}"


def content_security_policy(nonce: str, tile_url: str = "") -> str:
    """The policy for one response (``nonce`` allows its inline scripts)."""
    images = "'self' data: blob:"
    origin = tile_origin(tile_url)
    if origin:
        images += f" {origin}"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src {images}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def csp_nonce() -> str:
    """This request's script nonce."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def with_nonce(html: str) -> Markup:
    """Stamp this request's nonce on every ``<script`` tag of trusted HTML (folium's parts)."""
    return Markup(_SCRIPT_TAG.sub(f'<script nonce="{csp_nonce()}"', str(html)))


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` in routes, limited to ids the database can hold: larger numbers do not
    match, so the answer is 404 rather than an integer overflow."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def json_depth(value: object) -> int:
    """Levels of nesting of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest


class LimitedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than :data:`MAX_JSON_DEPTH` with a 400."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            value = None
            too_deep = True
        else:
            too_deep = json_depth(value) > MAX_JSON_DEPTH
        if too_deep:
            raise BadRequest(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value


def init_url_limits(app: Flask) -> None:
    """Bounded ids in routes (call before the blueprints are registered) and JSON limits."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.json = LimitedJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = int(float(app.config["MAX_REQUEST_MB"]) * 1024 * 1024)
    app.config.setdefault("MAX_FORM_MEMORY_SIZE", 1024 * 1024)  # one form field's text
    app.config.setdefault("MAX_FORM_PARTS", 1000)


def init_security(app: Flask) -> None:
    """Add the headers to every response and the nonce helpers to templates."""
    tile_url = str(app.config.get("TILE_URL") or "")
    app.jinja_env.filters["with_nonce"] = with_nonce
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault(
            "Content-Security-Policy", content_security_policy(csp_nonce(), tile_url)
        )
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(), microphone=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
