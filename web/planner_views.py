"""Blueprint ``planner`` (pages under ``/plans``)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("planner", __name__, url_prefix="/plans")
