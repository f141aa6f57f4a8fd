"""Grid workers' cells and check-ins: the rules the grid worker's page and the JSON API share.

Which cells a user may see (:func:`scope_cells`), a cell's explanation (geo.explain: counts,
trend, city-wide score and rank, Gi* class; :func:`cell_explanations`) and status, the city's
local times, and how a check-in is checked and stored (:func:`checkin_problems`,
:func:`record_checkin`).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from geo.cells import hex_from_cells
from geo.explain import (
    DEFAULT_WINDOWS_DAYS,
    CellExplanation,
    ExplainSettings,
    GiStarSummary,
    ModelSummary,
    explain_cell_incidents,
    gi_star_summary,
    model_summary,
)
from web import clock, storage
from web.services import site_data
from web.services.accounts import account_cells
from web.services.caches import Cache
from web.services.filters import Filters
from web.services.scores import MAP_MODEL, cell_scores

__all__ = [
    "CHECKIN_FUTURE_S",
    "CHECKIN_PAST_S",
    "cell_explanations",
    "cell_status",
    "CheckIn",
    "checkin_problems",
    "covering_plan_id",
    "incident_rows",
    "local_iso",
    "local_day_bounds",
    "parse_local_datetime",
    "people_problems",
    "personal_number_kind",
    "plain_note_problems",
    "record_checkin",
    "reference_time",
    "scope_cells",
]

#: The latest second a time given as a number may name (9999-12-31T23:59:59Z), and minus it
#: the earliest: the dates a person can write.
LATEST_EPOCH_S = 253_402_300_799

# A cell card shows windows of every cell explanation's (geo.explain.DEFAULT_WINDOWS_DAYS):
# counts over the week and the four weeks, what to check and the busiest hours over the quarter.
RECENT_DAYS = (7, 28)
HINT_DAYS = 91
CARD_WINDOWS_DAYS = (*RECENT_DAYS, HINT_DAYS)
# Phone clocks drift and a form takes a while to fill in: a few minutes ahead is accepted.
CHECKIN_FUTURE_S = 10 * 60
# Older visits are reported to the planner by other means; a week covers a late entry.
CHECKIN_PAST_S = 7 * 86400
CHECKIN_MAX_MINUTES = 8 * 60  # one shift
# The rule for a check-in's time (time_problems): how far ahead and back, and what to say.
_CHECKIN_TIMES = (CHECKIN_FUTURE_S, CHECKIN_PAST_S,
    _l("The visit time is in the future (more than %(n)d minutes ahead).",
       n=CHECKIN_FUTURE_S // 60),
    _l("The visit time is more than %(n)d days ago.", n=CHECKIN_PAST_S // 86400))  # fmt: skip
NOTE_MAX_CHARS = 500
# Control characters other than line breaks and tabs have no place in a note.
# A check-in's client id (the same visit sent twice is stored once): what
# crypto.randomUUID() gives, or any other short token of these letters.
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,40}$")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Separators people type inside numbers ("138 0013 8000", "+86-138-0013-8000"), removed
# between digits before looking for ID card and phone numbers.
_NUMBER_SEPARATORS = re.compile(r"(?<=[0-9Xx])[\s\-‐–—.·/()]+(?=[0-9+])")
# A PRC resident ID card: 18 characters (6-digit region, birth date YYYYMMDD, 3-digit
# sequence, check digit or X), or the old 15-digit form (birth date YYMMDD).
_ID_CARD = re.compile(
    r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
    r"[0-9]{3}[0-9Xx](?![0-9])"
    r"|(?<![0-9])[1-9][0-9]{7}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}(?![0-9])"
)
# A mainland mobile number, with or without +86 / 0086 in front.
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86|0086)?1[3-9][0-9]{9}(?![0-9])")
# A visit somewhat early or late still delivers the planned stop.
PLAN_GRACE_S = 30 * 60
# Rank tiers of the city-wide score: (share of study cells, tier name).
GI_STAR_DAYS = 365  # Gi* window, as `hotspot hotspots` and `hotspot explain`
HINT_CATEGORIES = 3
HOT_HOURS_MIN_INCIDENTS = 5  # fewer incidents say nothing about the time of day

# Per (database, score run): the Gi* count, z, p and class of each study cell.
_gi_tables = Cache("Gi* classes", max_entries=8, max_bytes=16 * 2**20, derived=True)


# --- scope, time and per-cell numbers -------------------------------------------------------


def scope_cells(engine, user) -> np.ndarray | None:
    """Cells a user may see: a grid worker's assigned cells (int64, sorted), else None (all)."""
    if user.role == "grid_worker":
        return account_cells(engine, user.id)
    return None


def reference_time(data: site_data.SiteData) -> int:
    """End of the recent-incident windows: just after the newest stored incident.

    Windows end with the data rather than the clock, so the counts never silently drop to
    zero between imports, and an old data set (Chicago 2016-2018) still shows its last weeks.
    """
    return (data.last_s or int(clock.now_s())) + 1


def local_iso(epoch_s: float | int | None, timezone: str) -> str | None:
    """ISO 8601 with the city's offset, e.g. ``2018-07-31T18:00:00-05:00``."""
    if epoch_s is None or epoch_s != epoch_s:
        return None
    return datetime.fromtimestamp(int(epoch_s), _zone(timezone)).isoformat()


@functools.lru_cache(maxsize=8)
def _zone(timezone: str) -> ZoneInfo:
    return ZoneInfo(timezone)


def local_day_bounds(timezone: str, now_s: int) -> tuple[int, int]:
    """UTC seconds of local midnight today and tomorrow (23 or 25 hours apart at DST)."""
    today = pd.Timestamp(now_s, unit="s", tz="UTC").tz_convert(timezone).normalize()
    naive = today.tz_localize(None)
    tomorrow = (naive + pd.Timedelta(days=1)).tz_localize(timezone, nonexistent="shift_forward")
    return int(today.timestamp()), int(tomorrow.timestamp())


def parse_local_datetime(value: object, timezone: str, not_after: int | None = None) -> int:
    """Epoch seconds from ISO 8601 text (local city time without an offset) or a number.

    Raises ValueError for anything else. A local time that happens twice when clocks go back
    is the second one if that is not after ``not_after`` (a visit reported at 01:20 during
    the repeated hour happened ten minutes ago, not seventy), else the first; one that never
    happens moves forward by the gap (as imports do).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    if isinstance(value, int | float):
        # Compared, not converted: an integer of any size (and NaN, infinities) is refused
        # here rather than overflowing in a float.
        if not -LATEST_EPOCH_S <= value <= LATEST_EPOCH_S:
            raise ValueError(f"expected an ISO 8601 time, got {str(value)[:40]}")
        return int(value)
    try:
        stamp = pd.Timestamp(str(value).strip())
    except (ValueError, TypeError) as err:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}") from err
    if stamp is pd.NaT:
        raise ValueError(f"expected an ISO 8601 time, got {value!r}")
    if stamp.tzinfo is not None:
        return int(stamp.timestamp())
    first = stamp.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    if not_after is not None:
        second = stamp.tz_localize(timezone, ambiguous=False, nonexistent="shift_forward")
        if second != first and second.timestamp() <= not_after:
            return int(second.timestamp())
    return int(first.timestamp())


def _sorted_positions(data: site_data.SiteData, cells: np.ndarray) -> np.ndarray:
    """Rows of the incidents in ``cells`` (distinct, sorted): the site data is sorted by
    cell, so each cell's incidents are one slice of rows."""
    at = np.searchsorted(data.cell_ids, cells)
    found = at < len(data.cell_ids)
    found[found] = data.cell_ids[at[found]] == cells[found]
    left = data.cell_starts[at[found]]
    lengths = data.cell_starts[at[found] + 1] - left
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    # Each cell's run of positions, concatenated without a Python loop.
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(left - offsets, lengths) + np.arange(total)


def incident_rows(data: site_data.SiteData, cells: Sequence[int] | np.ndarray) -> np.ndarray:
    """Positions (rows of the site data's columns) of the incidents in ``cells``, sorted."""
    return _sorted_positions(data, np.unique(np.asarray(cells, dtype=np.int64)))


def cell_explanations(
    data: site_data.SiteData,
    cells,
    end_s: int,
    windows_days: Sequence[float] = DEFAULT_WINDOWS_DAYS,
    model: str = MAP_MODEL,
    hour_window_days: float = HINT_DAYS,
) -> dict[int, CellExplanation]:
    """Cell -> geo.explain's explanation at ``end_s``, as the API and grid workers' cards
    tell it.

    Every stored incident of the cell counts, over ``windows_days`` and, per local hour,
    over ``hour_window_days`` (police-initiated ones too: the counts say what happened
    there; only the scores leave them out). The model part is the city-wide score and rank
    of ``model``, the Gi* part the class over the last GI_STAR_DAYS of data; both None
    outside the study area. No emerging class or hot hours.
    """
    settings = ExplainSettings(windows_days=tuple(windows_days), hour_window_days=hour_window_days)
    parts = _status_parts(data, cells, model)
    return {
        cell: explain_cell_incidents(
            data.frame(incident_rows(data, [cell])),
            cell,
            end_s,
            data.timezone,
            settings,
            model=model_part,
            gi_star=gi_part,
        )
        for cell, (model_part, gi_part) in parts.items()
    }


def _lookup(sorted_cells: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each of ``cells`` in ``sorted_cells``, and whether it is there."""
    if not len(sorted_cells):
        return np.zeros(len(cells), dtype=np.int64), np.zeros(len(cells), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_cells, cells), len(sorted_cells) - 1)
    return at, sorted_cells[at] == cells


def _status_parts(
    data: site_data.SiteData, cells, model: str
) -> dict[int, tuple[ModelSummary | None, GiStarSummary | None]]:
    """Cell -> its city-wide model summary (cell_scores, no filter: the rank the API's cell
    list gives) and its Gi* summary over GI_STAR_DAYS; None outside the study area."""
    cells = np.asarray(cells, dtype=np.int64)
    scores = cell_scores(data, Filters(), model=model)
    order = np.argsort(scores["cell"].to_numpy(dtype=np.int64), kind="stable")
    scores = scores.iloc[order]
    at, scored = _lookup(scores["cell"].to_numpy(dtype=np.int64), cells)
    columns = [c for c in scores.columns if c not in ("cell", "score", "rank")]
    values = {c: scores[c].to_numpy(dtype=np.float64) for c in ("score", *columns)}
    ranks = scores["rank"].to_numpy(dtype=np.int64)
    gi_cells, gi_count, gi_z, gi_p, gi_bins = _gi_star_table(data)
    at_gi, has_gi = _lookup(gi_cells, cells)
    n_cells = len(data.cells)
    parts = {}
    for i, cell in enumerate(cells.tolist()):
        model_part = gi_part = None
        if scored[i]:
            row = at[i]
            model_part = model_summary(
                model,
                score=values["score"][row],
                rank=ranks[row],
                n_cells=n_cells,
                components={c: values[c][row] for c in columns},
            )
        if has_gi[i]:
            row = at_gi[i]
            gi_part = gi_star_summary(
                count=gi_count[row], z=gi_z[row], p=gi_p[row], gi_bin=gi_bins[row],
                window_days=GI_STAR_DAYS, k=1,
            )  # fmt: skip
        parts[cell] = (model_part, gi_part)
    return parts


def _gi_star_table(data: site_data.SiteData) -> tuple[np.ndarray, ...]:
    """Gi* of every study cell over the last GI_STAR_DAYS of data (k = 1, FDR), as sorted
    cells and their counts, z, p and classes (-3..3); cached."""
    return _gi_tables.get_or_load((data.source, data.scores_key), lambda: _gi_star_columns(data))


def _gi_star_columns(data: site_data.SiteData) -> tuple[np.ndarray, ...]:
    from geo.hotspots import hotspot_table

    end_s = reference_time(data)
    incidents = data.incidents
    weights = data.scoring.category_weights
    # Police-initiated categories (weight 0) count where police already stop, as in scoring.
    kept = np.array(incidents["category"].map(lambda c: weights.get(c, 1.0) > 0), dtype=bool)
    times = incidents["occurred_at"].to_numpy()
    kept &= (times >= end_s - GI_STAR_DAYS * 86400) & (times < end_s)
    cells = np.sort(data.cells)
    counts = pd.Series(incidents["cell"].to_numpy()[kept]).value_counts()
    count = counts.reindex(cells, fill_value=0).to_numpy(dtype=np.int64)
    if count.sum() == 0:  # Gi* of all zeros is undefined: no cell stands out
        zeros = np.zeros(len(cells))
        return cells, count, zeros, zeros + 1.0, np.zeros(len(cells), dtype=np.int8)
    table = hotspot_table(cells, count.astype(np.float64), k=1)
    return (
        cells,
        count,
        table["z"].to_numpy(dtype=np.float64),
        table["p"].to_numpy(dtype=np.float64),
        table["gi_bin"].to_numpy(dtype=np.int8),
    )


def cell_status(explanation: CellExplanation, tier: str | None) -> dict:
    """``score``, city-wide ``rank``, ``tier`` (``top1``/``top5`` from
    web.services.scores.city_tiers, or None) and Gi* class ``gi_bin`` of an explained cell
    (:func:`cell_explanations`); None for each outside the study area."""
    model = explanation.model
    score = None if model is None else model.score
    rank = None if model is None else model.rank
    return {
        "score": score,
        "rank": rank,
        "tier": tier,
        "gi_bin": None if explanation.gi_star is None else explanation.gi_star.gi_bin,
    }


# --- check-ins (shared with web/views/api.py) -----------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    """A grid worker's visit to a cell as sent from the phone page or the API: when (epoch
    seconds), for how long, the note, and the device's id for it (sending twice stores once)."""

    cell: int
    visited_at_s: int
    minutes: float
    note: str
    client_id: str | None = None


def checkin_problems(checkin: CheckIn, now_s: int) -> list[str]:
    """What is wrong with a check-in's time, minutes and note (empty when it may be stored)."""
    problems = time_problems(checkin.visited_at_s - now_s, _CHECKIN_TIMES)
    minutes = checkin.minutes
    if not (minutes == minutes and 0 < minutes <= CHECKIN_MAX_MINUTES):
        problems.append(_("Minutes must be more than 0 and at most %(n)d.", n=CHECKIN_MAX_MINUTES))
    return (
        problems + plain_note_problems(checkin.note, NOTE_MAX_CHARS) + people_problems(checkin.note)
    )


def personal_number_kind(note: str) -> str | None:
    """``"id_card"`` or ``"phone"`` when the note holds a PRC ID card or mobile number
    (full-width digits and separators included), else None."""
    text = unicodedata.normalize("NFKC", note)
    compact = _NUMBER_SEPARATORS.sub("", text)
    if _ID_CARD.search(compact):
        return "id_card"
    if _MOBILE.search(compact):
        return "phone"
    return None


def people_problems(note: str) -> list[str]:
    """A note holding a PRC ID card or mobile number breaks "places, never people", as in
    event reports and patrol requests (empty when it holds neither)."""
    if personal_number_kind(note) is None:
        return []
    return [
        _(
            "The note holds an ID card or phone number. Notes describe places, never people: "
            "remove it; nothing was stored."
        )
    ]


def time_problems(ahead_s: int, rule: tuple[int, int, LazyString, LazyString]) -> list[str]:
    """What is wrong with a time ``ahead_s`` seconds from now under ``rule`` (seconds it may
    be ahead, seconds it may be back, and the message for each); shared by check-ins and
    event reports (web/services/reports.py)."""
    ahead_max, back_max, too_late, too_early = rule
    if ahead_s > ahead_max:
        return [str(too_late)]
    return [str(too_early)] if ahead_s < -back_max else []


def plain_note_problems(note: str, max_chars: int) -> list[str]:
    """What is wrong with a note as plain text: longer than ``max_chars`` characters, or
    holding control characters (empty when neither); shared with web/services/reports.py."""
    problems = []
    if len(note) > max_chars:
        problems.append(_("The note is longer than %(n)d characters.", n=max_chars))
    if CONTROL_CHARACTERS.search(note):
        problems.append(_("The note holds control characters; type it as plain text."))
    return problems


def covering_plan_id(engine, cell: int, visited_at_s: int) -> int | None:
    """The published plan with a visit to ``cell`` whose window (give or take
    PLAN_GRACE_S) holds ``visited_at_s``; the visit starting nearest wins. None if none."""
    visits = storage.plan_visits_frame(
        engine,
        cells=np.array([cell], dtype=np.int64),
        start=visited_at_s - 86400,  # no planned visit is longer than a day
        end=visited_at_s + PLAN_GRACE_S + 1,
        published_only=True,
    )
    if visits.empty:
        return None
    inside = visits[
        (visits["start_at"] - PLAN_GRACE_S <= visited_at_s)
        & (visited_at_s <= visits["end_at"] + PLAN_GRACE_S)
    ]
    if inside.empty:
        return None
    nearest = (inside["start_at"] - visited_at_s).abs().to_numpy().argmin()
    return int(inside["plan_id"].iloc[int(nearest)])


def record_checkin(
    engine, user, checkin: CheckIn, timezone: str, ip: str = ""
) -> tuple[dict, bool]:
    """Store a checked check-in (linked to the covering published plan), audit it (from
    address ``ip``), and return it as the API shows it, and whether it is new (False when
    the same visit was stored already: the same ``client_id`` of the account, or without
    one the same account, cell and minute; sending twice stores it once)."""
    cell, visited_at_s, minutes, note = (
        checkin.cell, checkin.visited_at_s, checkin.minutes, checkin.note
    )  # fmt: skip
    plan_id = covering_plan_id(engine, cell, visited_at_s)
    checkin_id, new = storage.add_checkin(
        engine, user.id, cell, visited_at_s, minutes, note=note, plan_id=plan_id,
        client_id=checkin.client_id,
    )  # fmt: skip
    hex_id = hex_from_cells(np.array([cell], dtype=np.int64))[0]
    when = local_iso(visited_at_s, timezone)
    if new:
        storage.audit(
            engine,
            "checkin",
            user_id=user.id,
            username=user.username,
            detail=f"cell {hex_id} at {when}, {minutes:g} min"
            + (f", plan {plan_id}" if plan_id is not None else ""),
            ip=ip,
        )
    return {
        "id": checkin_id,
        "cell": hex_id,
        "visited_at": when,
        "visited_at_s": int(visited_at_s),
        "minutes": float(minutes),
        "note": note,
        "plan_id": plan_id,
        "mine": True,
    }, new
