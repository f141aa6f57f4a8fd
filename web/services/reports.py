"""Grid workers' event reports: the rules the phone page, the JSON API and the commanders'
live view share.

A report is a place, a time, a category from the administrator's short list and a note about
the place; never a person. Notes naming people cannot be recognised reliably, so the form
asks not to, and notes holding PRC ID card numbers or mobile numbers are refused outright.
Positions come in WGS-84 (browsers) or GCJ-02 (copied from Chinese map apps) and are stored
in WGS-84. A report outside the worker's grids is refused. A commander accepts a report (it
becomes an incident from source ``field`` and counts in scores by its category's weight) or
rejects it with a reason the reporter sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from geo.cells import cells_from_points, hex_from_cells
from geo.coords import wgs84_from_gcj02
from web import clock, storage
from web.services.accounts import account_cells
from web.services.grid_work import (
    CONTROL_CHARACTERS,
    local_iso,
    personal_number_kind,
    plain_note_problems,
    time_problems,
)
from web.storage import reports as report_store
from web.storage.reports import FieldReport, ReportCategory, ReportStateError

__all__ = [
    "CRS_CHOICES",
    "LIVE_LIMIT",
    "NOTE_MAX_CHARS",
    "REASON_MAX_CHARS",
    "REPORT_FUTURE_S",
    "REPORT_PAST_S",
    "OutsideGridsError",
    "ReportError",
    "ReportStateError",
    "category_name",
    "cell_ring",
    "live_payload",
    "note_problems",
    "personal_number_kind",
    "report_json",
    "report_problems",
    "status_label",
    "review_report",
    "submit_report",
    "wgs84_position",
]

# Phone clocks drift and a form takes a while to fill in: a few minutes ahead is accepted.
REPORT_FUTURE_S = 10 * 60
# Older events reach the station by other means; a week covers a late entry.
REPORT_PAST_S = 7 * 86400
_REPORT_TIMES = (REPORT_FUTURE_S, REPORT_PAST_S,
    _l("The time of the event is in the future (more than %(n)d minutes ahead).",
       n=REPORT_FUTURE_S // 60),
    _l("The time of the event is more than %(n)d days ago.", n=REPORT_PAST_S // 86400))  # fmt: skip
NOTE_MAX_CHARS = 500
REASON_MAX_CHARS = 300
# A phone fix worse than this says nothing about which cell the event was in.
ACCURACY_MAX_M = 5000.0
CRS_CHOICES = ("wgs84", "gcj02")
LIVE_LIMIT = 50  # incidents and reports per list on the live view


class ReportError(ValueError):
    """A report that may not be stored; ``problems`` are the messages to show."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


class OutsideGridsError(ValueError):
    """The report's place is not in the reporter's grids."""


# --- checks ------------------------------------------------------------------------------------


def note_problems(note: str) -> list[str]:
    """What is wrong with a note (empty when it may be stored)."""
    problems = plain_note_problems(note, NOTE_MAX_CHARS)
    kind = personal_number_kind(note)
    if kind == "id_card":
        problems.append(
            _(
                "The note holds an ID card number. Reports describe places, never people: "
                "remove it; nothing was stored."
            )
        )
    elif kind == "phone":
        problems.append(
            _(
                "The note holds a phone number. Reports describe places, never people: "
                "remove it; nothing was stored."
            )
        )
    return problems


def report_problems(
    occurred_at_s: int, now_s: int, note: str, accuracy_m: float | None
) -> list[str]:
    """What is wrong with a report's time, note and position accuracy."""
    problems = time_problems(occurred_at_s - now_s, _REPORT_TIMES)
    if accuracy_m is not None and not (0 <= accuracy_m <= ACCURACY_MAX_M):
        problems.append(
            _("The position's accuracy must be 0 to %(n)d metres.", n=int(ACCURACY_MAX_M))
        )
    return problems + note_problems(note)


def wgs84_position(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """The position in WGS-84: GCJ-02 (Chinese map apps) converted, WGS-84 as it is.
    ValueError for an unknown system or a position off the globe."""
    if crs not in CRS_CHOICES:
        raise ValueError(f"crs: expected one of {', '.join(CRS_CHOICES)}, got {crs!r}")
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"position: not a longitude and latitude: {lon!r}, {lat!r}")
    if crs == "gcj02":
        x, y = wgs84_from_gcj02([lon], [lat])
        return float(x[0]), float(y[0])
    return float(lon), float(lat)


# --- reporting and review ------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    lon: float
    lat: float
    cell: int


def _place(lon: float, lat: float, crs: str, resolution: int) -> _Place:
    x, y = wgs84_position(lon, lat, crs)
    cell = cells_from_points(np.array([y]), np.array([x]), resolution)
    return _Place(lon=x, lat=y, cell=int(cell[0]))


def submit_report(
    engine,
    user,
    *,
    category_code: str,
    occurred_at_s: int,
    lon: float,
    lat: float,
    crs: str,
    accuracy_m: float | None,
    note: str,
    resolution: int,
    ip: str = "",
) -> tuple[FieldReport, bool]:
    """Check and store a grid worker's report; returns it and whether it is new (the same
    report sent twice is stored once). Raises ReportError (with every problem found) and
    OutsideGridsError (the place is not in the worker's grids); nothing is stored then."""
    problems = []
    try:
        place = _place(lon, lat, crs, resolution)
    except ValueError:
        problems.append(_("Choose the place on the map or use your position."))
        place = None
    if place is not None:
        cells = account_cells(engine, user.id)
        at = int(np.searchsorted(cells, place.cell))
        if not (at < len(cells) and int(cells[at]) == place.cell):
            raise OutsideGridsError(_("That place is not in your grids; nothing was stored."))
    active = {c.code: c for c in report_store.list_report_categories(engine, active_only=True)}
    category = active.get(category_code)
    if category is None:
        problems.insert(0, _("Choose a category from the list."))
    problems += report_problems(occurred_at_s, int(clock.now_s()), note, accuracy_m)
    if problems or place is None or category is None:
        raise ReportError(problems)
    report_id, new = report_store.add_field_report(
        engine,
        user_id=user.id,
        report_category_id=category.id,
        occurred_at=occurred_at_s,
        lon=place.lon,
        lat=place.lat,
        cell=place.cell,
        accuracy_m=accuracy_m,
        crs=crs,
        note=note,
    )
    if new:
        hex_id = hex_from_cells(np.array([place.cell], dtype=np.int64))[0]
        storage.audit(engine, "field_report", user_id=user.id, username=user.username,
                      detail=f"report {report_id}: {category.code} in cell {hex_id}",
                      ip=ip)  # fmt: skip
    stored = report_store.get_field_report(engine, report_id)
    assert stored is not None  # just stored
    return stored, new


def review_report(
    engine, reviewer, report_id: int, decision: str, reason: str = "", ip: str = ""
) -> FieldReport:
    """Accept (an incident from source ``field``) or reject (``reason`` required) a waiting
    report. Raises ReportError for a bad decision or reason, ReportStateError when the
    report is not waiting for review (or unknown)."""
    reason = reason.strip()
    if decision not in ("accept", "reject"):
        raise ReportError([_("Choose accept or reject.")])
    if decision == "reject":
        problems = []
        if not reason:
            problems.append(_("Give the reporter a reason for rejecting the report."))
        elif len(reason) > REASON_MAX_CHARS:
            problems.append(_("The reason is longer than %(n)d characters.", n=REASON_MAX_CHARS))
        if personal_number_kind(reason) or CONTROL_CHARACTERS.search(reason):
            problems.append(_("The reason may hold neither ID card nor phone numbers."))
        if problems:
            raise ReportError(problems)
        report_store.reject_field_report(engine, report_id, reviewer.id, reason)
        detail = f"report {report_id} rejected: {reason}"
    else:
        incident_id = report_store.accept_field_report(engine, report_id, reviewer.id)
        detail = f"report {report_id} accepted: incident {incident_id}"
    storage.audit(engine, "field_report_review", user_id=reviewer.id,
                  username=reviewer.username, detail=detail, ip=ip)  # fmt: skip
    stored = report_store.get_field_report(engine, report_id)
    assert stored is not None  # just reviewed
    return stored


# --- as pages and JSON show them ------------------------------------------------------------


def _chinese() -> bool:
    return str(get_locale() or "").startswith("zh")


def category_name(category: ReportCategory | FieldReport) -> str:
    """The report category's name in the page's language."""
    return category.name_zh if _chinese() else category.name_en


def status_label(status: str) -> str:
    """A report status in the page's language."""
    labels = {
        "reported": _("waiting for review"),
        "accepted": _("accepted"),
        "rejected": _("rejected"),
    }
    return labels.get(status, status)


def report_json(report: FieldReport, timezone: str, with_reporter: bool = False) -> dict:
    """A report as the API and the live view show it (cell as hex, times ISO 8601 local)."""
    body = {
        "id": report.id,
        "category": report.category,
        "category_name": category_name(report),
        "occurred_at": local_iso(report.occurred_at, timezone),
        "occurred_at_s": int(report.occurred_at),
        "lon": round(report.lon, 6),
        "lat": round(report.lat, 6),
        "cell": hex_from_cells(np.array([report.cell], dtype=np.int64))[0],
        "accuracy_m": report.accuracy_m,
        "crs": report.crs,
        "note": report.note,
        "status": report.status,
        "status_label": status_label(report.status),
        "reason": report.reason,
        "reviewed_at": local_iso(report.reviewed_at, timezone),
        "incident_id": None if report.incident_id is None else str(report.incident_id),
        "created_at": local_iso(report.created_at, timezone),
    }
    if with_reporter:
        body["reporter"] = report.username
    return body


def cell_ring(hex_id: str) -> list[list[float]]:
    """A cell's outline as [lat, lon] pairs (Leaflet's order), to 6 decimals."""
    import h3

    return [[round(lat, 6), round(lon, 6)] for lat, lon in h3.cell_to_boundary(hex_id)]


def live_payload(
    engine, timezone: str, category_names: dict[str, str], after_run: int | None
) -> dict:
    """The live view's data: incidents newer than import run ``after_run`` (the newest by
    time when None), every report waiting for review, the newest reviewed ones, and the
    cursor to send next time (``run``)."""
    run = report_store.newest_run_id(engine)
    if after_run is not None and after_run >= run:
        frame = None
    else:
        frame = report_store.latest_incidents(engine, after_run, LIVE_LIMIT)
    incidents = []
    if frame is not None and len(frame):
        hex_ids = hex_from_cells(frame["cell"].to_numpy(dtype=np.int64))
        for row, hex_id in zip(frame.to_dict(orient="records"), hex_ids, strict=True):
            incidents.append(
                {
                    "id": str(row["id"]),
                    "run": int(row["import_run_id"]),
                    "occurred_at": local_iso(row["occurred_at"], timezone),
                    "category": row["category"],
                    "category_name": category_names.get(row["category"], row["category"]),
                    "source": row["source"],
                    "cell": hex_id,
                    "ring": cell_ring(hex_id),
                }
            )
    waiting = report_store.list_field_reports(engine, status="reported", limit=LIVE_LIMIT)
    recent = [
        r
        for r in report_store.list_field_reports(engine, limit=LIVE_LIMIT)
        if r.status != "reported"
    ]
    return {
        "run": run,
        "incidents": incidents,
        "waiting": [
            {**report_json(r, timezone, with_reporter=True), "ring": cell_ring(hex_id)}
            for r, hex_id in zip(
                waiting,
                hex_from_cells(np.array([r.cell for r in waiting], dtype=np.int64)),
                strict=True,
            )
        ],
        "reviewed": [report_json(r, timezone, with_reporter=True) for r in recent[:20]],
    }
