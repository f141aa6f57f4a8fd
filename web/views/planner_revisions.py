"""Re-planning and editing a published plan on the ``planner`` blueprint: re-plan the rest of
the shift (``/plans/<id>/replan``: units called away or back, urgent cells from commanders'
requests, warnings or typed names) and edit a plan (``/plans/<id>/edit``: lock, move,
exclude, add; checked exactly, or re-optimised around the edits). Both make a draft revision
of the plan in a background job (web/services/replans.py, web/services/plan_edits.py).
"""

from __future__ import annotations

import json

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from web import clock, storage
from web.i18n import city_timezone, local_time
from web.services import patrol_requests, plan_edits, plan_jobs
from web.services import replans as replan_service
from web.services import warnings as warning_service
from web.services.patrol_plans import PlanRequest, plan_record, shift_window, unit_schedules
from web.views.access import PLANNERS, audit, client_ip, get_engine, roles_required
from web.views.planner import (
    DONE_FROM_NAMES,
    SHIFT_NAMES,
    _cell_names,
    _clock_of,
    _edit_refusal,
    _job_refusal,
    _name_stops,
    _plan_or_404,
    _progress_page,
    _replan_refusal,
    bp,
)


def _plan_units(stored: storage.StoredPlan) -> list[str]:
    document = json.loads(stored.plan_json)
    return list(document.get("unit_stations", {})) or [u["id"] for u in document["units"]]


def _parse_replan_form(
    stored: storage.StoredPlan, form
) -> tuple[replan_service.ReplanRequest | None, dict[str, str]]:
    """Read the re-plan form; errors by field name, in words."""
    errors: dict[str, str] = {}
    timezone = city_timezone()
    at_s = 0
    try:
        at_s = replan_service.parse_replan_time(form.get("at", "")[:20], stored, timezone,
                                                int(clock.now_s()))  # fmt: skip
    except replan_service.ReplanError:
        start, end = shift_window(stored.plan_date, stored.shift, timezone)
        errors["at"] = _(
            "Enter a time (hh:mm) within the shift, %(start)s to %(end)s.",
            start=local_time(start, "HH:mm"),
            end=local_time(end, "HH:mm"),
        )
    units = set(_plan_units(stored))
    off_duty = set((stored.replan or {}).get("off_duty", []))
    away = [u for u in form.getlist("away")[:500] if u in units - off_duty]
    back = [u for u in form.getlist("back")[:500] if u in off_duty]
    names = _cell_names()
    words = [w for w in form.get("urgent", "")[:2000].replace("，", ",").replace("、", ",")
             .replace(",", " ").split() if w]  # fmt: skip
    urgent: list[int] = []
    unknown = []
    for word in words + form.getlist("urgent_cell")[: replan_service.MAX_URGENT]:
        found = names.find(word, limit=2)
        if len(found) == 1:
            urgent.append(int(found[0]))
        else:
            unknown.append(word)
    if unknown:
        errors["urgent"] = _("No cell is named %(names)s; use names such as G061-12 or H3 ids.",
                             names=", ".join(unknown[:5]))  # fmt: skip
    urgent = list(dict.fromkeys(urgent))
    if len(urgent) > replan_service.MAX_URGENT:
        errors["urgent"] = _("At most %(n)d urgent cells.", n=replan_service.MAX_URGENT)
    done_from = form.get("done_from", "checkins")
    if done_from not in DONE_FROM_NAMES:
        errors["done_from"] = _("Pick where the visits already done come from.")
    reason = form.get("reason", "").strip()
    if len(reason) > replan_service.MAX_REASON:
        errors["reason"] = _("At most %(n)d characters.", n=replan_service.MAX_REASON)
    if not errors and not (away or back or urgent):
        errors["form"] = _("Say what changed: a unit called away or back, or an urgent cell.")
    if errors:
        return None, errors
    try:
        change = replan_service.ReplanRequest(
            at_s=at_s, called_away=tuple(away), back=tuple(back), urgent=tuple(urgent),
            done_from=done_from, reason=reason,
            time_limit_s=min(replan_service.DEFAULT_TIME_LIMIT_S,
                             float(current_app.config["PLAN_TIME_LIMIT_S"])),
        )  # fmt: skip
    except replan_service.ReplanError as err:
        return None, {"form": str(err)}
    return change, {}


def _replan_page(stored: storage.StoredPlan, values: dict, errors: dict[str, str],
                 status: int = 200):  # fmt: skip
    engine = get_engine()
    timezone = city_timezone()
    start, end = shift_window(stored.plan_date, stored.shift, timezone)
    off_duty = set((stored.replan or {}).get("off_duty", []))
    units = _plan_units(stored)
    names = _cell_names()
    now = int(clock.now_s())
    open_warnings = storage.list_warnings(engine, status="open", overlapping=(max(now, start), end),
                                          limit=50)  # fmt: skip
    # Commanders' open requests first, then the open warnings' cells.
    warned = patrol_requests.replan_suggestions(engine, names, local_time, now)
    for record in open_warnings:
        view = warning_service.warning_view(record, timezone, None, names)
        for hex_id in view["hexes"][:10]:
            warned.append({"hex": hex_id, "label": names.label(hex_id), "why": view["rule_label"],
                           "place": view["place"]})  # fmt: skip
    return render_template(
        "planner/replan.html",
        plan=stored,
        values=values,
        errors=errors,
        on_duty=[u for u in units if u not in off_duty],
        off_duty=[u for u in units if u in off_duty],
        warned=warned[: replan_service.MAX_URGENT],
        done_from_names=DONE_FROM_NAMES,
        shift_names=SHIFT_NAMES,
        shift_hours=(local_time(start, "HH:mm"), local_time(end, "HH:mm")),
        max_urgent=replan_service.MAX_URGENT,
        max_reason=replan_service.MAX_REASON,
    ), status


def _submit_revision(
    stored: storage.StoredPlan, change: replan_service.ReplanRequest
) -> plan_jobs.PlanJob:
    """Queue a job that re-plans ``stored`` with ``change`` (a re-plan or edits re-optimised);
    raises plan_jobs.JobRefused when it cannot start now."""
    who = plan_jobs.Requester(int(current_user.id), current_user.username, client_ip())
    plan_request = PlanRequest(date=stored.plan_date, shift=stored.shift,
                               time_limit_s=change.time_limit_s)  # fmt: skip
    return plan_jobs.submit(get_engine(), plan_request, who, str(current_app.config["SECRET_KEY"]),
                            revision_of=stored.id, change=change)  # fmt: skip


def _changeable(plan_id: int, refusal_of):
    """The plan (404 if none), and a redirect to its page saying why when ``refusal_of``
    finds it cannot be changed that way (else None)."""
    stored = _plan_or_404(plan_id)
    refusal = refusal_of(stored)
    if refusal is None:
        return stored, None
    flash(refusal, "error")
    return stored, redirect(url_for("planner.plan", plan_id=plan_id))


@bp.route("/<int:plan_id>/replan", methods=["GET", "POST"])
@roles_required(*PLANNERS)
def replan(plan_id: int):
    """Re-plan the rest of a published plan's shift: units called away or back, urgent cells.
    A valid POST starts a job whose result is a draft revision of the plan."""
    stored, refused = _changeable(plan_id, _replan_refusal)
    if refused is not None:
        return refused
    if request.method == "GET":
        now = int(clock.now_s())
        start, end = shift_window(stored.plan_date, stored.shift, city_timezone())
        at = now if start <= now < end else start
        return _replan_page(stored, {"at": local_time(at, "HH:mm"), "done_from": "checkins"}, {})
    change, errors = _parse_replan_form(stored, request.form)
    if change is None:
        values = request.form.to_dict() | {"away": request.form.getlist("away"),
                                           "back": request.form.getlist("back")}  # fmt: skip
        return _replan_page(stored, values, errors, 400)
    try:
        job = _submit_revision(stored, change)
    except plan_jobs.JobRefused as err:
        return _replan_page(stored, request.form.to_dict(), {"form": _job_refusal(str(err))}, 429)
    return _progress_page(job)


# --- editing a plan -------------------------------------------------------------------------


def _edit_time(stored: storage.StoredPlan) -> int:
    """Edits apply from now in a running shift, to the whole shift before it starts."""
    start, _end = shift_window(stored.plan_date, stored.shift, city_timezone())
    return max(int(clock.now_s()), start - 1)


def _parse_edit_form(stored: storage.StoredPlan, form) -> tuple[dict, list[int], dict[str, str]]:
    """The edits (locks, moves, excluded cells), the cells to add and errors by field."""
    errors: dict[str, str] = {}
    document = json.loads(stored.plan_json)
    stops_of = {u["id"]: len(u["stops"]) for u in document["units"]}
    # Visits go only to units on patrol (not those a re-plan called away).
    units = set(_plan_units(stored)) - set((stored.replan or {}).get("off_duty", []))

    def visit(text: str) -> tuple[str, int] | None:
        unit, _sep, seq = text.rpartition("|")
        if unit in stops_of and seq.isdigit() and 1 <= int(seq) <= stops_of[unit]:
            return unit, int(seq)
        return None

    locks = [v for v in (visit(t) for t in form.getlist("lock")[:MAX_EDIT_ROWS]) if v]
    moves = []
    for key in list(form.keys())[: 4 * MAX_EDIT_ROWS]:
        if not key.startswith("move|"):
            continue
        target = form.get(key, "").strip()[:80]
        where = visit(key.removeprefix("move|"))
        if not target or where is None or target == where[0]:
            continue
        if target not in units:
            errors["moves"] = _("No unit %(unit)s in this plan.", unit=target)
            continue
        moves.append([where[0], where[1], target])
    names = _cell_names()
    exclude = []
    for text in form.getlist("exclude")[:MAX_EDIT_ROWS]:
        found = names.find(text, limit=2)
        if len(found) == 1:
            exclude.append(int(found[0]))
    words = form.get("add", "")[:2000].replace("，", " ").replace("、", " ").replace(",", " ")
    add, unknown = [], []
    for word in words.split():
        found = names.find(word, limit=2)
        (add.append(int(found[0])) if len(found) == 1 else unknown.append(word))
    if unknown:
        errors["add"] = _("No cell is named %(names)s; use names such as G061-12 or H3 ids.",
                          names=", ".join(unknown[:5]))  # fmt: skip
    if len(set(add)) > replan_service.MAX_URGENT:
        errors["add"] = _("At most %(n)d cells.", n=replan_service.MAX_URGENT)
    if not (locks or moves or exclude or add) and not errors:
        errors["form"] = _("Tick a lock, a move or an exclusion, or add a cell.")
    edits = {
        "locks": [list(x) for x in locks],
        "moves": moves,
        "exclude": sorted(set(exclude)),
        "reoptimise": form.get("action") == "reoptimise",
    }
    return edits, list(dict.fromkeys(add)), errors


MAX_EDIT_ROWS = 2000


def _edit_page(stored: storage.StoredPlan, errors: dict[str, str], status: int = 200):
    document = json.loads(stored.plan_json)
    geojson = json.loads(stored.geojson)
    units = unit_schedules(document, geojson)
    _name_stops(units, _cell_names())
    return render_template(
        "planner/edit.html",
        plan=stored,
        units=units,
        unit_ids=[
            u
            for u in _plan_units(stored)
            if u not in set((stored.replan or {}).get("off_duty", []))
        ],
        errors=errors,
        clock=_clock_of(stored),
        shift_names=SHIFT_NAMES,
        values=request.form if request.method == "POST" else MultiDict(),
        lock_slack_min=30,
    ), status


@bp.route("/<int:plan_id>/edit", methods=["GET", "POST"])
@roles_required(*PLANNERS)
def edit(plan_id: int):
    """Lock, move or exclude visits and add cells; check the edits as they stand or
    re-optimise around them. The result is a draft revision of the plan."""
    stored, refused = _changeable(plan_id, _edit_refusal)
    if refused is not None:
        return refused
    if request.method == "GET":
        return _edit_page(stored, {})
    edits, add, errors = _parse_edit_form(stored, request.form)
    reason = request.form.get("reason", "").strip()
    if len(reason) > replan_service.MAX_REASON:
        errors["reason"] = _("At most %(n)d characters.", n=replan_service.MAX_REASON)
    if errors:
        return _edit_page(stored, errors, 400)
    change = replan_service.ReplanRequest(
        at_s=_edit_time(stored), urgent=tuple(add), done_from="plan", reason=reason,
        edits=edits,
        time_limit_s=min(replan_service.DEFAULT_TIME_LIMIT_S,
                         float(current_app.config["PLAN_TIME_LIMIT_S"])),
    )  # fmt: skip
    if edits["reoptimise"]:
        try:
            job = _submit_revision(stored, change)
        except plan_jobs.JobRefused as err:
            return _edit_page(stored, {"form": _job_refusal(str(err))}, 429)
        return _progress_page(job)
    try:
        planned, plan_request, why = plan_edits.check_edits(get_engine(), stored, change)
    except replan_service.ReplanError as err:
        return _edit_page(stored, {"form": str(err)}, 400)
    record = plan_record(planned, plan_request)
    new_id = storage.store_plan(get_engine(), created_by=int(current_user.id), **record,
                                revision_of=stored.id, replan=why)  # fmt: skip
    audit("plan_edited", f"plan {new_id} (edit of plan {stored.id}): {len(edits['locks'])} "
          f"locks, {len(edits['moves'])} moves, {len(edits['exclude'])} excluded, "
          f"{len(add)} added")  # fmt: skip
    if planned.plan.feasible:
        flash(_("Your edits pass every check. Publish the plan when it suits you."), "success")
    else:
        flash(_("Your edits break some rules: see “What the check found” below, or re-optimise "
                "around them."), "error")  # fmt: skip
    return redirect(url_for("planner.plan", plan_id=new_id))
