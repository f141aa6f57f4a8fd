"""Blueprint ``commander`` (pages under ``/command``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("commander", __name__, url_prefix="/command")
