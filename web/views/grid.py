"""Blueprint ``grid`` (pages under ``/grid``): a grid worker's own cells, on a phone.

The page shows only the cells of the management grids assigned to the logged-in grid worker.
Its first screen says what to do now: this shift's visits in the worker's cells (the next one
first) and the open warnings; tapping a visit or a cell opens a pre-filled check-in that the
page sends to ``/grid/checkin.json`` (``/grid/checkin`` without scripts), with the phone's
position when "I'm here" is used. Tabs hold the day's tasks, the cells (counts by category,
never any record of a person), reports and warnings. A service worker (``/grid/sw.js``) keeps
the page and its files for a weak connection; check-ins made offline wait on the phone and are
sent once. The rules live in web/services/grid_work.py and web/services/grid_phone.py; event
reports (a place, a time, a category and a note; never a person) in web/services/reports.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from geo.cells import hex_from_cells
from geo.explain import ALL_CATEGORIES, window_label
from web import clock, storage
from web.i18n import category_names
from web.maps.render import grid_worker_map
from web.services import grid_phone, replans, site_data
from web.services import reports as field_reports
from web.services import warnings as warning_service
from web.services.cell_names import cell_names
from web.services.grid_work import (
    CARD_WINDOWS_DAYS,
    CHECKIN_MAX_MINUTES,
    HINT_CATEGORIES,
    HINT_DAYS,
    HOT_HOURS_MIN_INCIDENTS,
    NOTE_MAX_CHARS,
    RECENT_DAYS,
    cell_explanations,
    cell_status,
    parse_local_datetime,
    reference_time,
)
from web.services.scores import city_tiers
from web.storage import reports as report_store
from web.storage import warnings as warning_store
from web.views.access import client_ip, get_engine, roles_required

__all__ = ["bp"]

bp = Blueprint("grid", __name__, url_prefix="/grid")

# The service worker's file; served from /grid/ so that its scope covers the grid pages.
SERVICE_WORKER = Path(__file__).resolve().parents[1] / "static" / "grid-sw.js"
NOW_VISITS_SHOWN = 5  # the first screen's visits; the Tasks tab lists them all


# --- the page ---------------------------------------------------------------------------


@bp.before_request
@roles_required("grid_worker")
def _grid_workers_only() -> None:
    """Every page of this blueprint is for grid workers (guarded once, here)."""


def _hot_hours(hour_counts: Sequence[int]) -> tuple[int, int] | None:
    """The busiest 3-hour window (local) of a cell's counts per hour, when there are enough."""
    if sum(hour_counts) < HOT_HOURS_MIN_INCIDENTS:
        return None
    by_hour = np.asarray(hour_counts)
    windows = by_hour + np.roll(by_hour, -1) + np.roll(by_hour, -2)
    start = int(windows.argmax())
    return start, (start + 3) % 24


def _cell_cards(data, cells: np.ndarray, names) -> list[dict]:
    """One dict per cell for the page: name, status, counts, categories and hints, from
    each cell's explanation over CARD_WINDOWS_DAYS (hour counts over HINT_DAYS)."""
    explanations = cell_explanations(data, cells, reference_time(data), CARD_WINDOWS_DAYS)
    categories = category_names()
    tiers = city_tiers(data)
    recent, hint = [window_label(d) for d in RECENT_DAYS], window_label(HINT_DAYS)

    def recent_counts(row) -> dict[int, int]:
        return {d: int(row[name]) for d, name in zip(RECENT_DAYS, recent, strict=True)}

    cards = []
    for cell, hex_id in zip(cells.tolist(), hex_from_cells(cells), strict=True):
        explanation = explanations[cell]
        table = explanation.counts
        mine = table.drop(index=ALL_CATEGORIES).rename_axis("category").reset_index()
        shown = mine[mine[recent[-1]] > 0].sort_values(
            [recent[-1], recent[0], "category"], ascending=[False, False, True]
        )
        top = mine[mine[hint] > 0].sort_values([hint, "category"], ascending=[False, True])
        cards.append(
            {
                "cell": cell,
                "hex": hex_id,
                "label": names.name(cell),
                **cell_status(explanation, tiers.get(cell)),
                "counts": recent_counts(table.loc[ALL_CATEGORIES]),
                "categories": [
                    {
                        "name": categories.get(row["category"], row["category"]),
                        "counts": recent_counts(row),
                    }
                    for row in shown.to_dict(orient="records")
                ],
                "hints": [
                    (categories.get(row["category"], row["category"]), int(row[hint]))
                    for row in top.head(HINT_CATEGORIES).to_dict(orient="records")
                ],
                "hot_hours": _hot_hours(explanation.hour_counts.counts),
            }
        )
    # Hottest first: tier, then Gi* class, then rank.
    tier_order = {"top1": 0, "top5": 1, None: 2}
    cards.sort(
        key=lambda c: (
            tier_order[c["tier"]],
            -(c["gi_bin"] or 0),
            c["rank"] if c["rank"] is not None else 10**9,
        )
    )
    return cards


_STATUS_COLOURS = {"top1": "#bd0026", "top5": "#f03b20", "hot": "#feb24c", None: "#9ecae1"}


def _grid_map(engine, cards: list[dict], grid_ids: Sequence[str]) -> dict[str, str]:
    """The worker's cells coloured by status, with the grid outlines."""
    cells = [
        {
            "hex": card["hex"],
            "label": card["label"],
            "status": _status_text(card),
            "n28": card["counts"][RECENT_DAYS[-1]],
            "colour": _STATUS_COLOURS[
                card["tier"] or ("hot" if (card["gi_bin"] or 0) > 0 else None)
            ],
        }
        for card in cards
    ]
    grids = storage.load_areas_table(engine, "grid")
    return grid_worker_map(
        cells,
        grids[grids["area_id"].isin(list(grid_ids))],
        labels={"grids": _("My grids"), "cells": _("My cells"), "label": _("Cell"),
                "status": _("Status"), "n28": _("Incidents, 28 days")},
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
    )  # fmt: skip


def _status_text(card: dict) -> str:
    parts = []
    if card["tier"] == "top1":
        parts.append(_("top %(n)d %% of the city", n=1))
    elif card["tier"] == "top5":
        parts.append(_("top %(n)d %% of the city", n=5))
    confidence = {1: 90, 2: 95, 3: 99}.get(card["gi_bin"] or 0)
    if confidence:
        parts.append(_("Gi* hot spot (%(p)d %% confidence)", p=confidence))
    return "; ".join(parts) or _("not a hotspot")


def _shift_label(shift: grid_phone.Shift) -> str:
    names = {"day": _("Day shift"), "evening": _("Evening shift"), "night": _("Night shift")}
    return names.get(shift.name, shift.name)


def _my_reports(timezone: str) -> list[dict]:
    """The worker's newest reports with their status (and a rejection's reason)."""
    return [
        field_reports.report_json(r, timezone)
        for r in report_store.list_field_reports(get_engine(), user_id=current_user.id, limit=20)
    ]


def _my_checkins(engine, cells: np.ndarray, names, now_s: int) -> list[dict]:
    """The worker's check-ins of the last 14 days, newest first (at most 20)."""
    mine = storage.checkins_frame(
        engine, cells=cells, user_id=current_user.id, start=now_s - 14 * 86400
    ).head(20)
    rows = zip(mine["visited_at"], mine["cell"], mine["minutes"], mine["note"], mine["plan_id"],
               strict=True)  # fmt: skip
    return [
        {
            "visited_at": int(visited_at),
            "label": names.name(int(cell)),
            "minutes": float(minutes),
            "note": note,
            "planned": plan_id == plan_id and plan_id is not None,  # no plan: NaN or None
        }
        for visited_at, cell, minutes, note, plan_id in rows
    ]


def _checkin_defaults(cards, visits, now_local: pd.Timestamp, form: dict | None) -> dict:
    """The check-in form's values: what was sent back, else the visit or cell asked for in
    the query (a tapped row without scripts), else the next visit or the hottest cell."""
    known = {c["hex"] for c in cards}
    asked = request.args.get("cell", "").strip().lower()
    upcoming = [v for v in visits if v["state"] in ("next", "pending")]
    cell = asked if asked in known else (upcoming[0]["hex"] if upcoming else cards[0]["hex"])
    defaults = {
        "cell": cell,
        "visited_at": now_local.strftime("%Y-%m-%dT%H:%M"),
        "minutes": f"{float(current_app.config['CHECKIN_MINUTES']):g}",
        "note": "",
        "client_id": uuid.uuid4().hex,  # a form sent twice (back, resend) is stored once
        "lon": "",
        "lat": "",
        "crs": "wgs84",
        "accuracy_m": "",
    }
    defaults.update(form or {})
    return defaults


def _render_home(
    errors: Sequence[str] = (),
    form: dict | None = None,
    status: int = 200,
    report_errors: Sequence[str] = (),
    report_form: dict | None = None,
):
    engine = get_engine()
    data = site_data.site_data(engine)
    cells = storage.user_cells(engine, current_user.id)
    grid_ids = storage.user_grid_ids(engine, current_user.id)
    now_s = int(clock.now_s())
    if not len(cells):
        return render_template("grid/home.html", no_grids=True, grid_ids=grid_ids), status
    names = cell_names(engine, data)
    cards = _cell_cards(data, cells, names)
    labels = {c["cell"]: c["label"] for c in cards}
    shift = grid_phone.current_shift(data.timezone, now_s)
    visits = grid_phone.day_visits(engine, data.timezone, cells, names, now_s)
    now_visits = grid_phone.now_first(visits, shift, now_s)
    now_local = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(data.timezone)
    report_defaults = {
        "category": "",
        "occurred_at": now_local.strftime("%Y-%m-%dT%H:%M"),
        "lon": "",
        "lat": "",
        "crs": "wgs84",
        "accuracy_m": "",
        "note": "",
    }
    report_defaults.update(report_form or {})
    open_tab = "reports" if report_errors else None
    return (
        render_template(
            "grid/home.html",
            no_grids=False,
            grid_ids=grid_ids,
            cards=cards,
            map_parts=_grid_map(engine, cards, grid_ids),
            visits=visits,
            shift=shift,
            shift_label=_shift_label(shift),
            now_visits=now_visits[:NOW_VISITS_SHOWN],
            now_total=len(now_visits),
            now_s=now_s,
            timezone=data.timezone,
            checkins=_my_checkins(engine, cells, names, now_s),
            form=_checkin_defaults(cards, now_visits, now_local, form),
            errors=list(errors),
            open_tab=open_tab,
            as_of_s=reference_time(data) - 1,
            recent_days=RECENT_DAYS,
            hint_days=HINT_DAYS,
            synthetic=storage.incident_summary(engine)["synthetic"],
            status_text=_status_text,
            max_minutes=CHECKIN_MAX_MINUTES,
            note_max=NOTE_MAX_CHARS,
            report_categories=[
                (c.code, field_reports.category_name(c))
                for c in report_store.list_report_categories(engine, active_only=True)
            ],
            report_form=report_defaults,
            report_errors=list(report_errors),
            report_note_max=field_reports.NOTE_MAX_CHARS,
            my_reports=_my_reports(data.timezone),
            grid_warnings=_grid_warnings(engine, data.timezone, cells, labels, now_s),
            plan_changes=_plan_changes(engine, visits, cells, names),
            warning_note_max=warning_store.NOTE_MAX_CHARS,
        ),
        status,
    )


def _plan_changes(engine, visits: list[dict], cells: np.ndarray, names) -> list[dict]:
    """What re-plans of today's plans in force changed in my cells (web.services.replans):
    when, why, and the visits new, moved or cancelled, named for people. Visits of ``visits``
    a re-plan added or moved get ``revised``."""
    out = []
    for plan_id in sorted({v["plan_id"] for v in visits}):
        changes = replans.revision_changes(engine, plan_id, cells)
        if changes is None:
            continue
        fresh = {(c, u, t) for c, u, t in changes["added"]}
        fresh |= {(c, u, t) for c, _before, now in changes["moved"] for u, t in now}
        for visit in visits:
            if visit["plan_id"] == plan_id and (visit["cell"], visit["unit_id"],
                                                visit["start_at"]) in fresh:  # fmt: skip
                visit["revised"] = True
        if not (changes["added"] or changes["moved"] or changes["cancelled"]):
            continue
        out.append(
            {
                "at": int(changes["replan"]["at"]),
                "reason": changes["replan"].get("reason", ""),
                "added": [(names.name(c), t) for c, _u, t in changes["added"]],
                "moved": [
                    (names.name(c), [t for _u, t in before], [t for _u, t in now])
                    for c, before, now in changes["moved"]
                ],  # fmt: skip
                "cancelled": [(names.name(c), t) for c, _u, t in changes["cancelled"]],
            }
        )
    return out


def _grid_warnings(engine, timezone: str, cells: np.ndarray, labels: dict, now_s: int) -> list:
    """The open early warnings touching the worker's cells, newest first, with their cells
    among the worker's by name; shown on the first screen, so they count as read."""
    records = storage.list_warnings(
        engine, cells=cells, status="open", reader_id=int(current_user.id), limit=50
    )
    names = cell_names(engine, site_data.site_data(engine))
    acks = storage.list_warning_acks(engine, [w.id for w in records])
    views = []
    for record in records:
        view = warning_service.warning_view(record, timezone, cells, names)
        mine = np.asarray(record.cells, dtype=np.int64)
        view["labels"] = [labels.get(int(c), "") for c in mine[np.isin(mine, cells)]]
        views.append(view | {"acks": acks[record.id]})
    storage.mark_warnings_read(engine, int(current_user.id), [w.id for w in records], now_s)
    return views


@bp.get("/")
def home():
    """The grid worker's page: what to do now, check-ins, and tabs for the rest."""
    return _render_home()


# --- check-ins ---------------------------------------------------------------------------


def _checkin_form() -> dict[str, str]:
    return {k: request.form.get(k, "").strip() for k in grid_phone.CHECKIN_FIELDS}


def _own_cell(text: str) -> int | None:
    """The cell of ``text`` (an H3 id) when it is one of the worker's, else None."""
    try:
        cell = int(site_data.cells_of([text])[0])
    except site_data.FilterError:
        return None
    cells = storage.user_cells(get_engine(), current_user.id)
    return cell if np.isin(cell, cells) else None


def _submit(form: dict[str, str], cell: int) -> grid_phone.CheckinOutcome:
    engine = get_engine()
    data = site_data.site_data(engine)
    return grid_phone.submit_checkin(engine, current_user, cell, form, data.timezone,
                                     int(clock.now_s()), ip=client_ip())  # fmt: skip


def _stored_message(new: bool) -> str:
    if new:
        return _("Check-in recorded.")
    return _("This visit was recorded already; it is stored once.")


@bp.post("/checkin")
def checkin():
    """Record a visit to one of the worker's cells (403 for any other cell); the page
    without scripts posts here and comes back to the check-in."""
    form = _checkin_form()
    cell = _own_cell(form["cell"])
    if cell is None:
        abort(403, description=_("That cell is not in your grids; nothing was stored."))
    outcome = _submit(form, cell)
    if outcome.errors:
        return _render_home(errors=outcome.errors, form=form, status=400)
    flash(_stored_message(outcome.new), "success" if outcome.new else "info")
    return redirect(url_for("grid.home", _anchor="now"))


@bp.post("/checkin.json")
def checkin_json():
    """The same check-in for the page's script: JSON ``{ok, new, message, checkin}``, or
    ``{ok: false, errors}`` with 400 (a rule broken) or 403 (not the worker's cell)."""
    form = _checkin_form()
    cell = _own_cell(form["cell"])
    if cell is None:
        errors = [_("That cell is not in your grids; nothing was stored.")]
        return jsonify({"ok": False, "errors": errors}), 403
    outcome = _submit(form, cell)
    if outcome.errors:
        return jsonify({"ok": False, "errors": outcome.errors}), 400
    return jsonify(
        {
            "ok": True,
            "new": outcome.new,
            "message": _stored_message(outcome.new),
            "checkin": outcome.stored,
            "distance_m": outcome.distance_m,
        }
    )


@bp.get("/token.json")
def token_json():
    """A fresh CSRF token for check-ins queued on a page that was loaded offline."""
    response = jsonify({"csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sw.js")
def service_worker():
    """The grid pages' service worker (scope /grid/), never cached by the browser's HTTP
    cache so that a new version is found on the next visit."""
    response = Response(SERVICE_WORKER.read_text(encoding="utf-8"), mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = url_for("grid.home")
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- event reports -----------------------------------------------------------------------


_REPORT_FIELDS = ("category", "occurred_at", "lon", "lat", "crs", "accuracy_m", "note")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


@bp.post("/report")
def report():
    """Report an event at a place in the worker's grids (403 for a place outside them)."""
    engine = get_engine()
    data = site_data.site_data(engine)
    form = {k: request.form.get(k, "").strip() for k in _REPORT_FIELDS}
    now_s = int(clock.now_s())
    try:
        occurred_at_s = parse_local_datetime(
            form["occurred_at"], data.timezone, not_after=now_s + field_reports.REPORT_FUTURE_S
        )
    except ValueError:
        errors = [_("Enter the time of the event as date and time.")]
        return _render_home(report_errors=errors, report_form=form, status=400)
    errors: list[str] = []
    accuracy = _number(form["accuracy_m"]) if form["accuracy_m"] else None
    try:
        stored, new = field_reports.submit_report(
            engine,
            current_user,
            category_code=form["category"],
            occurred_at_s=occurred_at_s,
            lon=_number(form["lon"]),
            lat=_number(form["lat"]),
            crs=form["crs"],
            accuracy_m=accuracy,
            note=form["note"],
            resolution=data.resolution,
            ip=client_ip(),
        )
    except field_reports.ReportError as err:
        errors += err.problems
    except field_reports.OutsideGridsError as err:
        abort(403, description=str(err))
    if errors:
        return _render_home(report_errors=errors, report_form=form, status=400)
    if new:
        flash(_("Report sent; a commander will review it."), "success")
    else:
        flash(_("This report was sent already; it is stored once."), "info")
    return redirect(url_for("grid.home", _anchor="my-reports"))
