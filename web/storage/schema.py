"""The schema: every table as SQLAlchemy metadata, the one definition Alembic migrates to.

Stored forms:

- times: ``BIGINT`` seconds since the epoch, UTC (timezone-aware timestamps at the edges);
- H3 cells: ``BIGINT`` (64-bit ids; hex strings only at API, export and CLI boundaries);
- geometry: GeoJSON text in WGS-84.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

categories = sa.Table(
    "categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(80), nullable=False, unique=True),
    sa.Column("name_en", sa.String(120), nullable=False),
    sa.Column("name_zh", sa.String(120), nullable=False),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("group", sa.String(40), nullable=False),
    sa.Column("police_initiated", sa.Boolean, nullable=False),
    sa.Column("aliases", sa.Text, nullable=False, server_default=""),
)

import_runs = sa.Table(
    "import_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("preset", sa.String(80)),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("inserted", sa.Integer, nullable=False),
    sa.Column("duplicates", sa.Integer, nullable=False),
    sa.Column("rejected", sa.Integer, nullable=False),
    sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Offence code, description and kind of place repeat across many incidents: stored once here
# (a few thousand rows for Chicago), which keeps incident rows small and bulk inserts fast.
incident_details = sa.Table(
    "incident_details",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("offense_code", sa.String(40), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("location_type", sa.Text, nullable=False),
    sa.UniqueConstraint(
        "offense_code", "description", "location_type", name="uq_incident_details_all"
    ),
)

incidents = sa.Table(
    "incidents",
    metadata,
    # The de-duplication key is the primary key: one B-tree, no separate unique index.
    # On SQLite the column must be declared INTEGER to be the rowid itself.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("import_run_id", sa.Integer, sa.ForeignKey("import_runs.id"), nullable=False),
    sa.Column("source_id", sa.String(80)),
    sa.Column("occurred_at", sa.BigInteger, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False),
    sa.Column("detail_id", sa.Integer, sa.ForeignKey("incident_details.id")),
    # One index: per-cell queries (a grid worker's cells, a cell's explanation) with a time
    # range. City-wide time windows scan the table (0.1-0.3 s for 700k rows), which costs
    # less overall than keeping a second index up to date on every import.
    sa.Index("ix_incidents_cell_occurred_at", "cell", "occurred_at"),
)

rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_run_id", sa.Integer, sa.ForeignKey("import_runs.id"), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("field", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    # Re-importing the same file must not pile up the same rejects again.
    sa.UniqueConstraint("file_sha256", "line", name="uq_rejects_file_line"),
)

areas = sa.Table(
    "areas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("area_id", sa.String(80), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("geometry", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("kind", "area_id", name="uq_areas_kind_area_id"),
)

area_cells = sa.Table(
    "area_cells",
    metadata,
    sa.Column(
        "area_pk", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("cell", sa.BigInteger, primary_key=True),
    sa.Index("ix_area_cells_cell", "cell"),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("station_id", sa.String(80), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False, server_default=""),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("units", sa.Integer, nullable=False, server_default="1"),
    # Per named shift, the station's own units and working hours (JSON, e.g.
    # {"night": {"units": 1, "hours": "00:00-06:00"}}); NULL: `units` and the shift's hours.
    sa.Column("shifts", sa.Text),
)

# --- the site: accounts, audit, plans and check-ins --------------------------------------

ROLES = ("admin", "commander", "planner", "grid_worker")

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(80), nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False, server_default=""),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("locale", sa.String(10)),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "role IN ('admin', 'commander', 'planner', 'grid_worker')", name="ck_users_role"
    ),
)
# User names are unique without regard to case ("Admin" cannot sit beside "admin").
sa.Index("ux_users_username_lower", sa.func.lower(users.c.username), unique=True)

# Management grids (areas of kind "grid") a grid worker is responsible for.
user_grids = sa.Table(
    "user_grids",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "area_pk", sa.Integer, sa.ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    ),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.Integer),
    sa.Column("username", sa.String(80), nullable=False, server_default=""),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_audit_log_at", "at"),
)

# A login: the sha256 of its random token (the cookie holds the token), who, and its times.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_seen_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),  # absolute: activity never extends it
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_sessions_user_id", "user_id"),
)

# Login attempts counted per key ("name:<user name>" or "ip:<address>") for growing delays.
login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.String(120), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),  # the last attempt
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("plan_date", sa.String(10), nullable=False),  # local date, YYYY-MM-DD
    sa.Column("shift", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # draft or published
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("published_at", sa.BigInteger),
    sa.Column("published_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("shift_start", sa.BigInteger, nullable=False),  # UTC seconds of shift start
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("request", sa.Text, nullable=False),  # the form, JSON
    sa.Column("summary", sa.Text, nullable=False),  # status, totals, stats, JSON
    sa.Column("plan_json", sa.Text, nullable=False),  # planner.problem_json.plan_to_json
    sa.Column("geojson", sa.Text, nullable=False),
    sa.Column("gpx", sa.Text, nullable=False),
    sa.Column("csv", sa.Text, nullable=False),
    # Re-planning during the shift: a revision names the plan it re-plans, counts from 1 (the
    # first plan of a date and shift) and says why (JSON: when, units called away or back,
    # urgent cells). The problem is the whole shift's, as JSON without its travel matrices
    # (rebuilt from the node positions and modes); NULL for plans made before migration 0007.
    sa.Column("revision_of", sa.Integer),
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("replan", sa.Text),
    sa.Column("problem", sa.Text),
    sa.CheckConstraint("status IN ('draft', 'published')", name="ck_plans_status"),
    sa.Index("ix_plans_plan_date", "plan_date", "shift"),
    sa.Index("ix_plans_revision_of", "revision_of"),
)

# One row per planned stop, so a grid worker's view and delivered-versus-planned queries
# select by cell without reading the plan documents.
plan_visits = sa.Table(
    "plan_visits",
    metadata,
    sa.Column(
        "plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("unit_id", sa.String(80), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("start_at", sa.BigInteger, nullable=False),  # UTC seconds
    sa.Column("end_at", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Index("ix_plan_visits_cell", "cell"),
)

checkins = sa.Table(
    "checkins",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("visited_at", sa.BigInteger, nullable=False),  # UTC seconds
    sa.Column("minutes", sa.Float, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="SET NULL")),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    # The id a phone gives a check-in it may send again (queued offline, resent after a
    # lost answer): one account's check-in with that id is stored once. None from forms
    # without scripts and from older clients.
    sa.Column("client_id", sa.String(40)),
    sa.Index("ix_checkins_cell", "cell", "visited_at"),
    sa.Index("ux_checkins_user_id_client_id", "user_id", "client_id", unique=True),
)

# --- live data (issue 13): machine clients, the feed's change log, field reports, scoring ---

# A machine client's token (the dispatch system's feed): its sha256, never the token itself.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("scope", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("hint", sa.String(12), nullable=False),  # its first characters, to tell apart
    sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("last_used_at", sa.BigInteger),
    sa.Column("last_used_ip", sa.String(64)),
    sa.Column("revoked_at", sa.BigInteger),
    sa.CheckConstraint("scope IN ('feed', 'read')", name="ck_api_tokens_scope"),
)

# Import runs made by the feed or by accepting field reports. Their changes are logged row by
# row in incident_changes, so every server process updates its data in place.
feed_runs = sa.Table(
    "feed_runs",
    metadata,
    sa.Column(
        "import_run_id",
        sa.Integer,
        sa.ForeignKey("import_runs.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("token_id", sa.Integer, sa.ForeignKey("api_tokens.id")),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("kind IN ('feed', 'field')", name="ck_feed_runs_kind"),
)

# Every incident a feed run stored or changed; for a change, the version it replaced (old_*:
# all null for a new incident). Earlier versions are kept here, never lost.
incident_changes = sa.Table(
    "incident_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_run_id", sa.Integer, sa.ForeignKey("import_runs.id"), nullable=False),
    sa.Column("incident_id", sa.BigInteger, nullable=False),
    sa.Column("old_run_id", sa.Integer),
    sa.Column("old_source_id", sa.String(80)),
    sa.Column("old_occurred_at", sa.BigInteger),
    sa.Column("old_lon", sa.Float),
    sa.Column("old_lat", sa.Float),
    sa.Column("old_cell", sa.BigInteger),
    sa.Column("old_category_id", sa.Integer),
    sa.Column("old_detail_id", sa.Integer),
    sa.Index("ix_incident_changes_import_run_id", "import_run_id"),
    sa.Index("ix_incident_changes_incident_id", "incident_id"),
)

# What grid workers may report, kept by the administrator; an accepted report becomes an
# incident of ``category_code``.
report_categories = sa.Table(
    "report_categories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(40), nullable=False, unique=True),
    sa.Column("name_zh", sa.String(80), nullable=False),
    sa.Column("name_en", sa.String(80), nullable=False),
    sa.Column("category_code", sa.String(80), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
)

# An event a grid worker reported in one of their grids: a place, a time, a category, a note
# about the place (never a person). WGS-84 as stored; ``crs`` is what the phone sent.
field_reports = sa.Table(
    "field_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column(
        "report_category_id", sa.Integer, sa.ForeignKey("report_categories.id"), nullable=False
    ),
    sa.Column("occurred_at", sa.BigInteger, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("crs", sa.String(10), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("reviewed_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("reviewed_at", sa.BigInteger),
    sa.Column("incident_id", sa.BigInteger),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "status IN ('reported', 'accepted', 'rejected')", name="ck_field_reports_status"
    ),
    sa.Index("ix_field_reports_status", "status", "created_at"),
    sa.Index("ix_field_reports_user_id", "user_id"),
)

# When forecast scores were computed (on the schedule or on demand), from which data.
score_runs = sa.Table(
    "score_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger),
    sa.Column("data_run_id", sa.Integer, nullable=False),  # the newest import run it saw
    sa.Column("trigger", sa.String(10), nullable=False),
    sa.Column("requested_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.CheckConstraint("trigger IN ('schedule', 'demand')", name="ck_score_runs_trigger"),
    sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="ck_score_runs_status"),
)

# Early warnings (issue 14): one row per place and rule while it is open; a new computation
# extends it (ends later, level up or down, evidence updated) instead of adding another.
# ``place`` is the cell's hex id (near-repeat, emerging) or the area id (rising area), and
# ``warning_cells`` lists the cells it covers. About places, never persons.
warnings = sa.Table(
    "warnings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule", sa.String(20), nullable=False),
    sa.Column("place", sa.String(80), nullable=False),
    sa.Column("area_kind", sa.String(40)),  # the area's kind for a rising-area warning
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("starts_at", sa.BigInteger, nullable=False),
    sa.Column("ends_at", sa.BigInteger, nullable=False),
    sa.Column("strength", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("raised_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.CheckConstraint(
        "rule IN ('near_repeat', 'rising_area', 'emerging')", name="ck_warnings_rule"
    ),
    sa.CheckConstraint("level BETWEEN 1 AND 3", name="ck_warnings_level"),
    sa.CheckConstraint("status IN ('open', 'expired')", name="ck_warnings_status"),
    sa.Index("ix_warnings_status", "status", "rule", "place"),
    sa.Index("ix_warnings_ends_at", "ends_at"),
)
warning_cells = sa.Table(
    "warning_cells",
    metadata,
    sa.Column(
        "warning_id",
        sa.Integer,
        sa.ForeignKey("warnings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("cell", sa.BigInteger, primary_key=True),
    sa.Index("ix_warning_cells_cell", "cell"),
)
# Who acknowledged a warning, when, with what note (about the place).
warning_acks = sa.Table(
    "warning_acks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "warning_id", sa.Integer, sa.ForeignKey("warnings.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_warning_acks_warning_id", "warning_id"),
)
# A user has seen a warning (for the unread count); cleared when the warning's level rises.
warning_reads = sa.Table(
    "warning_reads",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "warning_id",
        sa.Integer,
        sa.ForeignKey("warnings.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("at", sa.BigInteger, nullable=False),
)

# A commander's request that a cell be patrolled soon (a call, a tip, an event): open until
# withdrawn; whether it was planned or visited is read from plans and check-ins, never stored.
patrol_requests = sa.Table(
    "patrol_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cell", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("requested_at", sa.BigInteger, nullable=False),
    sa.Column("until_at", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("withdrawn_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("withdrawn_at", sa.BigInteger),
    sa.CheckConstraint("status IN ('open', 'withdrawn')", name="ck_patrol_requests_status"),
    sa.CheckConstraint("until_at > requested_at", name="ck_patrol_requests_until"),
    sa.Index("ix_patrol_requests_until_at", "until_at"),
    sa.Index("ix_patrol_requests_cell", "cell"),
)

# Background work (plan jobs, re-plans, score runs, warning refreshes) taken by
# workers (`hotspot worker`, or a thread of `hotspot serve`): what to do, its state (queued,
# running, done, failed, cancelled), the worker holding it and its last heartbeat. Times in
# real seconds since the epoch (fractional: heartbeats and elapsed times), not the site clock.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    sa.Column("owner_name", sa.String(64), nullable=False, server_default=""),
    sa.Column("owner_ip", sa.String(64), nullable=False, server_default=""),
    sa.Column("request", sa.Text, nullable=False),  # JSON: what the kind needs
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("phase", sa.String(40), nullable=False, server_default=""),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker", sa.String(120)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("time_limit_s", sa.Float, nullable=False),
    sa.Column("deadline_at", sa.Float),  # started_at + time_limit_s of the current attempt
    sa.Column("plan_id", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("result", sa.Text),  # JSON: what a job other than a plan produced
    sa.Index("ix_jobs_state", "state", "created_at"),
    sa.Index("ix_jobs_owner_id", "owner_id"),
    # At most one queued score run and one queued warning refresh: a second request while
    # one waits is folded into it, whichever process asks (web.storage.jobs.enqueue_once).
    sa.Index(
        "ux_jobs_one_queued",
        "kind",
        unique=True,
        sqlite_where=sa.text("state = 'queued' AND (kind = 'scores' OR kind = 'warnings')"),
        postgresql_where=sa.text("state = 'queued' AND (kind = 'scores' OR kind = 'warnings')"),
    ),
)
