"""Blueprint ``api`` (JSON under ``/api``): cells and scores, incident aggregates, plans and
check-ins, described by an OpenAPI 3.1 document (``/api/openapi.json``, viewed at
``/api/docs``).

Access: every endpoint needs a logged-in session (the site's cookie; POSTs also carry the
CSRF token in ``X-CSRFToken``). A grid worker is scoped to the cells of their assigned grids
on every endpoint, by intersecting with ``storage.user_cells`` on the server:

- reads outside that scope look as if there were nothing there: a cell outside is **404**,
  lists and aggregates leave other cells out, plans list only published plans and only the
  visits in the worker's cells, and a draft plan is 404;
- writes outside it are refused: a check-in for another cell is **403** and stores nothing.

Planners and administrators may post check-ins for any study cell (visits reported by
radio or by units); commanders have read-only access (403 on POST). Event reports
(``POST /api/reports``) are for grid workers only, at places in their grids; everyone reads
their own (``GET /api/reports/mine``).

Cells are H3 hex strings; times are ISO 8601 with the city's offset plus epoch seconds
(``*_s``); errors are ``{"error": message, "status": code}``.

Caching, and how stale an answer can be: cells, one cell and aggregates are kept encoded
per data version, query and scope, so a new import shows as soon as the data version
changes (at once for an import in this process, within ``DATA_VERSION_TTL_S`` = 1 s for one
by another process; web/services/site_data.py). Plan lists and plans are kept at most
:data:`PLANS_CACHE_S` (2 s), and plans stored or published in this process show at once.
Check-ins are always read fresh. Accounts and a grid worker's cells: see
web/services/accounts.py (2 s).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from geo.cells import hex_from_cells
from geo.explain import ALL_CATEGORIES
from web import clock, storage
from web.assets import SITE_SCRIPTS
from web.services import api_payloads as payloads
from web.services import grid_work, site_data
from web.services import reports as field_reports
from web.services.caches import Cache
from web.services.filters import FilterError, Filters, cells_of, in_study_area, parse_filters
from web.services.scores import MAP_MODEL, cell_scores, city_tiers, score_tiers
from web.services.scoring_data import GROUPS
from web.services.statistics import figure_area
from web.storage import patrols as patrol_store
from web.storage import reports as report_store
from web.views.access import client_ip, get_engine

bp = Blueprint("api", __name__, url_prefix="/api")

WRITE_ROLES = ("admin", "planner", "grid_worker")
AGGREGATE_BY = ("day", "week", "month", "hour", "weekday", "category", "cell")
DEFAULT_CELLS_LIMIT = 100
MAX_CELLS_LIMIT = 1_000_000  # more than any city's cells: "all of them"
DEFAULT_CHECKINS_LIMIT = 200
MAX_CHECKINS_LIMIT = 5000
DEFAULT_PLANS_LIMIT = 50
MAX_PLANS_LIMIT = 500
#: Seconds a plan list or plan is served from memory: plans made or published in this
#: process show at once (writes clear it); this bounds only plans stored by another process.
PLANS_CACHE_S = 2.0
_plan_bodies = Cache(
    "API plan answers",
    max_entries=1024,
    max_bytes=32 * 2**20,
    ttl_s=PLANS_CACHE_S,
    tables=("plans", "plan_visits"),
)
# Encoded bodies of the data-only answers (cells, one cell, aggregates), keyed (database,
# data version, path, query, scope): most requests repeat a recent query, and building and
# encoding the JSON is most of their time.
_responses = Cache("API answers", max_entries=65_536, max_bytes=64 * 2**20, derived=True)


def _models() -> tuple[str, ...]:
    from geo.scoring import MODELS

    return tuple(MODELS)


# --- access and errors ----------------------------------------------------------------------


@bp.before_request
def _logged_in():
    """Every endpoint needs a login (all roles); the docs page sends visitors to log in."""
    if current_user.is_authenticated:
        return None
    if request.endpoint == "api.docs":
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    abort(
        401,
        description="log in first: POST /login (form fields username, password, csrf_token) "
        "and send the session cookie it sets with every request; see /api/docs",
    )


@bp.errorhandler(FilterError)
def _bad_filter(error: FilterError):
    return jsonify({"error": str(error), "status": 400}), 400


def _data() -> site_data.SiteData:
    return site_data.site_data(get_engine())


def _scope() -> np.ndarray | None:
    """The grid worker's cells (sorted int64), or None for roles that see the whole city."""
    if "api_scope" not in g:
        g.api_scope = grid_work.scope_cells(get_engine(), current_user)
    return g.api_scope


def _in_scope(cell: int) -> bool:
    scope = _scope()
    if scope is None:
        return True
    position = np.searchsorted(scope, cell)
    return bool(position < len(scope) and scope[position] == cell)


def _data_response(view: Callable) -> Callable:
    """Serve a GET whose JSON depends only on the data, the query string and the user's scope
    from a cache of encoded bodies; a new import (a new data version) misses it."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        data = _data()
        scope = _scope()
        key = (
            data.source,
            data.version,
            request.path,
            request.query_string,
            None if scope is None else scope.tobytes(),
        )
        body = _responses.get(key)
        if body is not None:
            return current_app.response_class(body, mimetype="application/json")
        response = view(*args, **kwargs)
        if response.status_code == 200:
            _responses.put(key, response.get_data())
        return response

    return wrapped


def _plans_response(view: Callable) -> Callable:
    """Serve a plan GET from a :data:`PLANS_CACHE_S`-second cache of encoded bodies per query
    and scope (the views raise their errors, so only answers are kept)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        scope = _scope()
        key = (
            _data().version,  # the city's timezone comes with the data
            request.path,
            request.query_string,
            None if scope is None else scope.tobytes(),
        )
        body = _plan_bodies.get_or_load(
            (storage.database_key(get_engine()), *key), lambda: view(*args, **kwargs).get_data()
        )
        return current_app.response_class(body, mimetype="application/json")

    return wrapped


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name}: expected a whole number, got {raw!r}")
    if not low <= value <= high:
        abort(400, description=f"{name}: must be in {low}..{high}, got {value}")
    return value


def _local_time(body: dict, name: str, timezone: str, now_s: int, future_s: int) -> int:
    """``body[name]`` (local date-time text, or epoch seconds; now when absent) as epoch
    seconds, at most ``future_s`` ahead of ``now_s`` (400 otherwise)."""
    try:
        return grid_work.parse_local_datetime(
            body.get(name, now_s), timezone, not_after=now_s + future_s
        )
    except ValueError as err:
        abort(400, description=f"{name}: {err}"[:300])


_HEX_ID = re.compile(r"[0-9a-fA-F]{15}")


def _one_cell(hex_id: str) -> int:
    """Parse one hex id at the site's resolution (400 otherwise)."""
    import h3

    # 15 hex digits first: h3 overflows on longer text instead of saying no.
    if not _HEX_ID.fullmatch(hex_id) or not h3.is_valid_cell(hex_id):
        abort(400, description=f"cell: not an H3 cell id: {hex_id[:40]!r}")
    resolution = _data().scoring.resolution
    if h3.get_resolution(hex_id) != resolution:
        abort(
            400,
            description=f"cell: {hex_id} is at H3 resolution {h3.get_resolution(hex_id)}; "
            f"this site stores resolution {resolution}",
        )
    # H3 ids have the top bit clear, so they fit a signed 64-bit integer as stored.
    return int(h3.str_to_int(hex_id))


def _scoped_filters(filters: Filters) -> Filters:
    """The filters with a grid worker's cells intersected in (an area can only narrow them)."""
    scope = _scope()
    if scope is None:
        return filters
    cells = scope if filters.cells is None else np.intersect1d(scope, filters.cells)
    return replace(filters, cells=tuple(int(c) for c in cells))


# --- session ----------------------------------------------------------------------------------


@bp.get("/session")
def session_info():
    """Who is logged in, whether they are scoped to their cells, and the CSRF token."""
    from flask_wtf.csrf import generate_csrf

    scope = _scope()
    return jsonify(
        {
            "username": current_user.username,
            "role": current_user.role,
            "csrf_token": generate_csrf(),
            "scoped": scope is not None,
            "cells": None if scope is None else hex_from_cells(scope),
        }
    )


# --- cells ------------------------------------------------------------------------------------


@bp.get("/cells")
@_data_response
def cells():
    """Cell scores for the filters, hottest first: hex, score, rank, count."""
    data = _data()
    filters = parse_filters(request.args, data, get_engine())
    model = request.args.get("model") or MAP_MODEL
    if model not in _models():
        abort(400, description=f"model: unknown {model!r}; known: {', '.join(_models())}")
    limit = _int_arg("limit", DEFAULT_CELLS_LIMIT, 1, MAX_CELLS_LIMIT)
    scores = cell_scores(data, filters, model=model)
    counts_all = payloads.city_counts(data, filters)
    # Tiers over the figure area; a cell without incidents in the chosen dates has none.
    tiers = score_tiers(scores, figure_area(data), counts_all.index[counts_all > 0].to_numpy())
    scope = _scope()
    if scope is not None:
        scores = scores[np.isin(scores["cell"].to_numpy(), scope)]
    top = scores.nsmallest(limit, "rank")
    counts = counts_all.reindex(top["cell"].to_numpy(), fill_value=0)
    n_cells = len(data.cells)
    as_of_s = filters.end_s if filters.end_s is not None else (data.last_s or 0) + 1
    return jsonify(
        {
            "model": model,
            "as_of": grid_work.local_iso(as_of_s, data.timezone),
            "as_of_s": int(as_of_s),
            "filters": payloads.filters_json(filters, data.timezone),
            "study_cells": n_cells,
            "total": int(len(scores)),
            "cells": payloads.cell_rows(top, counts, tiers),
        }
    )


@bp.get("/cells/<hex_id>")
@_data_response
def cell(hex_id: str):
    """One cell's explanation (geo.explain): incidents in the last 7/28/91/365 days and all
    before, by category; score, rank, Gi* class."""
    data = _data()
    cell_id = _one_cell(hex_id)
    if not _in_scope(cell_id):
        abort(404, description=f"no cell {hex_id} in your grids")
    in_study = in_study_area(data, cell_id)
    rows = grid_work.incident_rows(data, [cell_id])
    if not in_study and not len(rows):
        abort(404, description=f"cell {hex_id} is outside the study area and has no incidents")
    model = request.args.get("model") or MAP_MODEL
    if model not in _models():
        abort(400, description=f"model: unknown {model!r}; known: {', '.join(_models())}")
    import h3

    end_s = grid_work.reference_time(data)
    explanation = grid_work.cell_explanations(data, [cell_id], end_s, model=model)[cell_id]
    counts = payloads.window_counts(explanation.counts)
    names_en, names_zh = payloads.category_names(data)
    status = grid_work.cell_status(explanation, city_tiers(data, model).get(cell_id))
    lat, lng = h3.cell_to_latlng(hex_id)
    return jsonify(
        {
            "cell": hex_id,
            "resolution": data.scoring.resolution,
            "center": {"lat": round(lat, 6), "lon": round(lng, 6)},
            "in_study_area": in_study,
            "as_of": grid_work.local_iso(end_s, data.timezone),
            "as_of_s": int(end_s),
            "counts": counts[ALL_CATEGORIES],
            "categories": [
                {
                    "code": code,
                    "name_en": names_en.get(code, code),
                    "name_zh": names_zh.get(code, code),
                    "counts": row,
                }
                for code, row in counts.items()
                if code != ALL_CATEGORIES
            ],
            "model": model,
            "score": None if status["score"] is None else round(status["score"], 6),
            "rank": status["rank"],
            "tier": status["tier"],
            "gi_bin": status["gi_bin"],
            "study_cells": len(data.cells),
        }
    )


# --- incident aggregates --------------------------------------------------------------------


@bp.get("/incidents/aggregate")
@_data_response
def incidents_aggregate():
    """Incident counts grouped by day, week, month, hour, weekday, category or cell."""
    data = _data()
    by = request.args.get("by") or "day"
    if by not in AGGREGATE_BY:
        abort(400, description=f"by: expected one of {', '.join(AGGREGATE_BY)}, got {by!r}")
    filters = _scoped_filters(parse_filters(request.args, data, get_engine()))
    # Results depend only on the data version, the filters and the scope: cached.
    with _long_aggregate_turn(filters, by):
        total, groups = payloads.cached_aggregate(data, filters, by, scoped=_scope() is not None)
    tz = data.timezone
    return jsonify(
        {
            "by": by,
            "timezone": tz,
            "filters": payloads.filters_json(filters, tz),
            "total": total,
            "groups": groups,
        }
    )


# Calendar aggregates over years of days cost tens of milliseconds each: they take turns,
# so a client asking for new ones without pause cannot take the processors from everyone
# else (other requests go on meanwhile); one that waits too long is told to retry.
_LONG_AGGREGATES = threading.BoundedSemaphore(1)
LONG_AGGREGATE_DAYS = 400
LONG_AGGREGATE_WAIT_S = 5.0


@contextmanager
def _long_aggregate_turn(filters: Filters, by: str) -> Iterator[None]:
    span = None
    if filters.start_s is not None and filters.end_s is not None:
        span = (filters.end_s - filters.start_s) / 86400
    if by not in ("day", "week", "month") or (span is not None and span <= LONG_AGGREGATE_DAYS):
        yield
        return
    if not _LONG_AGGREGATES.acquire(timeout=LONG_AGGREGATE_WAIT_S):
        abort(503, description="busy with other long aggregates: retry in a few seconds")
    try:
        yield
    finally:
        _LONG_AGGREGATES.release()


# --- plans ----------------------------------------------------------------------------------


@bp.get("/plans")
@_plans_response
def plans():
    """Plans, newest first (grid worker: published plans, with their cells' visit count)."""
    tz = _data().timezone
    limit = _int_arg("limit", DEFAULT_PLANS_LIMIT, 1, MAX_PLANS_LIMIT)
    status = request.args.get("status") or None
    if status not in (None, "draft", "published", "replaced"):
        abort(400, description=f"status: expected draft, published or replaced, got {status!r}")
    scope = _scope()
    if scope is not None:
        if status == "draft":
            return jsonify({"plans": []})
        status = status or "published"  # grid workers: published plans, in force or replaced
    frame = storage.list_plans(get_engine(), limit=limit, status=status)
    in_scope: pd.Series | None = None
    if scope is not None:
        visits = storage.plan_visits_frame(get_engine(), cells=scope, published_only=True)
        in_scope = visits.groupby("plan_id").size()
    out = [payloads.plan_list_item(row, tz, in_scope) for row in frame.itertuples()]
    return jsonify({"plans": out})


@bp.get("/plans/<int:plan_id>")
@_plans_response
def plan(plan_id: int):
    """One plan with its visits (grid worker: a published plan, only their cells' visits)."""
    tz = _data().timezone
    stored = storage.get_plan(get_engine(), plan_id)
    scope = _scope()
    if stored is None or (scope is not None and stored.status != "published"):
        abort(404, description=f"no plan {plan_id}")
    visits = storage.plan_visits_frame(get_engine(), plan_id, cells=scope)
    replaced_by = patrol_store.replaced_by(get_engine(), plan_id)
    return jsonify(
        payloads.plan_json(stored, visits, tz, with_summary=scope is None, replaced_by=replaced_by)
    )


# --- check-ins ------------------------------------------------------------------------------


@bp.get("/checkins")
def checkins():
    """Check-ins, newest first, filtered by local dates, cells and plan."""
    data = _data()
    dates = {k: request.args[k] for k in ("start", "end") if request.args.get(k)}
    filters = parse_filters(dates, data)
    wanted = [v for item in request.args.getlist("cell") for v in item.split(",") if v.strip()]
    cells_wanted = cells_of(wanted) if wanted else None
    scope = _scope()
    if scope is not None:
        cells_wanted = scope if cells_wanted is None else np.intersect1d(scope, cells_wanted)
    plan_id = _int_arg("plan_id", None, 1, 2**31 - 1)
    limit = _int_arg("limit", DEFAULT_CHECKINS_LIMIT, 1, MAX_CHECKINS_LIMIT)
    if cells_wanted is not None and not len(cells_wanted):
        rows: list[dict] = []
    else:
        rows = storage.latest_checkins(
            get_engine(),
            limit,
            cells=cells_wanted,
            start=filters.start_s,
            end=filters.end_s,
            plan_id=plan_id,
        )
    hex_ids = hex_from_cells(np.array([r["cell"] for r in rows], dtype=np.int64))
    user_id, with_names = int(current_user.id), scope is None
    return jsonify(
        {
            "filters": {
                "start": grid_work.local_iso(filters.start_s, data.timezone),
                "end": grid_work.local_iso(filters.end_s, data.timezone),
                "cells": wanted or None,
                "plan_id": plan_id,
            },
            "checkins": [
                payloads.checkin_json(r, h, data.timezone, user_id, with_names)
                for r, h in zip(rows, hex_ids, strict=True)
            ],
        }
    )


@bp.post("/checkins")
def create_checkin():
    """Record a visit: {cell, visited_at, minutes, note, client_id} (grid worker: own cells
    only). The same client id sent again by the account is the check-in stored already."""
    if current_user.role not in WRITE_ROLES:
        abort(403, description="commanders have read-only access to the API")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="expected a JSON object {cell, visited_at, minutes, note}")
    hex_id = body.get("cell")
    if not isinstance(hex_id, str) or not hex_id:
        abort(400, description="cell: required, an H3 hex id")
    data = _data()
    cell_id = _one_cell(hex_id)
    if not _in_scope(cell_id):
        abort(403, description=f"cell {hex_id} is not in your grids; nothing was stored")
    if _scope() is None and not in_study_area(data, cell_id):
        abort(400, description=f"cell: {hex_id} is not in the study area")
    now_s = int(clock.now_s())
    visited_at_s = _local_time(body, "visited_at", data.timezone, now_s, grid_work.CHECKIN_FUTURE_S)
    minutes = body.get("minutes", current_app.config["CHECKIN_MINUTES"])
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        abort(400, description=f"minutes: expected a number, got {minutes!r}")
    note = body.get("note", "")
    if not isinstance(note, str):
        abort(400, description="note: expected text")
    client_id = body.get("client_id")
    if client_id is not None and not (
        isinstance(client_id, str) and grid_work.CLIENT_ID.match(client_id)
    ):
        abort(400, description="client_id: 8-40 letters, digits, '-' or '_' (or leave it out)")
    try:
        minutes_value = float(minutes)
    except OverflowError:  # an integer too large for a float: more than any visit lasts
        minutes_value = math.inf
    checkin = grid_work.CheckIn(cell_id, visited_at_s, minutes_value, note.strip(), client_id)
    problems = grid_work.checkin_problems(checkin, now_s)
    if problems:
        abort(400, description=" ".join(problems))
    stored, new = grid_work.record_checkin(
        get_engine(), current_user, checkin, data.timezone, ip=client_ip()
    )
    return jsonify(stored), 201 if new else 200  # the same visit sent again: stored once


# --- field reports (grid workers' event reports) -------------------------------------------------


@bp.post("/reports")
def create_report():
    """Report an event: {category, occurred_at, lon, lat, crs, accuracy_m, note} (grid
    workers, in their own grids only; 403 outside them, nothing stored)."""
    if current_user.role != "grid_worker":
        abort(403, description="only grid workers report events")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="expected a JSON object {category, occurred_at, lon, lat, crs, "
                               "accuracy_m, note}")  # fmt: skip
    category = body.get("category")
    if not isinstance(category, str) or not category:
        abort(400, description="category: required, a report category code")
    numbers = {}
    for name in ("lon", "lat", "accuracy_m"):
        value = body.get(name)
        if value is None and name == "accuracy_m":
            continue
        try:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
            numbers[name] = float(value)
        except (TypeError, OverflowError):
            abort(400, description=f"{name}: expected a number, got {value!r}"[:200])
    crs = body.get("crs", "wgs84")
    if crs not in field_reports.CRS_CHOICES:
        abort(400, description=f"crs: expected one of {', '.join(field_reports.CRS_CHOICES)}")
    note = body.get("note", "")
    if not isinstance(note, str):
        abort(400, description="note: expected text")
    data = _data()
    now_s = int(clock.now_s())
    occurred_at_s = _local_time(
        body, "occurred_at", data.timezone, now_s, field_reports.REPORT_FUTURE_S
    )
    try:
        stored, new = field_reports.submit_report(
            get_engine(),
            current_user,
            category_code=category,
            occurred_at_s=occurred_at_s,
            lon=numbers["lon"],
            lat=numbers["lat"],
            crs=crs,
            accuracy_m=numbers.get("accuracy_m"),
            note=note.strip(),
            resolution=data.resolution,
            ip=client_ip(),
        )
    except field_reports.OutsideGridsError as err:
        abort(403, description=str(err))
    except field_reports.ReportError as err:
        abort(400, description=str(err))
    return jsonify(field_reports.report_json(stored, data.timezone)), 201 if new else 200


@bp.get("/reports/mine")
def my_reports():
    """The logged-in account's reports, newest first, with their status, and the categories
    they may report."""
    limit = _int_arg("limit", 50, 1, 500)
    engine = get_engine()
    timezone = _data().timezone
    rows = report_store.list_field_reports(engine, user_id=current_user.id, limit=limit or 50)
    return jsonify(
        {
            "categories": [
                {"code": c.code, "name": field_reports.category_name(c)}
                for c in report_store.list_report_categories(engine, active_only=True)
            ],
            "reports": [field_reports.report_json(r, timezone) for r in rows],
        }
    )


# --- the document ---------------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    from web.views.openapi import openapi_document

    data = _data()
    return jsonify(
        openapi_document(
            models=_models(),
            default_model=MAP_MODEL,
            groups=("all", *sorted(GROUPS)),
            checkin_minutes=float(current_app.config["CHECKIN_MINUTES"]),
            timezone=data.timezone,
            server_url=request.script_root or "/",
            cookie_name=str(current_app.config.get("SESSION_COOKIE_NAME", "session")),
        )
    )


@bp.get("/docs")
def docs():
    """The API document in Swagger UI, served from this site (no CDN)."""
    prefix = str(current_app.config["VENDOR_URL_PREFIX"]).rstrip("/") + "/"
    return render_template(
        "api_docs.html",
        swagger_js=prefix + SITE_SCRIPTS["swagger_js"],
        swagger_css=prefix + SITE_SCRIPTS["swagger_css"],
        spec_url=url_for("api.openapi"),
    )
