"""Blueprint ``grid`` (pages under ``/grid``): a grid worker's own cells, on a phone.

The page shows only the cells of the management grids assigned to the logged-in grid worker:
a small map, recent incidents per cell (counts by category, never any record of a person),
hotspot status, today's visits from published plans, what to check, and a check-in form.
The rules it shares with the JSON API live in web/services/grid_work.py; event reports
(a place, a time, a category and a note; never a person) in web/services/reports.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from geo.cells import hex_from_cells
from geo.explain import ALL_CATEGORIES, window_label
from web import clock, storage
from web.maps.render import grid_worker_map
from web.services import reports as field_reports
from web.services import site_data
from web.services import warnings as warning_service
from web.services.grid_work import (
    CARD_WINDOWS_DAYS,
    CHECKIN_FUTURE_S,
    CHECKIN_MAX_MINUTES,
    HINT_CATEGORIES,
    HINT_DAYS,
    HOT_HOURS_MIN_INCIDENTS,
    NOTE_MAX_CHARS,
    PLAN_GRACE_S,
    RECENT_DAYS,
    cell_explanations,
    cell_status,
    checkin_problems,
    local_day_bounds,
    parse_local_datetime,
    record_checkin,
    reference_time,
)
from web.storage import reports as report_store
from web.storage import warnings as warning_store
from web.views.access import client_ip, get_engine, roles_required

__all__ = ["bp"]

bp = Blueprint("grid", __name__, url_prefix="/grid")


# --- the page ---------------------------------------------------------------------------


@bp.before_request
@roles_required("grid_worker")
def _grid_workers_only() -> None:
    """Every page of this blueprint is for grid workers (guarded once, here)."""


def _category_names(data) -> dict[str, str]:
    column = "name_zh" if str(get_locale() or "").startswith("zh") else "name_en"
    table = data.categories
    return dict(zip(table["code"], table[column], strict=True))


def _cell_grids(engine, data, grid_ids: Sequence[str]) -> dict[int, tuple[str, int]]:
    """Cell -> (grid id, 1-based number within the grid) for readable labels."""
    labels: dict[int, tuple[str, int]] = {}
    for grid_id in grid_ids:
        try:
            cells = site_data.area_cells(engine, data, f"grid:{grid_id}")
        except site_data.FilterError:  # a grid with no cells
            continue
        for number, cell in enumerate(cells, start=1):
            labels.setdefault(int(cell), (grid_id, number))
    return labels


def _hot_hours(hour_counts: Sequence[int]) -> tuple[int, int] | None:
    """The busiest 3-hour window (local) of a cell's counts per hour, when there are enough."""
    if sum(hour_counts) < HOT_HOURS_MIN_INCIDENTS:
        return None
    by_hour = np.asarray(hour_counts)
    windows = by_hour + np.roll(by_hour, -1) + np.roll(by_hour, -2)
    start = int(windows.argmax())
    return start, (start + 3) % 24


def _cell_cards(engine, data, cells: np.ndarray, grid_ids: Sequence[str]) -> list[dict]:
    """One dict per cell for the page: label, status, counts, categories and hints, from
    each cell's explanation over CARD_WINDOWS_DAYS (hour counts over HINT_DAYS)."""
    explanations = cell_explanations(data, cells, reference_time(data), CARD_WINDOWS_DAYS)
    names = _category_names(data)
    labels = _cell_grids(engine, data, grid_ids)
    hex_ids = hex_from_cells(cells)
    recent, hint = [window_label(d) for d in RECENT_DAYS], window_label(HINT_DAYS)

    def recent_counts(row) -> dict[int, int]:
        return {d: int(row[name]) for d, name in zip(RECENT_DAYS, recent, strict=True)}

    cards = []
    for cell, hex_id in zip(cells.tolist(), hex_ids, strict=True):
        grid_id, number = labels.get(cell, ("", 0))
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
                "grid": grid_id,
                "number": number,
                "label": f"{grid_id}-{number}" if grid_id else hex_id[-6:],
                **cell_status(explanation),
                "counts": recent_counts(table.loc[ALL_CATEGORIES]),
                "categories": [
                    {
                        "name": names.get(row["category"], row["category"]),
                        "counts": recent_counts(row),
                    }
                    for row in shown.to_dict(orient="records")
                ],
                "hints": [
                    (names.get(row["category"], row["category"]), int(row[hint]))
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


def _today_visits(engine, data, cells: np.ndarray, cards: list[dict], now_s: int) -> list[dict]:
    start_s, end_s = local_day_bounds(data.timezone, now_s)
    visits = storage.plan_visits_frame(
        engine, cells=cells, start=start_s, end=end_s, published_only=True
    )
    if visits.empty:
        return []
    labels = {c["cell"]: c["label"] for c in cards}
    done = storage.checkins_frame(engine, cells=cells, start=start_s - PLAN_GRACE_S, end=end_s)
    out = []
    ordered = visits.sort_values(["start_at", "unit_id"])
    for cell, start_at, end_at, unit_id, plan_id in zip(
        ordered["cell"],
        ordered["start_at"],
        ordered["end_at"],
        ordered["unit_id"],
        ordered["plan_id"],
        strict=True,
    ):
        delivered = done[
            (done["cell"] == cell)
            & (done["visited_at"] >= start_at - PLAN_GRACE_S)
            & (done["visited_at"] <= end_at + PLAN_GRACE_S)
        ]
        out.append(
            {
                "start_at": int(start_at),
                "end_at": int(end_at),
                "unit_id": unit_id,
                "plan_id": int(plan_id),
                "label": labels.get(int(cell), ""),
                "hex": hex_from_cells(np.array([cell], dtype=np.int64))[0],
                "checked_in": not delivered.empty,
            }
        )
    return out


def _my_reports(timezone: str) -> list[dict]:
    """The worker's newest reports with their status (and a rejection's reason)."""
    return [
        field_reports.report_json(r, timezone)
        for r in report_store.list_field_reports(get_engine(), user_id=current_user.id, limit=20)
    ]


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
    cards = _cell_cards(engine, data, cells, grid_ids)
    labels = {c["cell"]: c["label"] for c in cards}
    mine = storage.checkins_frame(
        engine, cells=cells, user_id=current_user.id, start=now_s - 14 * 86400
    ).head(20)
    checkins = [
        {
            "visited_at": int(visited_at),
            "label": labels.get(int(cell), ""),
            "minutes": float(minutes),
            "note": note,
            "planned": plan_id == plan_id and plan_id is not None,  # no plan: NaN or None
        }
        for visited_at, cell, minutes, note, plan_id in zip(
            mine["visited_at"],
            mine["cell"],
            mine["minutes"],
            mine["note"],
            mine["plan_id"],
            strict=True,
        )
    ]
    now_local = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(data.timezone)
    defaults = {
        "cell": cards[0]["hex"],
        "visited_at": now_local.strftime("%Y-%m-%dT%H:%M"),
        "minutes": f"{float(current_app.config['CHECKIN_MINUTES']):g}",
        "note": "",
    }
    defaults.update(form or {})
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
    return (
        render_template(
            "grid/home.html",
            no_grids=False,
            grid_ids=grid_ids,
            cards=cards,
            map_parts=_grid_map(engine, cards, grid_ids),
            visits=_today_visits(engine, data, cells, cards, now_s),
            checkins=checkins,
            form=defaults,
            errors=list(errors),
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
            warning_note_max=warning_store.NOTE_MAX_CHARS,
        ),
        status,
    )


def _grid_warnings(engine, timezone: str, cells: np.ndarray, labels: dict, now_s: int) -> list:
    """The open early warnings touching the worker's cells, newest first, with their cells
    among the worker's by label; shown at the top of the page, so they count as read."""
    records = storage.list_warnings(
        engine, cells=cells, status="open", reader_id=int(current_user.id), limit=50
    )
    acks = storage.list_warning_acks(engine, [w.id for w in records])
    views = []
    for record in records:
        view = warning_service.warning_view(record, timezone, cells)
        mine = np.asarray(record.cells, dtype=np.int64)
        view["labels"] = [labels.get(int(c), "") for c in mine[np.isin(mine, cells)]]
        views.append(view | {"acks": acks[record.id]})
    storage.mark_warnings_read(engine, int(current_user.id), [w.id for w in records], now_s)
    return views


@bp.get("/")
def home():
    """The grid worker's page: their cells, status, today's visits and the check-in form."""
    return _render_home()


@bp.post("/checkin")
def checkin():
    """Record a visit to one of the worker's cells (403 for any other cell)."""
    engine = get_engine()
    data = site_data.site_data(engine)
    cells = storage.user_cells(engine, current_user.id)
    form = {k: request.form.get(k, "").strip() for k in ("cell", "visited_at", "minutes", "note")}
    try:
        cell = int(site_data.cells_of([form["cell"]])[0])
    except site_data.FilterError:
        cell = None
    if cell is None or not np.isin(cell, cells):
        abort(403, description=_("That cell is not in your grids; nothing was stored."))
    errors = []
    now_s = int(clock.now_s())
    try:
        visited_at_s = parse_local_datetime(
            form["visited_at"], data.timezone, not_after=now_s + CHECKIN_FUTURE_S
        )
    except ValueError:
        errors.append(_("Enter the visit time as date and time."))
        visited_at_s = now_s
    try:
        minutes = float(form["minutes"])
    except ValueError:
        minutes = float("nan")
    errors += checkin_problems(visited_at_s, minutes, form["note"], now_s)
    if errors:
        return _render_home(errors=errors, form=form, status=400)
    _stored, new = record_checkin(engine, current_user, cell, visited_at_s, minutes,
                                  form["note"], data.timezone, ip=client_ip())  # fmt: skip
    if new:
        flash(_("Check-in recorded."), "success")
    else:
        flash(_("This visit was recorded already; it is stored once."), "info")
    return redirect(url_for("grid.home"))


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
