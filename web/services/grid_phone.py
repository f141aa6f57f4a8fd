"""The grid worker's phone page: what to do now, and check-ins from the place itself.

The first screen shows the visits of the current shift (by the city's local time) in the
worker's cells, the next one first; a check-in may carry the phone's position, which must be
in or near the cell, and a client id, so that a check-in queued offline and sent again is
stored once. The page's other rules (cell cards, check-in times) are in web/services/grid_work.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import h3
import numpy as np
import pandas as pd
from flask_babel import gettext as _

from geo.cells import hex_from_cells
from web import storage
from web.services.grid_work import (
    CHECKIN_FUTURE_S,
    CLIENT_ID,
    PLAN_GRACE_S,
    CheckIn,
    checkin_problems,
    local_day_bounds,
    parse_local_datetime,
    record_checkin,
)
from web.services.patrol_plans import SHIFTS, shift_window
from web.services.reports import wgs84_position

__all__ = [
    "CHECKIN_ACCURACY_ALLOWANCE_M",
    "CHECKIN_NEAR_M",
    "CheckinOutcome",
    "Shift",
    "current_shift",
    "day_visits",
    "distance_to_cell_m",
    "now_first",
    "submit_checkin",
]

# How far outside the cell's edge a position still counts as "here": a street's width and
# the phone's usual error in town.
CHECKIN_NEAR_M = 150.0
# A fix's stated accuracy widens that, up to this much (a worse fix says too little).
CHECKIN_ACCURACY_ALLOWANCE_M = 150.0
CHECKIN_FIELDS = ("cell", "visited_at", "minutes", "note", "client_id", "lon", "lat", "crs",
                  "accuracy_m")  # fmt: skip


@dataclass(frozen=True)
class Shift:
    """A named shift on a local date: ``name`` (day, evening, night), UTC [start_s, end_s)."""

    name: str
    date: str
    start_s: int
    end_s: int


def current_shift(timezone: str, now_s: int) -> Shift:
    """The named shift (web.services.patrol_plans.SHIFTS) the city's clocks are in at
    ``now_s``; in a wall-clock gap (clocks going forward) the one that started last."""
    today = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%d")
    shifts = [Shift(name, today, *shift_window(today, name, timezone)) for name in SHIFTS]
    for shift in shifts:
        if shift.start_s <= now_s < shift.end_s:
            return shift
    started = [s for s in shifts if s.start_s <= now_s] or shifts
    return max(started, key=lambda s: s.start_s)


def day_visits(engine, timezone: str, cells: np.ndarray, names, now_s: int) -> list[dict]:
    """Today's visits (local day) of published plans in ``cells``, by start time: window,
    unit, plan, the cell's name and H3 id, and whether a check-in delivered it."""
    start_s, end_s = local_day_bounds(timezone, now_s)
    visits = storage.plan_visits_frame(
        engine, cells=cells, start=start_s, end=end_s, published_only=True
    )
    if visits.empty:
        return []
    done = storage.checkins_frame(engine, cells=cells, start=start_s - PLAN_GRACE_S, end=end_s)
    done_cells = done["cell"].to_numpy(dtype=np.int64)
    done_at = done["visited_at"].to_numpy(dtype=np.int64)
    ordered = visits.sort_values(["start_at", "unit_id"], kind="stable")
    rows = zip(ordered["cell"], ordered["start_at"], ordered["end_at"], ordered["unit_id"],
               ordered["plan_id"], strict=True)  # fmt: skip
    out = []
    for cell, start_at, end_at, unit_id, plan_id in rows:
        cell = int(cell)
        delivered = (done_cells == cell) & (done_at >= start_at - PLAN_GRACE_S)
        delivered &= done_at <= end_at + PLAN_GRACE_S
        out.append(
            {
                "cell": cell,
                "hex": hex_from_cells(np.array([cell], dtype=np.int64))[0],
                "name": names.name(cell),
                "start_at": int(start_at),
                "end_at": int(end_at),
                "unit_id": str(unit_id),
                "plan_id": int(plan_id),
                "checked_in": bool(delivered.any()),
            }
        )
    return out


def now_first(visits: list[dict], shift: Shift, now_s: int) -> list[dict]:
    """The visits of ``shift``, what to do now first: visits not checked in and not over
    (their window plus PLAN_GRACE_S) by start time, then missed ones, then done ones. The
    first still to do is marked ``next``; each gets its ``state`` (next, pending, missed,
    done)."""
    mine = [v for v in visits if shift.start_s <= v["start_at"] < shift.end_s]

    def state(v: dict) -> str:
        if v["checked_in"]:
            return "done"
        return "missed" if v["end_at"] + PLAN_GRACE_S < now_s else "pending"

    order = {"pending": 0, "missed": 1, "done": 2}
    shown = sorted(({**v, "state": state(v)} for v in mine),
                   key=lambda v: (order[v["state"]], v["start_at"]))  # fmt: skip
    if shown and shown[0]["state"] == "pending":
        shown[0]["state"] = "next"
    return shown


def distance_to_cell_m(cell: int, lon: float, lat: float) -> float:
    """Metres from a WGS-84 position to ``cell``: 0 inside, else to the cell's corner ring
    (measured to the centre less the farthest corner: a bound that is never too large)."""
    hex_id = h3.int_to_str(int(cell))
    if h3.latlng_to_cell(lat, lon, h3.get_resolution(hex_id)) == hex_id:
        return 0.0
    centre = h3.cell_to_latlng(hex_id)
    radius = max(h3.great_circle_distance(centre, corner, unit="m")
                 for corner in h3.cell_to_boundary(hex_id))  # fmt: skip
    return max(0.0, h3.great_circle_distance(centre, (lat, lon), unit="m") - radius)


@dataclass
class CheckinOutcome:
    """What became of a check-in: ``errors`` (nothing stored), or the stored check-in and
    whether it is ``new``; ``distance_m`` when a position came with it."""

    errors: list[str] = field(default_factory=list)
    stored: dict | None = None
    new: bool = False
    distance_m: float | None = None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _position_problems(form: Mapping[str, str], cell: int, outcome: CheckinOutcome) -> list[str]:
    """Check the form's position (if any) is in or near ``cell``; sets ``distance_m``."""
    if not form.get("lon") and not form.get("lat"):
        return []
    accuracy = _number(form.get("accuracy_m") or "0")
    if not (math.isfinite(accuracy) and 0 <= accuracy <= 5000):
        return [_("The position's accuracy must be 0 to %(n)d metres.", n=5000)]
    try:
        lon, lat = wgs84_position(_number(form.get("lon", "")), _number(form.get("lat", "")),
                                  form.get("crs") or "wgs84")  # fmt: skip
    except ValueError:
        return [_("The position is not a longitude and latitude.")]
    outcome.distance_m = distance_to_cell_m(cell, lon, lat)
    allowed = CHECKIN_NEAR_M + min(accuracy, CHECKIN_ACCURACY_ALLOWANCE_M)
    if outcome.distance_m > allowed:
        return [
            _(
                "Your position is about %(m)d m outside this cell; check in when you are "
                "there (within %(n)d m).",
                m=round(outcome.distance_m),
                n=round(allowed),
            )
        ]
    return []


def submit_checkin(
    engine, user, cell: int, form: Mapping[str, str], timezone: str, now_s: int, ip: str = ""
) -> CheckinOutcome:
    """Check and store a check-in of ``user`` to ``cell`` (one of theirs: the caller checks)
    from the page's form fields (CHECKIN_FIELDS, stripped text)."""
    outcome = CheckinOutcome()
    try:
        visited_at_s = parse_local_datetime(
            form.get("visited_at", ""), timezone, not_after=now_s + CHECKIN_FUTURE_S
        )
    except ValueError:
        outcome.errors.append(_("Enter the visit time as date and time."))
        visited_at_s = now_s
    client_id = form.get("client_id") or None
    if client_id is not None and not CLIENT_ID.match(client_id):
        outcome.errors.append(_("The check-in's client id is not valid; reload the page."))
    checkin = CheckIn(cell, visited_at_s, _number(form.get("minutes", "")),
                      form.get("note", ""), client_id)  # fmt: skip
    outcome.errors += checkin_problems(checkin, now_s)
    outcome.errors += _position_problems(form, cell, outcome)
    if outcome.errors:
        return outcome
    outcome.stored, outcome.new = record_checkin(engine, user, checkin, timezone, ip=ip)
    return outcome
