"""The commander's figure tools on the ``commander`` blueprint: find a grid or cell by name
(``/command/find``), compare two periods on a map (``/command/compare``) and export the
statistics as CSV (``/command/statistics.csv``).

Every figure is counted over the figure area (web.services.statistics.figure_area: the
cells where incidents happen); cells are shown by their readable names
(web.services.cell_names: ``G061-12``, the H3 id second).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from flask import abort, current_app, flash, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from geo.cells import hex_from_cells
from web import clock
from web.maps import render as maps
from web.security import spreadsheet_text
from web.services.cell_names import NAME_KINDS, CellNames, cell_names
from web.services.compare import (
    DEFAULT_PERIOD_DAYS,
    MAX_PERIOD_DAYS,
    MIN_RATIO_INCIDENTS,
    Comparison,
    compare_periods,
    parse_periods,
)
from web.services.filters import FilterError, area_frame, cell_counts, parse_filters
from web.services.map_layers import study_bounds
from web.services.scores import TIER_WINDOW_DAYS, city_tiers, tier_window
from web.services.site_data import SiteData, site_data
from web.services.statistics import (
    TOP_SHARE,
    concentration,
    concentration_text,
    figure_area,
    period_counts,
)
from web.views.access import get_engine
from web.views.commander import _group_choices, _group_label, _synthetic, bp

#: Results the search lists at most (a grid has about a dozen cells).
FIND_LIMIT = 50
#: Cells the compare map draws at most (as SVG, each with a tooltip), largest changes first.
COMPARE_MAX_DRAWN = 4000
#: Rows of the largest increases and decreases the compare page lists.
COMPARE_ROWS = 15
# Diverging colours, decrease (blue) to increase (red), ColorBrewer RdBu.
_DECREASE = ("#d1e5f0", "#67a9cf", "#2166ac")
_INCREASE = ("#fddbc7", "#ef8a62", "#b2182b")


# --- find a grid or cell ------------------------------------------------------------------------


def _covering_area(engine, data: SiteData, cell: int) -> tuple[str, str] | None:
    """(kind, area id) of the first area kind of NAME_KINDS that covers ``cell``."""
    for kind in NAME_KINDS:
        frame = area_frame(engine, data, kind)
        hit = frame.loc[frame["cell"] == cell, "area_id"]
        if len(hit):
            return kind, str(hit.iloc[0])
    return None


def _area_text(kind: str, area_id: str) -> str:
    """An area as a reader names it: "grid G061" in the page's language."""
    if kind == "grid":
        return _("grid %(id)s", id=area_id)
    if kind == "beat":
        return _("beat %(id)s", id=area_id)
    return _("district %(id)s", id=area_id)


def _map_url(cell_hex: str, area: tuple[str, str] | None) -> str:
    """The hotspot map on the cell's area (the map reads ``area``; ``cell`` names the cell
    for the map to centre on once it reads that parameter)."""
    if area is None:
        return url_for("commander.hotspots", cell=cell_hex)
    return url_for("commander.hotspots", area=f"{area[0]}:{area[1]}", cell=cell_hex)


def _tier_text(tier: str | None) -> str:
    if tier == "top1":
        return _("top %(n)d %% of the area", n=1)
    if tier == "top5":
        return _("top %(n)d %% of the area", n=5)
    return ""


@bp.get("/find")
def find():
    """Grids and cells whose name or H3 id matches ``q`` (``G061``, ``G061-12``, an H3 id),
    each with its area, recent incidents, forecast tier and a link to the hotspot map."""
    engine = get_engine()
    data = site_data(engine)
    text = request.args.get("q", "")
    wants_json = request.args.get("format") == "json"
    status, error = 200, None
    if len(text) > 40:
        status, error = 400, _("Search text: at most %(n)d characters.", n=40)
        text = text[:40]
    names = cell_names(engine, data)
    found = names.find(text, limit=FIND_LIMIT) if text.strip() and error is None else []
    rows = _find_rows(engine, data, names, found) if found else []
    if wants_json:
        if error:
            return jsonify({"error": error, "status": status}), status
        return jsonify({"query": text, "results": rows})
    if error:
        flash(error, "error")
    elif text.strip() and not rows:
        flash(_("No grid or cell matches %(text)s.", text=text), "error")
    return render_template(
        "commander/find.html", rows=rows, search_text=text, window_days=TIER_WINDOW_DAYS
    ), status


def _find_rows(engine, data: SiteData, names: CellNames, found: list[int]) -> list[dict]:
    counts = cell_counts(data, tier_window(data))
    by_cell = dict(zip(counts["cell"].tolist(), counts["n"].tolist(), strict=True))
    tiers = city_tiers(data)
    area = figure_area(data)
    rows = []
    for cell, hex_id in zip(found, hex_from_cells(np.asarray(found, dtype=np.int64)), strict=True):
        covering = _covering_area(engine, data, cell)
        rows.append(
            {
                "name": names.name(cell),
                "label": names.label(cell),
                "cell": hex_id,
                "area": f"{covering[0]}:{covering[1]}" if covering else None,
                "area_text": _area_text(*covering) if covering else None,
                "in_figure_area": bool(np.isin(cell, area)),
                "recent": int(by_cell.get(cell, 0)),
                "tier": tiers.get(cell),
                "tier_text": _tier_text(tiers.get(cell)),
                "map_url": _map_url(hex_id, covering),
            }
        )
    return rows


# --- compare two periods ------------------------------------------------------------------------


def _colour(change: float, top: float) -> str:
    if change == 0 or top <= 0:
        return "#f7f7f7"
    step = min(2, int(3 * abs(change) / top - 1e-9))
    return (_INCREASE if change > 0 else _DECREASE)[step]


def _compare_map(data: SiteData, result: Comparison, names: CellNames) -> dict[str, str]:
    """The cells with incidents in A or B coloured by their change (blue fewer, red more)."""
    table = result.cells.head(min(COMPARE_MAX_DRAWN, int(current_app.config["MAX_CELLS_DRAWN"])))
    top = float(np.abs(table["change"]).max()) if len(table) else 0.0
    shown = pd.DataFrame(
        {
            "cell": table["cell"].to_numpy(),
            "name": [names.label(int(c)) for c in table["cell"]],
            "a": table["a"].to_numpy(),
            "b": table["b"].to_numpy(),
            "change": [f"{c:+.1f}" for c in table["change"]],
            "colour": [_colour(float(c), top) for c in table["change"]],
        }
    )
    box = study_bounds(data)
    return maps.change_map(
        shown,
        None if box is None else [[box[1], box[0]], [box[3], box[2]]],
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
        layer_name=_("Change per cell"),
        aliases=(_("Cell"), "A", "B", _("Change")),
    )


def _change_rows(result: Comparison, names: CellNames, increases: bool) -> list[dict]:
    table = result.cells
    part = table[table["change"] > 0] if increases else table[table["change"] < 0]
    part = part.sort_values(
        ["change", "cell"], ascending=[not increases, True], kind="stable"
    ).head(COMPARE_ROWS)
    return [
        {
            "name": names.name(int(c)),
            "label": names.label(int(c)),
            "cell": h3_hex,
            "a": int(a),
            "b": int(b),
            "change": float(ch),
            "ratio": float(r) if np.isfinite(r) else None,
            "new": bool(np.isinf(r)),
        }
        for c, h3_hex, a, b, ch, r in zip(
            part["cell"],
            hex_from_cells(part["cell"].to_numpy(dtype=np.int64)),
            part["a"],
            part["b"],
            part["change"],
            part["ratio"],
            strict=True,
        )
    ]


def _total_text(result: Comparison) -> str:
    total = result.total
    if total.earlier == 0 and total.later == 0:
        return _("No incidents in either period.")
    values = {"a": f"{total.earlier:,}", "b": f"{total.later:,}"}
    verdict = total.verdict()
    if verdict == "increase":
        return _("Period B had %(b)s incidents, period A %(a)s: a significant increase.", **values)
    if verdict == "decrease":
        return _("Period B had %(b)s incidents, period A %(a)s: a significant decrease.", **values)
    return _(
        "Period B had %(b)s incidents, period A %(a)s: no significant change (it could be chance).",
        **values,
    )


@bp.get("/compare")
def compare():
    """Two periods (``a_start``, ``a_end``, ``b_start``, ``b_end``; optional ``group`` and
    ``area``) on a map coloured by each cell's change, with the largest increases and
    decreases; ``format=json`` gives the figures."""
    engine = get_engine()
    data = site_data(engine)
    wants_json = request.args.get("format") == "json"
    status = 200
    try:
        periods = parse_periods(request.args, data, engine)
    except FilterError as err:
        if wants_json:
            return jsonify({"error": str(err), "status": 400}), 400
        flash(err.for_page(), "error")
        status = 400
        periods = parse_periods({}, data, engine)
    result = compare_periods(data, periods)
    names = cell_names(engine, data)
    increases = _change_rows(result, names, True)
    decreases = _change_rows(result, names, False)
    if wants_json:
        return jsonify(
            {
                "periods": periods.dates,
                "area_cells": result.area_cells,
                "total": {
                    "a": result.total.earlier,
                    "b": result.total.later,
                    "p_value": result.total.p_value,
                    "verdict": result.total.verdict(),
                },
                "outside": {"a": result.outside_a, "b": result.outside_b},
                "increases": increases,
                "decreases": decreases,
            }
        )
    return render_template(
        "commander/compare.html",
        map_parts=_compare_map(data, result, names),
        drawn=min(len(result.cells), COMPARE_MAX_DRAWN, int(current_app.config["MAX_CELLS_DRAWN"])),
        periods=periods.dates,
        days={"a": round(periods.days("a")), "b": round(periods.days("b"))},
        result=result,
        total_text=_total_text(result),
        increases=increases,
        decreases=decreases,
        args=request.args,
        group_choices=_group_choices(data),
        max_days=MAX_PERIOD_DAYS,
        default_days=DEFAULT_PERIOD_DAYS,
        min_ratio=MIN_RATIO_INCIDENTS,
        colours={"decrease": list(reversed(_DECREASE)), "increase": list(_INCREASE)},
        jurisdiction_cells=len(data.cells),
        synthetic=_synthetic(engine),
    ), status


# --- the statistics as CSV ----------------------------------------------------------------------


def _csv_row(values: list) -> list:
    """Numbers as they are; text made safe for spreadsheets (no formulas)."""
    return [
        v if isinstance(v, (int, float)) and not isinstance(v, bool) else spreadsheet_text(v)
        for v in values
    ]


@bp.get("/statistics.csv")
def statistics_csv():
    """The statistics page's figures for its filters as CSV (UTF-8 with BOM for Excel and
    WPS, local dates and time, text cells that cannot start a formula)."""
    engine = get_engine()
    data = site_data(engine)
    period = request.args.get("period", "month")
    try:
        filters = parse_filters(request.args, data, engine)
        counts = period_counts(data, filters, period)
    except FilterError as err:
        abort(400, description=str(err))
    spread = concentration(data, filters)
    zone = ZoneInfo(data.timezone)
    exported = datetime.fromtimestamp(clock.now_s(), zone).strftime("%Y-%m-%d %H:%M")
    out = io.StringIO()
    writer = csv.writer(out)
    write = lambda values: writer.writerow(_csv_row(values))  # noqa: E731
    write([_("Incidents per period"), _("exported %(time)s", time=exported), data.timezone])
    write([_("Filters"), request.query_string.decode("ascii", "replace") or _("none")])
    write([])
    groups = list(counts.groups)
    write(
        [
            _("Period"),
            _("First day"),
            _("Last day"),
            _("Days"),
            _("Complete"),
            *[_group_label(g) for g in groups],
        ]
    )
    for row in counts.table.to_dict(orient="records"):
        last = (np.datetime64(row["end"]) - np.timedelta64(1, "D")).astype(str)
        write(
            [
                str(row["period"]),
                row["start"],
                str(last),
                int(row["days"]),
                _("yes") if row["complete"] else _("no"),
                *[int(row[g]) for g in groups],
            ]
        )
    write([])
    write(
        [
            _("Comparison"),
            _("Group"),
            _("Earlier"),
            _("Incidents"),
            _("Later"),
            _("Incidents"),
            _("Rate ratio"),
            "p",
            _("adjusted"),
            _("Verdict"),
        ]
    )
    for row in counts.changes.to_dict(orient="records"):
        ratio = row["ratio"] if np.isfinite(row["ratio"]) else ""
        write(
            [
                _("previous period")
                if row["comparison"] == "previous"
                else _("same period a year earlier"),
                _group_label(row["group"]),
                str(row["earlier_period"]),
                int(row["earlier"]),
                str(row["later_period"]),
                int(row["later"]),
                ratio,
                float(row["p_value"]),
                float(row["p_adjusted"]),
                _verdict_text(row["verdict"]),
            ]
        )
    write([])
    write([_("Where the incidents fell"), concentration_text(spread)])
    write([_("Cells where incidents happen"), spread.area_cells])
    write([_("Cells with incidents"), spread.busy_cells])
    write([_("Top %(p)s %% of cells", p=f"{TOP_SHARE * 100:g}"), spread.top_cells])
    write([_("Incidents in them"), spread.top_incidents])
    write([_("Incidents"), spread.incidents])
    parts = ["statistics", counts.period, *(request.args.get(k, "") for k in ("start", "end"))]
    name = "_".join(p for p in parts if p and all(c.isalnum() or c == "-" for c in p))
    response = current_app.response_class(
        "\ufeff" + out.getvalue(), mimetype="text/csv", content_type="text/csv; charset=utf-8"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _verdict_text(verdict: str) -> str:
    from web.views.commander import VERDICTS

    return str(VERDICTS.get(verdict, verdict))
