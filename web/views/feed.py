"""Blueprint ``feed``: ``POST /api/feed/incidents``, a batch of incidents from a machine
client (the dispatch system) with an API token of scope ``feed``.

Only tokens reach it (never a session), so it is the one place exempt from CSRF checks. The
body is a JSON batch or a CSV upload (multipart field ``file`` or a ``text/csv`` body);
web/services/feed.py reads and checks it with the file importer's code, and stores it in one
transaction. Errors are ``{"error": message, "status": code}``.
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, g, jsonify, request

from web import storage
from web.services import feed as feed_service
from web.views.access import client_ip, get_engine, token_required

bp = Blueprint("feed", __name__, url_prefix="/api/feed")


def _body() -> bytes:
    """The request body, refused with 413 beyond the feed's bound (before reading it)."""
    limit = feed_service.MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > limit:
        abort(413, description=f"a batch body has at most {limit // 2**20} MB: send several")
    body = request.get_data(cache=True)
    if len(body) > limit:
        abort(413, description=f"a batch body has at most {limit // 2**20} MB: send several")
    return body


def _batch() -> feed_service.FeedBatch:
    mimetype = request.mimetype
    if mimetype == "application/json":
        body = _body()
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise feed_service.FeedError(f"the body is not valid JSON: {err}") from err
        except RecursionError as err:
            raise feed_service.FeedError("the JSON is nested too deeply") from err
        return feed_service.batch_from_json(payload, body)
    params = {key: request.args.getlist(key) if key == "map" else request.args.get(key)
              for key in request.args}  # fmt: skip
    if mimetype == "text/csv":
        return feed_service.batch_from_csv(_body(), params)
    if mimetype == "multipart/form-data":
        _body()  # bounds the size before the form is parsed
        upload = request.files.get("file")
        if upload is None or len(request.files) != 1:
            raise feed_service.FeedError("send one CSV file in the form field 'file'")
        return feed_service.batch_from_csv(upload.read(), params)
    abort(415, description="send JSON (application/json) or CSV (text/csv, or a "
                           "multipart/form-data upload in the field 'file')")  # fmt: skip


@bp.post("/incidents")
@token_required("feed")
def incidents():
    """Store a batch of incidents; answers each row's outcome in input order."""
    token = g.api_token
    try:
        batch = _batch()
        config = current_app.config
        answer = feed_service.store_batch(
            get_engine(),
            batch,
            token_id=token.id,
            timezone=str(config["TIMEZONE"]),
            resolution=int(config["H3_RESOLUTION"]),
            boundary_tolerance_m=float(config["BOUNDARY_TOLERANCE_M"]),
        )
    except feed_service.FeedError as err:
        abort(err.status, description=str(err))
    totals = answer["totals"]
    storage.audit(
        get_engine(),
        "feed",
        username=f"token:{token.name}",
        detail=f"run {answer['run_id']} source {answer['source']}: rows {answer['rows']}, "
        f"stored {totals['stored']}, updated {totals['updated']}, "
        f"unchanged {totals['unchanged']}, rejected {totals['rejected']}",
        ip=client_ip(),
    )
    return jsonify(answer)
