"""Patrol requests: a commander asks that a cell be patrolled within the next hours.

A request names a cell (``G061-12`` or an H3 id), a reason about the place (never a person:
ID card and phone numbers are refused, as in field reports) and how long it stands. The
planner sees the open ones among the urgent cells of the re-plan form; what became of each
(planned by a plan in force, checked in, expired, withdrawn) is read from plans and check-ins
(:func:`web.storage.request_outcomes`), so the list cannot drift from what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h3
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from web import storage
from web.services.cell_names import CellNames
from web.services.grid_work import CONTROL_CHARACTERS, personal_number_kind

__all__ = [
    "HOURS_CHOICES",
    "MAX_OPEN_PER_USER",
    "REASON_MAX_CHARS",
    "STATE_NAMES",
    "RequestSubmission",
    "request_views",
    "replan_suggestions",
    "submit_request",
    "withdraw_request",
]

#: How long a request may stand, in hours (the form's choices; the first is the default).
HOURS_CHOICES = (4, 2, 8, 24)
REASON_MAX_CHARS = 200
#: Open requests one account may have at a time (a request is for what is urgent).
MAX_OPEN_PER_USER = 20
#: Requests the page lists (the newest, still standing or ended within LIST_DAYS).
LIST_LIMIT = 200
LIST_DAYS = 7

STATE_NAMES = {
    "waiting": _l("Waiting for a plan"),
    "planned": _l("Planned"),
    "visited": _l("Visited"),
    "expired": _l("Ended without a visit"),
    "withdrawn": _l("Withdrawn"),
}


@dataclass
class RequestSubmission:
    """What the form sent, checked: the request's id (and the audit line) when stored, else
    the errors by field."""

    request_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)
    audit_detail: str = ""


def reason_problem(reason: str) -> str | None:
    """What is wrong with a request's reason, or None."""
    if not reason:
        return _("Say why the place needs a patrol.")
    if len(reason) > REASON_MAX_CHARS:
        return _("At most %(n)d characters.", n=REASON_MAX_CHARS)
    if CONTROL_CHARACTERS.search(reason):
        return _("The text holds control characters; type it as plain text.")
    if personal_number_kind(reason):
        return _(
            "The reason holds an ID card or phone number. Requests describe places, never "
            "people: remove it; nothing was stored."
        )
    return None


def submit_request(
    engine, user, names: CellNames, in_study_area, form, now_s: int
) -> RequestSubmission:
    """Check and store a request from ``form`` (cell, reason, hours) for ``user``.

    ``in_study_area(cell) -> bool`` says whether a cell is one the site plans for."""
    out = RequestSubmission()
    cell_text = str(form.get("cell", "")).strip()[:100]
    found = names.find(cell_text, limit=2) if cell_text else []
    if len(found) != 1:
        out.errors["cell"] = _("No cell is named %(names)s; use names such as G061-12 or H3 ids.",
                               names=cell_text or "…")  # fmt: skip
    elif not in_study_area(int(found[0])):
        out.errors["cell"] = _("That cell is outside the area the site plans for.")
    reason = str(form.get("reason", "")).strip()
    problem = reason_problem(reason[: REASON_MAX_CHARS * 4])
    if problem:
        out.errors["reason"] = problem
    try:
        hours = int(form.get("hours", HOURS_CHOICES[0]))
    except (TypeError, ValueError):
        hours = -1
    if hours not in HOURS_CHOICES:
        out.errors["hours"] = _("Pick how long the request stands.")
    if not out.errors and storage.count_open_requests(engine, user.id, now_s) >= MAX_OPEN_PER_USER:
        out.errors["form"] = _(
            "You have %(n)d open requests: withdraw one that is no longer needed first.",
            n=MAX_OPEN_PER_USER,
        )
    if out.errors:
        return out
    cell = int(found[0])
    out.request_id = storage.add_patrol_request(
        engine, cell=cell, reason=reason, user_id=user.id, requested_at=now_s,
        until_at=now_s + hours * 3600,
    )  # fmt: skip
    out.audit_detail = f"request {out.request_id}: cell {names.label(cell)} for {hours} h: {reason}"
    return out


def withdraw_request(engine, user, request_id: int, now_s: int) -> bool | None:
    """Withdraw an open request: None when the user may not (not the author nor an
    administrator, or no such request), False when it is not open any more."""
    record = storage.get_patrol_request(engine, request_id)
    if record is None or (record.requested_by != user.id and user.role != "admin"):
        return None
    return storage.withdraw_patrol_request(engine, request_id, user.id, now_s)


def _state(record: storage.PatrolRequest, outcome: storage.RequestOutcome, now_s: int) -> str:
    if record.status == "withdrawn":
        return "withdrawn"
    if outcome.checked_in_at is not None:
        return "visited"
    if outcome.plan_id is not None:
        return "planned"
    return "waiting" if record.until_at > now_s else "expired"


def request_views(engine, names: CellNames, local_time, now_s: int) -> list[dict]:
    """The requests of the last LIST_DAYS days (and those still standing), newest first,
    each with its state and what to show: cell label, reason, author, times."""
    records = storage.list_patrol_requests(
        engine, since=now_s - LIST_DAYS * 86400, limit=LIST_LIMIT
    )
    outcomes = storage.request_outcomes(engine, records)
    views = []
    for record in records:
        outcome = outcomes[record.id]
        state = _state(record, outcome, now_s)
        views.append({
            "id": record.id,
            "hex": h3.int_to_str(record.cell),
            "label": names.label(record.cell),
            "reason": record.reason,
            "username": record.username,
            "requested_by": record.requested_by,
            "requested_at": local_time(record.requested_at),
            "until_at": local_time(record.until_at),
            "state": state,
            "state_name": str(STATE_NAMES[state]),
            "plan_id": outcome.plan_id,
            "planned_at": None if outcome.planned_at is None else local_time(outcome.planned_at),
            "checked_in_at": (
                None if outcome.checked_in_at is None else local_time(outcome.checked_in_at)
            ),
            "open": state in ("waiting", "planned"),
        })  # fmt: skip
    return views


def open_requests(engine, now_s: int) -> list[storage.PatrolRequest]:
    """The requests open at ``now_s``: standing, not withdrawn, and no check-in answered them
    yet (the requests page's waiting and planned ones), newest first."""
    records = storage.list_patrol_requests(engine, since=now_s, open_at=now_s, limit=LIST_LIMIT)
    outcomes = storage.request_outcomes(engine, records)
    return [record for record in records if outcomes[record.id].checked_in_at is None]


def replan_suggestions(engine, names: CellNames, local_time, now_s: int) -> list[dict]:
    """The open requests (``open_requests``) for the re-plan form's urgent cells (as its
    warning suggestions: hex, label, why, place)."""
    out = []
    for record in open_requests(engine, now_s):
        out.append({
            "hex": h3.int_to_str(record.cell),
            "label": names.label(record.cell),
            "why": _("Request from a commander, until %(time)s",
                     time=local_time(record.until_at)),
            "place": record.reason,
            "request_id": record.id,
        })  # fmt: skip
    return out
