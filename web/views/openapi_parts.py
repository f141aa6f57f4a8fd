"""Small builders the OpenAPI document's modules share: query, path and limit parameters,
error answers, references to shared schemas (web/views/openapi.py, openapi_live.py)."""

from __future__ import annotations

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
