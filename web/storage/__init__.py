"""The one package that talks to the database.

SQLite (WAL mode) is the embedded default; any SQLAlchemy URL works, so PostgreSQL can be
used later. Functions take an Engine and return plain data (DataFrames, dataclasses), never
rows or cursors. Callers use the package as one namespace (``from web import storage``,
then ``storage.load_incidents(engine)``, ``storage.plans``); each concern has one module:

- ``schema``: every table (SQLAlchemy metadata) and the stored forms of times, cells and
  geometry; Alembic migrations in ``migrations/`` create and upgrade it;
- ``engine``: making an engine, running the migrations, the ``meta`` settings;
- ``write_watch``: write notifications for caches kept outside this package;
- ``importing``: categories, storing incident files in one transaction, import runs, rejects;
- ``incident_queries``: incidents read back, counts per cell, row counts of the data tables;
- ``live``: the incident changes since a data version (feed batches, accepted field
  reports) and the score runs;
- ``places``: areas with their H3 cells, police stations;
- ``accounts``: users, their grids, the audit log;
- ``logins``: sessions kept in the database, login attempts counted for growing delays;
- ``patrols``: patrol plans, their visits, check-ins;
- ``requests``: commanders' patrol requests for a cell (what became of them is read from
  plans and check-ins);
- ``warnings``: early warnings per place and rule, acknowledgements, read marks.
"""

from web.storage.accounts import (
    USERNAME_MAX,
    UserRecord,
    audit,
    create_user,
    get_user,
    get_user_by_name,
    list_audit,
    list_users,
    set_user_grids,
    update_user,
    user_cells,
    user_grid_ids,
)
from web.storage.engine import (
    MIGRATIONS_DIR,
    current_revision,
    get_meta,
    init_db,
    make_engine,
    set_meta,
    stored_timezone,
)
from web.storage.importing import (
    ImportBatch,
    ImportFile,
    ImportSummary,
    import_batch,
    import_version,
    list_import_runs,
    list_rejects,
    load_categories_table,
    store_categories,
)
from web.storage.incident_queries import (
    cell_counts,
    count_rows,
    incident_columns,
    incident_count,
    incident_summary,
    load_incidents,
    table_fingerprint,
)
from web.storage.live import (
    IncidentChanges,
    ScoreRun,
    changes_since,
    finish_score_run,
    latest_score_run,
    start_score_run,
)
from web.storage.logins import (
    SessionRecord,
    claim_login_attempt,
    clear_login_attempts,
    create_session,
    end_session,
    end_user_sessions,
    get_session,
    refund_login_attempt,
    touch_session,
)
from web.storage.patrols import (
    StoredPlan,
    add_checkin,
    checkins_frame,
    geojson_dumps,
    get_plan,
    latest_checkins,
    list_plans,
    plan_visits_frame,
    previous_plan,
    publish_plan,
    store_plan,
)
from web.storage.places import (
    busiest_areas,
    list_areas,
    list_stations,
    load_area_cells,
    load_areas_table,
    store_areas,
    store_stations,
)
from web.storage.requests import (
    PatrolRequest,
    RequestOutcome,
    add_patrol_request,
    count_open_requests,
    get_patrol_request,
    list_patrol_requests,
    request_outcomes,
    withdraw_patrol_request,
)
from web.storage.schema import (
    ROLES,
    area_cells,
    areas,
    audit_log,
    categories,
    checkins,
    import_runs,
    incident_details,
    incidents,
    login_throttle,
    meta_table,
    metadata,
    plan_visits,
    plans,
    rejects,
    sessions,
    stations,
    user_grids,
    users,
)
from web.storage.warnings import (
    ComputedWarning,
    WarningChanges,
    WarningRecord,
    acknowledge_warning,
    apply_warnings,
    get_warning,
    list_warning_acks,
    list_warnings,
    mark_warnings_read,
    open_warning_cells,
    unread_warning_count,
)
from web.storage.write_watch import database_key, on_writes

__all__ = [
    # schema
    "metadata",
    "ROLES",
    "meta_table",
    "categories",
    "import_runs",
    "incident_details",
    "incidents",
    "rejects",
    "areas",
    "area_cells",
    "stations",
    "users",
    "user_grids",
    "sessions",
    "login_throttle",
    "audit_log",
    "plans",
    "plan_visits",
    "checkins",
    # engine
    "MIGRATIONS_DIR",
    "make_engine",
    "init_db",
    "current_revision",
    "get_meta",
    "stored_timezone",
    "set_meta",
    # write_watch
    "database_key",
    "on_writes",
    # importing
    "store_categories",
    "load_categories_table",
    "ImportFile",
    "ImportSummary",
    "ImportBatch",
    "import_batch",
    "import_version",
    "list_import_runs",
    "list_rejects",
    # live
    "IncidentChanges",
    "ScoreRun",
    "changes_since",
    "finish_score_run",
    "latest_score_run",
    "start_score_run",
    # incident_queries
    "load_incidents",
    "cell_counts",
    "incident_columns",
    "incident_count",
    "incident_summary",
    "count_rows",
    "table_fingerprint",
    # places
    "store_areas",
    "list_areas",
    "load_areas_table",
    "load_area_cells",
    "busiest_areas",
    "store_stations",
    "list_stations",
    # accounts
    "USERNAME_MAX",
    "UserRecord",
    "create_user",
    "get_user",
    "get_user_by_name",
    "list_users",
    "update_user",
    "set_user_grids",
    "user_grid_ids",
    "user_cells",
    "audit",
    "list_audit",
    # logins
    "SessionRecord",
    "create_session",
    "get_session",
    "touch_session",
    "end_session",
    "end_user_sessions",
    "claim_login_attempt",
    "refund_login_attempt",
    "clear_login_attempts",
    # patrols
    "StoredPlan",
    "geojson_dumps",
    "store_plan",
    "get_plan",
    "list_plans",
    "previous_plan",
    "publish_plan",
    "plan_visits_frame",
    "add_checkin",
    "checkins_frame",
    "latest_checkins",
    # warnings
    "ComputedWarning",
    "WarningChanges",
    "WarningRecord",
    "apply_warnings",
    "get_warning",
    "list_warnings",
    "list_warning_acks",
    "acknowledge_warning",
    "mark_warnings_read",
    "unread_warning_count",
    "open_warning_cells",
    # requests
    "PatrolRequest",
    "RequestOutcome",
    "add_patrol_request",
    "count_open_requests",
    "get_patrol_request",
    "list_patrol_requests",
    "request_outcomes",
    "withdraw_patrol_request",
]
