"""Security headers on every response, with a Content-Security-Policy the pages pass.

Scripts run only from this server or inline with the request's nonce (folium writes its maps
as inline scripts: :func:`with_nonce` stamps them); styles may be inline (Leaflet positions
every tile and marker with a style attribute); images may come from the bureau's basemap
tile server (``HOTSPOT_TILE_URL``). Pages cannot be framed, content types are not sniffed,
and no referrer leaves the site.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from flask import Flask, g
from markupsafe import Markup

__all__ = ["content_security_policy", "init_security", "tile_origin", "with_nonce"]

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
