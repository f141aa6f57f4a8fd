"""Blueprint ``planner`` (pages under ``/plans``): generate, view, publish and export a day's
patrol plan, and print unit briefings.

Plans are solved in a background job (web/services/plan_jobs.py): the form starts a job
and shows a progress page that polls the job until the plan is stored.
"""

from __future__ import annotations

import json
from datetime import date as date_type
from datetime import timedelta

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
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from geo.cells import cells_from_hex, hex_from_cells
from planner.plan_export import visits_csv_for_people
from web import clock, storage
from web.i18n import category_names, city_timezone, local_time
from web.maps import plan_maps
from web.security import spreadsheet_text
from web.services import patrol_requests, plan_edits, plan_jobs
from web.services import replans as replan_service
from web.services import warnings as warning_service
from web.services.cell_names import CellNames, cell_names
from web.services.patrol_plans import (
    PUBLISHABLE_STATUSES,
    SHIFTS,
    PlanRequest,
    cell_focus,
    compare_plans,
    delivered_vs_planned,
    shift_seconds,
    shift_window,
    station_hours,
    unit_schedules,
    units_by_station,
)
from web.services.site_data import site_data
from web.storage import patrols as patrol_store
from web.views.access import ANALYSTS, PLANNERS, audit, client_ip, get_engine, roles_required

bp = Blueprint("planner", __name__, url_prefix="/plans")


EXPORTS = {
    "geojson": ("geojson", "application/geo+json"),
    "gpx": ("gpx", "application/gpx+xml"),
    "csv": ("csv", "text/csv"),
    "json": ("plan_json", "application/json"),
}

SHIFT_NAMES = {"day": _l("day"), "evening": _l("evening"), "night": _l("night")}
STATUS_NAMES = {
    "draft": _l("draft"),
    "published": _l("published"),
    "replaced": _l("replaced"),
    "ok": _l("complete"),
    "partial": _l("partial"),
    "empty": _l("empty"),
    "unreachable": _l("unreachable"),
    "invalid": _l("invalid"),
}
# The solver's own words (planner.solver's engine and stop reasons) for the plan page.
ENGINE_NAMES = {
    "search": _l("local search"),
    "search+ortools": _l("local search and OR-Tools"),
    "ortools": _l("OR-Tools"),
    "none": _l("none (nothing to plan)"),
}
STOPPED_BY = {
    "budget": _l("its work budget ran out"),
    "time_limit": _l("the time limit"),
    "converged": _l("no better plan for a while"),
    "nothing_to_do": _l("nothing to do"),
}
SKIP_REASONS = {
    "no_units": _l("no unit on shift"),
    "no_value": _l("nothing to gain"),
    "unreachable": _l("out of reach in the shift"),
    "not_selected": _l("time went to more valuable cells"),
}
FORM_LIMITS = {
    "units_per_station": (1, 20),
    "station_units": (0, 20),
    "dwell_min": (5.0, 120.0),
    "candidates": (10, 2000),
    "max_visits": (1, 6),
}
FORM_DEFAULTS = {"shift": "day", "units_per_station": "", "dwell_min": "15",
                 "candidates": "300", "max_visits": "2"}  # fmt: skip
# Plans are made for today (in the city) and up to a year ahead; never for a past date.
DATE_RANGE_DAYS = 366
#: Headers of the CSV export, in the reader's language (planner.plan_export column keys).
CSV_HEADERS = {
    "date": _l("Date"),
    "unit": _l("Unit"),
    "station": _l("Station"),
    "stop": _l("Stop"),
    "grid": _l("Grid"),
    "place": _l("Place"),
    "cell": _l("Cell"),
    "arrive": _l("Arrive"),
    "start": _l("Patrol from"),
    "leave": _l("Leave"),
    "minutes": _l("Minutes on the spot"),
    "value": _l("Value"),
}


def _plan_or_404(plan_id: int) -> storage.StoredPlan:
    stored = storage.get_plan(get_engine(), plan_id)
    if stored is None:
        abort(404, description=_("There is no plan %(id)d.", id=plan_id))
    return stored


def _can_plan() -> bool:
    return current_user.is_authenticated and current_user.role in PLANNERS


def _today_local() -> date_type:
    return clock.today(city_timezone())


def _clock_of(stored: storage.StoredPlan):
    """Format seconds since local midnight of the plan's date as the local time of day."""
    origin = stored.shift_start - shift_seconds(stored.shift)[0]
    return lambda seconds: local_time(origin + float(seconds), "HH:mm")


# --- the list ----------------------------------------------------------------------------


@bp.get("/")
@roles_required(*ANALYSTS)
def plans():
    """Every stored plan, newest date first."""
    frame = storage.list_plans(get_engine(), limit=200)
    names = storage.list_users(get_engine()).set_index("id")["username"].to_dict()
    rows = []
    for row in frame.itertuples():
        summary = json.loads(row.summary)
        rows.append(
            {
                "id": int(row.id),
                "date": row.plan_date,
                "shift": row.shift,
                "status": row.status,
                "plan_status": summary.get("status", ""),
                "visits": summary.get("visits", 0),
                "routes": summary.get("routes", 0),
                "value": summary.get("total_value", 0.0),
                "patrol_min": summary.get("dwell_s", 0.0) / 60,
                "created_by": names.get(row.created_by, ""),
                "created_at": row.created_at,
                "published_at": None if pd.isna(row.published_at) else int(row.published_at),
                "replaced_by": None if pd.isna(row.replaced_by) else int(row.replaced_by),
            }
        )
    waiting = patrol_requests.open_requests(get_engine(), int(clock.now_s()))
    return render_template("planner/plans.html", plans=rows, can_plan=_can_plan(),
                           shift_names=SHIFT_NAMES, status_names=STATUS_NAMES,
                           open_requests=len(waiting))  # fmt: skip


# --- generating --------------------------------------------------------------------------


def _parse_plan_form(form) -> tuple[dict, dict[str, str]]:
    """Read the form into PlanRequest arguments; errors by field name, in words."""
    values: dict = {}
    errors: dict[str, str] = {}
    text = form.get("date", "").strip()
    try:
        day = date_type.fromisoformat(text)
    except ValueError:
        errors["date"] = _("Enter a date as YYYY-MM-DD, got “%(value)s”.", value=text)
    else:
        today = _today_local()
        if day < today:
            errors["date"] = _(
                "Date: %(date)s is in the past; plans are made for today (%(today)s) or a "
                "later day.",
                date=day.isoformat(),
                today=today.isoformat(),
            )
        elif (day - today).days > DATE_RANGE_DAYS:
            errors["date"] = _("Pick a date within a year of today.")
        values["date"] = day.isoformat()
    shift = form.get("shift", "")
    if shift not in SHIFTS:
        errors["shift"] = _("Pick one of the shifts.")
    values["shift"] = shift
    for name, kind in (("units_per_station", int), ("dwell_min", float),
                       ("candidates", int), ("max_visits", int)):  # fmt: skip
        raw = form.get(name, "").strip()
        if name == "units_per_station" and not raw:
            values[name] = None  # each station's own number of units
            continue
        low, high = FORM_LIMITS[name]
        try:
            number = kind(raw)
        except ValueError:
            errors[name] = _("Enter a number from %(low)s to %(high)s.", low=low, high=high)
            continue
        if not (low <= number <= high):
            errors[name] = _("Enter a number from %(low)s to %(high)s.", low=low, high=high)
            continue
        values[name] = number
    station_units, station_hours = _parse_station_rows(form, values.get("shift", ""), errors)
    if station_units:
        values["station_units"] = station_units
    if station_hours:
        values["station_hours"] = station_hours
    return values, errors


MAX_STATION_ROWS = 500  # stations a form may name (a city has a few dozen)


def _parse_station_rows(form, shift: str, errors: dict[str, str]) -> tuple[dict, dict]:
    """Per-station units and hours from the form's station table (rows ``station_<i>``,
    ``units_<i>``, ``hours_<i>``); blank cells keep the station's own numbers and the
    shift's hours."""
    known = set(storage.list_stations(get_engine())["station_id"])
    units: dict[str, int] = {}
    hours: dict[str, str] = {}
    low, high = FORM_LIMITS["station_units"]
    for i in range(MAX_STATION_ROWS):
        station = form.get(f"station_{i}")
        if station is None:
            break
        if station not in known:
            errors[f"units_{i}"] = _("Unknown station %(id)s.", id=station[:80])
            continue
        raw = form.get(f"units_{i}", "").strip()
        if raw:
            try:
                number = int(raw)
            except ValueError:
                number = -1
            if not low <= number <= high:
                errors[f"units_{i}"] = _("Enter a number from %(low)s to %(high)s.", low=low,
                                         high=high)  # fmt: skip
            else:
                units[station] = number
        text = form.get(f"hours_{i}", "").strip()[:20]
        if text:
            try:
                shift_seconds(text)
            except ValueError:
                errors[f"hours_{i}"] = _("Enter hours as HH:MM-HH:MM, for example 09:00-15:00.")
                continue
            hours[station] = text
    if hours and shift in SHIFTS and not errors:
        probe = PlanRequest(date="2000-01-01", shift=shift, station_hours=hours)
        try:
            station_hours(probe, storage.list_stations(get_engine()))
        except ValueError:
            errors["station_hours"] = _("Station hours must lie within the shift (%(hours)s).",
                                        hours=SHIFTS[shift])  # fmt: skip
    return units, hours


def _form_page(form_values: dict, errors: dict[str, str], status: int = 200):
    stations = storage.list_stations(get_engine())
    return render_template(
        "planner/new.html",
        values=form_values,
        errors=errors,
        shifts=SHIFTS,
        shift_names=SHIFT_NAMES,
        limits=FORM_LIMITS,
        stations=stations,
        time_limit_s=float(current_app.config["PLAN_TIME_LIMIT_S"]),
        road_network=bool(current_app.config.get("ROAD_NETWORK_FILE")),
        # The station table opens when it has values or errors.
        open_stations=any(
            key.startswith(("units_", "hours_", "station_hours")) and value
            for key, value in list(errors.items()) + list(form_values.items())
        ),
    ), status


def _visible_job(job_id: str) -> plan_jobs.PlanJob | None:
    """The job if the current user may see it (its owner or an admin)."""
    job = plan_jobs.find(job_id)
    if job is None or not (job.owner_id == current_user.id or current_user.role == "admin"):
        return None
    return job


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*PLANNERS)
def new_plan():
    """The form for a day's plan; a valid POST starts the solve and shows its progress."""
    if request.method == "GET":
        job = _visible_job(request.args.get("job", ""))
        if job is not None:  # reloading the progress page
            return _progress_page(job)
        tomorrow = (_today_local() + timedelta(days=1)).isoformat()
        return _form_page(FORM_DEFAULTS | {"date": tomorrow}, {})
    values, errors = _parse_plan_form(request.form)
    if errors:
        return _form_page(request.form.to_dict(), errors, 400)
    time_limit_s = float(current_app.config["PLAN_TIME_LIMIT_S"])
    plan_request = PlanRequest(
        **values,
        time_limit_s=time_limit_s,
        road_network_file=str(current_app.config.get("ROAD_NETWORK_FILE") or "") or None,
        warning_value_factor=float(current_app.config["WARNING_VALUE_FACTOR"]),
    )
    who = plan_jobs.Requester(int(current_user.id), current_user.username, client_ip())
    try:
        job = plan_jobs.submit(
            get_engine(), plan_request, who, str(current_app.config["SECRET_KEY"])
        )
    except plan_jobs.JobRefused as err:
        return _form_page(request.form.to_dict(), {"form": _job_refusal(str(err))}, 429)
    return _progress_page(job)


def _progress_page(job: plan_jobs.PlanJob):
    return render_template(
        "planner/progress.html",
        job=job,
        job_url=url_for("planner.job", job_id=job.id),
        shift_names=SHIFT_NAMES,
    )


def _job_refusal(reason: str) -> str:
    if reason.startswith("your earlier plan"):
        return _("Your earlier plan is still being made: wait for it or cancel it.")
    return _("Other plans are waiting for the solver; try again in a minute.")


@bp.post("/jobs/<job_id>/cancel")
@roles_required(*PLANNERS)
def cancel_job(job_id: str):
    """Stop a plan job (its owner or an administrator); nothing is stored."""
    found = _visible_job(job_id)
    if found is None:
        abort(404, description=_("No such job (it may have finished long ago)."))
    if plan_jobs.cancel(found):
        audit("plan_cancelled", f"job for {found.request.date} {found.request.shift}")
        flash(_("The plan was cancelled; nothing was stored."), "info")
    return redirect(url_for("planner.new_plan"))


@bp.get("/jobs/<job_id>")
@roles_required(*PLANNERS)
def job(job_id: str):
    """A plan job's state as JSON (its owner and admins only)."""
    found = plan_jobs.find(job_id)
    if found is None:
        return jsonify({"error": _("No such job (it may have finished long ago)."),
                        "status": 404}), 404  # fmt: skip
    if _visible_job(job_id) is None:
        return jsonify({"error": _("This job belongs to someone else."), "status": 403}), 403
    state = found.state()
    error = found.error
    if state == "failed" and error is None:
        error = _("The planner stopped with an unexpected error; it is in the server log.")
    return jsonify(
        {
            "state": state,
            "phase": found.phase,
            "elapsed_s": round(found.elapsed_s(), 1),
            "time_limit_s": found.time_limit_s,
            "plan_id": found.plan_id,
            "plan_url": url_for("planner.plan", plan_id=found.plan_id) if found.plan_id else None,
            "error": error,
        }
    )


# --- one plan ----------------------------------------------------------------------------


def _plan_message(summary: dict, document: dict) -> str:
    """The plan's result in a sentence in the page's language (the planner writes English:
    its sentence is shown only for the rare outcomes without a translation here)."""
    status = summary.get("status")
    if status == "ok":
        return _(
            "%(visits)d visits planned for %(units)d units; %(left)d candidate stops left out.",
            visits=sum(len(u.get("stops", [])) for u in document.get("units", [])),
            units=sum(1 for u in document.get("units", []) if u.get("stops")),
            left=len(document.get("skipped", [])),
        )
    if status == "partial" and document.get("missed_mandatory"):
        return _(
            "%(n)d mandatory stops could not be fitted into any shift.",
            n=len(document["missed_mandatory"]),
        )
    if status == "unreachable" and not document.get("units"):
        return _("No unit can reach any candidate cell and return within the shift.")
    return str(summary.get("message", ""))


def _cell_names() -> CellNames:
    """Readable cell names (G061-12) of this database's grids, beats and districts."""
    engine = get_engine()
    return cell_names(engine, site_data(engine))


def _name_stops(units: list[dict], names: CellNames) -> None:
    """Give every stop its readable ``name`` (the H3 id when no area names it)."""
    for unit in units:
        for stop in unit["stops"]:
            stop["name"] = names.name(stop["cell"])


def _map_labels() -> dict[str, str]:
    return {
        "unit": _("Unit"),
        "station": _("Station"),
        "stop": _("Stop"),
        "cell": _("Cell"),
        "arrive": _("Arrive"),
        "start": _("Patrol from"),
        "leave": _("Leave"),
        "value": _("Value"),
        "streets": _("route along the streets"),
        "straight": _("straight lines, not streets (no road network)"),
        "stations": _("Police stations"),
    }


@bp.get("/<int:plan_id>")
@roles_required(*ANALYSTS)
def plan(plan_id: int):
    """A plan: map, unit schedules, totals, comparison, delivered against planned."""
    engine = get_engine()
    stored = _plan_or_404(plan_id)
    document = json.loads(stored.plan_json)
    geojson = json.loads(stored.geojson)
    names = _cell_names()
    units = unit_schedules(document, geojson)
    _name_stops(units, names)
    revision = _revision_view(stored)
    _mark_revised(stored, units, revision)
    stations_units = units_by_station(units)
    # Colours station by station: a station's units get neighbouring, most different colours.
    colours = plan_maps.unit_colours([u["id"] for g in stations_units for u in g["units"]])
    figure = plan_maps.plan_map(
        geojson,
        clock=_clock_of(stored),
        labels=_map_labels(),
        stations=storage.list_stations(engine),
        boundary=storage.load_areas_table(engine, "jurisdiction"),
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
        colours=colours,
        unit_stations={u["id"]: u["start"] for u in units},
        cell_label=names.label,
    )
    visits = storage.plan_visits_frame(engine, plan_id)
    comparison = None
    previous = storage.previous_plan(engine, stored)
    if previous is not None:
        comparison = compare_plans(visits, storage.plan_visits_frame(engine, previous.id))
        for key in ("both", "only_now", "only_before"):
            comparison[key] = [names.label(int(cell)) for cell in comparison[key]]
    start, end = shift_window(stored.plan_date, stored.shift, city_timezone())
    cells = visits["cell"].unique()
    checkins = storage.checkins_frame(engine, cells=cells, start=start, end=end)
    covered = _covered_warnings(engine, cells, (start, end))
    delivery = delivered_vs_planned(visits, checkins)
    delivery["hex"] = hex_from_cells(delivery["cell"].to_numpy())
    delivery["name"] = [names.name(int(cell)) for cell in delivery["cell"]]
    published = storage.list_plans(engine, limit=500, status="published")  # those in force
    replaced_by = patrol_store.replaced_by(engine, stored.id)
    replaces = [
        int(other_id)
        for other_id, plan_date, shift in zip(
            published["id"], published["plan_date"], published["shift"], strict=True
        )
        if plan_date == stored.plan_date and shift == stored.shift and other_id != stored.id
    ]
    skipped_counts: dict[str, int] = {}
    for item in document.get("skipped", []):
        skipped_counts[item["reason"]] = skipped_counts.get(item["reason"], 0) + 1
    summary = stored.summary
    return render_template(
        "planner/plan.html",
        plan=stored,
        summary=summary,
        plan_message=_plan_message(summary, document),
        engine_names=ENGINE_NAMES,
        stopped_by=STOPPED_BY,
        document=document,
        units=units,
        stations_units=stations_units,
        colours=colours,
        cell_names=names,
        map_parts=figure,
        clock=_clock_of(stored),
        previous=previous,
        comparison=comparison,
        delivery=delivery,
        # Cells with check-ins, and the most planned ones even without.
        delivery_rows=delivery[(delivery["delivered_min"] > 0) | (delivery.index < 15)],
        delivery_window=(start, end),
        replaces=replaces,
        replaced_by=replaced_by,
        past=stored.plan_date < _today_local().isoformat(),
        skipped_counts=skipped_counts,
        can_plan=_can_plan(),
        publishable=summary.get("status") in PUBLISHABLE_STATUSES,
        exports=list(EXPORTS),
        shift_names=SHIFT_NAMES,
        status_names=STATUS_NAMES,
        skip_reasons=SKIP_REASONS,
        covered_warnings=covered,
        revision=revision,
        can_replan=_can_plan() and _replan_refusal(stored) is None,
        can_edit=_can_plan() and _edit_refusal(stored) is None,
        violations=[
            (u["id"], v) for u in document.get("units", []) for v in u.get("violations", [])
        ]
        + [("", v) for v in document.get("violations", [])],
        # The factor the plan was made with (plans made before warnings: the setting's).
        warning_factor=float(
            stored.request.get("warning_value_factor", current_app.config["WARNING_VALUE_FACTOR"])
        ),
    )


def _covered_warnings(engine, cells, window: tuple[int, int]) -> list[dict]:
    """The early warnings whose cells the plan visits and whose time overlaps its shift,
    with the visited cells among theirs."""
    visited = np.asarray(cells, dtype=np.int64)
    if not len(visited):
        return []
    records = storage.list_warnings(engine, cells=visited, overlapping=window, limit=500)
    names = _cell_names()
    return [warning_service.warning_view(r, city_timezone(), visited, names) for r in records]


@bp.post("/<int:plan_id>/publish")
@roles_required(*PLANNERS)
def publish(plan_id: int):
    """Publish a draft plan (grid workers then see its visits) once the planner ticked the
    confirmation box; replaces any other published plan of the same date and shift, which
    keeps its publication time and shows as replaced. Plans for past dates are refused."""
    stored = _plan_or_404(plan_id)
    target = redirect(url_for("planner.plan", plan_id=plan_id))
    if stored.summary.get("status") not in PUBLISHABLE_STATUSES:
        flash(_("This plan has no routes to drive (%(message)s) and cannot be published.",
                message=stored.summary.get("message", "")), "error")  # fmt: skip
        return target
    if stored.status == "published":
        newer = patrol_store.replaced_by(get_engine(), plan_id)
        if newer is not None:
            flash(_("This plan was replaced by plan %(id)d and stays in the history.",
                    id=newer), "info")  # fmt: skip
        else:
            flash(_("This plan is already published."), "info")
        return target
    if stored.plan_date < _today_local().isoformat():
        flash(_("This plan is for %(date)s, a past date, and cannot be published.",
                date=stored.plan_date), "error")  # fmt: skip
        return target
    if request.form.get("confirm") != "yes":
        flash(_("Tick “I have checked this plan” to publish it."), "error")
        return redirect(url_for("planner.plan", plan_id=plan_id, _anchor="publish-form"))
    storage.publish_plan(get_engine(), plan_id, int(current_user.id))
    audit("plan_published", f"plan {plan_id}: {stored.plan_date} {stored.shift}")
    flash(_("Plan published: grid workers see its visits now."), "success")
    return target


@bp.get("/<int:plan_id>/export/<fmt>")
@roles_required(*PLANNERS)
def export(plan_id: int, fmt: str):
    """Download the plan as GeoJSON, GPX (in-car devices), CSV or the plan JSON."""
    if fmt not in EXPORTS:
        abort(404, description=_("Unknown export format %(fmt)s; use one of %(formats)s.",
                                 fmt=fmt, formats=", ".join(EXPORTS)))  # fmt: skip
    stored = _plan_or_404(plan_id)
    attribute, mimetype = EXPORTS[fmt]
    # Date, shift and plan number: two plans of one date and shift never share a name.
    filename = f"plan-{stored.plan_date}-{stored.shift}-{stored.id}.{fmt}"
    audit("plan_exported", f"plan {plan_id} ({stored.plan_date} {stored.shift}) as {fmt}")
    body = _people_csv(stored) if fmt == "csv" else getattr(stored, attribute)
    if fmt == "csv":
        mimetype = "text/csv; charset=utf-8"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _people_csv(stored: storage.StoredPlan) -> str:
    """The plan's visits for people: local date, hh:mm, station and grid (UTF-8 with BOM)."""
    units = unit_schedules(json.loads(stored.plan_json), json.loads(stored.geojson))
    stops = [(unit, stop) for unit in units for stop in unit["stops"]]
    cells = cells_from_hex([stop["cell"] for _unit, stop in stops]) if stops else np.empty(0)
    grids = storage.load_area_cells(get_engine(), "grid")
    grid_of = dict(zip(grids["cell"].tolist(), grids["area_id"], strict=True))
    names = _cell_names()
    frame = pd.DataFrame(
        [
            # Stored names as text a spreadsheet never runs (a station named "=..."), as the
            # other CSV exports do.
            {"unit": spreadsheet_text(unit["id"]), "station": spreadsheet_text(unit["start"]),
             "stop": stop["order"], "grid": spreadsheet_text(grid_of.get(int(cell), "")),
             "place": spreadsheet_text(names.name(int(cell))),
             "cell": stop["cell"],
             "arrival_s": stop["arrival_s"], "start_s": stop["start_s"],
             "departure_s": stop["departure_s"], "value": stop["value"]}
            for (unit, stop), cell in zip(stops, cells, strict=True)
        ],
        columns=["unit", "station", "stop", "grid", "place", "cell", "arrival_s", "start_s",
                 "departure_s", "value"],
    )  # fmt: skip
    origin_s = stored.shift_start - shift_seconds(stored.shift)[0]
    origin = pd.Timestamp(origin_s, unit="s", tz="UTC").tz_convert(city_timezone())
    headers = {key: str(label) for key, label in CSV_HEADERS.items()}
    return visits_csv_for_people(frame, origin, headers)


# --- re-planning during the shift --------------------------------------------------------

DONE_FROM_NAMES = {
    "checkins": _l("grid workers' check-ins"),
    "plan": _l("the plan as followed"),
}


def _replan_refusal(stored: storage.StoredPlan) -> str | None:
    """Why ``stored`` cannot be re-planned, in words, or None."""
    if stored.status != "published":
        return _("Only a published plan is re-planned during its shift; change a draft by "
                 "generating it again.")  # fmt: skip
    newer = patrol_store.replaced_by(get_engine(), stored.id)
    if newer is not None:
        return _("Plan %(id)d replaced this plan: re-plan the plan in force.", id=newer)
    if not stored.problem:
        return _("This plan was made before plans kept their problem: generate it again to "
                 "re-plan it.")  # fmt: skip
    return None


def _edit_refusal(stored: storage.StoredPlan) -> str | None:
    """Why ``stored`` cannot be edited, in words, or None."""
    newer = patrol_store.replaced_by(get_engine(), stored.id)
    if newer is not None:
        return _("Plan %(id)d replaced this plan: edit the plan in force.", id=newer)
    if not stored.problem:
        return _("This plan was made before plans kept their problem: generate it again to "
                 "edit it.")  # fmt: skip
    _start, end = shift_window(stored.plan_date, stored.shift, city_timezone())
    if int(clock.now_s()) >= end:
        return _("This plan's shift is over.")
    return None


def _revision_view(stored: storage.StoredPlan) -> dict | None:
    """A revision's why and what it changed, named for people; None for a first plan."""
    changes = replan_service.revision_changes(get_engine(), stored.id)
    if changes is None:
        return None
    names = _cell_names()
    why = changes["replan"]
    return {
        "revision": changes["revision"],
        "revision_of": changes["revision_of"],
        "at": int(why["at"]),
        "called_away": why.get("called_away", []),
        "back": why.get("back", []),
        "off_duty": why.get("off_duty", []),
        "urgent": [names.label(h) for h in why.get("urgent", [])],
        "done_from": DONE_FROM_NAMES.get(why.get("done_from", ""), ""),
        "done_visits": why.get("done_visits"),
        "reason": why.get("reason", ""),
        "added": [(names.label(c), u, t) for c, u, t in changes["added"]],
        "cancelled": [(names.label(c), u, t) for c, u, t in changes["cancelled"]],
        "moved": [(names.label(c), old, new) for c, old, new in changes["moved"]],
        "edits": plan_edits.edits_summary(why["edits"], names.label) if why.get("edits") else None,
        "changed_cells": {
            hex_from_cells(np.array([c], dtype=np.int64))[0]
            for c, *_rest in changes["added"] + changes["moved"]
        },  # fmt: skip
    }


# --- briefings ---------------------------------------------------------------------------


def _briefing_units(stored: storage.StoredPlan, unit_id: str | None) -> list[dict]:
    """Units for the briefing pages, each with its route drawing and what to look out for."""
    document = json.loads(stored.plan_json)
    geojson = json.loads(stored.geojson)
    units = unit_schedules(document, geojson)
    if unit_id is not None:
        units = [u for u in units if u["id"] == unit_id]
        if not units:
            abort(404, description=_("Plan %(id)d has no unit %(unit)s.", id=stored.id,
                                     unit=unit_id))  # fmt: skip
    every_unit = units_by_station(unit_schedules(document, geojson))
    colours = plan_maps.unit_colours([u["id"] for g in every_unit for u in g["units"]])
    _name_stops(units, _cell_names())
    cells = cells_from_hex([s["cell"] for u in units for s in u["stops"]])
    categories = storage.load_categories_table(get_engine())
    police_initiated = tuple(categories.loc[categories["police_initiated"], "code"])
    focus = cell_focus(get_engine(), cells, end_s=stored.shift_start, exclude=police_initiated)
    names = category_names()
    grids = storage.load_area_cells(get_engine(), "grid")
    grid_of = dict(zip(grids["cell"].tolist(), grids["area_id"], strict=True))
    cell_of_hex = dict(zip([s["cell"] for u in units for s in u["stops"]], cells.tolist(),
                           strict=True))  # fmt: skip
    for unit in units:
        unit["svg"] = plan_maps.route_svg(
            geojson,
            unit["id"],
            colour=colours[unit["id"]],
            station_label=unit["start"],
            scale_label=lambda m: f"{m / 1000:g} km" if m >= 1000 else f"{m:g} m",
        )
        for stop in unit["stops"]:
            stop["grid"] = grid_of.get(cell_of_hex[stop["cell"]], "")
            stop["focus"] = [
                (names.get(code, code), n) for code, n in focus.get(cell_of_hex[stop["cell"]], [])
            ]
    return units


def _mark_revised(stored: storage.StoredPlan, units: list[dict], revision: dict | None) -> None:
    """Mark the stops a revision added or moved (after its re-plan time) with ``revised``."""
    origin = stored.shift_start - shift_seconds(stored.shift)[0]
    for unit in units:
        for stop in unit["stops"]:
            stop["revised"] = bool(
                revision
                and origin + stop["start_s"] >= revision["at"]
                and stop["cell"] in revision["changed_cells"]
            )


def _briefing_page(stored: storage.StoredPlan, units: list[dict]):
    revision = _revision_view(stored)
    _mark_revised(stored, units, revision)
    return render_template(
        "planner/briefing.html",
        plan=stored,
        units=units,
        clock=_clock_of(stored),
        shift_names=SHIFT_NAMES,
        status_names=STATUS_NAMES,
        shift_hours=SHIFTS.get(stored.shift, stored.shift),
        replaced_by=patrol_store.replaced_by(get_engine(), stored.id),
        revision=revision,
    )


@bp.get("/<int:plan_id>/briefing")
@roles_required(*ANALYSTS)
def briefings(plan_id: int):
    """Every unit's printable briefing, one per page."""
    stored = _plan_or_404(plan_id)
    return _briefing_page(stored, _briefing_units(stored, None))


@bp.get("/<int:plan_id>/briefing/<unit_id>")
@roles_required(*ANALYSTS)
def briefing(plan_id: int, unit_id: str):
    """One unit's printable briefing: route drawing, stops, times and what to look out for."""
    stored = _plan_or_404(plan_id)
    return _briefing_page(stored, _briefing_units(stored, unit_id))


# The re-plan and edit pages register on this blueprint.
from web.views import planner_revisions  # noqa: E402, F401
