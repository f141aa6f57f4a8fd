"""The live-data parts of the OpenAPI document: the incident feed (machine clients with API
tokens), grid workers' event reports and early warnings (issues 13 and 14).
:func:`web.views.openapi.openapi_document` puts them together with the rest."""

from __future__ import annotations

from web.services import warnings as warning_service
from web.storage.warnings import NOTE_MAX_CHARS
from web.views.openapi_parts import (
    _ERROR,
    _errors,
    _limit,
    _list_query,
    _ok,
    _path,
    _query,
)

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
    warning = _warning_schema()
    warning_id = _path("warning_id", "integer", description="The warning's id")
    scoped = " Grid workers get only warnings touching their grids' cells (others: 404)."
    return {
        "/api/warnings": {
            "get": {
                "operationId": "warnings",
                "summary": "Early warnings in the caller's scope, newest first",
                "description": "With the caller's count of unread open warnings (null for an "
                "API token, which has no account to have read them)." + scoped,
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
                    "200": _json_answer(
                        "Warnings",
                        {
                            "type": "object",
                            "properties": {
                                "warnings": {"type": "array", "items": warning},
                                "unread": {"type": ["integer", "null"]},
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
                "summary": "One warning with its acknowledgements (marks it read for an account)",
                "description": scoped.strip(),
                "tags": ["warnings"],
                "parameters": [warning_id],
                "responses": {"200": _json_answer("The warning", warning), **_errors(401, 404)},
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
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["note"],
                        "properties": {"note": {"type": "string", "maxLength": NOTE_MAX_CHARS}},
                    }
                ),
                "responses": {
                    "201": _json_answer("Acknowledged", warning),
                    **_errors(400, 401, 404),
                },
            }  # fmt: skip
        },
    }
