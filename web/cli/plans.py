"""Patrol planning commands: a day's plan from the database, and a matrix-level problem."""

from __future__ import annotations

from pathlib import Path

import click

from web.cli._common import audit, fail, pass_ctx
from web.services.workspace import Workspace

# --- patrol planning -----------------------------------------------------------------------


def _write_plan_exports(planned, out_path: str, geojson, gpx, csv_path) -> None:
    import json

    from planner.plan import plan_to_csv, plan_to_geojson, plan_to_gpx
    from planner.problem_json import plan_to_json

    document = plan_to_json(planned.plan)
    document["date_start_utc"] = planned.day_start_utc.isoformat()
    document["timezone"] = planned.timezone
    document["seed"] = planned.seed
    Path(out_path).write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    if geojson:
        data = plan_to_geojson(planned.plan, planned.problem)
        Path(geojson).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    if gpx:
        origin = planned.day_start_utc.to_pydatetime()
        Path(gpx).write_text(plan_to_gpx(planned.plan, planned.problem, clock_origin=origin),
                             encoding="utf-8")  # fmt: skip
    if csv_path:
        Path(csv_path).write_text(plan_to_csv(planned.plan, planned.problem), encoding="utf-8")


# Every solve has a deadline: at most an hour.
_SOLVE_SECONDS = click.FloatRange(0, 3600, min_open=True)


@click.command("plan")
@click.option("--date", "date", required=True, help="planning date, YYYY-MM-DD (local)")
@click.option(
    "--shift",
    default="day",
    show_default=True,
    help="day (08-16), evening (16-24), night (00-08) or HH:MM-HH:MM",
)
@click.option(
    "--units",
    "units_file",
    type=click.Path(exists=True, dir_okay=False),
    help="units CSV (unit_id,station_id[,mode,end_station_id,break_min])",
)
@click.option("--units-per-station", type=int, help="instead of each station's stored count")
@click.option(
    "--candidates",
    type=int,
    default=300,
    show_default=True,
    help="top-scored cells offered to the planner",
)
@click.option("--dwell-min", type=float, default=15.0, show_default=True)
@click.option(
    "--max-visits",
    type=int,
    default=2,
    show_default=True,
    help="visits one cell may get in the shift (repeats at least an hour apart)",
)
@click.option("--time-limit", "time_limit_s", type=_SOLVE_SECONDS, default=30.0,
              show_default=True)  # fmt: skip
@click.option(
    "--work",
    "work_s",
    type=_SOLVE_SECONDS,
    help="search work in seconds of an unloaded machine (default: the time limit); "
    "below the limit, the same seed gives the same plan on a busy machine",
)
@click.option("--seed", type=int, help="fixed seed (default: a secret daily seed)")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("--geojson", type=click.Path(dir_okay=False))
@click.option("--gpx", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False))
@pass_ctx
def plan_command(ctx: Workspace, date, shift, units_file, units_per_station, candidates,
                 dwell_min, max_visits, time_limit_s, work_s, seed, out_path, geojson, gpx,
                 csv_path) -> None:  # fmt: skip
    """Plan a day's patrol routes from the database: scores, risky hours, stations, units."""
    from geo.errors import GeoError
    from planner.errors import PlannerError
    from web.services.patrol_plans import PlanRequest, plan_day

    request = PlanRequest(
        date=date, shift=shift, units_file=units_file, units_per_station=units_per_station,
        candidates=candidates, dwell_min=dwell_min, max_visits=max_visits,
        time_limit_s=time_limit_s, work_s=work_s, seed=seed,
    )  # fmt: skip
    try:
        planned = plan_day(ctx.engine, request, secret=str(ctx.settings["SECRET_KEY"]))
    except (GeoError, PlannerError, ValueError) as err:
        fail(str(err))
    _write_plan_exports(planned, out_path, geojson, gpx, csv_path)
    plan = planned.plan
    click.echo(f"{date} {shift}: {len(planned.problem.units)} units, "
               f"{len(planned.problem.stops)} candidate cells; {_plan_summary(plan)}")  # fmt: skip
    click.echo(f"wrote {out_path}")


def _plan_summary(plan) -> str:
    visits = sum(len(route.visits) for route in plan.routes)
    return (f"status {plan.status}, {visits} visits, total value {plan.total_value:.1f}, "
            f"feasible {plan.check.feasible}")  # fmt: skip


@click.command("plan-problem")
@click.argument("problem_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
def plan_problem_command(problem_path: str, out_path: str) -> None:
    """Solve a matrix-level problem JSON (schema: docs/problem-schema.md)."""
    import json

    from planner.errors import PlannerError
    from planner.problem_json import plan_problem_json

    try:
        document = plan_problem_json(problem_path)
    except (PlannerError, ValueError) as err:
        fail(f"{problem_path}: {err}")
    Path(out_path).write_text(json.dumps(document, indent=1), encoding="utf-8")
    click.echo(f"total value {document.get('total_value')}; wrote {out_path}")


@click.command("replan")
@click.argument("plan_id", type=int)
@click.option("--at", "at_text", required=True,
              help="re-plan from: now, HH:MM (local, within the plan's shift) or "
              "'YYYY-MM-DD HH:MM'")  # fmt: skip
@click.option("--away", "called_away", multiple=True, metavar="UNIT",
              help="a unit called away from this time (repeat for several)")  # fmt: skip
@click.option("--back", multiple=True, metavar="UNIT",
              help="a unit back from a call: starts again at its station")  # fmt: skip
@click.option("--urgent", multiple=True, metavar="CELL",
              help="a cell that must be visited (name such as G061-12, or H3 id)")  # fmt: skip
@click.option("--done-from", type=click.Choice(["checkins", "plan"]), default="checkins",
              show_default=True,
              help="visits done: grid workers' check-ins, or the plan as followed")  # fmt: skip
@click.option("--time-limit", "time_limit_s", type=_SOLVE_SECONDS, default=10.0,
              show_default=True)  # fmt: skip
@click.option("--reason", default="", help="why (shown on the plan and the briefings)")
@click.option("--publish", is_flag=True, help="publish the revision (grid workers see it)")
@pass_ctx
def replan_command(ctx: Workspace, plan_id, at_text, called_away, back, urgent, done_from,
                   time_limit_s, reason, publish) -> None:  # fmt: skip
    """Re-plan the rest of a stored plan's shift: keeps the visits done, re-plans from each
    unit's position at --at, and stores the result as a draft revision of the plan."""
    from geo.errors import GeoError
    from planner.errors import PlannerError
    from web import clock, storage
    from web.services.cell_names import cell_names
    from web.services.patrol_plans import PUBLISHABLE_STATUSES, plan_record
    from web.services.replans import (
        ReplanRequest,
        parse_replan_time,
        replan_day,
        revision_changes,
    )
    from web.services.site_data import site_data

    engine = ctx.engine
    stored = storage.get_plan(engine, plan_id)
    if stored is None:
        fail(f"plan {plan_id}: no such plan (`hotspot` lists plans on the site's Plans page)")
    timezone = storage.get_meta(engine).get("timezone", "UTC")
    names = cell_names(engine, site_data(engine))
    cells = []
    for text in urgent:
        found = names.find(text.strip(), limit=2)
        if len(found) != 1:
            fail(f"--urgent {text}: {'no' if not found else 'more than one'} cell of that name")
        cells.append(int(found[0]))
    try:
        at_s = parse_replan_time(at_text, stored, timezone, int(clock.now_s()))
        change = ReplanRequest(at_s=at_s, called_away=tuple(called_away), back=tuple(back),
                               urgent=tuple(cells), done_from=done_from,
                               time_limit_s=time_limit_s, reason=reason)  # fmt: skip
        planned, request, why = replan_day(engine, stored, change)
    except (GeoError, PlannerError, ValueError) as err:
        fail(f"plan {plan_id}: {err}")
    record = plan_record(planned, request)
    new_id = storage.store_plan(engine, created_by=None, **record, revision_of=stored.id,
                                replan=why)  # fmt: skip
    changes = revision_changes(engine, new_id)
    assert changes is not None
    click.echo(
        f"plan {new_id}: revision {changes['revision']} of plan {stored.id}, "
        f"{_plan_summary(planned.plan)}; after {at_text}: {len(changes['added'])} visits in "
        f"new cells, {len(changes['moved'])} cells moved, {len(changes['cancelled'])} "
        "visits cancelled"
    )
    audit(ctx, "plan_replanned", f"plan {new_id} (re-plan of plan {stored.id})")
    if publish:
        if record["summary"]["status"] not in PUBLISHABLE_STATUSES:
            fail(f"plan {new_id} has no routes to drive ({record['summary']['message']})")
        storage.publish_plan(engine, new_id, None)
        audit(ctx, "plan_published", f"plan {new_id}: {stored.plan_date} {stored.shift}")
        click.echo(f"plan {new_id} published: it replaces plan {stored.id}")
