"""Blueprint ``grid`` (pages under ``/grid``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("grid", __name__, url_prefix="/grid")
