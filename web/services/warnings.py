"""Early warnings on the site: computed from the site's data, stored once per place and rule,
shown to the people responsible for the place.

:func:`refresh_warnings` runs geo's rules (``geo.warnings.compute_warnings``) on the
incidents in memory as of now, stores the result (a warning still open is extended, not
repeated; ended ones expire) and audits each warning raised. It runs after every score run
(:func:`web.services.score_runs.run_scores`), as a job (kind ``warnings``, web/storage/jobs.py)
that ``hotspot serve``'s :class:`WarningRefresher` queues within about two seconds of new
data (a file import, a feed batch, an accepted field report; never on the request path of
the feed) and a worker runs (:func:`run_warning_job`; one such job waits at a time, further
requests are folded into it), and from ``hotspot warnings refresh``.

Who sees what: administrators, commanders and planners every warning; a grid worker only the
warnings covering a cell of their grids (:func:`visible_cells`), on pages and in the API.
Warnings are about places, never persons.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from geo.cells import hex_from_cells
from geo.checks import DAY_S
from web import clock, storage
from web.services.background import Periodic
from web.services.caches import Cache
from web.services.cell_names import CellNames
from web.services.grid_work import local_iso
from web.services.map_layers import EMERGING_LABELS
from web.storage.warnings import RULES, WarningAck

__all__ = [
    "STATUSES",
    "LEVELS",
    "LEVEL_COLOURS",
    "LEVEL_LABELS",
    "RULES",
    "RULE_LABELS",
    "WarningRefresher",
    "computed_from_frame",
    "map_layer",
    "refresh_warnings",
    "request_refresh",
    "run_warning_job",
    "visible_cells",
    "warning_json",
    "warning_view",
    "why_lines",
]

log = logging.getLogger(__name__)

#: The warnings a list may ask for (inbox and API).
STATUSES = ("open", "expired", "all")
#: Level -> its name as the bureau says it (关注 / 警示 / 预警 on Chinese pages).
LEVELS = {1: "watch", 2: "caution", 3: "alert"}
LEVEL_LABELS = {1: _l("Watch"), 2: _l("Caution"), 3: _l("Alert")}
RULE_LABELS = {
    "near_repeat": _l("Near repeat"),
    "rising_area": _l("Rising area"),
    "emerging": _l("Emerging hot spot"),
}
#: Colour of each level's outline on the maps.
LEVEL_COLOURS = {1: "#f9a825", 2: "#ef6c00", 3: "#c62828"}
# One refresh at a time in this process: the score schedule and the refresher may meet.
_refresh_lock = threading.Lock()


def visible_cells(engine, role: str, user_id: int) -> np.ndarray | None:
    """The cells whose warnings ``role`` may see: None (every warning) for administrators,
    commanders and planners, the cells of their grids for a grid worker."""
    if role == "grid_worker":
        return storage.user_cells(engine, user_id)
    return None


def _areas(engine) -> tuple[dict[str, np.ndarray] | None, str | None]:
    """Area id -> cells of the management grids (beats when there are no grids), and the
    kind; (None, None) without either."""
    for kind in ("grid", "beat"):
        frame = storage.load_area_cells(engine, kind)
        if not frame.empty:
            cells = frame["cell"].to_numpy(dtype=np.int64)
            groups = frame.groupby("area_id", sort=True).indices
            return {str(a): cells[rows] for a, rows in groups.items()}, kind
    return None, None


def _group_codes(data) -> tuple[str, ...]:
    """The near-repeat group's category codes the site's data has (burglary, robbery, motor
    vehicle theft by default; the Chinese demo uses the same codes)."""
    from geo.warnings import DEFAULT_GROUP_CODES

    known = set(data.category_codes)
    return tuple(code for code in DEFAULT_GROUP_CODES if code in known)


# The near-repeat window found by the Knox test, per database and score run: the test reads a
# year of the group's incidents with their coordinates, too slow for every feed batch.
_bands = Cache("near-repeat bands", max_entries=8)
NEAR_REPEAT_BASELINE_DAYS = 365


def near_repeat_bands(engine, data, now_s: int, group_codes: tuple[str, ...]):
    """The city's near-repeat window (:func:`geo.near_repeat.choose_bands` on the Knox
    table of the group's incidents over the last year; seed 0), or None without a
    significant pattern. Worked out once per score run."""
    from geo.near_repeat import choose_bands, knox_test, project_points

    def load():
        rows = storage.load_incidents(
            engine,
            start_s=now_s - NEAR_REPEAT_BASELINE_DAYS * DAY_S,
            end_s=now_s,
            category_codes=list(group_codes),
        )
        if len(rows) < 3:
            return None
        x_m, y_m = project_points(rows["lon"].to_numpy(), rows["lat"].to_numpy())
        table = knox_test(x_m, y_m, rows["occurred_at"].to_numpy(dtype=np.int64), seed=0)
        return choose_bands(table)

    return _bands.get_or_load((data.source, data.scores_key, group_codes), load)


def compute_site_warnings(engine, now_s: int) -> tuple[pd.DataFrame, str | None]:
    """geo's warnings from the site's incidents before ``now_s`` (one row per warned cell),
    and the kind of area the rising-area rule used."""
    from geo.warnings import (
        NearRepeatSettings,
        RisingAreaSettings,
        WarningSettings,
        compute_warnings,
    )
    from web.services.site_data import site_data

    data = site_data(engine)
    if data.n_incidents == 0 or not len(data.cells):
        return pd.DataFrame(), None
    areas, kind = _areas(engine)
    group_codes = _group_codes(data)
    bands = near_repeat_bands(engine, data, now_s, group_codes) if group_codes else None
    settings = WarningSettings(
        near_repeat=NearRepeatSettings(bands=bands, resolution=data.resolution),
        rising_area=RisingAreaSettings(timezone=data.timezone),
    )
    frame = compute_warnings(
        data.incidents,
        data.cells,
        now_s,
        areas=areas,
        group_codes=group_codes or None,
        settings=settings,
    )
    return frame, kind


def computed_from_frame(
    frame: pd.DataFrame, area_kind: str | None
) -> list[storage.ComputedWarning]:
    """geo's rows (one per warned cell; an area's warning one row per cell of the area) as one
    warning per rule and place: the cell's hex id, or the area id with all its cells."""
    if frame is None or frame.empty:
        return []
    rows = frame.copy()
    rows["hex"] = hex_from_cells(rows["cell"].to_numpy(dtype=np.int64))
    has_area = rows["area"].notna() if "area" in rows else pd.Series(False, index=rows.index)
    areas = rows["area"].astype(str) if "area" in rows else rows["hex"]
    rows["place"] = np.where(has_area, areas, rows["hex"])
    out = []
    for (rule, place), group in rows.groupby(["rule", "place"], sort=True):
        first = group.sort_values("strength", ascending=False).iloc[0]
        is_area = bool(has_area.loc[group.index].any())
        out.append(
            storage.ComputedWarning(
                rule=str(rule),
                place=str(place),
                cells=tuple(int(c) for c in group["cell"]),
                level=int(group["level"].max()),
                starts_at=int(group["starts_s"].min()),
                ends_at=int(group["ends_s"].max()),
                strength=float(first["strength"]),
                reason=str(first["reason"]),
                evidence=dict(first["evidence"]) if isinstance(first["evidence"], dict) else {},
                area_kind=area_kind if is_area else None,
            )
        )
    return out


def refresh_warnings(engine, now_s: int | None = None) -> storage.WarningChanges:
    """Compute the warnings as of ``now_s`` (default: the site's clock), store them and
    audit those raised (``warning_raised``); returns what changed."""
    now = int(clock.now_s() if now_s is None else now_s)
    with _refresh_lock:
        frame, kind = compute_site_warnings(engine, now)
        changes = storage.apply_warnings(engine, computed_from_frame(frame, kind), now)
    _audit_raised(engine, changes.raised)
    return changes


def _audit_raised(engine, warning_ids: Iterable[int]) -> None:
    for warning_id in warning_ids:
        record = storage.get_warning(engine, warning_id)
        if record is None:
            continue
        storage.audit(
            engine,
            "warning_raised",
            username="system",
            detail=f"warning {record.id}: {record.rule} at {record.place}, level {record.level}, "
            f"{len(record.cells)} cells, until {record.ends_at}: {record.reason}",
        )


def warning_json(
    record: storage.WarningRecord,
    timezone: str,
    acks: list[WarningAck] | None = None,
    cells: np.ndarray | None = None,
) -> dict:
    """One warning as the API returns it (cells as hex ids, limited to ``cells`` when given:
    a grid worker sees only their own cells of an area's warning)."""
    covered = np.asarray(record.cells, dtype=np.int64)
    if cells is not None:
        covered = covered[np.isin(covered, cells)]
    item = {
        "id": record.id,
        "rule": record.rule,
        "level": record.level,
        "level_name": LEVELS[record.level],
        "place": record.place,
        "area_kind": record.area_kind,
        "cells": hex_from_cells(covered),
        "starts": local_iso(record.starts_at, timezone),
        "starts_s": record.starts_at,
        "ends": local_iso(record.ends_at, timezone),
        "ends_s": record.ends_at,
        "strength": round(record.strength, 6),
        "reason": record.reason,
        "evidence": record.evidence,
        "status": record.status,
        "raised_at": local_iso(record.raised_at, timezone),
        "updated_at": local_iso(record.updated_at, timezone),
        "read": record.read,
    }
    if acks is not None:
        item["acknowledgements"] = [
            {"username": a.username, "at": local_iso(a.at, timezone), "note": a.note} for a in acks
        ]
    return item


def _number(value, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return f"{number:.{digits}g}" if abs(number) < 1e-2 and number else f"{number:.{digits}f}"


def why_lines(record: storage.WarningRecord, timezone: str) -> list[str]:
    """The warning's evidence in words and numbers, in the page's language (one or two
    sentences); the computation's own English sentence is ``record.reason``."""
    e = record.evidence
    try:
        if record.rule == "near_repeat":
            times = sorted(int(t) for t in e.get("incident_times_s", []))
            # In the page's language and the city's time (Flask-Babel's timezone).
            latest = (
                format_datetime(datetime.fromtimestamp(times[-1], UTC), "short") if times else "–"
            )
            return [
                _("%(n)d incidents of the group within %(m)s m in the last %(days)s days "
                  "(latest %(latest)s).", n=len(times), m=f"{float(e['distance_m']):g}",
                  days=f"{float(e['window_days']):g}", latest=latest),
                _("Near repeats in this city run %(ratio)s times the chance rate at this "
                  "distance and time (Knox test).", ratio=_number(e["knox_ratio"])),
            ]  # fmt: skip
        if record.rule == "rising_area":
            return [
                _("%(observed)d incidents in the last %(days)d days against %(expected)s "
                  "expected from the area's own last %(baseline)d days (weekday and season "
                  "adjusted).", observed=int(e["observed"]), days=int(e["window_days"]),
                  expected=_number(e["expected"], 1), baseline=int(e["baseline_days"])),
                _("Test: %(model)s, p = %(p)s; with the false discovery rate controlled "
                  "across areas q = %(q)s.", model=str(e.get("model", "")),
                  p=_number(e["p"]), q=_number(e["q"])),
            ]  # fmt: skip
        if record.rule == "emerging":
            now, before = str(e["category"]), str(e.get("previous_category") or "no pattern")
            return [
                _("Emerging hot spot class now: %(now)s; a week before: %(before)s "
                  "(%(weeks)d weeks of history).", now=str(EMERGING_LABELS.get(now, now)),
                  before=str(EMERGING_LABELS.get(before, before)), weeks=int(e["weeks"])),
            ]  # fmt: skip
    except (KeyError, TypeError, ValueError):  # evidence of another shape: the reason says it
        pass
    return []


def warning_view(
    record: storage.WarningRecord,
    timezone: str,
    cells: np.ndarray | None = None,
    names: CellNames | None = None,
) -> dict:
    """A warning as pages show it: level and rule names, the place in words, why, when it
    ends, and its cells (only those among ``cells`` when given), named for people by
    ``names`` (G061-12) when given, by H3 id otherwise."""
    covered = np.asarray(record.cells, dtype=np.int64)
    if cells is not None:
        covered = covered[np.isin(covered, cells)]
    if record.rule == "rising_area":
        kind = {"grid": _("grid"), "beat": _("beat")}.get(record.area_kind or "", _("area"))
        place = _("%(kind)s %(id)s (%(n)d cells)", kind=kind, id=record.place,
                  n=len(record.cells))  # fmt: skip
    else:
        place = _("cell %(hex)s", hex=names.label(record.place) if names else record.place)
    hexes = hex_from_cells(covered)
    return {
        "id": record.id,
        "rule": record.rule,
        "rule_label": str(RULE_LABELS.get(record.rule, record.rule)),
        "level": record.level,
        "level_label": str(LEVEL_LABELS[record.level]),
        "colour": LEVEL_COLOURS[record.level],
        "place": place,
        "reason": record.reason,
        "why": why_lines(record, timezone),
        "starts_at": record.starts_at,
        "ends_at": record.ends_at,
        "raised_at": record.raised_at,
        "updated_at": record.updated_at,
        "status": record.status,
        "read": record.read,
        "hexes": hexes,
        "cell_names": [names.name(h) for h in hexes] if names else list(hexes),
    }


def map_layer(
    engine, timezone: str, format_time, inbox_url: str, names: CellNames | None = None
) -> dict:
    """The hotspot map's warnings layer: each warned cell once (the highest level of its open
    warnings) with every warning on it, in the page's language; ``format_time`` turns UTC
    seconds into the page's time text. Texts are escaped by the map's script."""
    records = storage.list_warnings(engine, status="open", limit=2000)
    by_cell: dict[int, dict] = {}
    for record in records:
        view = warning_view(record, timezone, names=names)
        item = {key: view[key] for key in ("level_label", "rule_label", "place", "reason",
                                           "why", "colour", "level")}  # fmt: skip
        item["until"] = _("Until %(time)s", time=format_time(record.ends_at))
        for cell, hex_id in zip(
            record.cells, hex_from_cells(np.asarray(record.cells)), strict=True
        ):
            entry = by_cell.setdefault(cell, {"hex": hex_id, "level": 0, "items": []})
            entry["items"].append(item)
            if record.level > entry["level"]:
                entry["level"], entry["colour"] = record.level, LEVEL_COLOURS[record.level]
    for entry in by_cell.values():
        entry["items"].sort(key=lambda item: -item["level"])
    return {
        "count": len(records),
        "cells": list(by_cell.values()),
        "inboxUrl": inbox_url,
        "levels": {
            str(level): {"label": str(LEVEL_LABELS[level]), "colour": colour}
            for level, colour in LEVEL_COLOURS.items()
        },
    }


#: The kind of job that refreshes the warnings, and its limit in the row (not enforced: what
#: a monitor may compare with).
REFRESH_KIND = "warnings"
REFRESH_LIMIT_S = 300.0


def request_refresh(engine, reason: str = "new data") -> tuple[str, bool]:
    """Queue a warning refresh for a worker; returns the id of the queued job and whether it
    is a new one (False: one was waiting, and this request is folded into it)."""
    from web.services import plan_jobs
    from web.services.score_runs import forget_ended
    from web.storage import jobs as job_store

    forget_ended(engine)
    body = json.dumps({"reason": reason[:80]})
    queued = job_store.enqueue_once(engine, secrets.token_urlsafe(12), REFRESH_KIND, body,
                                    REFRESH_LIMIT_S, owner_name="system")  # fmt: skip
    plan_jobs.wake(engine)
    return queued


def run_warning_job(engine, record, on_phase) -> dict:
    """A worker runs a queued warning refresh: returns what changed, for the row."""
    on_phase("refreshing")
    changes = refresh_warnings(engine)
    return {"raised": len(changes.raised), "extended": len(changes.extended),
            "expired": len(changes.expired)}  # fmt: skip


class WarningRefresher(Periodic):
    """A background thread of ``hotspot serve`` that has the warnings refreshed soon after new
    data arrives: it asks for the data version every ``poll_s`` seconds (one small query) and
    queues a refresh (:func:`request_refresh`) when it changed, and at least every
    ``expire_every_s`` seconds so warnings expire on time without new data."""

    def __init__(self, engine, poll_s: float = 0.5, expire_every_s: float = 60.0) -> None:
        self._engine = engine
        self._expire_every_s = expire_every_s
        self._seen: tuple[int, int] | None = None
        self._last = 0.0
        super().__init__("warning-refresh", poll_s, self._check)

    def _check(self) -> None:
        version = storage.import_version(self._engine)
        if version == self._seen and time.monotonic() - self._last < self._expire_every_s:
            return
        # Remembered before queueing: a failure is tried again at the next data or the
        # next expiry pass, not twice a second.
        new_data = version != self._seen
        self._seen, self._last = version, time.monotonic()
        request_refresh(self._engine, "new data" if new_data else "expiry")
