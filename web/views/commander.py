"""Blueprint ``commander`` (pages under ``/command``): the hotspot map, its cell values and
cell explanations as JSON, period statistics, the forecast-accuracy panel, and the live view
(newest incidents and grid workers' reports, polled by web/static/live.js; commanders and
administrators accept or reject waiting reports there, planners only look).

Admins, commanders and planners use every page here. The work is in web/services (site_data,
filters, scores, map_layers for Gi* and emerging classes, statistics for period tests, accuracy
for backtests, areas) and web/maps/render.py (the folium map frame and SVG charts); the
map's cells are drawn in the browser by web/static/hotspots.js from H3 ids and values.
Headline figures count over the figure area (web.services.statistics.figure_area, where
incidents happen); the search, the comparison of two periods and the statistics CSV are in
web/views/commander_tools.py, on this blueprint.
"""

from __future__ import annotations

import json
import math

import numpy as np
from flask import (
    Blueprint,
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

from geo.cells import hex_from_cells
from geo.evaluation import cell_areas_km2
from web import storage
from web.i18n import area_kind_name, category_names, local_time
from web.maps import render as maps
from web.services import reports as field_reports
from web.services import score_runs
from web.services import warnings as warning_service
from web.services.accuracy import accuracy as backtest
from web.services.accuracy import verdict
from web.services.areas import area_choices, area_outlines
from web.services.cell_names import cell_names
from web.services.filters import FilterError, Filters, category_groups, local_date, parse_filters
from web.services.map_layers import (
    EMERGING_LABELS,
    MAP_MODELS,
    MapQuery,
    UnknownCellError,
    emerging_layer,
    explain_map_cell,
    map_layers,
    parse_map_query,
    study_bounds,
)
from web.services.scores import MAP_MODEL
from web.services.site_data import SiteData, site_data
from web.services.statistics import (
    ALPHA,
    TOP_SHARE,
    concentration,
    concentration_text,
    period_counts,
    top_share_of,
)
from web.views.access import (
    ANALYSTS,
    audit,
    audit_refusal,
    client_ip,
    get_engine,
    roles_required,
)

bp = Blueprint("commander", __name__, url_prefix="/command")

#: Who accepts and rejects grid workers' reports and runs the scores on demand (planners see
#: the live view and the map, read only).
REVIEWERS = ("admin", "commander")


@bp.before_request
@roles_required(*ANALYSTS)
def _guard() -> None:
    """Every page of the blueprint is for admins, commanders and planners only."""


MODEL_LABELS = {
    "weighted_count": _l("Weighted recent count (fast)"),
    "default": _l("Default blend (best, slower)"),
    "naive": _l("Long-run count (naive)"),
    "ring_smoothed": _l("Ring-smoothed count"),
}
GI_LABELS = {
    3: _l("Hot spot, %(p)d %% confidence", p=99),
    2: _l("Hot spot, %(p)d %% confidence", p=95),
    1: _l("Hot spot, %(p)d %% confidence", p=90),
    0: _l("Not significant"),
    -1: _l("Cold spot, %(p)d %% confidence", p=90),
    -2: _l("Cold spot, %(p)d %% confidence", p=95),
    -3: _l("Cold spot, %(p)d %% confidence", p=99),
}
WEEKDAY_LABELS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
VERDICTS = {
    "increase": _l("significant increase"),
    "decrease": _l("significant decrease"),
    "no significant change": _l("no significant change"),
}
#: The share of the area the accuracy page's plain-words verdicts speak of first.
HEADLINE_FRACTION = 0.05
# Query parameters a map link carries over (the slider changes start and end only).
MAP_PARAMS = ("start", "end", "group", "category", "hours", "weekdays", "area", "model", "value")


def _json_error(message: str, status: int):
    return jsonify({"error": message, "status": status}), status


def _query_args() -> dict[str, list[str]]:
    """The map parameters of this request, as lists (repeatable ones stay lists)."""
    return {
        k: [v for v in request.args.getlist(k) if v]
        for k in MAP_PARAMS
        if any(request.args.getlist(k))
    }


def _rounded(values: np.ndarray, digits: int = 4) -> list:
    """Floats to ``digits`` significant digits of the largest (NaN as null): the JSON is
    half as long as with every digit."""
    finite = np.isfinite(values)
    top = float(np.abs(values[finite]).max()) if finite.any() else 0.0
    decimals = digits - 1 - int(np.floor(np.log10(top))) if top > 0 else 0
    rounded = np.round(values, max(decimals, 0)) if decimals >= 0 else np.round(values, decimals)
    return [v if f else None for v, f in zip(rounded.tolist(), finite.tolist(), strict=True)]


def cells_payload(data: SiteData, query: MapQuery, with_emerging: bool = False) -> dict:
    """The map's cells as parallel arrays: hex ids, score, count and Gi* bin per cell."""
    layers = map_layers(data, query)
    hex_ids = hex_from_cells(layers.cells)
    payload = {
        "resolution": int(data.scoring.resolution),
        "value": query.value,
        "model": query.model,
        "start": query.start,
        "end": query.end,
        "as_of_s": query.as_of_s,
        "study_cells": int(layers.n_study_cells),
        "total": int(layers.count.sum()),
        "hot": int((layers.gi_bin > 0).sum()),
        "cold": int((layers.gi_bin < 0).sum()),
        "cells": list(hex_ids),
        "score": _rounded(layers.score),
        "count": layers.count.tolist(),
        "gi": layers.gi_bin.astype(int).tolist(),
        # Headline figures over the figure area (where incidents happen), not every cell.
        "figures": top_share_of(
            data,
            layers.cells,
            layers.score if query.value == "score" else layers.count.astype(float),
            layers.count,
        ),
    }
    if with_emerging:
        table = emerging_layer(data, query)
        labels = sorted(set(table["category"]))
        code = {label: i for i, label in enumerate(labels)}
        by_cell = dict(zip(table["cell"].tolist(), table["category"], strict=True))
        none = code.get("no pattern", -1)
        payload["emerging"] = {
            "labels": labels,
            "codes": [code[by_cell[c]] if c in by_cell else none for c in layers.cells.tolist()],
        }
    return payload


def _map_config(data: SiteData, query: MapQuery, payload: dict) -> dict:
    first = local_date(data.first_s or 0, data.timezone)
    last = local_date(data.last_s or 0, data.timezone)
    return {
        "cellsUrl": url_for("commander.cells"),
        "cellUrl": url_for("commander.cell", hex_id="HEX"),
        "pageUrl": url_for("commander.hotspots"),
        "query": {k: v for k, v in _query_args().items() if k not in ("start", "end")},
        "range": {"first": first, "last": last},
        "maxCells": int(current_app.config["MAX_CELLS_DRAWN"]),
        "data": payload,
        "giLabels": {str(k): str(v) for k, v in GI_LABELS.items()},
        "emergingLabels": {k: str(v) for k, v in EMERGING_LABELS.items()},
        "weekdays": [str(w) for w in WEEKDAY_LABELS],
        "labels": {
            "cells": _("Hotspot cells"),
            "gi": _("Gi* hot and cold spots"),
            "emerging": _("Emerging hot spots"),
            "score": _("Score") + " (" + str(MODEL_LABELS[query.model]) + ")",
            "count": _("Incidents per cell"),
            "resolution": _("H3 resolution"),
            "aggregated": _("coarser cells: zoom in for detail"),
            "loading": _("Loading…"),
            "failed": _("Could not load"),
            "cell": _("Cell"),
            "areas": _("Areas"),
            "window": _("Incidents in the chosen dates"),
            "counts": _("Incidents before the end date"),
            "category": _("Category"),
            "total": _("Total"),
            "trend": _("Trend, last 26 weeks"),
            "up": _("rising (significant)"),
            "down": _("falling (significant)"),
            "none": _("no significant trend"),
            "model": _("Model"),
            "rank": _("rank"),
            "of": _("of"),
            "contribution": _("Contributions"),
            "giStar": _("Gi* (hot spot statistic)"),
            "emergingClass": _("Emerging hot spot class"),
            "hours": _("Incidents by hour of day, last 91 days"),
            "zoomIn": _("Zoom in to see single cells"),
            "incidents": _("incidents"),
            "topCells": _("Top cells"),
            "inTop": _("Share of incidents in the top %(n)d %% of cells", n=5),
            "withIncidents": _("Cells with incidents"),
            "hotCold": _("Gi* hot / cold cells"),
            "play": _("Play"),
            "pause": _("Pause"),
            "notScored": _("outside the study area: not scored"),
            "warnings": _("Early warnings"),
            "warningInbox": _("All warnings"),
        },
    }


@bp.get("/hotspots")
def hotspots():
    """The hotspot map: cells drawn in the browser, filters, time slider, statistics."""
    engine = get_engine()
    data = site_data(engine)
    status = 200
    try:
        query = parse_map_query(request.args, data, engine)
    except FilterError as err:
        flash(err.for_page(), "error")
        status = 400
        query = parse_map_query({}, data, engine)
    payload = cells_payload(data, query)
    listing = storage.list_areas(engine)
    outlines = area_outlines(engine, listing)
    boundary = outlines.get("jurisdiction")
    bounds = study_bounds(data)
    kinds = {
        kind: (
            area_kind_name(kind),
            text,
            kind in ("jurisdiction", "district", "grid", "urban_core") or n <= 60,
        )
        for kind, (text, n) in outlines.items()
    }
    figure = maps.hotspot_map(
        bounds=bounds,
        outlines=kinds,
        stations=storage.list_stations(engine),
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
        heat_label=_("Heat (incidents)"),
        stations_label=_("Police stations"),
    )
    config = _map_config(data, query, payload)
    config["warnings"] = warning_service.map_layer(
        engine, data.timezone, local_time, url_for("warnings.inbox"), cell_names(engine, data)
    )
    return render_template(
        "commander/hotspots.html",
        map_parts=figure,
        config=config,
        query=query,
        args=_query_args(),
        has_boundary=boundary is not None,
        scores_run_at=data.scores_run_at_s,
        can_run_scores=current_user.role in REVIEWERS,
        models=[(m, str(MODEL_LABELS[m])) for m in MAP_MODELS],
        groups=_group_choices(data),
        categories=_category_choices(data),
        areas=area_choices(engine, listing),
        weekdays=list(enumerate(str(w) for w in WEEKDAY_LABELS)),
        h3_url=_vendor_url("h3"),
        synthetic=_synthetic(engine),
    ), status


def _group_choices(data: SiteData) -> list[tuple[str, str]]:
    names = {
        "all": _("All categories"),
        "violent": _("Violent"),
        "property": _("Property"),
        "disorder": _("Disorder"),
        "police_initiated": _("Police-initiated"),
        "other": _("Other"),
        "burglary": _("Burglary"),
    }
    keys = list(dict.fromkeys(["all", *category_groups(data), "burglary"]))
    return [(k, names.get(k, k)) for k in keys]


def _category_choices(data: SiteData) -> list[tuple[str, str]]:
    """(code, name in the page's language) of every category, in table order."""
    names = category_names()
    return [(str(c), names.get(str(c), str(c))) for c in data.categories["code"]]


def _vendor_url(name: str) -> str:
    from web.assets import SITE_SCRIPTS

    return str(current_app.config["VENDOR_URL_PREFIX"]).rstrip("/") + "/" + SITE_SCRIPTS[name]


def _synthetic(engine) -> bool:
    runs = storage.list_import_runs(engine, limit=5)
    return bool(len(runs)) and bool(runs["synthetic"].all())


# Seconds "Recompute scores now" waits for the score run it queued before going back to the
# map (the demo's run takes a few; a longer one goes on and the map says when it is done).
SCORE_RUN_WAIT_S = 10.0


@bp.post("/scores/run")
@roles_required(*REVIEWERS)
def run_scores_now():
    """Recompute the forecast scores now: queue a score run on demand (folded into one that
    waits already) for a worker, wait a little for it, and go back to the map saying how it
    went."""
    engine = get_engine()
    job_id, _new = score_runs.request_scores(
        engine, "demand", user_id=int(current_user.id), username=current_user.username,
        ip=client_ip(),
    )  # fmt: skip
    record = score_runs.wait_for_job(engine, job_id, SCORE_RUN_WAIT_S)
    # The map's own parameters only: any other name (``endpoint``, ``_external``) would be
    # taken by url_for itself.
    back = redirect(url_for("commander.hotspots", **_query_args()))
    if record is not None and record.state == "done":
        run_id = json.loads(record.result or "{}").get("score_run")
        audit("score_run", f"run {run_id}")
        flash(_("Forecast scores recomputed."), "success")
    elif record is not None and record.state in ("failed", "cancelled"):
        audit("score_run", f"job {job_id} {record.state}: {record.error or ''}"[:300])
        flash(_("Forecast scores were not recomputed: %(reason)s",
                reason=record.error or record.state), "error")  # fmt: skip
    else:
        audit("score_run", f"job {job_id} queued")
        flash(_("Forecast scores are being recomputed; the map says when they were computed "
                "once the run is done."), "info")  # fmt: skip
    return back


@bp.get("/cells.json")
def cells():
    """Cells and values for the filters: ``cells``, ``score``, ``count``, ``gi`` arrays (and
    ``emerging`` with ``layers=emerging``)."""
    engine = get_engine()
    data = site_data(engine)
    try:
        query = parse_map_query(request.args, data, engine)
    except FilterError as err:
        return _json_error(str(err), 400)
    layers = {x.strip() for x in request.args.get("layers", "").split(",") if x.strip()}
    unknown = layers - {"emerging"}
    if unknown:
        return _json_error(f"layers: unknown {', '.join(sorted(unknown))}; known: emerging", 400)
    return jsonify(cells_payload(data, query, with_emerging="emerging" in layers))


@bp.get("/cell/<hex_id>")
def cell(hex_id: str):
    """Why one cell looks as it does (geo.explain): counts over 7/28/91/365 days and all,
    trend, model, Gi*, emerging class."""
    engine = get_engine()
    data = site_data(engine)
    try:
        query = parse_map_query(request.args, data, engine)
        explanation = explain_map_cell(engine, data, query, hex_id)
    except FilterError as err:
        return _json_error(str(err), 400)
    except UnknownCellError as err:
        return _json_error(str(err), 404)
    names = category_names()
    for row in explanation.get("counts", {}).get("rows", []):
        row["name"] = names.get(str(row["category"]), str(row["category"]))
    return jsonify(explanation)


@bp.get("/statistics")
def statistics():
    """Counts per week or month by category group, and whether the last period changed."""
    engine = get_engine()
    data = site_data(engine)
    period = request.args.get("period", "month")
    wants_json = request.args.get("format") == "json"
    try:
        filters = parse_filters(request.args, data, engine)
        counts = period_counts(data, filters, period)
    except FilterError as err:
        if wants_json:
            return _json_error(str(err), 400)
        flash(err.for_page(), "error")
        period = "month"
        filters = Filters()
        counts = period_counts(data, filters, period)
    spread = concentration(data, filters)
    if wants_json:
        return jsonify(
            {
                "period": counts.period,
                "groups": list(counts.groups),
                "table": counts.table.to_dict(orient="records"),
                "changes": _records(counts.changes),
                "concentration": spread.as_dict(),
            }
        )
    table = counts.table
    x = np.arange(len(table), dtype=float)
    every = max(1, len(table) // 8)
    chart = maps.line_chart_svg(
        x,
        {_group_label(g): _per_period(table, g) for g in counts.groups},
        x_labels=[(float(i), str(table.loc[i, "period"])) for i in range(0, len(table), every)],
        y_format="{:,.0f}",
        title=_(
            "Incidents per %(period)s (incomplete periods scaled to a full one)",
            period=_("week") if counts.period == "week" else _("month"),
        ),
    )
    changes = counts.changes.assign(
        verdict_text=[str(VERDICTS[v]) for v in counts.changes["verdict"]],
        group_label=[_group_label(g) for g in counts.changes["group"]],
    )
    return render_template(
        "commander/statistics.html",
        counts=counts,
        rows=table.to_dict(orient="records"),
        groups=[(g, _group_label(g)) for g in counts.groups],
        changes=changes.to_dict(orient="records"),
        chart=chart,
        period=counts.period,
        args=request.args,
        group_choices=_group_choices(data),
        areas=area_choices(engine),
        alpha=ALPHA,
        synthetic=_synthetic(engine),
        spread=spread,
        spread_text=concentration_text(spread),
        csv_url=_with_query(url_for("commander.statistics_csv")),
        top_share=TOP_SHARE,
        jurisdiction_cells=len(data.cells),
    )


def _with_query(url: str) -> str:
    """``url`` with this request's query string (filters carried over to an export)."""
    query = request.query_string.decode("ascii", "replace")
    return f"{url}?{query}" if query else url


def _group_label(group: str) -> str:
    return dict(_group_choices_static()).get(group, group)


def _group_choices_static() -> list[tuple[str, str]]:
    return [
        ("all", _("All categories")),
        ("violent", _("Violent")),
        ("property", _("Property")),
        ("disorder", _("Disorder")),
        ("police_initiated", _("Police-initiated")),
        ("other", _("Other")),
        ("burglary", _("Burglary")),
    ]


def _per_period(table, group: str) -> list[float]:
    """Counts scaled to a full period where a period is cut short by the data or dates."""
    full = 7.0 if "week" in str(table.loc[0, "period"]) else None
    out = []
    for n, days, start, end in zip(
        table[group], table["days"], table["start"], table["end"], strict=True
    ):
        length = full or float(
            (np.datetime64(end) - np.datetime64(start)) // np.timedelta64(1, "D")
        )
        out.append(float(n) * length / days if days else float("nan"))
    return out


def _records(frame) -> list[dict]:
    """Rows as dicts with NaN and infinity as null (strict JSON)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
        )
    return out


@bp.get("/accuracy")
def accuracy():
    """Forecast accuracy: hit-rate and PAI curves of the map's model against the naive count,
    from a backtest on the stored data (cached until the next import)."""
    engine = get_engine()
    data = site_data(engine)
    kind = request.args.get("origins", "auto")
    wants_json = request.args.get("format") == "json"
    try:
        n = int(request.args["n"]) if request.args.get("n") else None
    except ValueError:
        return _json_error(f"n: expected a whole number, got {request.args['n']!r}", 400)
    model = request.args.get("model") or MAP_MODEL
    try:
        found = backtest(data, kind, n, model)
    except FilterError as err:
        if wants_json:
            return _json_error(str(err), 400)
        flash(err.for_page(), "error")
        found = backtest(data)
    result = found.result
    summary = _records(found.summary)
    n_area = len(result.cells)
    for row in summary:
        row["verdict"] = verdict(
            row, HEADLINE_FRACTION, found.origins_kind, n_area, _model_label(row["model"])
        )
    origins = [
        {"origin": local_date(o, data.timezone), "end": local_date(e - 1, data.timezone)}
        for o, e in found.origins
    ]
    area = {
        "cells": n_area,
        "km2": float(cell_areas_km2(result.cells).sum()),
        "jurisdiction_cells": len(data.cells),
    }
    if wants_json:
        return jsonify(
            {
                "origins_kind": found.origins_kind,
                "origins": origins,
                "model": found.model,
                "area": area,
                "fractions": list(result.fractions),
                "summary": summary,
                "table": _records(result.table),
            }
        )
    verdicts = {
        group: [
            verdict(row, p, found.origins_kind, n_area, _model_label(row["model"]))
            for p in result.fractions
            for row in summary
            if row["group"] == group and row["model"] == found.model
        ]
        for group in result.groups
    }
    grid = result.area_fraction_grid
    shown = grid <= 0.2 + 1e-12
    charts = []
    for group in result.groups:
        if not result.best_curves[group].shape[0]:
            continue
        hit = {_model_label(m): result.mean_curve(group, m)[shown] for m in result.models}
        best = result.best_curves[group].mean(axis=0)[shown]
        hit[_("best possible")] = best
        share = float(np.mean(result.inside_shares[group]))
        hit[_("random")] = share * grid[shown]
        ticks = [(p, f"{p:.0%}") for p in (0, 0.05, 0.1, 0.15, 0.2)]
        hit_chart = maps.line_chart_svg(
            grid[shown],
            hit,
            x_labels=ticks,
            y_max=1.0,
            y_format="{:.0%}",
            title=_("Hit rate: %(group)s", group=_group_label(group)),
            dashed=[_("best possible"), _("random")],
            width=420,
            height=260,
        )
        # PAI = hit rate / area share; from 0.5 % of the area, where it is stable.
        pai_from = grid[shown] >= 0.005
        x_pai = grid[shown][pai_from]
        pai = {name: np.asarray(values)[pai_from] / x_pai for name, values in hit.items()}
        # The best possible PAI dwarfs the models' at small shares: scale to the models.
        model_top = max(float(np.nanmax(pai[_model_label(m)])) for m in result.models)
        pai_chart = maps.line_chart_svg(
            x_pai,
            pai,
            x_labels=ticks[1:],
            y_max=maps.nice_max(1.1 * model_top),
            y_format="{:.0f}",
            title=_("PAI: %(group)s", group=_group_label(group)),
            dashed=[_("best possible"), _("random")],
            width=420,
            height=260,
        )
        charts.append((group, _group_label(group), hit_chart, pai_chart))
    return render_template(
        "commander/accuracy.html",
        found=found,
        area=area,
        verdicts=verdicts,
        headline=HEADLINE_FRACTION,
        summary=summary,
        origins=origins,
        charts=charts,
        fractions=result.fractions,
        group_label=_group_label,
        model_label=_model_label,
        model_choices=[(m, str(MODEL_LABELS[m])) for m in MAP_MODELS if m != "naive"],
        args=request.args,
    )


def _model_label(model: str) -> str:
    return str(MODEL_LABELS.get(model, model))


# --- the live view ----------------------------------------------------------------------------

#: How often the live view asks for news (milliseconds).
LIVE_POLL_MS = 5000


def _category_names_by_code(data: SiteData) -> dict[str, str]:
    """Incident category code -> name in the page's language."""
    return category_names()


@bp.get("/live")
def live():
    """Newest incidents and reports, refreshed every few seconds; reports to review."""
    engine = get_engine()
    data = site_data(engine)
    bounds = study_bounds(data)
    corners = None if bounds is None else [[bounds[1], bounds[0]], [bounds[3], bounds[2]]]
    fmap = maps.centred_map(
        corners,
        zoom_start=13,
        tile_url=str(current_app.config["TILE_URL"]) or None,
        tile_attribution=str(current_app.config["TILE_ATTRIBUTION"]) or None,
    )
    if corners is not None:
        fmap.fit_bounds(corners)
    config = {
        "url": url_for("commander.live_json"),
        "reviewUrl": url_for("commander.review_report", report_id=0).replace("/0/", "/ID/"),
        "pollMs": LIVE_POLL_MS,
        "canReview": current_user.role in REVIEWERS,
        "labels": {
            "accept": _("Accept"),
            "reject": _("Reject"),
            "reason": _("Reason for rejecting (the reporter sees it)"),
            "reasonRequired": _("Give a reason for rejecting the report."),
            "by": _("reported by"),
            "noWaiting": _("No reports are waiting for review."),
            "noIncidents": _("No incidents yet."),
            "updated": _("Updated %(time)s", time="{time}"),
            "failed": _("Could not refresh; trying again."),
            "new": _("new"),
            "accuracy": _("within about %(m)s m", m="{m}"),
            "field": _("field report"),
        },
    }
    return render_template(
        "commander/live.html",
        map_parts=maps.map_parts(fmap),
        config=config,
        can_review=current_user.role in REVIEWERS,
    )


@bp.get("/live.json")
def live_json():
    """Incidents stored after import run ``after`` (the newest by time without it), the
    reports waiting for review and the newest reviewed ones; ``run`` is the next cursor."""
    raw = request.args.get("after", "")
    after = None
    if raw:
        try:
            after = int(raw)
        except ValueError:
            return _json_error(f"after: expected a whole number, got {raw[:40]!r}", 400)
        if not 0 <= after < 2**31:
            return _json_error("after: must be in 0..2147483647", 400)
    engine = get_engine()
    data = site_data(engine)
    payload = field_reports.live_payload(
        engine, data.timezone, _category_names_by_code(data), after
    )
    names = cell_names(engine, data)
    for incident in payload["incidents"]:
        incident["cell_name"] = names.name(incident["cell"])
    return jsonify(payload)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


@bp.post("/reports/<int:report_id>/review")
def review_report(report_id: int):
    """Accept a waiting report (it becomes an incident from source "field") or reject it with
    a reason (form fields ``decision`` = accept|reject, ``reason``)."""
    if current_user.role not in REVIEWERS:
        audit_refusal("forbidden")
        abort(403)
    decision = request.form.get("decision", "")
    reason = request.form.get("reason", "")
    status, message, report = 200, "", None
    try:
        report = field_reports.review_report(
            get_engine(), current_user, report_id, decision, reason, ip=client_ip()
        )
    except field_reports.ReportError as err:
        status, message = 400, str(err)
    except field_reports.ReportStateError:
        status, message = 409, _("That report is no longer waiting for review.")
    if report is not None:
        message = (
            _("Report accepted: it now counts as an incident.")
            if report.status == "accepted"
            else _("Report rejected; the reporter sees the reason.")
        )
    if _wants_json():
        if report is None:
            return _json_error(message, status)
        timezone = site_data(get_engine()).timezone
        return jsonify({"message": message, "report": field_reports.report_json(report, timezone)})
    if report is None:
        abort(status, description=message)
    flash(message, "success")
    return redirect(url_for("commander.live"))


# The search, compare and export pages (same blueprint, own module to keep this one short).
from web.views import commander_tools  # noqa: E402, F401
