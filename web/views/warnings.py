"""Blueprint ``warnings``: the early-warning inbox (``/warnings/``) and its JSON
(``/api/warnings``), and the unread count of the top bar.

Administrators, commanders and planners see every warning; a grid worker only those
covering a cell of their grids, on the page and in the API alike (another grid's warning
does not exist for them: 404). Opening the inbox marks the warnings it lists read;
acknowledging one (with a note about the place) is audited. Warnings are about places, never
persons; every stored text reaches the page through Jinja's escaping.
"""

from __future__ import annotations

import numpy as np
from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from web import clock, storage
from web.i18n import city_timezone
from web.services import warnings as warning_service
from web.services.cell_names import cell_names
from web.services.grid_work import people_problems, plain_note_problems
from web.services.site_data import site_data
from web.storage.warnings import NOTE_MAX_CHARS
from web.views.access import EVERYONE, audit, get_engine, roles_required

__all__ = ["bp"]

bp = Blueprint("warnings", __name__)

#: Expired warnings listed below the open ones (the newest).
EXPIRED_SHOWN = 30


def _scope() -> np.ndarray | None:
    """The cells whose warnings the user may see (None: all), once per request."""
    if "warning_scope" not in g:
        g.warning_scope = warning_service.visible_cells(
            get_engine(), current_user.role, int(current_user.id)
        )
    return g.warning_scope


def _visible(warning_id: int) -> storage.WarningRecord:
    """The warning if the user may see it, else 404 (another grid's warning does not exist
    for a grid worker)."""
    record = storage.get_warning(get_engine(), warning_id, reader_id=int(current_user.id))
    scope = _scope()
    if record is None or (scope is not None and not np.isin(record.cells, scope).any()):
        abort(404, description=f"no warning {warning_id}")
    return record


def _note() -> tuple[str, str | None]:
    """The acknowledgement's note from a form or JSON, and what is wrong with it."""
    if request.is_json:
        body = request.get_json(silent=True)
        raw = body.get("note") if isinstance(body, dict) else None
    else:
        raw = request.form.get("note")
    note = raw.strip() if isinstance(raw, str) else ""
    if not note:
        return note, _("Write a note: what was done or seen at the place.")
    problems = plain_note_problems(note, NOTE_MAX_CHARS) + people_problems(note)
    return note, problems[0] if problems else None


def _acknowledge(warning_id: int) -> tuple[storage.WarningRecord, str | None]:
    """Acknowledge the warning (404 when the user may not see it) with the request's note,
    audited; or, with the note's problem, leave it as it is."""
    record = _visible(warning_id)
    note, problem = _note()
    if problem is None:
        storage.acknowledge_warning(
            get_engine(), record.id, int(current_user.id), note, int(clock.now_s())
        )
        what = f"warning {record.id} ({record.rule} at {record.place}): {note}"
        audit("warning_acknowledged", what)
    return record, problem


# --- the top bar ----------------------------------------------------------------------------


@bp.app_context_processor
def _unread_count() -> dict:
    """``warnings_unread()`` for the top bar: open warnings in the user's scope not yet read
    (asked only when a page shows the top bar)."""

    def warnings_unread() -> int:
        if not current_user.is_authenticated or int(current_user.id) < 0:
            return 0
        if "warnings_unread" not in g:
            g.warnings_unread = storage.unread_warning_count(
                get_engine(), int(current_user.id), _scope()
            )
        return int(g.warnings_unread)

    return {"warnings_unread": warnings_unread}


# --- the inbox ------------------------------------------------------------------------------


@bp.get("/warnings/")
@roles_required(*EVERYONE)
def inbox():
    """Open warnings newest first, then the latest expired ones; opening marks them read."""
    engine = get_engine()
    tz = city_timezone()
    scope = _scope()
    reader = int(current_user.id)
    open_now = storage.list_warnings(engine, cells=scope, status="open", reader_id=reader,
                                     limit=500)  # fmt: skip
    expired = storage.list_warnings(engine, cells=scope, status="expired", reader_id=reader,
                                    limit=EXPIRED_SHOWN)  # fmt: skip
    acks = storage.list_warning_acks(engine, [w.id for w in open_now + expired])
    storage.mark_warnings_read(engine, reader, [w.id for w in open_now], int(clock.now_s()))
    g.pop("warnings_unread", None)

    names = cell_names(engine, site_data(engine))

    def view(record: storage.WarningRecord) -> dict:
        shown = warning_service.warning_view(record, tz, scope, names)
        return shown | {"acks": acks[record.id]}

    return render_template(
        "warnings/inbox.html",
        open_warnings=[view(w) for w in open_now],
        expired_warnings=[view(w) for w in expired],
        note_max=NOTE_MAX_CHARS,
        scoped=scope is not None,
    )


@bp.post("/warnings/<int:warning_id>/acknowledge")
@roles_required(*EVERYONE)
def acknowledge(warning_id: int):
    """Acknowledge a warning with a note (audited); back to the page it was sent from."""
    record, problem = _acknowledge(warning_id)
    if problem:
        flash(problem, "error")
    else:
        flash(_("Warning acknowledged."), "info")
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("warnings.inbox")
    return redirect(f"{target}#warning-{record.id}")


# --- JSON -----------------------------------------------------------------------------------


@bp.get("/api/warnings")
@roles_required(*EVERYONE)
def api_list():
    """Warnings in the caller's scope, newest first: ``?status=open`` (default), ``expired``
    or ``all``; ``limit`` up to 500. With the caller's unread count."""
    status = request.args.get("status", "open")
    if status not in warning_service.STATUSES:
        choices = ", ".join(warning_service.STATUSES)
        abort(400, description=f"status must be one of {choices}, got {status!r}")
    try:
        limit = int(request.args.get("limit", "200"))
    except ValueError:
        limit = -1
    if not 1 <= limit <= 500:
        abort(400, description="limit must be a whole number from 1 to 500")
    engine = get_engine()
    scope = _scope()
    records = storage.list_warnings(
        engine,
        cells=scope,
        status=None if status == "all" else status,
        reader_id=int(current_user.id),
        limit=limit,
    )
    acks = storage.list_warning_acks(engine, [w.id for w in records])
    tz = city_timezone()
    # A read token has no account: nothing is unread for it (null), nothing marked read.
    unread = (
        None
        if current_user.is_token
        else storage.unread_warning_count(engine, int(current_user.id), scope)
    )
    return jsonify(
        {
            "warnings": [warning_service.warning_json(w, tz, acks[w.id], scope) for w in records],
            "unread": unread,
        }
    )


@bp.get("/api/warnings/<int:warning_id>")
@roles_required(*EVERYONE)
def api_get(warning_id: int):
    """One warning (404 outside the caller's scope); reading it through the API marks it read."""
    record = _visible(warning_id)
    engine = get_engine()
    if not current_user.is_token:
        storage.mark_warnings_read(engine, int(current_user.id), [record.id], int(clock.now_s()))
    acks = storage.list_warning_acks(engine, [record.id])[record.id]
    return jsonify(warning_service.warning_json(record, city_timezone(), acks, _scope()))


@bp.post("/api/warnings/<int:warning_id>/acknowledge")
@roles_required(*EVERYONE)
def api_acknowledge(warning_id: int):
    """Acknowledge with ``{"note": ...}`` (audited): 201 with the warning."""
    record, problem = _acknowledge(warning_id)
    if problem:
        abort(400, description=problem)
    engine = get_engine()
    acks = storage.list_warning_acks(engine, [record.id])[record.id]
    return jsonify(warning_service.warning_json(record, city_timezone(), acks, _scope())), 201


# --- the OpenAPI document -------------------------------------------------------------------
