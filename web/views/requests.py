"""Blueprint ``requests``: commanders' patrol requests (``/requests/``).

A commander (or administrator) asks that a cell be patrolled within the next hours, with a
reason about the place; planners, commanders and administrators see every request with what
became of it (waiting, planned by a plan in force, visited, ended, withdrawn), and the
planner finds the open ones among the urgent cells of the re-plan form. The author or an
administrator withdraws a request. Every request and withdrawal is audited; stored texts
reach the page through Jinja's escaping.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from web import clock
from web.i18n import local_time
from web.services import patrol_requests as service
from web.services.cell_names import cell_names
from web.services.filters import in_study_area
from web.services.site_data import site_data
from web.views.access import ANALYSTS, audit, get_engine, roles_required

__all__ = ["REQUESTERS", "bp"]

bp = Blueprint("requests", __name__, url_prefix="/requests")

#: Who may ask for a patrol (planners answer requests; grid workers report events instead).
REQUESTERS = ("admin", "commander")


def _page(values: dict, errors: dict[str, str], status: int = 200):
    engine = get_engine()
    data = site_data(engine)
    names = cell_names(engine, data)
    now = int(clock.now_s())
    views = service.request_views(engine, names, local_time, now)
    return render_template(
        "requests/index.html",
        requests=views,
        open_count=sum(v["open"] for v in views),
        values=values,
        errors=errors,
        may_request=current_user.role in REQUESTERS,
        hours_choices=service.HOURS_CHOICES,
        reason_max=service.REASON_MAX_CHARS,
    ), status


@bp.get("/")
@roles_required(*ANALYSTS)
def index():
    """Every request of the last week with its state; the request form for commanders."""
    cell = request.args.get("cell", "")[:100]
    return _page({"cell": cell}, {})


@bp.post("/")
@roles_required(*REQUESTERS)
def create():
    """Store a request (cell, reason, hours); the form again with its errors if refused."""
    engine = get_engine()
    data = site_data(engine)
    names = cell_names(engine, data)
    submission = service.submit_request(
        engine, current_user, names, lambda cell: in_study_area(data, cell), request.form,
        int(clock.now_s()),
    )  # fmt: skip
    if submission.errors:
        values = {k: request.form.get(k, "")[:400] for k in ("cell", "reason", "hours")}
        return _page(values, submission.errors, 400)
    audit("patrol_request", submission.audit_detail)
    flash(_("Request sent: the planners see it among the urgent cells of the re-plan form."))
    return redirect(url_for("requests.index", _anchor=f"request-{submission.request_id}"))


@bp.post("/<int:request_id>/withdraw")
@roles_required(*REQUESTERS)
def withdraw(request_id: int):
    """Withdraw an open request (its author or an administrator)."""
    done = service.withdraw_request(get_engine(), current_user, request_id, int(clock.now_s()))
    if done is None:
        abort(404, description=f"no request {request_id} of yours")
    if done:
        audit("patrol_request_withdrawn", f"request {request_id}")
        flash(_("Request withdrawn."))
    else:
        flash(_("That request was not open any more."), "error")
    return redirect(url_for("requests.index"))
