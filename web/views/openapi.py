"""The OpenAPI 3.1 document of the JSON API (web/views/api.py), built as plain data.

Served at ``/api/openapi.json`` and shown by Swagger UI at ``/api/docs``. Values that depend on
the site (scoring models, category groups, check-in minutes, timezone) are arguments, so the
document always matches the running app; tests/web/test_api.py checks that every ``/api``
route of the app is described here.
"""

from __future__ import annotations

from collections.abc import Sequence

from web.views.openapi_live import _feed_operation, _feed_schemas, _report_paths, _warning_paths
from web.views.openapi_parts import (
    _errors,
    _limit,
    _list_query,
    _nullable,
    _ok,
    _path,
    _query,
)

__all__ = ["openapi_document"]


def _filter_parameters(groups: Sequence[str], timezone: str) -> list[dict]:
    return [
        _query(
            "start",
            f"First local date (YYYY-MM-DD, {timezone}) of incidents counted.",
            {"type": "string", "format": "date"},
        ),
        _query(
            "end", "Last local date, inclusive (YYYY-MM-DD).", {"type": "string", "format": "date"}
        ),
        _list_query(
            "category",
            "Category codes (repeat the parameter or separate by commas); not with `group`.",
        ),
        _query(
            "group", "A category group instead of codes.", {"type": "string", "enum": list(groups)}
        ),
        _query(
            "hours",
            "Local hours 0-23: numbers and ranges, e.g. `18-23,0-2` (wraps around midnight).",
            {"type": "string", "examples": ["18-23"]},
        ),
        _query(
            "weekdays",
            "Local weekdays 0 (Monday) - 6, numbers and ranges, e.g. `4-6`.",
            {"type": "string", "examples": ["5,6"]},
        ),
        _query(
            "area",
            "Only the cells of one area, `KIND:ID` (e.g. `grid:G001`, "
            "`district:7`). A grid worker's cells are intersected with it.",
            {"type": "string", "examples": ["grid:G001"]},
        ),
    ]


def _schemas(models: Sequence[str], checkin_minutes: float) -> dict:
    hex_cell = {
        "type": "string",
        "pattern": "^[0-9a-f]{15}$",
        "description": "H3 cell (hex)",
        "examples": ["8926641a8a3ffff"],
    }
    iso = {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601 with the city's UTC offset",
    }
    iso_or_null = {
        **_nullable("string", format="date-time"),
        "description": "ISO 8601 with the city's UTC offset",
    }
    epoch = {"type": "integer", "description": "seconds since 1970-01-01 UTC"}
    tier = {
        **_nullable("string"),
        "enum": ["top1", "top5", None],
        "description": "top 1 % or top 5 % of the study cells by score",
    }
    gi_bin = {
        **_nullable("integer"),
        "minimum": -3,
        "maximum": 3,
        "description": "Gi* class over the last 365 days of data (FDR): 3/2/1 hot at "
        "99/95/90 % confidence, negative cold, 0 not significant; null outside the "
        "study area",
    }
    windows = ["7d", "28d", "91d", "365d", "all"]
    window_counts = {
        "type": "object",
        "description": "incidents in the 7, 28, 91 and 365 days before as_of, and all before it",
        "properties": {window: {"type": "integer"} for window in windows},
        "required": windows,
    }
    category_names = {name: {"type": "string"} for name in ("code", "name_en", "name_zh")}
    filters = {
        "type": "object",
        "description": "The filters as read (times ISO 8601; lists null when not filtered).",
        "properties": {
            "start": iso_or_null,
            "end": iso_or_null,
            "categories": _nullable("array", items={"type": "string"}),
            "hours": _nullable("array", items={"type": "integer"}),
            "weekdays": _nullable("array", items={"type": "integer"}),
            "area": _nullable("string"),
        },
    }
    visit = {
        "type": "object",
        "properties": {
            "unit_id": {"type": "string"},
            "seq": {"type": "integer", "description": "stop number on the unit's route"},
            "cell": hex_cell,
            "start": iso,
            "start_s": epoch,
            "end": iso,
            "end_s": epoch,
            "value": {"type": "number", "description": "the stop's planning value"},
        },
        "required": ["unit_id", "seq", "cell", "start", "start_s", "end", "end_s"],
    }
    checkin = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "cell": hex_cell,
            "visited_at": iso,
            "visited_at_s": epoch,
            "minutes": {"type": "number"},
            "note": {"type": "string"},
            "plan_id": {
                **_nullable("integer"),
                "description": "published plan whose visit window (give or take 30 "
                "minutes) covers this cell and time",
            },
            "mine": {"type": "boolean", "description": "recorded by the logged-in user"},
            "username": {
                "type": "string",
                "description": "who recorded it (not shown to grid workers)",
            },
        },
        "required": [
            "id",
            "cell",
            "visited_at",
            "visited_at_s",
            "minutes",
            "note",
            "plan_id",
            "mine",
        ],
    }
    plan_common = {
        "id": {"type": "integer"},
        "date": {"type": "string", "format": "date", "description": "local date of the plan"},
        "shift": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["draft", "published", "replaced"],
            "description": "draft; published (the plan in force for its date and shift); "
            "replaced (published, then replaced by a newer published plan of its date and "
            "shift: it keeps its publication time)",
        },
        "created_at": iso,
        "created_at_s": epoch,
        "published_at": iso_or_null,
        "published_at_s": _nullable("integer"),
        "summary": {"description": "plan totals and statistics (not shown to grid workers)"},
        "revision": {
            "type": "integer",
            "description": "1 for a plan made from the form; 2, 3, ... for re-plans and edits",
        },
        "revision_of": {
            **_nullable("integer"),
            "description": "the plan this one re-plans or edits (null for a first plan)",
        },
    }
    return {
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "string", "description": "what went wrong, in words"},
                "status": {"type": "integer", "description": "the HTTP status code"},
            },
            "required": ["error", "status"],
        },
        "Filters": filters,
        "CellScore": {
            "type": "object",
            "properties": {
                "cell": hex_cell,
                "score": {"type": "number"},
                "rank": {"type": "integer", "description": "1 = hottest study cell of the city"},
                "tier": tier,
                "count": {"type": "integer", "description": "incidents passing the filters"},
            },
            "required": ["cell", "score", "rank", "count"],
        },
        "CellList": {
            "type": "object",
            "properties": {
                "model": {"type": "string", "enum": list(models)},
                "as_of": iso,
                "as_of_s": epoch,
                "filters": {"$ref": "#/components/schemas/Filters"},
                "study_cells": {"type": "integer", "description": "cells ranked city-wide"},
                "total": {"type": "integer", "description": "cells in your scope"},
                "cells": {"type": "array", "items": {"$ref": "#/components/schemas/CellScore"}},
            },
            "required": ["model", "as_of", "as_of_s", "filters", "total", "cells"],
        },
        "CellDetail": {
            "type": "object",
            "properties": {
                "cell": hex_cell,
                "resolution": {"type": "integer"},
                "center": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                },
                "in_study_area": {"type": "boolean"},
                "as_of": {
                    **iso,
                    "description": "end of the count windows: just after the "
                    "newest stored incident",
                },
                "as_of_s": epoch,
                "counts": window_counts,
                "categories": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {**category_names, "counts": window_counts},
                    },
                },
                "model": {"type": "string", "enum": list(models)},
                "score": _nullable("number"),
                "rank": _nullable("integer"),
                "tier": tier,
                "gi_bin": gi_bin,
                "study_cells": {"type": "integer"},
            },
            "required": ["cell", "counts", "categories", "score", "rank", "tier", "gi_bin"],
        },
        "AggregateGroup": {
            "type": "object",
            "properties": {
                "key": {
                    "oneOf": [{"type": "string"}, {"type": "integer"}],
                    "description": "day YYYY-MM-DD, week (its Monday) YYYY-MM-DD, month "
                    "YYYY-MM, hour 0-23, weekday 0-6 (Monday 0), category code or cell "
                    "hex",
                },
                "count": {"type": "integer"},
                "start": {**iso, "description": "local start of a day, week or month"},
                "start_s": epoch,
                "name": {"type": "string", "description": "weekday name"},
                "name_en": {"type": "string", "description": "category name"},
                "name_zh": {"type": "string", "description": "category name"},
            },
            "required": ["key", "count"],
        },
        "Aggregate": {
            "type": "object",
            "properties": {
                "by": {"type": "string"},
                "timezone": {"type": "string"},
                "filters": {"$ref": "#/components/schemas/Filters"},
                "total": {"type": "integer"},
                "groups": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/AggregateGroup"},
                },
            },
            "required": ["by", "timezone", "filters", "total", "groups"],
        },
        "PlanSummary": {
            "type": "object",
            "properties": {
                **plan_common,
                "visits_in_your_cells": {"type": "integer", "description": "grid workers only"},
            },
            "required": ["id", "date", "shift", "status", "created_at", "created_at_s"],
        },
        "PlanList": {
            "type": "object",
            "properties": {
                "plans": {"type": "array", "items": {"$ref": "#/components/schemas/PlanSummary"}}
            },
            "required": ["plans"],
        },
        "Visit": visit,
        "Plan": {
            "type": "object",
            "properties": {
                **plan_common,
                "shift_start": iso,
                "shift_start_s": epoch,
                "visits": {"type": "array", "items": {"$ref": "#/components/schemas/Visit"}},
            },
            "required": ["id", "date", "shift", "status", "shift_start", "visits"],
        },
        "Checkin": checkin,
        "CheckinList": {
            "type": "object",
            "properties": {
                "filters": {"type": "object"},
                "checkins": {"type": "array", "items": {"$ref": "#/components/schemas/Checkin"}},
            },
            "required": ["checkins"],
        },
        "CheckinInput": {
            "type": "object",
            "properties": {
                "cell": hex_cell,
                "visited_at": {
                    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
                    "description": "ISO 8601 (without an offset: local city time) or epoch "
                    "seconds; default now. At most 10 minutes ahead and 7 days back.",
                },
                "minutes": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": 480,
                    "default": checkin_minutes,
                },
                "note": {
                    "type": "string",
                    "maxLength": 500,
                    "description": "what was seen; never names of people",
                },
                "client_id": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_-]{8,40}$",
                    "description": "the device's own id for this visit (a UUID): sent again "
                    "(after a lost answer), it returns the check-in stored the first time "
                    "(200) instead of storing it twice",
                },
            },
            "required": ["cell"],
        },
        "Session": {
            "type": "object",
            "properties": {
                "username": {"type": "string"},
                "role": {
                    "type": "string",
                    "enum": ["admin", "commander", "planner", "grid_worker"],
                },
                "csrf_token": {
                    "type": "string",
                    "description": "send as X-CSRFToken with every POST",
                },
                "scoped": {
                    "type": "boolean",
                    "description": "true for grid workers: only their cells",
                },
                "cells": _nullable(
                    "array",
                    items=hex_cell,
                    description="a grid worker's cells; null for other roles",
                ),
            },
            "required": ["username", "role", "csrf_token", "scoped"],
        },
    }


DESCRIPTION = """\
Hotspot and patrol data of this site, for scripts and other intranet systems. Only places:
no incident records, no person data; incidents are given as counts.

**Logging in.** The API uses the site's own login and session cookie:

1. `GET /login` and read the CSRF token from the page (`<meta name="csrf-token">` or the
   form's hidden `csrf_token` field);
2. `POST /login` with form fields `username`, `password` and `csrf_token`, keeping the
   `{cookie}` cookie it sets;
3. `GET /api/session`: who you are, and a **new** CSRF token (logging in starts a new
   session, so the token of step 1 no longer works);
4. send the cookie with every request, and the token as header **`X-CSRFToken`** with every
   POST (`POST /api/checkins`). Without it a POST is refused with 400.

Pages of the site send the header from `<meta name="csrf-token">` by themselves, which is
why "Try it out" works here once you are logged in.

**Machine clients** send an API token instead (an administrator makes one on *API tokens*
or with `hotspot tokens add NAME --scope feed|read`): header `Authorization: Bearer <token>`,
no cookie, no CSRF token. A `read` token reads the GET routes as a commander; a `feed` token
reaches only `POST /api/feed/incidents`. An unknown or revoked token is 401, one of another
scope 403.

**Who sees what.** Every role may read. A grid worker only ever sees the cells of their
assigned grids: a cell outside them is 404 (as if absent), lists and aggregates leave other
cells out, plans list only published plans with only their cells' visits, and a check-in
for another cell is 403 with nothing stored. Planners and administrators may record
check-ins for any study cell; commanders are read-only (403 on POST).

**Conventions.** Cells are H3 hex ids (resolution of the site, usually 9). Times are ISO 8601
with the city's offset ({timezone}) plus epoch seconds in `*_s` fields; dates in filters are
local dates, `end` inclusive. Errors are JSON `{{"error": message, "status": code}}`.
"""


def openapi_document(
    *,
    models: Sequence[str],
    default_model: str,
    groups: Sequence[str],
    checkin_minutes: float,
    timezone: str,
    server_url: str = "/",
    cookie_name: str = "session",
) -> dict:
    """The OpenAPI 3.1 document (a JSON-ready dict) for the given site settings."""
    filters = _filter_parameters(groups, timezone)
    model = _query(
        "model",
        "Scoring model.",
        {"type": "string", "enum": list(models), "default": default_model},
    )
    post_security: list[dict[str, list[str]]] = [{"sessionCookie": [], "csrfHeader": []}]
    paths = {
        "/api/session": {
            "get": {
                "operationId": "session_info",
                "summary": "Who is logged in, and the CSRF token for POSTs",
                "tags": ["session"],
                "responses": {**_ok("Session", "The logged-in user"), **_errors(401)},
            }
        },
        "/api/cells": {
            "get": {
                "operationId": "cells",
                "summary": "Cell scores, hottest first",
                "description": "Scores every study cell with the model (the category, hour and "
                "weekday filters choose the incidents; the scoring weighs time itself, as of "
                "`end` or the newest incident) and counts the incidents passing all filters. "
                "Ranks are city-wide. Grid workers get only their cells.",
                "tags": ["cells"],
                "parameters": [
                    *filters,
                    model,
                    _limit("cells", default=100),
                ],
                "responses": {**_ok("CellList", "Cells by rank"), **_errors(400, 401)},
            }
        },
        "/api/cells/{hex_id}": {
            "get": {
                "operationId": "cell",
                "summary": "One cell: recent counts by category, score, rank, Gi* class",
                "description": "Counts over the 7, 28, 91 and 365 days before the newest "
                "stored incident (and all before it), every category by most incidents first. "
                "A grid worker asking for a cell outside their grids gets 404.",
                "tags": ["cells"],
                "parameters": [
                    _path("hex_id", "string", description="H3 cell at the site's resolution"),
                    model,
                ],
                "responses": {**_ok("CellDetail", "The cell"), **_errors(400, 401, 404)},
            }
        },
        "/api/incidents/aggregate": {
            "get": {
                "operationId": "incidents_aggregate",
                "summary": "Incident counts grouped by time, category or cell",
                "description": "Aggregates only, never incident rows. Calendar groups (day, "
                "week from Monday, month) are local and zero-filled over the date range; hour "
                "and weekday list all 24 / 7 values.",
                "tags": ["incidents"],
                "parameters": [
                    _query(
                        "by",
                        "Grouping.",
                        {
                            "type": "string",
                            "default": "day",
                            "enum": ["day", "week", "month", "hour", "weekday", "category", "cell"],
                        },
                    ),
                    *filters,
                ],
                "responses": {**_ok("Aggregate", "Counts per group"), **_errors(400, 401, 503)},
            }
        },
        "/api/plans": {
            "get": {
                "operationId": "plans",
                "summary": "Patrol plans, newest first",
                "description": "Grid workers see published plans only, each with the number of "
                "visits in their cells and no summary.",
                "tags": ["plans"],
                "parameters": [
                    _query(
                        "status",
                        "Only drafts, only the published plans in force, or only published "
                        "plans a newer one replaced.",
                        {"type": "string", "enum": ["draft", "published", "replaced"]},
                    ),
                    _limit("plans", default=50, maximum=500),
                ],
                "responses": {**_ok("PlanList", "Plans"), **_errors(400, 401)},
            }
        },
        "/api/plans/{plan_id}": {
            "get": {
                "operationId": "plan",
                "summary": "One plan with its visits",
                "description": "Grid workers: published plans only (a draft is 404) and only "
                "the visits in their cells.",
                "tags": ["plans"],
                "parameters": [
                    _path("plan_id", "integer"),
                ],
                "responses": {**_ok("Plan", "The plan"), **_errors(401, 404)},
            }
        },
        "/api/checkins": {
            "get": {
                "operationId": "checkins",
                "summary": "Check-ins (field visits), newest first",
                "description": "Grid workers get only check-ins in their cells.",
                "tags": ["check-ins"],
                "parameters": [
                    filters[0],
                    filters[1],
                    _list_query("cell", "Cells (hex; repeat or separate by commas)."),
                    _query(
                        "plan_id",
                        "Only check-ins linked to this plan.",
                        {"type": "integer", "minimum": 1},
                    ),
                    _limit("check-ins", default=200, maximum=5000),
                ],
                "responses": {**_ok("CheckinList", "Check-ins"), **_errors(400, 401)},
            },
            "post": {
                "operationId": "create_checkin",
                "summary": "Record a visit to a cell",
                "description": "Grid workers: their own cells only (403 otherwise, nothing "
                "stored). Planners and administrators: any study cell. Commanders: 403. The "
                "check-in is linked to the published plan whose visit to that cell covers its "
                "time, if any, and written to the audit log. Needs the X-CSRFToken header.",
                "tags": ["check-ins"],
                "security": post_security,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/CheckinInput"}
                        }
                    },
                },
                "responses": {
                    **_ok("Checkin", "Stored", status="201"),
                    **_ok(
                        "Checkin",
                        "The same visit (account, cell, minute) was stored already; "
                        "this is it, nothing new was stored",
                        status="200",
                    ),  # fmt: skip
                    **_errors(400, 401, 403),
                },
            },
        },
        "/api/feed/incidents": _feed_operation(),
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["documentation"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_errors(401),
                },
            }
        },
        "/api/docs": {
            "get": {
                "operationId": "docs",
                "summary": "This document in Swagger UI (served locally)",
                "tags": ["documentation"],
                "responses": {
                    "200": {
                        "description": "HTML page",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    },
                    "302": {"description": "Not logged in: to the login page"},
                },
            }
        },
    }
    paths.update(_report_paths(post_security))
    paths.update(_warning_paths())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hotspot and patrol API",
            "version": "1.0.0",
            "description": DESCRIPTION.format(cookie=cookie_name, timezone=timezone),
        },
        "servers": [{"url": server_url, "description": "this site"}],
        "security": [{"sessionCookie": []}, {"readToken": []}],
        "tags": [
            {"name": "session"},
            {"name": "cells", "description": "H3 cells: scores, ranks, recent counts"},
            {"name": "incidents", "description": "incident counts (aggregates only)"},
            {"name": "plans", "description": "patrol plans and their planned visits"},
            {"name": "check-ins", "description": "visits recorded in the field"},
            {"name": "feed", "description": "incidents sent by machine clients (API tokens)"},
            {"name": "warnings", "description": "early warnings about places"},
            {"name": "documentation"},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": cookie_name,
                    "description": "the site's session cookie, set by POST /login",
                },
                "readToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token of scope 'read' (GET routes, as a commander)",
                },
                "feedToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API token of scope 'feed' (POST /api/feed/incidents)",
                },
                "csrfHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-CSRFToken",
                    "description": "CSRF token of the session (GET /api/session), on POSTs",
                },
            },
            "responses": {
                "Error": {
                    "description": "An error",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
            },
            "schemas": {**_schemas(models, checkin_minutes), **_feed_schemas()},
        },
    }
