"""The OpenAPI 3.1 document of the JSON API (web/views/api.py), built as plain data.

Served at ``/api/openapi.json`` and shown by Swagger UI at ``/api/docs``. Values that depend on
the site (scoring models, category groups, check-in minutes, timezone) are arguments, so the
document always matches the running app; tests/web/test_api.py checks that every ``/api``
route of the app is described here.
"""

from __future__ import annotations

from collections.abc import Sequence

from web.services import warnings as warning_service
from web.storage.warnings import NOTE_MAX_CHARS

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/responses/Error"}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


def _query(name: str, description: str, schema: dict, **extra) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def _list_query(name: str, description: str) -> dict:
    """A query parameter of several strings: repeated, or separated by commas."""
    return _query(
        name,
        description,
        {"type": "array", "items": {"type": "string"}},
        style="form",
        explode=True,
    )


def _limit(what: str, default: int, maximum: int | None = None) -> dict:
    """The ``limit`` query parameter: at most this many ``what`` returned."""
    schema: dict = {"type": "integer", "minimum": 1}
    if maximum is not None:
        schema["maximum"] = maximum
    return _query("limit", f"Most {what} returned.", {**schema, "default": default})


def _path(name: str, kind: str, **extra) -> dict:
    """A required path parameter."""
    return {"name": name, "in": "path", "required": True, **extra, "schema": {"type": kind}}


def _errors(*codes: int) -> dict:
    texts = {
        400: "Bad request: a parameter or the body cannot be read (the message names it), "
        "or the CSRF token is missing or wrong on a POST.",
        401: "Not logged in: log in at /login and send the session cookie.",
        403: "Not allowed: the role may not do this, or a grid worker's cell is outside "
        "their grids (nothing is stored).",
        404: "Not found, or outside a grid worker's cells (which look as if absent).",
        503: "Busy: long calendar aggregates take turns and this one waited too long; retry "
        "in a few seconds.",
    }
    return {str(code): {**_ERROR, "description": texts[code]} for code in codes}


def _ok(schema_name: str, description: str, status: str = "200") -> dict:
    return {
        status: {
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            },
        }
    }


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
    window_counts = {
        "type": "object",
        "description": "incidents in the 7, 28, 91 and 365 days before as_of, and all before it",
        "properties": {
            "7d": {"type": "integer"},
            "28d": {"type": "integer"},
            "91d": {"type": "integer"},
            "365d": {"type": "integer"},
            "all": {"type": "integer"},
        },
        "required": ["7d", "28d", "91d", "365d", "all"],
    }
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
        "status": {"type": "string", "enum": ["draft", "published"]},
        "created_at": iso,
        "created_at_s": epoch,
        "published_at": iso_or_null,
        "published_at_s": _nullable("integer"),
        "summary": {"description": "plan totals and statistics (not shown to grid workers)"},
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
                        "properties": {
                            "code": {"type": "string"},
                            "name_en": {"type": "string"},
                            "name_zh": {"type": "string"},
                            "counts": window_counts,
                        },
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


_FEED_ROW_EXAMPLE = {
    "incident_id": "20250501-0042",
    "occurred_at": "2025-05-01T22:14:00+08:00",
    "lon": 98.2891,
    "lat": 39.7732,
    "category": "dispute",
    "description": "noise, neighbours",
}


def _feed_operation() -> dict:
    """``POST /api/feed/incidents`` (web/views/feed.py): token-only, so with a session
    cookie alone every call is 401 (which is what the schema tests exercise)."""
    from web.services.feed import MAX_BODY_BYTES, MAX_ROWS

    scalar = {"type": ["string", "number", "null"]}
    texts = {
        400: "The batch cannot be read: malformed JSON or CSV, a wrong type (incidents not a "
        "list, a row not an object, a value not text/number/null), an unknown envelope field, "
        "a missing source or crs, an unknown preset or mapping field. Nothing is stored.",
        401: "No API token, or an unknown or revoked one (a session cookie does not count).",
        403: "The token's scope is not 'feed'.",
        413: f"More than {MAX_ROWS} rows or a body over {MAX_BODY_BYTES // 2**20} MB.",
        415: "The body is neither JSON, CSV nor a multipart upload.",
    }
    return {
        "post": {
            "operationId": "feed_incidents",
            "summary": "Send a batch of incidents (machine clients with a 'feed' token)",
            "description": f"At most {MAX_ROWS} rows per batch. The same fields, column mapping "
            "(a preset, `generic` by default, changed field by field) and checks as `hotspot "
            "import`; coordinates in the batch's `crs` are converted to WGS-84. Idempotent by "
            "source and record id: rows already stored as sent are `unchanged`, rows sent "
            "again with a new time, place or category are `updated` (the earlier version is "
            "kept), bad rows are `rejected` with field and reason (and kept for review). One "
            "transaction per batch. CSV: `text/csv` body or a multipart field `file`, with "
            "`source`, `crs`, `preset` and `map` (FIELD=COLUMN) as query parameters.",
            "tags": ["feed"],
            "security": [{"feedToken": []}],
            "parameters": [
                _query("source", "CSV only: the sending system's name.", {"type": "string"}),
                _query("crs", "CSV only: wgs84, gcj02, bd09 or EPSG:nnnn.", {"type": "string"}),
                _query("preset", "CSV only: named column mapping.", {"type": "string"}),
                _list_query("map", "CSV only: FIELD=COLUMN, repeated."),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["source", "crs", "incidents"],
                            "properties": {
                                "source": {"type": "string", "maxLength": 60},
                                "crs": {"type": "string", "examples": ["wgs84", "gcj02"]},
                                "preset": {"type": "string", "examples": ["generic"]},
                                "mapping": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "examples": [{"source_id": "编号", "category": "类别"}],
                                },
                                "incidents": {
                                    "type": "array",
                                    "maxItems": MAX_ROWS,
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": scalar,
                                        "examples": [_FEED_ROW_EXAMPLE],
                                    },
                                },
                            },
                        }
                    },
                    "text/csv": {"schema": {"type": "string"}},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    },
                },
            },
            "responses": {
                **_ok("FeedAnswer", "Every row's outcome, in input order"),
                **{str(code): {**_ERROR, "description": text} for code, text in texts.items()},
            },
        }
    }


def _feed_schemas() -> dict:
    count = {"type": "integer", "minimum": 0}
    return {
        "FeedAnswer": {
            "type": "object",
            "properties": {
                "run_id": {"type": "integer"},
                "source": {"type": "string"},
                "crs": {"type": "string"},
                "rows": count,
                "totals": {
                    "type": "object",
                    "properties": {
                        k: count for k in ("stored", "updated", "unchanged", "rejected")
                    },  # fmt: skip
                },
                "new_categories": {"type": "array", "items": {"type": "string"}},
                "warnings": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "e.g. most rows outside the jurisdiction: crs wrong?",
                },
                "outcomes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "row": {"type": "integer", "minimum": 1},
                            "outcome": {
                                "type": "string",
                                "enum": ["stored", "updated", "unchanged", "rejected"],
                            },
                            "id": {"type": "string", "description": "incident id (64-bit)"},
                            "field": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                        "required": ["row", "outcome"],
                    },
                },
            },
            "required": ["run_id", "rows", "totals", "outcomes", "warnings"],
        }
    }


# --- grid workers' event reports (issue 13) ----------------------------------------------------


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _json_answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _report_paths(post_security: list[dict[str, list[str]]]) -> dict:
    """``POST /api/reports`` and ``GET /api/reports/mine``, with their schemas inline."""
    iso = {"type": "string", "format": "date-time"}
    nullable_iso = {"type": ["string", "null"], "format": "date-time"}
    report = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "category": {"type": "string", "description": "report category code"},
            "category_name": {"type": "string"},
            "occurred_at": iso,
            "occurred_at_s": {"type": "integer"},
            "lon": {"type": "number", "description": "WGS-84, as stored"},
            "lat": {"type": "number", "description": "WGS-84, as stored"},
            "cell": {"type": "string", "description": "H3 cell (hex)"},
            "accuracy_m": {"type": ["number", "null"]},
            "crs": {"type": "string", "enum": ["wgs84", "gcj02"], "description": "as sent"},
            "note": {"type": "string"},
            "status": {"type": "string", "enum": ["reported", "accepted", "rejected"]},
            "status_label": {"type": "string"},
            "reason": {"type": "string", "description": "why it was rejected"},
            "reviewed_at": nullable_iso,
            "incident_id": {
                "type": ["string", "null"],
                "description": "the incident an accepted report became (a 64-bit id as text)",
            },
            "created_at": iso,
        },
        "required": ["id", "category", "occurred_at", "cell", "status", "reason"],
    }
    report_input = {
        "type": "object",
        "properties": {
            "category": {"type": "string", "description": "a code from GET /api/reports/mine"},
            "occurred_at": {
                "oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}],
                "description": "ISO 8601 (without an offset: local city time) or epoch "
                "seconds; default now. At most 10 minutes ahead and 7 days back.",
            },
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "crs": {
                "type": "string",
                "enum": ["wgs84", "gcj02"],
                "default": "wgs84",
                "description": "wgs84: a phone's position (browsers); gcj02: copied from a "
                "Chinese map app (AMap, Tencent). Stored converted to WGS-84.",
            },
            "accuracy_m": {"type": ["number", "null"], "minimum": 0, "maximum": 5000},
            "note": {
                "type": "string",
                "maxLength": 500,
                "description": "about the place, never people: notes holding ID card or "
                "mobile phone numbers are refused (400)",
            },
        },
        "required": ["category", "lon", "lat"],
    }
    mine = {
        "type": "object",
        "properties": {
            "categories": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
                    "required": ["code", "name"],
                },
            },
            "reports": {"type": "array", "items": report},
        },
        "required": ["categories", "reports"],
    }
    return {
        "/api/reports": {
            "post": {
                "operationId": "create_report",
                "summary": "Report an event at a place (grid workers)",
                "description": "A place in the grid worker's own grids (403 otherwise, nothing "
                "stored), a category, the time and a note about the place. It waits for a "
                "commander's review: accepted, it becomes an incident from source `field`; "
                "rejected, the reason is shown to the reporter. Other roles: 403. The same "
                "report sent twice (account, category, cell, minute, note) is stored once. "
                "Needs the X-CSRFToken header.",
                "tags": ["reports"],
                "security": post_security,
                "requestBody": _json_body(report_input),
                "responses": {
                    "201": _json_answer("Stored, waiting for review", report),
                    "200": _json_answer("Sent already; nothing new was stored", report),
                    **_errors(400, 401, 403),
                },
            }
        },
        "/api/reports/mine": {
            "get": {
                "operationId": "my_reports",
                "summary": "Your reports with their status, and the categories to report",
                "description": "Newest first; only the logged-in account's own reports.",
                "tags": ["reports"],
                "parameters": [_limit("reports", default=50, maximum=500)],
                "responses": {
                    "200": _json_answer("Reports and categories", mine),
                    **_errors(400, 401),
                },
            }
        },
    }


def _warning_schema() -> dict:
    text, integer = {"type": "string"}, {"type": "integer"}
    return {
        "type": "object",
        "description": "An early warning about a place (a cell, or a grid with its cells); "
        "times in the city's timezone, ISO 8601 with offset.",
        "properties": {
            "id": integer,
            "rule": {"type": "string", "enum": list(warning_service.RULES)},
            "level": {"type": "integer", "minimum": 1, "maximum": 3},
            "level_name": {"type": "string", "enum": list(warning_service.LEVELS.values())},
            "place": {**text, "description": "H3 cell (hex), or the area id of a rising area"},
            "area_kind": {"type": ["string", "null"]},
            "cells": {"type": "array", "items": text, "description": "H3 cells (hex) covered; "
                      "a grid worker gets only their own"},  # fmt: skip
            "starts": text, "starts_s": integer, "ends": text, "ends_s": integer,
            "strength": {"type": "number"},
            "reason": {**text, "description": "why, in one English sentence with the numbers"},
            "evidence": {"type": "object", "description": "the numbers behind the reason"},
            "status": {"type": "string", "enum": ["open", "expired"]},
            "raised_at": text, "updated_at": text, "read": {"type": "boolean"},
            "acknowledgements": {"type": "array", "items": {"type": "object", "properties": {
                "username": text, "at": text, "note": text}}},
        },
    }  # fmt: skip


def _warning_paths() -> dict:
    """The warnings routes of ``/api`` as OpenAPI 3.1 paths."""

    def answer(description: str, schema: dict) -> dict:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    warning = _warning_schema()
    warning_id = _path("warning_id", "integer", description="The warning's id")
    scoped = " Grid workers get only warnings touching their grids' cells (others: 404)."
    return {
        "/api/warnings": {
            "get": {
                "operationId": "warnings",
                "summary": "Early warnings in the caller's scope, newest first",
                "description": "With the caller's count of unread open warnings." + scoped,
                "tags": ["warnings"],
                "parameters": [
                    _query(
                        "status",
                        "Which warnings.",
                        {
                            "type": "string",
                            "enum": list(warning_service.STATUSES),
                            "default": "open",
                        },
                    ),
                    _limit("warnings", default=200, maximum=500),
                ],  # fmt: skip
                "responses": {
                    "200": answer(
                        "Warnings",
                        {
                            "type": "object",
                            "properties": {
                                "warnings": {"type": "array", "items": warning},
                                "unread": {"type": "integer"},
                            },
                        },
                    ),
                    **_errors(400, 401),
                },  # fmt: skip
            }
        },
        "/api/warnings/{warning_id}": {
            "get": {
                "operationId": "warning",
                "summary": "One warning with its acknowledgements (marks it read)",
                "description": scoped.strip(),
                "tags": ["warnings"],
                "parameters": [warning_id],
                "responses": {"200": answer("The warning", warning), **_errors(401, 404)},
            }
        },
        "/api/warnings/{warning_id}/acknowledge": {
            "post": {
                "operationId": "acknowledge_warning",
                "summary": "Acknowledge a warning with a note about the place (audited)",
                "description": scoped.strip(),
                "tags": ["warnings"],
                "security": [{"sessionCookie": [], "csrfHeader": []}],
                "parameters": [warning_id],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["note"],
                                "properties": {
                                    "note": {"type": "string", "maxLength": NOTE_MAX_CHARS}
                                },
                            }
                        }
                    },
                },
                "responses": {"201": answer("Acknowledged", warning), **_errors(400, 401, 404)},
            }  # fmt: skip
        },
    }


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
                        "Only drafts or only published plans.",
                        {"type": "string", "enum": ["draft", "published"]},
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
